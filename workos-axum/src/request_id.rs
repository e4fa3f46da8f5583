//! The request id (`x-request-id`): a client's own is kept only when it is safe to echo, log
//! and store. Mount [`drop_unsafe_request_id`] outermost
//! (`axum::middleware::map_request(drop_unsafe_request_id)`), outside tower-http's
//! `SetRequestIdLayer`, which then generates one for a request without.

use axum::http::Request;

/// The longest client-sent `x-request-id` kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Removes a client-sent `x-request-id` that is longer than [`MAX_REQUEST_ID_LEN`] or holds
/// anything but `A-Z a-z 0-9 . _ -`, so one is generated instead: the id is echoed, logged and
/// stored on events, and must not carry log-injection text or unbounded bytes.
pub async fn drop_unsafe_request_id<B>(mut req: Request<B>) -> Request<B> {
    let safe = |v: &axum::http::HeaderValue| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let values = req.headers().get_all("x-request-id");
    // Several ids are as untrustworthy as a bad one.
    let keep = values.iter().count() <= 1 && values.iter().all(safe);
    if !keep {
        req.headers_mut().remove("x-request-id");
    }
    req
}

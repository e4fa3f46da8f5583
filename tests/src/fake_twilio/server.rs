//! The fake's HTTP server: records every request, applies scripted answers, checks HTTP Basic
//! auth and routes to the resources; Twilio's error bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use workos_twilio::parse_form;

use super::accounts::{account_resource, list_numbers};
use super::calls::create_call;
use super::messages::create_message;
use super::scripted::Injection;
use super::state::{RecordedRequest, Shared, find};
use super::wire::API_VERSION;

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let request = RecordedRequest {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        params: if is_form {
            parse_form(&body)
        } else {
            Vec::new()
        },
        basic_auth: basic_auth(&headers),
        content_type,
        query: uri.query().map(str::to_owned),
        sid: None,
    };
    let injection = {
        let mut recorded = shared.lock();
        recorded.requests.push(request.clone());
        recorded.injections.pop_front()
    };
    match injection {
        Some(Injection::Fail {
            status,
            code,
            message,
            retry_after,
        }) => {
            let mut response = twilio_error(status, code, &message);
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(Injection::Hang(delay)) => {
            let response = respond(&shared, request);
            tokio::time::sleep(delay).await;
            response
        }
        None => respond(&shared, request),
    }
}

fn respond(shared: &Shared, request: RecordedRequest) -> Response {
    let Some((user, pass)) = request.basic_auth.clone() else {
        return unauthenticated();
    };
    if !shared.authenticates(&user, &pass) {
        return unauthenticated();
    }
    let path = request.path.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || {
        twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    };
    if let [API_VERSION, "Accounts", file] = segments.as_slice() {
        // The account resource; its credentials reach only itself.
        return match (request.method.as_str(), file.strip_suffix(".json")) {
            ("GET", Some(sid)) if sid == user => {
                ok(StatusCode::OK, &account_resource(&user, &pass))
            }
            ("GET", _) => not_found(),
            _ => twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed"),
        };
    }
    let [API_VERSION, "Accounts", account, rest @ ..] = segments.as_slice() else {
        return not_found();
    };
    // An account's credentials reach only that account.
    if *account != user {
        return not_found();
    }
    let method = request.method.as_str();
    match (method, rest) {
        ("POST", ["Messages.json"]) => create_message(shared, &user, request),
        ("POST", ["Calls.json"]) => create_call(shared, &user, request),
        ("GET", ["IncomingPhoneNumbers.json"]) => list_numbers(shared, &user, &request),
        ("GET", ["Messages", file]) => match file.strip_suffix(".json") {
            Some(sid) => find(&shared.lock().messages, sid)
                .map_or_else(not_found, |c| ok(StatusCode::OK, &c.resource)),
            None => not_found(),
        },
        ("GET", ["Calls", file]) => match file.strip_suffix(".json") {
            Some(sid) => {
                let recorded = shared.lock();
                find(&recorded.calls, sid)
                    .map(|c| &c.resource)
                    .or_else(|| recorded.call_records.get(sid))
                    .map_or_else(not_found, |resource| ok(StatusCode::OK, resource))
            }
            None => not_found(),
        },
        (_, ["Messages.json" | "Calls.json"] | ["Messages" | "Calls", _]) => {
            twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
        }
        _ => not_found(),
    }
}

fn unauthenticated() -> Response {
    let mut response = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

pub(super) fn ok(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body.clone())).into_response()
}

pub(super) fn bad_request(code: i64, message: &str) -> Response {
    twilio_error(StatusCode::BAD_REQUEST, code, message)
}

/// Twilio's REST error body.
pub(super) fn twilio_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

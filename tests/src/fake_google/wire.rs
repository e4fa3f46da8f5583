//! Google's wire formats as the fake reads and writes them: RFC 5322 headers and addresses,
//! Google's JSON and OAuth error bodies, query strings, and which route a request is.

use super::*;

/// The unfolded values of header `name` (case-insensitive) in the header section of `raw`.
#[must_use]
pub fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(done) = current.take() {
            out.push(done);
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            current = Some(v.trim().to_owned());
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

/// The header section of `raw` without the header `name` (continuation lines included).
pub(super) fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let Some(split) = text
        .find("\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| text.find("\n\n").map(|i| i + 1))
    else {
        return raw.to_vec();
    };
    let (head, body) = text.split_at(split);
    let mut out = String::new();
    let mut skipping = false;
    for line in head.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if !skipping {
                out.push_str(line);
            }
            continue;
        }
        skipping = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name));
        if !skipping {
            out.push_str(line);
        }
    }
    out.push_str(body);
    out.into_bytes()
}

/// Addresses of an address-list header value (`a@b.c, "Ann, B" <ann@b.c>`).
pub(super) fn addresses(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut current, mut quoted, mut angle) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| {
            let p = p.trim();
            match (p.rfind('<'), p.rfind('>')) {
                (Some(s), Some(e)) if s < e => p[s + 1..e].trim().to_owned(),
                _ => p.to_owned(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect()
}

pub(super) fn is_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace)
    })
}

pub(super) fn google_error(status: StatusCode, message: &str, reason: &str) -> Response {
    let status_name = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status_name,
        }
    });
    (status, axum::Json(body)).into_response()
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

pub(super) fn unauthorized() -> Response {
    let mut r = google_error(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "authError",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        ),
    );
    r
}

pub(super) fn not_found() -> Response {
    google_error(
        StatusCode::NOT_FOUND,
        "Requested entity was not found.",
        "notFound",
    )
}

pub(super) fn fault_response(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::Delay(_) | Fault::Pass | Fault::Interrupt => None,
        Fault::Error {
            status,
            message,
            reason,
        } => Some(google_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
            reason,
        )),
        Fault::Unauthorized => Some(unauthorized()),
        Fault::RateLimited {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let (message, reason) = if status == StatusCode::FORBIDDEN {
                ("User-rate limit exceeded.", "userRateLimitExceeded")
            } else {
                (
                    "Too many concurrent requests for user.",
                    "rateLimitExceeded",
                )
            };
            let mut r = google_error(status, message, reason);
            if let Some(secs) = retry_after {
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from_str(&secs.to_string()).expect("digits"),
                );
            }
            Some(r)
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (message, reason) = match status.as_u16() {
                500 => ("Internal error encountered.", "backendError"),
                503 => ("The service is currently unavailable.", "backendError"),
                400 => ("Invalid value", "invalidArgument"),
                _ => ("Error", "error"),
            };
            Some(google_error(status, message, reason))
        }
    }
}

pub(super) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn route_of(method: &Method, path: &str) -> Option<Route> {
    let gmail = path.strip_prefix("/gmail/v1/users/me/");
    match (method, path, gmail) {
        (&Method::GET, "/o/oauth2/v2/auth", _) => Some(Route::Authorize),
        (&Method::POST, "/token", _) => Some(Route::Token),
        (&Method::POST, "/revoke", _) => Some(Route::Revoke),
        (&Method::GET, _, Some("profile")) => Some(Route::Profile),
        (&Method::GET, _, Some("messages")) => Some(Route::MessagesList),
        (&Method::GET, _, Some("history")) => Some(Route::History),
        (&Method::POST, _, Some("messages/send")) => Some(Route::Send),
        (&Method::POST, _, Some("watch")) => Some(Route::Watch),
        (&Method::POST, _, Some("stop")) => Some(Route::Stop),
        (&Method::GET, "/oauth2/v3/certs", _) => Some(Route::Jwks),
        (&Method::POST, "/upload/gmail/v1/users/me/messages/send", _) => Some(Route::UploadSend),
        (&Method::PUT, "/upload/gmail/v1/users/me/messages/send", _) => Some(Route::UploadChunk),
        (&Method::GET, _, Some(rest))
            if rest.starts_with("messages/") && rest.contains("/attachments/") =>
        {
            Some(Route::AttachmentsGet)
        }
        (&Method::GET, _, Some(rest)) if rest.starts_with("messages/") => Some(Route::MessagesGet),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unfold_and_strip() {
        let raw = b"To: a@b.example,\r\n c@d.example\r\nBcc: secret@x.example,\r\n\tother@x.example\r\nSubject: hi\r\n\r\nBcc: in body\r\n";
        assert_eq!(header_values(raw, "to"), ["a@b.example, c@d.example"]);
        let stripped = without_header(raw, "Bcc");
        let text = String::from_utf8(stripped).unwrap();
        assert!(!text.contains("secret@") && !text.contains("other@"));
        assert!(text.contains("Subject: hi") && text.ends_with("Bcc: in body\r\n"));
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            addresses("\"Team, Navy\" <team@navy.example>, a@b.example"),
            ["team@navy.example", "a@b.example"]
        );
        assert!(!is_address("nope"));
        assert!(is_address("a@b.example"));
    }
}

//! The OAuth endpoints of the fake: authorize (consent), token (code and refresh grants,
//! PKCE S256) and revoke.

use super::*;

pub(super) fn authorize(m: &mut Mailbox, query: &[(String, String)]) -> Response {
    m.authorize_requests.push(query.to_vec());
    let bad = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            format!("Error 400: invalid_request\n{why}"),
        )
            .into_response()
    };
    if first(query, "client_id") != Some(m.client_id.as_str()) {
        return (StatusCode::UNAUTHORIZED, "Error 401: invalid_client").into_response();
    }
    let Some(redirect_uri) = first(query, "redirect_uri") else {
        return bad("Missing required parameter: redirect_uri");
    };
    if redirect_uri != m.redirect_url {
        return bad("Error 400: redirect_uri_mismatch");
    }
    if first(query, "response_type") != Some("code") {
        return bad("Invalid response_type");
    }
    let Some(challenge) = first(query, "code_challenge") else {
        return bad("Missing required parameter: code_challenge");
    };
    if first(query, "code_challenge_method") != Some("S256") {
        return bad("Invalid code_challenge_method");
    }
    let scope = first(query, "scope").unwrap_or("").to_owned();
    let code = format!("4/0A{}", uuid::Uuid::new_v4().simple());
    m.codes.insert(
        code.clone(),
        CodeGrant {
            challenge: challenge.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.clone(),
        },
    );
    let mut location = format!("{redirect_uri}?");
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(state) = first(query, "state") {
        ser.append_pair("state", state);
    }
    ser.append_pair("code", &code).append_pair("scope", &scope);
    location.push_str(&ser.finish());
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

pub(super) fn issue(
    m: &mut Mailbox,
    refresh_token: Option<String>,
    with_refresh: bool,
    scope: &str,
) -> Value {
    let access = format!("ya29.fake-access-{}", uuid::Uuid::new_v4().simple());
    let lifetime = m.token_lifetime;
    m.access_tokens.insert(
        access.clone(),
        AccessToken {
            expires_at: Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default(),
            refresh_token: refresh_token.clone(),
            revoked: false,
        },
    );
    m.issued.push((
        access.clone(),
        refresh_token.clone().filter(|_| with_refresh),
    ));
    let mut body = json!({
        "access_token": access,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    if with_refresh && let Some(r) = refresh_token {
        body["refresh_token"] = json!(r);
    }
    body
}

pub(super) fn token(m: &mut Mailbox, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let grant_type = first(&form, "grant_type").unwrap_or("").to_owned();
    *m.grants.entry(grant_type.clone()).or_default() += 1;
    // Client authentication: HTTP Basic or the body.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |x: &str| {
                form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, client_secret) = basic.unwrap_or_else(|| {
        (
            first(&form, "client_id").unwrap_or("").to_owned(),
            first(&form, "client_secret").unwrap_or("").to_owned(),
        )
    });
    if client_id != m.client_id || client_secret != m.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    match grant_type.as_str() {
        "authorization_code" => {
            let code = first(&form, "code").unwrap_or("");
            let Some(grant) = m.codes.remove(code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if first(&form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            let Some(verifier) = first(&form, "code_verifier") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code_verifier is missing.",
                );
            };
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != grant.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid code verifier.",
                );
            }
            let refresh = format!("1//fake-refresh-{}", uuid::Uuid::new_v4().simple());
            m.refresh_tokens.insert(refresh.clone(), true);
            let body = issue(m, Some(refresh), true, &grant.scope);
            axum::Json(body).into_response()
        }
        "refresh_token" => {
            let refresh = first(&form, "refresh_token").unwrap_or("").to_owned();
            let live = m.refresh_tokens.get(&refresh).copied().unwrap_or(false);
            if m.invalid_grant || !live {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let body = issue(m, Some(refresh), false, "");
            axum::Json(body).into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type.",
        ),
    }
}

pub(super) fn revoke(m: &mut Mailbox, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let token = first(&form, "token").unwrap_or("").to_owned();
    if let Some(live) = m.refresh_tokens.get_mut(&token) {
        *live = false;
        for t in m.access_tokens.values_mut() {
            if t.refresh_token.as_deref() == Some(token.as_str()) {
                t.revoked = true;
            }
        }
    } else if let Some(t) = m.access_tokens.get_mut(&token) {
        t.revoked = true;
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        );
    }
    axum::Json(json!({})).into_response()
}

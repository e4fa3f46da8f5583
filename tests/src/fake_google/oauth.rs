//! The OAuth endpoints of the fake: authorize (consent), token (code and refresh grants,
//! PKCE S256) and revoke; and what a test sets and reads of them (token lifetime,
//! `invalid_grant`, issued and revoked tokens, the user's consent).

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

impl FakeGoogle {
    /// Sets how long issued access tokens live (default 3599 s, as Google's). A token issued
    /// with a lifetime under a minute makes a client with a refresh margin refresh at once.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().token_lifetime = lifetime;
    }

    /// While `on`, every `refresh_token` grant fails with `400 invalid_grant` ("Token has
    /// been expired or revoked."), as after the user revoked access.
    pub fn set_invalid_grant(&self, on: bool) {
        self.shared.lock().invalid_grant = on;
    }

    /// Makes every access token issued so far expired: the next Gmail call with one gets
    /// `401`.
    pub fn expire_access_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for t in self.shared.lock().access_tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Every token issued, in order: `(access_token, refresh_token)` (the refresh token only
    /// when that response carried one).
    #[must_use]
    pub fn issued_tokens(&self) -> Vec<(String, Option<String>)> {
        self.shared.lock().issued.clone()
    }

    /// Whether `token` (access or refresh) was revoked.
    #[must_use]
    pub fn is_revoked(&self, token: &str) -> bool {
        let m = self.shared.lock();
        m.refresh_tokens.get(token).is_some_and(|live| !live)
            || m.access_tokens.get(token).is_some_and(|t| t.revoked)
    }

    /// The query parameters of every consent-page request, in order.
    #[must_use]
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared
            .lock()
            .authorize_requests
            .iter()
            .map(|p| p.iter().cloned().collect())
            .collect()
    }

    /// Plays the user consenting: requests `authorization_url` (the fake's consent page)
    /// without following the redirect and returns the redirect's `(code, state)`.
    ///
    /// # Panics
    /// When the fake does not answer with a redirect carrying a code (its body says why).
    pub async fn consent(&self, authorization_url: &str) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let response = client
            .get(authorization_url)
            .send()
            .await
            .expect("request the consent page");
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(location) = location else {
            panic!(
                "the consent page answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        };
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        (
            params.get("code").cloned().expect("a code in the redirect"),
            params.get("state").cloned().unwrap_or_default(),
        )
    }

    /// Issues an authorization code for a PKCE S256 `challenge` and `redirect_uri`, as the
    /// consent page would.
    pub fn issue_code(&self, challenge: &str, redirect_uri: &str) -> String {
        let code = format!("4/0A{}", uuid::Uuid::new_v4().simple());
        self.shared.lock().codes.insert(
            code.clone(),
            CodeGrant {
                challenge: challenge.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scope: String::new(),
            },
        );
        code
    }
}

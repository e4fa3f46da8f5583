//! Gmail push in the fake: `users.watch` / `users.stop`, Google's OIDC keys (JWKS) and a
//! Pub/Sub push sender that signs its OIDC tokens with the fake's own RSA key.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::pubsub_keys::{FOREIGN_DER, SIGNER_DER, SIGNER_N};
use super::{FakeGoogle, Mailbox, google_error};

/// The topic [`FakeGoogle::push_env_vars`] configures.
pub const PUSH_TOPIC: &str = "projects/workos-test/topics/gmail-push";
/// The service account the fake's push subscription signs its tokens as.
pub const PUSH_SERVICE_ACCOUNT: &str = "gmail-push@workos-test.iam.gserviceaccount.com";
/// The key id of the fake's signing key in its JWKS.
pub const SIGNING_KEY_ID: &str = "fake-google-2026-12";
/// How long a watch lasts by default: Google's seven days.
const DEFAULT_WATCH_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A mailbox watch as the fake keeps it (see [`FakeGoogle::watch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeWatch {
    /// The topic Gmail publishes to.
    pub topic: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// The fake's push state, kept in its mailbox.
#[derive(Debug)]
pub(super) struct PushState {
    pub(super) watch: Option<FakeWatch>,
    pub(super) watch_lifetime: Duration,
    pub(super) watch_requests: Vec<String>,
    pub(super) stops: usize,
}

impl Default for PushState {
    fn default() -> Self {
        Self {
            watch: None,
            watch_lifetime: DEFAULT_WATCH_LIFETIME,
            watch_requests: Vec::new(),
            stops: 0,
        }
    }
}

/// `POST /gmail/v1/users/me/watch`: `{"topicName", "labelIds"?, …}` → `{"historyId",
/// "expiration"}` (milliseconds, a string, as Google answers).
pub(super) fn watch(m: &mut Mailbox, body: &Bytes) -> Response {
    let topic = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["topicName"].as_str().map(str::to_owned));
    let Some(topic) = topic.filter(|t| t.starts_with("projects/") && t.contains("/topics/")) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid topicName does not match projects/*/topics/*",
            "invalidArgument",
        );
    };
    let expires_at = Utc::now()
        + chrono::Duration::from_std(m.push.watch_lifetime).unwrap_or(chrono::Duration::days(7));
    m.push.watch_requests.push(topic.clone());
    m.push.watch = Some(FakeWatch { topic, expires_at });
    axum::Json(json!({
        "historyId": m.history_id.to_string(),
        "expiration": expires_at.timestamp_millis().to_string(),
    }))
    .into_response()
}

/// `POST /gmail/v1/users/me/stop`: `204`, no body.
pub(super) fn stop(m: &mut Mailbox) -> Response {
    m.push.stops += 1;
    m.push.watch = None;
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /oauth2/v3/certs`: the JWKS, cacheable as Google's is.
pub(super) fn jwks() -> Response {
    let mut response = axum::Json(json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": SIGNING_KEY_ID,
        "n": SIGNER_N, "e": "AQAB",
    }]}))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=21600, must-revalidate, no-transform"),
    );
    response
}

fn sign(claims: &Value, der: &str, kid: &str) -> String {
    let der = STANDARD
        .decode(der)
        .expect("the embedded test key is base64");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der))
        .expect("RS256 signing with the test key")
}

impl FakeGoogle {
    /// The JWKS URL (`GOOGLE_OIDC_JWKS_URL`).
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}/oauth2/v3/certs", self.base_url)
    }

    /// The environment that turns push on against the fake (`GMAIL_PUBSUB_TOPIC`,
    /// `GMAIL_PUBSUB_AUDIENCE` = `audience`, `GMAIL_PUBSUB_SERVICE_ACCOUNT`,
    /// `GOOGLE_OIDC_JWKS_URL`).
    #[must_use]
    pub fn push_env_vars(&self, audience: &str) -> Vec<(&'static str, String)> {
        vec![
            ("GMAIL_PUBSUB_TOPIC", PUSH_TOPIC.to_owned()),
            ("GMAIL_PUBSUB_AUDIENCE", audience.to_owned()),
            (
                "GMAIL_PUBSUB_SERVICE_ACCOUNT",
                PUSH_SERVICE_ACCOUNT.to_owned(),
            ),
            ("GOOGLE_OIDC_JWKS_URL", self.jwks_url()),
        ]
    }

    /// The mailbox's watch, if one is live (made and not expired or stopped).
    #[must_use]
    pub fn watch(&self) -> Option<FakeWatch> {
        self.shared
            .lock()
            .push
            .watch
            .clone()
            .filter(|w| w.expires_at > Utc::now())
    }

    /// The topics of every `users.watch` call so far, in order.
    #[must_use]
    pub fn watch_requests(&self) -> Vec<String> {
        self.shared.lock().push.watch_requests.clone()
    }

    /// How many `users.stop` calls were answered.
    #[must_use]
    pub fn stops(&self) -> usize {
        self.shared.lock().push.stops
    }

    /// Sets how long the next watches last (default seven days, as Google's).
    pub fn set_watch_lifetime(&self, lifetime: Duration) {
        self.shared.lock().push.watch_lifetime = lifetime;
    }

    /// The claims of the OIDC token Pub/Sub signs for a push to `audience`: Google's issuer,
    /// the push service account (verified), issued now, valid an hour.
    #[must_use]
    pub fn oidc_claims(&self, audience: &str) -> Value {
        let now = Utc::now().timestamp();
        json!({
            "aud": audience,
            "azp": "113774264463038321964",
            "email": PUSH_SERVICE_ACCOUNT,
            "email_verified": true,
            "exp": now + 3600,
            "iat": now,
            "iss": "https://accounts.google.com",
            "sub": "113774264463038321964",
        })
    }

    /// `claims` signed (RS256) with the fake's key, whose public half its JWKS serves.
    #[must_use]
    pub fn sign_oidc(&self, claims: &Value) -> String {
        sign(claims, SIGNER_DER, SIGNING_KEY_ID)
    }

    /// `claims` signed with a key Google does not publish, under the fake key's id (a forged
    /// token).
    #[must_use]
    pub fn sign_oidc_foreign(&self, claims: &Value) -> String {
        sign(claims, FOREIGN_DER, SIGNING_KEY_ID)
    }

    /// The Pub/Sub push body Gmail's notification of the mailbox's current history id makes.
    #[must_use]
    pub fn push_body(&self) -> Value {
        let (account, history_id) = {
            let m = self.shared.lock();
            (m.account.clone(), m.history_id)
        };
        let data = json!({"emailAddress": account, "historyId": history_id}).to_string();
        json!({
            "message": {
                "data": STANDARD.encode(data),
                "messageId": format!("{}", 2_070_443_601_311_540_u64 + history_id),
                "message_id": format!("{}", 2_070_443_601_311_540_u64 + history_id),
                "publishTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "publish_time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
            "subscription": "projects/workos-test/subscriptions/gmail-push",
        })
    }

    /// Posts `body` to `endpoint` as a Pub/Sub push subscription does, with `Authorization:
    /// Bearer {token}` when given; the answer's status and JSON body (`Null` when it has none).
    ///
    /// # Panics
    /// When the endpoint cannot be reached.
    pub async fn post_push(
        &self,
        endpoint: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(endpoint)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("reach the push endpoint");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// What Pub/Sub does after Gmail published a change: when the mailbox has a live watch,
    /// pushes its current history id to `endpoint` with a token for `audience` signed by the
    /// fake; `None` (nothing sent) without a watch.
    pub async fn deliver_push(&self, endpoint: &str, audience: &str) -> Option<(u16, Value)> {
        self.watch()?;
        let token = self.sign_oidc(&self.oidc_claims(audience));
        Some(
            self.post_push(endpoint, Some(&token), &self.push_body())
                .await,
        )
    }
}

//! Signed webhooks, Twilio → the server under test: [`WebhookSigner`] and the form encoding
//! Twilio posts.

use std::fmt;
use std::time::Duration;

use axum::http::header;
use workos_twilio::{RequestValidator, SIGNATURE_HEADER};

use super::FakeTwilio;

impl FakeTwilio {
    /// The webhook signer using this account's auth token.
    #[must_use]
    pub fn signer(&self) -> &WebhookSigner {
        &self.signer
    }

    /// The `X-Twilio-Signature` Twilio would send for a form post of `params` to `url`.
    #[must_use]
    pub fn webhook_signature<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> String {
        self.signer.signature(url, params)
    }

    /// Posts `params` to `url` as Twilio does: `application/x-www-form-urlencoded`,
    /// signed with `X-Twilio-Signature` over exactly `url`. See [`WebhookSigner::send`].
    ///
    /// # Panics
    /// When the request cannot be sent at all (connection refused, timeout).
    pub async fn send_webhook<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Response {
        self.signer.send(url, params).await
    }
}

/// Signs and posts webhooks the way Twilio does, without a running [`FakeTwilio`].
#[derive(Clone)]
pub struct WebhookSigner {
    validator: RequestValidator,
    http: reqwest::Client,
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner").finish_non_exhaustive()
    }
}

impl WebhookSigner {
    /// A signer for the account whose auth token is `auth_token`.
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn new(auth_token: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // Twilio gives up on a webhook after 15 s.
            .timeout(Duration::from_secs(15))
            .build()
            .expect("build the webhook HTTP client");
        Self {
            validator: RequestValidator::new(auth_token),
            http,
        }
    }

    /// The `X-Twilio-Signature` for a form post of `params` to exactly `url`.
    #[must_use]
    pub fn signature<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> String {
        self.validator.signature(url, &owned(params))
    }

    /// Posts `params` (in order) to `url` with `Content-Type:
    /// application/x-www-form-urlencoded`, `X-Twilio-Signature` computed over exactly
    /// `url`, `I-Twilio-Idempotency-Token` and Twilio's `User-Agent`.
    ///
    /// # Errors
    /// When the request cannot be sent or no response arrives.
    pub async fn try_send<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Result<reqwest::Response> {
        let params = owned(params);
        let signature = self.validator.signature(url, &params);
        self.http
            .post(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .header(header::ACCEPT, "*/*")
            .header(SIGNATURE_HEADER, signature)
            .header(
                "I-Twilio-Idempotency-Token",
                uuid::Uuid::new_v4().to_string(),
            )
            .body(encode_form(&params))
            .send()
            .await
    }

    /// As [`try_send`](Self::try_send).
    ///
    /// # Panics
    /// When the request cannot be sent or no response arrives.
    pub async fn send<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> reqwest::Response {
        match self.try_send(url, params).await {
            Ok(response) => response,
            Err(e) => panic!("posting the Twilio webhook to {url} failed: {e}"),
        }
    }
}

pub(super) fn owned<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// `application/x-www-form-urlencoded` as Twilio sends it (space as `+`).
pub(super) fn encode_form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use workos_twilio::parse_form;

    use super::*;
    use crate::fake_twilio::messages::segments;
    use crate::fake_twilio::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};

    #[tokio::test]
    async fn send_webhook_signs_exactly_what_it_posts() {
        type Seen = Arc<Mutex<Option<(String, String, Vec<(String, String)>)>>>;
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/twilio/sms?tenant=a%20b",
            listener.local_addr().unwrap()
        );
        let app = Router::new()
            .fallback(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    *seen.lock().unwrap() = Some((
                        header(SIGNATURE_HEADER),
                        header("content-type"),
                        parse_form(&body),
                    ));
                    StatusCode::NO_CONTENT
                },
            )
            .with_state(Arc::clone(&seen));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let params = twilio.inbound_sms_params("+14155550100", "+14155550199", "Ça va? 1+1=2 & ok");
        let response = twilio.send_webhook(&url, &params).await;
        assert_eq!(response.status(), 204);
        let (signature, content_type, received) = seen.lock().unwrap().take().unwrap();
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        assert_eq!(received, params, "the form round-trips exactly");
        let validator = RequestValidator::new(TEST_AUTH_TOKEN);
        assert!(validator.validate(&url, &received, &signature));
        assert!(!RequestValidator::new("other").validate(&url, &received, &signature));
        assert_eq!(signature, twilio.webhook_signature(&url, &params));
        server.abort();
    }

    #[test]
    fn encodes_forms_like_twilio() {
        let form = encode_form(&owned(&[("Body", "a b+c&d=é"), ("To", "+1")]));
        assert_eq!(form, "Body=a+b%2Bc%26d%3D%C3%A9&To=%2B1");
        assert_eq!(segments(&"x".repeat(160)), 1);
        assert_eq!(segments(&"x".repeat(161)), 2);
        assert_eq!(segments(&"é".repeat(71)), 2);
    }
}

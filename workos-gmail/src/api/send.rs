//! `users.messages.send`: a message as base64url in JSON, or through the resumable upload
//! when it is large.

use serde::{Deserialize, Serialize};
use workos_core::{Error, Result};

use super::GmailApi;
use super::encoding::encode_base64url;
use super::media::SIMPLE_SEND_MAX_BYTES;
use super::request::{Attempt, attempt, json};
use super::usage::Method;

/// What `users.messages.send` answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SentMessage {
    /// The new message's id.
    pub id: String,
    /// Its thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Its labels (`SENT`).
    #[serde(default)]
    pub label_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendBody<'a> {
    raw: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<&'a str>,
}

impl GmailApi {
    /// `users.messages.send` of an RFC 5322 message, in `thread_id` when given; a message
    /// over [`SIMPLE_SEND_MAX_BYTES`] goes through the resumable upload
    /// ([`GmailApi::send_resumable`]). Never retried: a failure after the request left may
    /// still have sent the message.
    ///
    /// # Errors
    /// As the [module](super) says.
    pub async fn send_raw(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<SentMessage> {
        self.send_raw_until(token, raw, thread_id, None).await
    }

    /// [`GmailApi::send_raw`] that gives up at `deadline` (when given): no request outlives
    /// it, and a resumable upload not complete by then sends nothing (see
    /// [`resumable`](super::resumable)).
    ///
    /// # Errors
    /// As [`GmailApi::send_raw`] and [`GmailApi::send_resumable`].
    pub async fn send_raw_until(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
        deadline: Option<std::time::Instant>,
    ) -> Result<SentMessage> {
        if raw.len() > SIMPLE_SEND_MAX_BYTES {
            return self.send_resumable(token, raw, thread_id, deadline).await;
        }
        let encoded = encode_base64url(raw);
        let body = SendBody {
            raw: &encoded,
            thread_id,
        };
        self.count(Method::MessagesSend);
        let mut request = self
            .http
            .post(self.url("messages/send"))
            .bearer_auth(token)
            .json(&body);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Unavailable {
                    message: "no time was left to send the message; it was not sent".to_owned(),
                    source: None,
                });
            }
            request = request.timeout(left);
        }
        match attempt(request).await {
            Attempt::Ok(response) => json(response).await,
            Attempt::Failed { error, .. } => Err(error),
        }
    }
}

//! `users.messages.send` through Google's resumable upload (`uploadType=resumable`), what the
//! engine uses for every message over [`super::SIMPLE_SEND_MAX_BYTES`]:
//!
//! 1. `POST /upload/gmail/v1/users/me/messages/send?uploadType=resumable` with the metadata
//!    (`{"threadId": …}`) as JSON, `X-Upload-Content-Type: message/rfc822` and
//!    `X-Upload-Content-Length`; Gmail answers `200` with the session URI in `Location`.
//! 2. `PUT` the message to the session URI in chunks of [`RESUMABLE_CHUNK_BYTES`] (a multiple
//!    of 256 KiB, as Google requires of every chunk but the last), each with
//!    `Content-Range: bytes FIRST-LAST/TOTAL`. `308` (with `Range: bytes=0-N`, what Gmail
//!    has) asks for more; `200`/`201` with the message resource ends the upload.
//! 3. After a chunk fails (a network error or a `5xx`), `PUT` with an empty body and
//!    `Content-Range: bytes */TOTAL` asks where to resume (`308` and its `Range`), or learns
//!    the upload was complete after all (`200`/`201`): the message is sent once.
//!
//! Gmail sends the message only when its last byte arrived, so giving up before that (the
//! deadline passed, the retries ran out, the session expired) sends nothing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use workos_core::{Error, Result};

use super::{Attempt, GmailApi, Method, SentMessage, attempt, json};

/// The size of each chunk of a resumable upload: 4 MiB (16 × 256 KiB).
pub const RESUMABLE_CHUNK_BYTES: usize = 16 * 256 * 1024;

/// How many failed chunks (or status queries) one upload survives.
pub const RESUMABLE_RETRIES: u32 = 5;

/// The time a deadline keeps for the status query after the last chunk: chunks stop that much
/// before it.
pub const QUERY_RESERVE: Duration = Duration::from_secs(5);

/// The ambiguous outcome: the last chunk left, its answer did not come back, and there was no
/// time (or no answer) to ask.
fn maybe_sent() -> Error {
    Error::Unavailable {
        message: "Gmail's answer to the upload was lost and there was no time left to ask; the message may have been sent".to_owned(),
        source: None,
    }
}

/// What one `PUT` to the session came to.
enum Put {
    /// The upload is complete: the sent message.
    Done(reqwest::Response),
    /// Gmail has this many bytes.
    Has(usize),
    /// A transient failure (network, `5xx`): ask where to resume.
    Failed(Error),
}

fn not_sent(message: &str) -> Error {
    Error::Unavailable {
        message: format!("{message}; Gmail did not send the message (the upload was not complete)"),
        source: None,
    }
}

/// What `Range: bytes=0-N` says Gmail has (`N + 1` bytes; none without the header).
fn received(response: &reqwest::Response) -> Result<usize> {
    let Some(range) = response.headers().get(RANGE) else {
        return Ok(0);
    };
    range
        .to_str()
        .ok()
        .and_then(|r| r.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| n + 1)
        .ok_or_else(|| not_sent("Gmail answered an unreadable Range to the upload"))
}

impl GmailApi {
    /// Sends the RFC 5322 message `raw` (in `thread_id` when given) through the resumable
    /// upload (see the [module](self)), resuming after failed chunks. With a `deadline`, no
    /// request outlives it: an upload that is not complete by then is abandoned, and Gmail
    /// sends nothing.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the upload could not be completed (nothing was sent), or
    /// when the last chunk's answer was lost and the status query failed too (the message may
    /// have been sent); Google's refusals as the [module](super) says.
    pub async fn send_resumable(
        &self,
        token: &str,
        raw: &[u8],
        thread_id: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<SentMessage> {
        let total = raw.len();
        let metadata = match thread_id {
            Some(t) => serde_json::json!({ "threadId": t }),
            None => serde_json::json!({}),
        };
        self.count(Method::MessagesSend);
        let start = self
            .http
            .post(format!(
                "{}/upload/gmail/v1/users/me/messages/send",
                self.base_url
            ))
            .query(&[("uploadType", "resumable")])
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .header("X-Upload-Content-Type", "message/rfc822")
            .header("X-Upload-Content-Length", total.to_string())
            .body(metadata.to_string());
        let start = with_deadline(start, chunk_deadline(deadline))?;
        let session = match attempt(start).await {
            Attempt::Ok(response) => self.session_uri(&response)?,
            Attempt::Failed { error, .. } => return Err(error),
        };

        let mut offset = 0usize;
        let mut ask = false;
        let mut failures = 0u32;
        loop {
            let put = if ask || offset >= total {
                // Where to resume, or whether the last chunk completed the upload after all.
                let range = format!("bytes */{total}");
                self.put(&session, token, &range, Vec::new(), deadline, true)
                    .await?
            } else {
                let end = (offset + RESUMABLE_CHUNK_BYTES).min(total);
                let range = format!("bytes {offset}-{}/{total}", end - 1);
                let chunk = raw[offset..end].to_vec();
                self.put(&session, token, &range, chunk, deadline, false)
                    .await?
            };
            match put {
                Put::Done(response) => return json(response).await,
                Put::Has(n) if n >= total => {
                    return Err(not_sent(
                        "Gmail has the whole message but did not complete the upload",
                    ));
                }
                Put::Has(n) => {
                    offset = n;
                    ask = false;
                }
                Put::Failed(error) => {
                    failures += 1;
                    if failures > RESUMABLE_RETRIES {
                        return Err(error);
                    }
                    tracing::debug!(failures, error = %error, "a request of a Gmail upload failed; resuming");
                    tokio::time::sleep(self.retry.delay(failures - 1)).await;
                    ask = true;
                }
            }
        }
    }

    /// The session URI of the initiating answer, refused unless it is on the API's own
    /// origin (the message and the token go nowhere else).
    fn session_uri(&self, response: &reqwest::Response) -> Result<String> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| not_sent("Gmail answered the upload without a session URI"))?;
        let same_origin = |a: &str, b: &str| {
            let (a, b) = (url::Url::parse(a).ok(), url::Url::parse(b).ok());
            a.zip(b).is_some_and(|(a, b)| a.origin() == b.origin())
        };
        if !same_origin(location, &self.base_url) {
            return Err(not_sent("Gmail named an upload session on another origin"));
        }
        Ok(location.to_owned())
    }

    async fn put(
        &self,
        session: &str,
        token: &str,
        range: &str,
        body: Vec<u8>,
        deadline: Option<Instant>,
        query: bool,
    ) -> Result<Put> {
        let request = self
            .http
            .put(session)
            .bearer_auth(token)
            .header(CONTENT_RANGE, range)
            .body(body);
        // A chunk leaves time for the status query that may have to follow it.
        let request = if query {
            with_deadline(request, deadline)
        } else {
            with_deadline(request, chunk_deadline(deadline))
        }
        .map_err(|e| if query { maybe_sent() } else { e })?;
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Put::Failed(Error::unavailable("Gmail upload", e))),
        };
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => Ok(Put::Done(response)),
            StatusCode::PERMANENT_REDIRECT => Ok(Put::Has(received(&response)?)),
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                Err(not_sent("the Gmail upload session expired"))
            }
            _ => {
                let (error, transient) = super::errors::failure(response).await;
                if transient {
                    Ok(Put::Failed(error))
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// `request` with a timeout ending at `deadline`, or the error that the deadline passed.
fn with_deadline(
    request: reqwest::RequestBuilder,
    deadline: Option<Instant>,
) -> Result<reqwest::RequestBuilder> {
    let Some(deadline) = deadline else {
        return Ok(request);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(not_sent("the upload ran out of time"));
    }
    Ok(request.timeout(left))
}

/// The deadline of a chunk: [`QUERY_RESERVE`] before the upload's.
fn chunk_deadline(deadline: Option<Instant>) -> Option<Instant> {
    deadline.map(|d| d.checked_sub(QUERY_RESERVE).unwrap_or_else(Instant::now))
}

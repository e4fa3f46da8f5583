//! Sending one delivery attempt over HTTP, and what its answer means.
//!
//! [`HttpSender::send`] checks the URL with the [`SsrfGuard`] again (DNS answers change;
//! [`HttpSender::send_for_org`] adds the org's own allowed subnets), then POSTs the signed body
//! to exactly the addresses the guard approved:
//!
//! - an IP-literal URL is connected to directly (nothing to resolve);
//! - for a host name, a client whose resolver is overridden with the checked addresses
//!   (`reqwest::ClientBuilder::resolve_to_addrs`) is used, so the connection cannot go to an
//!   address the guard did not see. Such clients are cached per host and rebuilt when the
//!   checked addresses change.
//!
//! Clients never follow redirects (a `3xx` is just a failed attempt), ignore proxy environment
//! variables (a proxy would connect on our behalf to addresses the guard never checked), and
//! send `User-Agent: workos-webhooks/<version>`. The whole attempt, response body included, is
//! bounded by the configured timeout; at most [`MAX_RESPONSE_BODY`] bytes of the body are read.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use url::{Host, Url};
use workos_core::repo::SubnetAllowanceRepo;
use workos_core::tenant::TenantContext;

use crate::service::{DestinationError, check_destination, check_org_destination};
use crate::signing::{WebhookHeaders, WebhookSecret};
use crate::ssrf::{SsrfError, SsrfGuard};

/// How much of a response body is kept: 4 KiB.
pub const MAX_RESPONSE_BODY: usize = 4096;
/// The default timeout of one attempt: 15 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `Retry-After` honoured: 24 hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("workos-webhooks/", env!("CARGO_PKG_VERSION"));
/// Host clients kept; past this the cache starts over.
const MAX_CACHED_CLIENTS: usize = 1024;

/// What went wrong on the way to a response. [`ErrorKind::as_str`] is the stored
/// `error_kind` of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The attempt ran out of time (connecting, sending or reading).
    Timeout,
    /// The connection could not be made (refused, reset, unreachable).
    Connect,
    /// The host name did not resolve, or resolving it timed out.
    Dns,
    /// The SSRF guard refused the destination.
    Blocked,
    /// The TLS handshake failed (bad certificate, not TLS at all, …).
    Tls,
    /// Anything else on the wire.
    Io,
}

impl ErrorKind {
    /// The stored name: `timeout`, `connect`, `dns`, `blocked`, `tls` or `io`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Dns => "dns",
            Self::Blocked => "blocked",
            Self::Tls => "tls",
            Self::Io => "io",
        }
    }
}

/// An attempt that got no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} error: {message}", kind.as_str())]
#[non_exhaustive]
pub struct SendError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// A description for logs (never includes secrets).
    pub message: String,
}

impl SendError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The first [`MAX_RESPONSE_BODY`] bytes of the body as (lossy) UTF-8, NUL characters
    /// replaced; `None` when empty.
    pub body: Option<String>,
    /// The `Retry-After` of a 429 or 503, capped at [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
}

/// What an attempt's result means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver wants no more deliveries; disable the endpoint.
    Gone,
    /// Anything else: try again per the schedule, but not before `retry_after`.
    Retry {
        /// The receiver's `Retry-After` (429 and 503 only).
        retry_after: Option<Duration>,
    },
}

/// Classifies an attempt's result.
#[must_use]
pub fn classify(result: &Result<SendResponse, SendError>) -> Verdict {
    match result {
        Ok(r) if (200..300).contains(&r.status) => Verdict::Delivered,
        Ok(r) if r.status == 410 => Verdict::Gone,
        Ok(r) => Verdict::Retry {
            retry_after: r.retry_after,
        },
        Err(_) => Verdict::Retry { retry_after: None },
    }
}

/// One delivery attempt's message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Where to POST.
    pub url: &'a Url,
    /// The `webhook-id` (`msg_` + the delivery id), stable across attempts.
    pub msg_id: &'a str,
    /// The JSON body.
    pub body: &'a [u8],
    /// The endpoint's extra headers.
    pub headers: &'a BTreeMap<String, String>,
    /// Every valid secret; the message is signed with each.
    pub secrets: &'a [WebhookSecret],
}

/// Sends delivery attempts. See the [module docs](self). Share one per process.
#[derive(Debug)]
pub struct HttpSender {
    guard: SsrfGuard,
    timeout: Duration,
    /// For IP-literal URLs: nothing to resolve.
    direct: reqwest::Client,
    /// Per host name: the checked IP addresses and the client pinned to them (ports play no
    /// part: the client connects to the URL's port).
    pinned: Mutex<HashMap<String, (Vec<IpAddr>, reqwest::Client)>>,
}

impl HttpSender {
    /// A sender checking destinations with `guard` and bounding each attempt by `timeout`.
    ///
    /// # Errors
    /// [`SendError`] of kind [`ErrorKind::Tls`] when the HTTP client cannot be built (its TLS
    /// configuration failed to load).
    pub fn new(guard: SsrfGuard, timeout: Duration) -> Result<Self, SendError> {
        let direct = client_builder(timeout).build().map_err(build_error)?;
        Ok(Self {
            guard,
            timeout,
            direct,
            pinned: Mutex::default(),
        })
    }

    /// The attempt timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Makes one attempt: checks the destination, signs the body with every secret at the
    /// current time, POSTs it and reads at most [`MAX_RESPONSE_BODY`] bytes of the answer, all
    /// within the timeout.
    ///
    /// # Errors
    /// A [`SendError`] when no HTTP response came back: [`ErrorKind::Blocked`] when the guard
    /// refuses the destination, [`ErrorKind::Dns`] when it does not resolve, and the network's
    /// [`ErrorKind::Timeout`], [`ErrorKind::Connect`], [`ErrorKind::Tls`] or [`ErrorKind::Io`].
    pub async fn send(&self, message: Message<'_>) -> Result<SendResponse, SendError> {
        // One deadline for the whole attempt: the destination check and the request.
        let deadline = Instant::now() + self.timeout;
        let addrs = check_destination(&self.guard, message.url, self.timeout)
            .await
            .map_err(destination_error)?;
        self.post(message, addrs, deadline).await
    }

    /// [`HttpSender::send`] for a delivery of the context's org: a destination the deployment's
    /// guard refuses is checked again with the org's own allowed subnets
    /// ([`SubnetAllowanceRepo::allowed_subnets`], read from `allowances` only then).
    ///
    /// # Errors
    /// As [`HttpSender::send`]; [`ErrorKind::Io`] when the org's allowance cannot be read.
    pub async fn send_for_org<A: SubnetAllowanceRepo + ?Sized>(
        &self,
        allowances: &A,
        ctx: &TenantContext,
        message: Message<'_>,
    ) -> Result<SendResponse, SendError> {
        let deadline = Instant::now() + self.timeout;
        let addrs = check_org_destination(&self.guard, allowances, ctx, message.url, self.timeout)
            .await
            .map_err(destination_error)?;
        self.post(message, addrs, deadline).await
    }

    /// Signs and POSTs `message` to the checked `addrs`, by `deadline`.
    async fn post(
        &self,
        message: Message<'_>,
        addrs: Vec<SocketAddr>,
        deadline: Instant,
    ) -> Result<SendResponse, SendError> {
        let client = self.client_for(message.url, addrs)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SendError::new(
                ErrorKind::Timeout,
                "no time left after checking the destination",
            ));
        }

        let timestamp = Utc::now().timestamp();
        let secrets: Vec<&WebhookSecret> = message.secrets.iter().collect();
        let signed = WebhookHeaders::new(&secrets, message.msg_id, timestamp, message.body);
        let mut request = client
            .post(message.url.clone())
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in message.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let mut response = request
            .timeout(left)
            .body(message.body.to_vec())
            .send()
            .await
            .map_err(|e| SendError::new(error_kind(&e), describe(&e)))?;

        let status = response.status().as_u16();
        let retry_after = if status == 429 || status == 503 {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()))
        } else {
            None
        };
        // The status is the answer; the body is kept for people to read, so a body that fails
        // half-way is kept as far as it came.
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BODY - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(SendResponse {
            status,
            body: body_text(&body),
            retry_after,
        })
    }

    /// The client that connects to `addrs` for `url`.
    fn client_for(&self, url: &Url, addrs: Vec<SocketAddr>) -> Result<reqwest::Client, SendError> {
        let Some(Host::Domain(domain)) = url.host() else {
            return Ok(self.direct.clone());
        };
        let mut pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        if let Some((cached, client)) = pinned.get(domain)
            && *cached == ips
        {
            return Ok(client.clone());
        }
        let client = client_builder(self.timeout)
            .resolve_to_addrs(domain, &addrs)
            .build()
            .map_err(build_error)?;
        if pinned.len() >= MAX_CACHED_CLIENTS {
            pinned.clear();
        }
        pinned.insert(domain.to_owned(), (ips, client.clone()));
        Ok(client)
    }
}

fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(USER_AGENT)
        .pool_idle_timeout(Duration::from_secs(60))
}

/// The failed attempt of a destination that was refused or could not be checked.
fn destination_error(e: DestinationError) -> SendError {
    let kind = match &e {
        DestinationError::ResolveTimeout
        | DestinationError::Refused(SsrfError::Resolve { .. } | SsrfError::NoAddresses { .. }) => {
            ErrorKind::Dns
        }
        DestinationError::Refused(_) => ErrorKind::Blocked,
        DestinationError::Allowance(_) => ErrorKind::Io,
    };
    SendError::new(kind, e.to_string())
}

fn build_error(e: reqwest::Error) -> SendError {
    SendError::new(ErrorKind::Tls, format!("cannot build the HTTP client: {e}"))
}

/// The kind of a request that got no response.
fn error_kind(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        source = s.source();
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return ErrorKind::Timeout,
                // rustls reports handshake and certificate failures as InvalidData.
                std::io::ErrorKind::InvalidData if e.is_connect() => return ErrorKind::Tls,
                _ => {}
            }
            // `io::Error::source` skips the error it wraps (often another io::Error): go
            // through it instead.
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
            }
        }
    }
    if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Io
    }
}

/// An error with its chain of causes, for logs, without the URL (its query may hold tokens).
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    if let Some(url) = e.url() {
        out = out.replace(url.as_str(), "<url>");
    }
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A response body as stored: lossy UTF-8 without NUL characters (Postgres text cannot hold
/// them), `None` when empty.
fn body_text(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(body).replace('\0', "\u{fffd}"))
}

/// Parses a `Retry-After` value, delay-seconds or an HTTP date, relative to `now`, capped at
/// [`MAX_RETRY_AFTER`]. A date in the past is a zero delay; anything unparsable is `None`.
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to parse is "a very long time".
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or_default()
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["", "-1", "1.5", "soon", "+5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn classification() {
        let resp = |status, retry_after| {
            Ok(SendResponse {
                status,
                body: None,
                retry_after,
            })
        };
        assert_eq!(classify(&resp(200, None)), Verdict::Delivered);
        assert_eq!(classify(&resp(204, None)), Verdict::Delivered);
        assert_eq!(classify(&resp(410, None)), Verdict::Gone);
        assert_eq!(
            classify(&resp(301, None)),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            classify(&resp(500, None)),
            Verdict::Retry { retry_after: None }
        );
        let five = Some(Duration::from_secs(5));
        assert_eq!(
            classify(&resp(429, five)),
            Verdict::Retry { retry_after: five }
        );
        assert_eq!(
            classify(&Err(SendError::new(ErrorKind::Connect, "refused"))),
            Verdict::Retry { retry_after: None }
        );
    }

    #[test]
    fn body_text_is_lossy_and_nul_free() {
        assert_eq!(body_text(b""), None);
        assert_eq!(body_text(b"ok").as_deref(), Some("ok"));
        assert_eq!(
            body_text(b"a\0b\xff").as_deref(),
            Some("a\u{fffd}b\u{fffd}")
        );
    }

    #[test]
    fn error_kind_names() {
        let names: Vec<_> = [
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::Dns,
            ErrorKind::Blocked,
            ErrorKind::Tls,
            ErrorKind::Io,
        ]
        .iter()
        .map(|k| k.as_str())
        .collect();
        assert_eq!(names, ["timeout", "connect", "dns", "blocked", "tls", "io"]);
        assert!(USER_AGENT.starts_with("workos-webhooks/"));
    }
}

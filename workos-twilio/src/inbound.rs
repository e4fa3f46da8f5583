//! [`InboundService`]: Twilio's webhooks into the engine — inbound SMS and calls, status
//! callbacks and recordings — whatever HTTP framework receives them.
//!
//! Each request is checked before anything is stored: its `X-Twilio-Signature` must be valid
//! over the public URL Twilio called (the engine's public URL + the request's path and query:
//! Twilio signs what it called, not what a proxy forwarded), with the auth token of the org's
//! own Twilio account when it has one ([`TwilioAccounts`]), else the platform's. JSON-body
//! requests carry `bodySHA256` in the query and are signed over the URL alone; the default-port
//! variants are accepted as Twilio's own validators accept them ([`RequestValidator`]).
//!
//! The org of a request is the owner of the number it concerns (through `phones`), or the one
//! named by `?org=` in a callback URL the engine built (the URL is signed, so the org cannot be
//! forged). An inbound SMS keeps numbers' owners for a while (10 s, re-checked by every
//! write); when the owner changed meanwhile, the write refuses the stale owner, or the
//! signature was checked against the old owner's account, and the request is answered again
//! with the owner read afresh.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<workos_store::SqlStore>, cipher: std::sync::Arc<workos_core::crypto::Cipher>) -> workos_core::Result<()> {
//! use std::sync::Arc;
//! use workos_twilio::{InboundRequest, InboundService, TwilioAccounts, TwilioConfig};
//!
//! let config = TwilioConfig::from_lookup(|name| std::env::var(name).ok())?;
//! let public_url = "https://crm.example.com";
//! let accounts = Arc::new(TwilioAccounts::new(store.clone(), cipher, &config, public_url));
//! let inbound = InboundService::new(store, accounts, &config, public_url);
//! // In your handler of POST /api/v1/webhooks/twilio/sms:
//! let body = b"MessageSid=SM1&AccountSid=AC1&From=%2B14155550100&To=%2B14155550199&Body=Hi";
//! let twiml = inbound
//!     .message(&InboundRequest {
//!         path_and_query: "/api/v1/webhooks/twilio/sms",
//!         signature: Some("…the X-Twilio-Signature header…"),
//!         body,
//!         request_id: None,
//!     })
//!     .await?;
//! // Answer `twiml` with `Content-Type: text/xml`.
//! # Ok(()) }
//! ```

use std::sync::Arc;

use workos_core::domain::{Direction, Media, NewSms, Phone, UnknownSender};
use workos_core::ids::{OrgId, PhoneId};
use workos_core::repo::{
    CallSettingsRepo, CommsRepo, Directory, IntegrationRepo, OptOutRepo, OrgRepo, PersonRepo,
    PhoneRepo,
};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::accounts::TwilioAccounts;
use crate::config::TwilioConfig;
use crate::models::{InboundMessage, MessageStatusCallback, ParseError, Twiml, empty_twiml};
use crate::numbers::NumberOwners;
use crate::signature::{RequestValidator, SIGNATURE_HEADER, parse_form};

mod calls;

/// Where the engine's Twilio webhooks are served, below the public URL.
pub const WEBHOOK_PATH: &str = "/api/v1/webhooks/twilio";

/// One webhook request as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// The path and query Twilio requested, e.g. `/api/v1/webhooks/twilio/sms` (appended to
    /// the public URL, this is the URL Twilio signed).
    pub path_and_query: &'a str,
    /// The `X-Twilio-Signature` header, when present.
    pub signature: Option<&'a str>,
    /// The raw body (form-encoded parameters, or JSON with `bodySHA256`).
    pub body: &'a [u8],
    /// The request id, carried into the events the request writes.
    pub request_id: Option<&'a str>,
}

impl<'a> InboundRequest<'a> {
    /// The request as any framework on the `http` types has it: `uri` as the client sent it
    /// (Twilio signs the URL it called, so not as a nested router rewrote it), the
    /// `X-Twilio-Signature` and `X-Request-Id` headers (a value that is not text counts as
    /// absent), and the raw body.
    #[must_use]
    pub fn from_http(uri: &'a http::Uri, headers: &'a http::HeaderMap, body: &'a [u8]) -> Self {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            path_and_query: uri.path_and_query().map_or("", |p| p.as_str()),
            signature: header(SIGNATURE_HEADER),
            body,
            request_id: header("x-request-id"),
        }
    }
}

impl InboundRequest<'_> {
    fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(path, _)| path)
    }

    fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, query)| query)
    }

    /// The `org` query parameter of a callback URL the engine built (covered by the
    /// signature).
    fn org(&self) -> Option<OrgId> {
        self.query_param("org").and_then(|v| v.parse().ok())
    }

    /// A query parameter of a URL the engine built.
    fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A request's decoded form parameters.
struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook payload's parser (the models' `from_params`).
type ParseParams<T> = fn(&[(String, String)]) -> std::result::Result<T, ParseError>;

/// The parameters' error, as the caller's input error on that parameter.
fn bad_payload(e: &ParseError) -> Error {
    Error::invalid(e.field(), e.to_string())
}

/// Handles Twilio's webhooks for every org: checks signatures, finds the org, and records
/// messages, calls, statuses and recordings through the store (each write with its event).
pub struct InboundService<S> {
    store: Arc<S>,
    accounts: Arc<TwilioAccounts<S>>,
    owners: NumberOwners<S>,
    public_url: String,
    unknown_sender: UnknownSender,
    voice_greeting: String,
}

impl<S> std::fmt::Debug for InboundService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundService")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl<S> InboundService<S>
where
    S: Directory
        + CommsRepo
        + IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + OrgRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    /// The service over `store`, checking signatures with `accounts`; `public_url` is where
    /// Twilio reaches the engine (the URLs it signs start with it). The unknown-sender policy
    /// and the voice greeting are `config`'s.
    #[must_use]
    pub fn new(
        store: Arc<S>,
        accounts: Arc<TwilioAccounts<S>>,
        config: &TwilioConfig,
        public_url: &str,
    ) -> Self {
        Self {
            owners: NumberOwners::new(Arc::clone(&store)),
            store,
            accounts,
            public_url: public_url.trim_end_matches('/').to_owned(),
            unknown_sender: config.unknown_sender,
            voice_greeting: config.voice_greeting.clone(),
        }
    }

    /// Drops the cached owner of phone `id` (`None`: of every number), so the next message
    /// reads it again: for a phone changed through another process.
    pub fn forget_number_owner(&self, id: Option<workos_core::ids::PhoneId>) {
        self.owners.forget(id);
    }

    /// The accounts that check signatures (and send).
    #[must_use]
    pub fn accounts(&self) -> &Arc<TwilioAccounts<S>> {
        &self.accounts
    }

    /// An inbound SMS/MMS: stores it (idempotent on `MessageSid`), links or creates the person
    /// (as the unknown-sender policy says), adds an interaction and emits `sms.received`.
    /// A one-word STOP-family message opts the sender out of the org's SMS (`sms.opted_out`),
    /// START/UNSTOP/YES back in (`sms.opted_in`); HELP/INFO is answered with the org's help
    /// text. Answers empty TwiML otherwise; a message to a number no org owns is ignored
    /// (logged).
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a missing or invalid signature (nothing is stored);
    /// [`Error::Validation`] naming a missing or malformed Twilio parameter;
    /// [`Error::Unavailable`] when no auth token can check the request or the storage fails.
    pub async fn message(&self, request: &InboundRequest<'_>) -> Result<String> {
        let params = self.params(request)?;
        let to = params.get("To").unwrap_or_default();
        // The number's org first: its own Twilio account, if any, signed the request.
        let owner = self.owners.owner(to).await?;
        let cached = owner.as_ref().filter(|o| o.cached).map(|o| o.phone.id);
        // The owner may have changed since it was read (the number released or moved to
        // another org): the write refused it (`None`), or, read from the cache, the signature
        // was checked against the old org's account. Then answer again with the owner as it
        // is now.
        let refused = match self
            .accept_sms(request, &params, owner.map(|o| o.phone))
            .await
        {
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => None,
            Err(e) if cached.is_none() => return Err(e),
            Err(e) => Some(e),
        };
        let owner = self.owners.fresh(to).await?;
        if let Some(e) = refused
            && owner.as_ref().map(|o| o.phone.id) == cached
        {
            return Err(e);
        }
        let answer = self
            .accept_sms(request, &params, owner.map(|o| o.phone))
            .await?;
        // Released again in between: as for a number no org owns.
        Ok(answer.unwrap_or_else(|| empty_twiml().to_owned()))
    }

    /// Checks an inbound SMS's signature for the org owning `phone` (the platform's account
    /// when none does) and records it in that org. `None` when the phone was no longer the
    /// org's at the write (nothing was written).
    async fn accept_sms(
        &self,
        request: &InboundRequest<'_>,
        params: &Params,
        phone: Option<Phone>,
    ) -> Result<Option<String>> {
        self.verify(phone.as_ref().map(|p| p.org_id), request, params)
            .await?;
        let message = InboundMessage::from_params(&params.0).map_err(|e| bad_payload(&e))?;
        let Some(phone) = phone else {
            tracing::warn!(message_sid = %message.message_sid, "inbound SMS to a number no org owns; ignored");
            return Ok(Some(empty_twiml().to_owned()));
        };
        let ctx = system(phone.org_id, "twilio.inbound_sms", request);
        let (from, body) = (message.from.clone(), message.body.clone());
        let new = NewSms {
            phone_id: Some(phone.id),
            message_sid: Some(message.message_sid.clone()),
            direction: Direction::Inbound,
            from: message.from,
            to: message.to,
            body: message.body,
            media: message
                .media
                .into_iter()
                .map(|m| Media {
                    url: m.url,
                    content_type: Some(m.content_type),
                })
                .collect(),
            status: "received".into(),
            person_id: None,
            unknown_sender: self.unknown_sender,
        };
        let recorded = match self.store.record_sms(&ctx, new).await {
            Ok(recorded) => recorded,
            Err(Error::NotFound { kind }) if kind == PhoneId::KIND => return Ok(None),
            Err(e) => return Err(e),
        };
        // Debug, not info: one line per message is a cost at volume; the event log has them
        // all.
        tracing::debug!(message_sid = %message.message_sid, created = recorded.created, "inbound SMS");
        // STOP/START/HELP: a retried webhook changes nothing twice, and is answered again.
        let reply =
            crate::opt_outs::on_inbound(&*self.store, &ctx, &from, &body, recorded.record.id)
                .await?;
        Ok(Some(match reply {
            Some(text) => Twiml::new().message(&text).build(),
            None => empty_twiml().to_owned(),
        }))
    }

    /// A message status callback: updates an outbound message's status (unknown statuses are
    /// stored as given) and emits `sms.status_changed`. Statuses only move forward along
    /// Twilio's progression (a replayed or late callback changes nothing). A callback of no
    /// known org is ignored (logged).
    ///
    /// # Errors
    /// As [`InboundService::message`].
    pub async fn message_status(&self, request: &InboundRequest<'_>) -> Result<()> {
        let params = self.params(request)?;
        let org = self
            .callback_org(request, &[params.get("From"), params.get("To")])
            .await?;
        self.verify(org, request, &params).await?;
        let status = MessageStatusCallback::from_params(&params.0).map_err(|e| bad_payload(&e))?;
        let Some(org) = org else {
            tracing::warn!(message_sid = %status.message_sid, "status callback for a message of no known org");
            return Ok(());
        };
        let ctx = system(org, "twilio.message_status", request);
        let error_code = status.error_code.map(|c| c.to_string());
        self.store
            .update_sms_status(
                &ctx,
                &status.message_sid,
                status.message_status.as_str(),
                error_code,
            )
            .await?;
        Ok(())
    }

    /// The org of a callback: the one named in the signed URL the engine built, else the owner
    /// of one of the numbers (callbacks configured outside the engine). The lookup only runs
    /// when the URL names no org.
    async fn callback_org(
        &self,
        request: &InboundRequest<'_>,
        numbers: &[Option<&str>],
    ) -> Result<Option<OrgId>> {
        match request.org() {
            Some(org) => Ok(Some(org)),
            None => Ok(self.owners.uncached(numbers).await?.map(|p| p.org_id)),
        }
    }

    /// A request's form parameters, once [`Self::precheck`] let it through.
    fn params(&self, request: &InboundRequest<'_>) -> Result<Params> {
        let params = Params(parse_form(request.body));
        self.precheck(request, &params)?;
        Ok(params)
    }

    /// A request to a callback URL the engine built: its parameters parsed by `parse` once its
    /// signature checks out with the account of the org the URL names. The URL must name the
    /// org (else [`Error::Validation`] on `org`: "the `url` must name the org"), which is
    /// checked after the parameters, as a request Twilio could not have made.
    async fn engine_callback<T>(
        &self,
        request: &InboundRequest<'_>,
        parse: ParseParams<T>,
        url: &str,
    ) -> Result<(OrgId, T)> {
        let params = self.params(request)?;
        let org = request.org();
        self.verify(org, request, &params).await?;
        let parsed = parse(&params.0).map_err(|e| bad_payload(&e))?;
        let org =
            org.ok_or_else(|| Error::invalid("org", format!("the {url} must name the org")))?;
        Ok((org, parsed))
    }

    /// The checks that need no lookup, made before any: a request without a signature is
    /// refused, and one the platform's token signed goes on. Only a
    /// request that an org's own account may have signed goes on unchecked to the lookups
    /// (the number's owner, cached, and that org's account, cached), which [`Self::verify`]
    /// needs to pick the token; a made-up one then costs those lookups once per number.
    fn precheck(&self, request: &InboundRequest<'_>, params: &Params) -> Result<()> {
        if request.signature.is_none_or(str::is_empty) {
            return Err(refused(request));
        }
        if let Some(validator) = self.accounts.platform_validator()
            && signed(validator, &self.public_url, request, params)
        {
            return Ok(());
        }
        Ok(())
    }

    /// Checks the request's signature over the public URL with the auth token of `org`'s own
    /// Twilio account when it has one, else the platform's.
    async fn verify(
        &self,
        org: Option<OrgId>,
        request: &InboundRequest<'_>,
        params: &Params,
    ) -> Result<()> {
        let Some(validator) = self.accounts.validator(org).await? else {
            return Err(Error::Unavailable {
                message: "Twilio is not configured: no auth token checks webhook signatures"
                    .to_owned(),
                source: None,
            });
        };
        if !signed(&validator, &self.public_url, request, params) {
            return Err(refused(request));
        }
        Ok(())
    }
}

/// The refusal of a request with a missing or invalid signature (logged).
fn refused(request: &InboundRequest<'_>) -> Error {
    tracing::warn!(
        request_id = request.request_id.unwrap_or_default(),
        path = request.path(),
        "refused a Twilio webhook with a missing or invalid signature"
    );
    Error::Forbidden("invalid Twilio signature".to_owned())
}

/// Whether the request carries a valid signature of `validator` over `public_url` + its path
/// and query: over the raw body's hash when the query carries `bodySHA256`, else over the form
/// parameters.
fn signed(
    validator: &RequestValidator,
    public_url: &str,
    request: &InboundRequest<'_>,
    params: &Params,
) -> bool {
    let Some(signature) = request.signature.filter(|s| !s.is_empty()) else {
        return false;
    };
    let url = format!("{public_url}{}", request.path_and_query);
    if request.query().is_some_and(|q| q.contains("bodySHA256=")) {
        validator.validate_body(&url, request.body, signature)
    } else {
        validator.validate(&url, &params.0, signature)
    }
}

/// A system context of `org` for the webhook job `job`, carrying the request id.
fn system(org: OrgId, job: &str, request: &InboundRequest<'_>) -> TenantContext {
    let ctx = TenantContext::system(org, job);
    match request.request_id {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sha256_hex;

    #[test]
    fn a_request_is_read_from_http_parts() {
        let uri: http::Uri = "https://example.com/api/v1/webhooks/twilio/ring?org=o&next=1"
            .parse()
            .unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("x-twilio-signature", "sig".parse().unwrap());
        headers.insert("x-request-id", "req-1".parse().unwrap());
        let read = InboundRequest::from_http(&uri, &headers, b"A=1");
        assert_eq!(
            read.path_and_query,
            "/api/v1/webhooks/twilio/ring?org=o&next=1"
        );
        assert_eq!(read.signature, Some("sig"));
        assert_eq!(read.request_id, Some("req-1"));
        assert_eq!(read.body, b"A=1");
        let none = http::HeaderMap::new();
        let bare = InboundRequest::from_http(&uri, &none, b"");
        assert_eq!((bare.signature, bare.request_id), (None, None));
    }

    fn request<'a>(
        path_and_query: &'a str,
        signature: &'a str,
        body: &'a [u8],
    ) -> InboundRequest<'a> {
        InboundRequest {
            path_and_query,
            signature: Some(signature),
            body,
            request_id: None,
        }
    }

    #[test]
    fn reads_the_org_of_a_callback_url() {
        let org = OrgId::new();
        let path = format!("/api/v1/webhooks/twilio/recording?org={org}");
        assert_eq!(request(&path, "", b"").org(), Some(org));
        assert_eq!(request("/x?org=nope", "", b"").org(), None);
        assert_eq!(request("/x", "", b"").org(), None);
        assert_eq!(request("/x?a=1", "", b"").path(), "/x");
    }

    #[test]
    fn signatures_cover_the_public_url_and_the_form_or_the_body() {
        let validator = RequestValidator::new("token-0123456789");
        let public = "https://crm.example.com";
        let body = b"To=%2B1&From=%2B2";
        let params = Params(parse_form(body));
        let path = "/api/v1/webhooks/twilio/sms";
        let good = validator.signature(&format!("{public}{path}"), &params.0);
        assert!(signed(
            &validator,
            public,
            &request(path, &good, body),
            &params
        ));
        // Another path, another public URL, or no signature: refused.
        assert!(!signed(
            &validator,
            public,
            &request("/other", &good, body),
            &params
        ));
        assert!(!signed(
            &validator,
            "https://proxy.local",
            &request(path, &good, body),
            &params
        ));
        assert!(!signed(
            &validator,
            public,
            &request(path, "", body),
            &params
        ));

        // A JSON body is signed over the URL carrying its hash.
        let json = br#"{"a":1}"#;
        let path = format!("{path}?bodySHA256={}", sha256_hex(json));
        let good = validator.signature(&format!("{public}{path}"), &[]);
        let none = Params(Vec::new());
        assert!(signed(
            &validator,
            public,
            &request(&path, &good, json),
            &none
        ));
        assert!(!signed(
            &validator,
            public,
            &request(&path, &good, b"{}"),
            &none
        ));
    }
}

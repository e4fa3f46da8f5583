//! Domain events: the durable record of every change, written in the same transaction as the
//! change (a transactional outbox), and the bus that wakes consumers when new ones commit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::TimeRange;
use crate::error::{Error, Result};
use crate::ids::{EventId, OrgId};
use crate::tenant::{Actor, TenantContext};

/// Event type names. Each write of an entity emits `<entity>.created|updated|deleted`;
/// channels and jobs add their own (`sms.received`, `email.sent`, `lead.delivered`, …).
pub mod types {
    /// Declares the event type name constants.
    macro_rules! names {
        ($($name:ident = $s:literal;)+) => {
            $(#[doc = concat!("`", $s, "`")] pub const $name: &str = $s;)+
            /// Every name declared here.
            pub const ALL: &[&str] = &[$($s),+];
        };
    }

    names! {
        ORG_CREATED = "org.created";
        ORG_UPDATED = "org.updated";
        MEMBER_CREATED = "member.created";
        MEMBER_UPDATED = "member.updated";
        MEMBER_DELETED = "member.deleted";
        API_KEY_CREATED = "api_key.created";
        API_KEY_UPDATED = "api_key.updated";
        API_KEY_REVOKED = "api_key.revoked";
        PHONE_CREATED = "phone.created";
        PHONE_UPDATED = "phone.updated";
        PHONE_DELETED = "phone.deleted";
        COMPANY_CREATED = "company.created";
        COMPANY_UPDATED = "company.updated";
        COMPANY_DELETED = "company.deleted";
        PERSON_CREATED = "person.created";
        PERSON_UPDATED = "person.updated";
        PERSON_DELETED = "person.deleted";
        DEAL_CREATED = "deal.created";
        DEAL_UPDATED = "deal.updated";
        DEAL_DELETED = "deal.deleted";
        TASK_CREATED = "task.created";
        TASK_UPDATED = "task.updated";
        TASK_DELETED = "task.deleted";
        INTERACTION_CREATED = "interaction.created";
        INTERACTION_UPDATED = "interaction.updated";
        INTERACTION_DELETED = "interaction.deleted";
        EMAIL_SENT = "email.sent";
        EMAIL_RECEIVED = "email.received";
        SMS_SENT = "sms.sent";
        SMS_RECEIVED = "sms.received";
        SMS_STATUS_CHANGED = "sms.status_changed";
        SMS_OPTED_OUT = "sms.opted_out";
        SMS_OPTED_IN = "sms.opted_in";
        CALL_STARTED = "call.started";
        CALL_RECEIVED = "call.received";
        CALL_STATUS_CHANGED = "call.status_changed";
        CALL_COMPLETED = "call.completed";
        CALL_ANSWERED = "call.answered";
        CALL_RECORDING_AVAILABLE = "call.recording_available";
        CALL_TRANSCRIPTION_AVAILABLE = "call.transcription_available";
        SMS_SETTINGS_UPDATED = "sms_settings.updated";
        CALL_SETTINGS_UPDATED = "call_settings.updated";
        MEMBER_PHONE_UPDATED = "member_phone.updated";
        PHONE_RINGING_UPDATED = "phone_ringing.updated";
        INTEGRATION_CONNECTED = "integration.connected";
        INTEGRATION_NEEDS_REAUTH = "integration.needs_reauth";
        INTEGRATION_DISCONNECTED = "integration.disconnected";
        WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created";
        WEBHOOK_ENDPOINT_UPDATED = "webhook_endpoint.updated";
        WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint.deleted";
        WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled";
        WEBHOOK_ENDPOINT_SECRET_ROTATED = "webhook_endpoint.secret_rotated";
        LEAD_CREATED = "lead.created";
        LEAD_FORM_CREATED = "lead_form.created";
        LEAD_FORM_UPDATED = "lead_form.updated";
        LEAD_FORM_DELETED = "lead_form.deleted";
        ROUTING_SETTINGS_UPDATED = "routing_settings.updated";
        LEAD_ROUTED = "lead.routed";
        LEAD_DELIVERED = "lead.delivered";
        LEAD_DELIVERY_FAILED = "lead.delivery_failed";
        LEAD_ACCEPTED = "lead.accepted";
        LEAD_REJECTED = "lead.rejected";
        LEAD_RETURNED = "lead.returned";
        LEAD_STATUS_CHANGED = "lead.status_changed";
        LEAD_UPDATED = "lead.updated";
        LEAD_DELETED = "lead.deleted";
        PARTNER_CREATED = "partner.created";
        PARTNER_UPDATED = "partner.updated";
        PARTNER_DELETED = "partner.deleted";
        PARTNER_SECRET_ROTATED = "partner.secret_rotated";
    }
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subject {
    /// The entity kind, e.g. `person`.
    pub kind: String,
    /// The entity's id.
    pub id: Uuid,
}

/// A domain event: the envelope every consumer and webhook receiver sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainEvent {
    /// Its id (UUID v7); stable across redeliveries, so receivers can dedupe on it.
    pub id: EventId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// The type name, e.g. `person.created` (see [`types`]).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// What it is about.
    pub subject: Subject,
    /// A JSON snapshot of the entity after the change (before it, for deletions).
    pub data: serde_json::Value,
    /// The request that caused it, when there was one.
    pub request_id: Option<String>,
    /// Who caused it (the authenticated principal, or the system job); `None` only for events
    /// recorded before the audit trail existed, or built without a context.
    #[serde(default)]
    pub actor: Option<EventActor>,
}

impl DomainEvent {
    /// A new event about `kind`/`id` with `data` as the snapshot, happening now.
    pub fn new(
        org_id: OrgId,
        event_type: &str,
        kind: &str,
        id: Uuid,
        data: serde_json::Value,
        request_id: Option<&str>,
    ) -> Self {
        Self {
            id: EventId::new(),
            org_id,
            event_type: event_type.to_owned(),
            occurred_at: crate::domain::now(),
            subject: Subject {
                kind: kind.to_owned(),
                id,
            },
            data,
            request_id: request_id.map(str::to_owned),
            actor: None,
        }
    }

    /// A new event caused by `ctx`'s operation: its org, its actor and its request id, happening
    /// now. Every event the engine writes for an operation is made this way, so the audit trail
    /// names the authenticated principal, never anything the client said.
    pub fn in_context(
        ctx: &TenantContext,
        event_type: &str,
        kind: &str,
        id: Uuid,
        data: serde_json::Value,
    ) -> Self {
        Self {
            actor: Some(EventActor::from(ctx.actor())),
            ..Self::new(ctx.org_id(), event_type, kind, id, data, ctx.request_id())
        }
    }
}

/// The kind of principal that caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// An API key.
    ApiKey,
    /// A trusted internal job (inbound webhooks, sync, routing, the operator's commands).
    System,
}

impl ActorKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[Self::User, Self::ApiKey, Self::System];

    /// The kind's name as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
            Self::System => "system",
        }
    }
}

impl std::str::FromStr for ActorKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "user" => Ok(Self::User),
            "api_key" => Ok(Self::ApiKey),
            "system" => Ok(Self::System),
            _ => Err(Error::invalid(
                "actor",
                "must start with user:, api_key: or system:",
            )),
        }
    }
}

/// Who caused an event, as the audit trail records it: `{"kind": "api_key", "id": "…"}`.
///
/// Written as text it is `kind:id` (`user:<uuid>`, `api_key:<uuid>`, `system:<job>`), the form
/// the event list's `actor` filter takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventActor {
    /// What kind of principal.
    pub kind: ActorKind,
    /// The user's or API key's id, or the system job's name.
    pub id: String,
}

impl From<&Actor> for EventActor {
    fn from(actor: &Actor) -> Self {
        match actor {
            Actor::User { user_id, .. } => Self {
                kind: ActorKind::User,
                id: user_id.to_string(),
            },
            Actor::ApiKey { key_id, .. } => Self {
                kind: ActorKind::ApiKey,
                id: key_id.to_string(),
            },
            Actor::System { job } => Self {
                kind: ActorKind::System,
                id: job.clone(),
            },
        }
    }
}

impl std::fmt::Display for EventActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

impl std::str::FromStr for EventActor {
    type Err = Error;

    /// Parses `kind:id`; user and API key ids must be hyphenated UUIDs, job names 1–64
    /// characters without NUL (what the OpenAPI document's pattern for the `actor` filter
    /// says).
    fn from_str(s: &str) -> Result<Self> {
        let (kind, id) = s.split_once(':').ok_or_else(|| {
            Error::invalid(
                "actor",
                "must be kind:id, e.g. api_key:<uuid>, user:<uuid> or system:<job>",
            )
        })?;
        let kind: ActorKind = kind.parse()?;
        let id = match kind {
            // 36 characters: the hyphenated form only, not the braced, URN or bare forms
            // `Uuid` also reads.
            ActorKind::User | ActorKind::ApiKey => Some(id)
                .filter(|id| id.len() == 36)
                .and_then(|id| id.parse::<Uuid>().ok())
                .ok_or_else(|| {
                    Error::invalid(
                        "actor",
                        "the id after user: or api_key: must be a hyphenated UUID",
                    )
                })?
                .to_string(),
            ActorKind::System if (1..=64).contains(&id.chars().count()) && !id.contains('\0') => {
                id.to_owned()
            }
            ActorKind::System => {
                return Err(Error::invalid(
                    "actor",
                    "the job name after system: must be 1 to 64 characters, without NUL",
                ));
            }
        };
        Ok(Self { kind, id })
    }
}

/// Narrows a list of events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// One of these types (exact names); empty means all.
    pub types: Vec<String>,
    /// About this entity.
    pub subject_id: Option<Uuid>,
    /// Happened within.
    pub occurred: TimeRange,
    /// Caused by this actor.
    pub actor: Option<EventActor>,
}

/// An event read from its org's stream, with its position there.
///
/// Every org has one stream. Positions start at 1, have no gaps, and follow commit order:
/// a backend never lets a position be read before every earlier position of the same org is
/// readable, so a consumer that resumes after the last position it processed never skips a
/// late-committing write. There is no order across orgs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Where it sits in its org's stream (1 for the org's first event).
    pub position: u64,
    /// The event.
    pub event: DomainEvent,
}

/// A batch of one org's events claimed by one consumer. While it is held, no other process can
/// claim that org's events for the same consumer; dropping it without
/// [`ClaimedEvents::commit`] gives the batch back.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ClaimedEvents: Send {
    /// The org whose events these are.
    fn org_id(&self) -> OrgId;

    /// The claimed events, in stream order.
    fn events(&self) -> &[LoggedEvent];

    /// Moves the consumer's cursor for the org past the claimed events and releases the claim.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails; the cursor then stays put.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Cross-tenant access to the event log for trusted consumers (the webhook dispatcher,
/// projections). Not for request handlers: they use the tenant-scoped [`crate::repo::EventRepo`].
///
/// A consumer keeps one cursor per org. Consumers of different orgs never wait on each other;
/// within an org a consumer sees events in commit order.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events of `org` after position `after` (0: from the start), in order.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn read_events(&self, org: OrgId, after: u64, limit: u32) -> Result<Vec<LoggedEvent>>;

    /// Up to `limit` orgs whose streams hold events after `consumer`'s cursor (in no
    /// particular order): where [`EventLog::claim_events`] will find work.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn pending_orgs(&self, consumer: &str, limit: u32) -> Result<Vec<OrgId>>;

    /// Claims up to `limit` events of `org` after `consumer`'s cursor for it. Returns `None`
    /// when another process holds that claim right now.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn claim_events(
        &self,
        consumer: &str,
        org: OrgId,
        limit: u32,
    ) -> Result<Option<Box<dyn ClaimedEvents>>>;

    /// The consumer's cursor in `org`'s stream: the last position it committed (0 before its
    /// first commit).
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn consumer_cursor(&self, consumer: &str, org: OrgId) -> Result<u64>;
}

/// A wake-up: events were committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventNotice {
    /// The org whose events committed; `None` when the bus cannot tell (after a reconnect or a
    /// subscriber falling behind), meaning "anything may have changed".
    pub org_id: Option<OrgId>,
    /// The events committed, when the notice comes from a commit in this process that knows
    /// them (they are readable by id at once, possibly before the log hands them out in
    /// order); empty otherwise.
    pub events: std::sync::Arc<[EventId]>,
}

/// Wakes consumers when events commit. The durable log is the table; the bus only says "look
/// now", so a missed notice costs latency, never an event.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync {
    /// A new subscription that sees notices published from now on.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the bus cannot subscribe (e.g. no database connection).
    async fn subscribe(&self) -> Result<Box<dyn EventSubscription>>;
}

/// One consumer's stream of notices.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventSubscription: Send {
    /// Waits for the next notice. A subscriber that fell behind gets one notice with no org,
    /// standing for all it missed.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the bus is closed.
    async fn next(&mut self) -> Result<EventNotice>;
}

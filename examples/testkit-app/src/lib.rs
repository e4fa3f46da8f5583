//! # followup — an app built on the engine, tested with the testkit only
//!
//! A follow-up service: the engine calls it with a `person.created` webhook; it checks the
//! Standard Webhooks signature, creates a task "Follow up with …" for the new person through
//! the engine's repository traits, and texts the person, when they have a phone, through
//! Twilio (`workos_twilio::TwilioClient`, the engine's [`SmsChannel`]).
//!
//! It is generic over [`TaskRepo`] and [`SmsChannel`], so its tests (`tests/it`) run it on
//! `workos-core`'s mocks, on a store over a scratch database, against the fake Twilio, and
//! with signed webhooks, all from `workos-tests` (see `docs/testing.md`).
//!
//! Redeliveries are safe: the engine retries a delivery that failed (a Twilio error, say),
//! and the service then finds the task it made the first time instead of making another.

use std::fmt;

use chrono::Duration;
use workos_core::channel::{OutboundSms, ProviderReceipt, SmsChannel, SmsSender};
use workos_core::domain::{E164, NewTask, Person, Task, TaskFilter, TaskPriority};
use workos_core::events::{DomainEvent, types};
use workos_core::page::PageRequest;
use workos_core::repo::TaskRepo;
use workos_core::tenant::TenantContext;
use workos_webhooks::signing::{self, VerifyError, WebhookSecret};

/// The job name the service's writes carry in the engine's audit trail.
pub const JOB: &str = "followup";

/// One webhook request as it arrived: the three Standard Webhooks headers and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The `webhook-id` header.
    pub id: &'a str,
    /// The `webhook-timestamp` header.
    pub timestamp: &'a str,
    /// The `webhook-signature` header.
    pub signature: &'a str,
    /// The body, byte for byte.
    pub body: &'a [u8],
}

/// What the service did with a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not a `person.created` event: nothing to do.
    Ignored {
        /// The event's type.
        event_type: String,
    },
    /// The person's follow-up task, and the SMS when they have a phone.
    FollowedUp {
        /// The task (made now, or found from an earlier delivery).
        task: Task,
        /// What Twilio answered for the SMS.
        sms: Option<ProviderReceipt>,
    },
}

/// Why a delivery was not handled. The HTTP layer answers `401` for [`Signature`], `400` for
/// [`Payload`] and `503` for [`Engine`], so the engine retries only what may succeed later.
///
/// [`Signature`]: FollowUpError::Signature
/// [`Payload`]: FollowUpError::Payload
/// [`Engine`]: FollowUpError::Engine
#[derive(Debug)]
pub enum FollowUpError {
    /// The signature does not verify: not from the engine, altered, or replayed late.
    Signature(VerifyError),
    /// The body is not a domain event, or its person snapshot is not a person.
    Payload(serde_json::Error),
    /// The store or Twilio failed.
    Engine(workos_core::Error),
}

impl fmt::Display for FollowUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signature(e) => write!(f, "webhook signature: {e}"),
            Self::Payload(e) => write!(f, "webhook body: {e}"),
            Self::Engine(e) => write!(f, "engine: {e}"),
        }
    }
}

impl std::error::Error for FollowUpError {}

impl From<workos_core::Error> for FollowUpError {
    fn from(e: workos_core::Error) -> Self {
        Self::Engine(e)
    }
}

/// The service as it runs in production: texting through Twilio. Tasks go to any
/// [`TaskRepo`], e.g. `workos_store::SqlStore`.
pub type TwilioFollowUp<T> = FollowUp<T, workos_twilio::TwilioClient>;

/// The follow-up service over a task store `T` and an SMS channel `S`.
pub struct FollowUp<T, S> {
    tasks: T,
    sms: S,
    secret: WebhookSecret,
    from: E164,
}

impl<T, S> fmt::Debug for FollowUp<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowUp")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl<T: TaskRepo, S: SmsChannel> FollowUp<T, S> {
    /// The service writing tasks to `tasks`, texting through `sms` from the org's number
    /// `from`, and accepting webhooks signed with `secret` (the endpoint's, from the engine).
    pub const fn new(tasks: T, sms: S, secret: WebhookSecret, from: E164) -> Self {
        Self {
            tasks,
            sms,
            secret,
            from,
        }
    }

    /// Handles one webhook: verifies it, then follows up on a `person.created` event.
    ///
    /// # Errors
    /// See [`FollowUpError`]; nothing is written or sent unless the signature verifies.
    pub async fn on_webhook(&self, delivery: Delivery<'_>) -> Result<Outcome, FollowUpError> {
        signing::verify_now(
            &self.secret,
            delivery.id,
            delivery.timestamp,
            delivery.signature,
            delivery.body,
        )
        .map_err(FollowUpError::Signature)?;
        let event: DomainEvent =
            serde_json::from_slice(delivery.body).map_err(FollowUpError::Payload)?;
        if event.event_type != types::PERSON_CREATED {
            return Ok(Outcome::Ignored {
                event_type: event.event_type,
            });
        }
        let person: Person = serde_json::from_value(event.data).map_err(FollowUpError::Payload)?;
        self.follow_up(&person).await
    }

    /// Makes (or finds) `person`'s follow-up task, then texts them when they have a phone.
    ///
    /// # Errors
    /// [`FollowUpError::Engine`] when the store or Twilio fails; a task made before Twilio
    /// failed is found again on the next try.
    pub async fn follow_up(&self, person: &Person) -> Result<Outcome, FollowUpError> {
        let ctx = TenantContext::system(person.org_id, JOB);
        let new = follow_up_task(person);
        let filter = TaskFilter {
            person_id: Some(person.id),
            ..TaskFilter::default()
        };
        let existing = self
            .tasks
            .list_tasks(&ctx, filter, PageRequest::first(100)?)
            .await?
            .data
            .into_iter()
            .find(|t| t.title == new.title);
        let task = match existing {
            Some(task) => task,
            None => self.tasks.create_task(&ctx, new).await?,
        };
        let sms = match &person.phone {
            Some(to) => Some(
                self.sms
                    .send_sms(
                        &ctx,
                        OutboundSms {
                            from: SmsSender::Number(self.from.clone()),
                            to: to.clone(),
                            body: greeting(person),
                            media_urls: Vec::new(),
                            status_callback: None,
                        },
                    )
                    .await?,
            ),
            None => None,
        };
        Ok(Outcome::FollowedUp { task, sms })
    }
}

/// The task for `person`: high priority, due a day after they were created.
#[must_use]
pub fn follow_up_task(person: &Person) -> NewTask {
    let who = match (&person.first_name, &person.last_name, &person.email) {
        (Some(first), Some(last), _) => format!("{first} {last}"),
        (Some(name), None, _) | (None, Some(name), _) => name.clone(),
        (None, None, Some(email)) => email.to_string(),
        (None, None, None) => "a new contact".to_owned(),
    };
    NewTask {
        priority: TaskPriority::High,
        due_at: Some(person.created_at + Duration::days(1)),
        person_id: Some(person.id),
        ..NewTask::titled(format!("Follow up with {who}"))
    }
}

/// The SMS text for `person`.
#[must_use]
pub fn greeting(person: &Person) -> String {
    let hi = person
        .first_name
        .as_deref()
        .map_or_else(|| "Hi".to_owned(), |first| format!("Hi {first}"));
    format!("{hi}, thanks for getting in touch! We will call you within a day.")
}

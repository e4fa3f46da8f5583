//! Typed identifiers. Every entity has its own newtype over a UUID v7, so an id of one kind can
//! never be passed where another is expected, and ids sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error returned when a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct ParseIdError {
    /// Which id was expected, e.g. `person`.
    pub kind: &'static str,
}

/// What every typed id is: a UUID of one entity kind. Generic code (the store's event writing)
/// takes any id through it and names the kind without being told.
pub trait EntityId: Copy {
    /// The entity kind this id names, as used in events and errors.
    const KIND: &'static str;

    /// The underlying UUID.
    fn uuid(self) -> Uuid;
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident => $kind:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The entity kind this id names, as used in events and errors.
            pub const KIND: &'static str = $kind;

            /// A fresh, time-ordered id (UUID v7).
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read from storage or another trusted source.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| ParseIdError { kind: $kind })
            }
        }

        impl EntityId for $name {
            const KIND: &'static str = $kind;

            fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    )+};
}

ids! {
    /// An organisation: the tenant every other record belongs to.
    OrgId => "org";
    /// A user of the embedding application (e.g. a Supabase `auth.users` id).
    UserId => "user";
    /// A user's membership of an org.
    MemberId => "member";
    /// A company (account) in the CRM.
    CompanyId => "company";
    /// A person (contact) in the CRM.
    PersonId => "person";
    /// A deal (opportunity).
    DealId => "deal";
    /// A task.
    TaskId => "task";
    /// An interaction: note, meeting, or a communication's timeline entry.
    InteractionId => "interaction";
    /// An email stored from Gmail.
    EmailId => "email";
    /// An SMS or MMS message.
    SmsId => "sms";
    /// A phone call.
    CallId => "call";
    /// A provider phone number mapped to an org.
    PhoneId => "phone";
    /// A connected integration (e.g. a Gmail account).
    IntegrationId => "integration";
    /// An API key.
    ApiKeyId => "api_key";
    /// An outbound webhook endpoint.
    WebhookId => "webhook";
    /// One delivery of one event to one webhook endpoint.
    WebhookDeliveryId => "webhook_delivery";
    /// A domain event.
    EventId => "event";
    /// A lead.
    LeadId => "lead";
    /// A fulfillment partner leads are routed to.
    PartnerId => "partner";
    /// One routing of a lead to a partner.
    LeadDeliveryId => "lead_delivery";
    /// A lead form (its public id, `lf_…`, is another field).
    LeadFormId => "lead_form";
}

impl WebhookDeliveryId {
    /// The id of the delivery of `event` to `webhook`: the same whoever derives it and however
    /// often, so a fan-out done again (say, after a crash lost the first one) makes the same
    /// delivery, and its `webhook-id` stays the same. A UUID v7: the event id's millisecond
    /// timestamp (deliveries sort with their events), the version and variant, and the other
    /// 74 bits from SHA-256 of both ids.
    #[must_use]
    pub fn for_event(event: EventId, webhook: WebhookId) -> Self {
        use sha2::{Digest as _, Sha256};

        let mut hash = Sha256::new();
        hash.update(b"workos webhook delivery v1");
        hash.update(event.as_uuid().as_bytes());
        hash.update(webhook.as_uuid().as_bytes());
        let digest = hash.finalize();
        let mut bytes = [0_u8; 16];
        bytes[..6].copy_from_slice(&event.as_uuid().as_bytes()[..6]);
        bytes[6..].copy_from_slice(&digest[..10]);
        bytes[6] = 0x70 | (bytes[6] & 0x0f);
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        Self(Uuid::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`WebhookDeliveryId::for_event`] of the fixed ids in its test.
    const FIXED_DELIVERY_ID: &str = "01900000-0000-73e2-b170-6045e8742e6d";

    #[test]
    fn ids_round_trip_and_sort_by_creation() {
        let a = PersonId::new();
        let b = PersonId::new();
        assert!(a < b, "UUID v7 ids must sort by creation time");
        assert_eq!(a.to_string().parse::<PersonId>().unwrap(), a);
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn delivery_ids_derive_from_event_and_endpoint() {
        let event = EventId::new();
        let (a, b) = (WebhookId::new(), WebhookId::new());
        let id = WebhookDeliveryId::for_event(event, a);
        // Stable: derived again, the same.
        assert_eq!(id, WebhookDeliveryId::for_event(event, a));
        // Distinct per endpoint and per event.
        assert_ne!(id, WebhookDeliveryId::for_event(event, b));
        assert_ne!(id, WebhookDeliveryId::for_event(EventId::new(), a));
        // A valid v7 (RFC 9562 variant) carrying the event's timestamp.
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122);
        assert_eq!(
            id.as_uuid().get_timestamp(),
            event.as_uuid().get_timestamp()
        );
        // Deliveries sort with their events' time.
        let earlier = EventId::from_uuid(Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_700_000_000,
            0,
        )));
        let later = EventId::from_uuid(Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_700_000_001,
            0,
        )));
        assert!(WebhookDeliveryId::for_event(earlier, b) < WebhookDeliveryId::for_event(later, a));
        // A fixed input gives a fixed id: the derivation never changes between versions.
        let fixed = WebhookDeliveryId::for_event(
            EventId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
            WebhookId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002)),
        );
        assert_eq!(fixed.to_string(), FIXED_DELIVERY_ID);
    }

    #[test]
    fn invalid_id_names_its_kind() {
        let err = "nope".parse::<DealId>().unwrap_err();
        assert_eq!(err.to_string(), "not a valid deal id");
    }

    #[test]
    fn serde_is_transparent() {
        let id = CompanyId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<CompanyId>(&json).unwrap(), id);
    }
}

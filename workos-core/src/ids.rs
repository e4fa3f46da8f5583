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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_creation() {
        let a = PersonId::new();
        let b = PersonId::new();
        assert!(a < b, "UUID v7 ids must sort by creation time");
        assert_eq!(a.to_string().parse::<PersonId>().unwrap(), a);
        assert_eq!(a.as_uuid().get_version_num(), 7);
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

//! Twilio's resources as it returns them: [`AccountResource`], [`MessageResource`],
//! [`CallResource`].

use serde::{Deserialize, Deserializer, Serialize};

use crate::models::{CallStatus, MessageStatus};

/// An Account resource as Twilio returns it (the fields this crate reads). Twilio's answer
/// also carries the account's `auth_token`: it is never read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountResource {
    /// `AC…`.
    pub sid: String,
    /// The account's name.
    #[serde(default)]
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    #[serde(default)]
    pub status: String,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub account_type: Option<String>,
}

/// A Message resource as Twilio returns it (the fields this crate reads; others are
/// ignored). Dates are kept as sent (RFC 2822, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageResource {
    /// `SM…` (or `MM…` for MMS).
    pub sid: String,
    /// `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// `MG…` when sent through a Messaging Service.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The recipient.
    #[serde(default)]
    pub to: String,
    /// The sender; `null` until a Messaging Service picked one.
    #[serde(default)]
    pub from: Option<String>,
    /// The text.
    #[serde(default)]
    pub body: String,
    /// E.g. `queued`, or `accepted` for a Messaging Service.
    pub status: MessageStatus,
    /// `outbound-api`, `inbound`, …
    #[serde(default)]
    pub direction: Option<String>,
    /// Attachment count (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// Segment count (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Delivery error code of a `failed`/`undelivered` message.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Delivery error message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Price as a decimal string, e.g. `-0.00750`.
    #[serde(default)]
    pub price: Option<String>,
    /// Price currency, e.g. `USD`.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// `date_created`.
    #[serde(default)]
    pub date_created: Option<String>,
    /// `date_updated`.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `date_sent`.
    #[serde(default)]
    pub date_sent: Option<String>,
    /// The resource's path, relative to the API host.
    #[serde(default)]
    pub uri: Option<String>,
}

/// A Call resource as Twilio returns it (the fields this crate reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// The callee.
    #[serde(default)]
    pub to: String,
    /// The caller id.
    #[serde(default)]
    pub from: String,
    /// E.g. `queued`.
    pub status: CallStatus,
    /// `outbound-api`, `inbound`, `outbound-dial`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The parent call of a `<Dial>`ed leg.
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    /// Connected seconds, once ended (Twilio sends it as a string).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub duration: Option<u32>,
    /// `answered_by` when machine detection ran.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Price as a decimal string.
    #[serde(default)]
    pub price: Option<String>,
    /// Price currency.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// `date_created`.
    #[serde(default)]
    pub date_created: Option<String>,
    /// `date_updated`.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// `start_time`.
    #[serde(default)]
    pub start_time: Option<String>,
    /// `end_time`.
    #[serde(default)]
    pub end_time: Option<String>,
    /// The resource's path, relative to the API host.
    #[serde(default)]
    pub uri: Option<String>,
}

/// A non-negative integer sent as a number, a numeric string or `null`.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// An IncomingPhoneNumber resource as Twilio returns it: a number the account owns
/// (provisioned, ported or hosted). The fields this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncomingPhoneNumberResource {
    /// `PN…`.
    pub sid: String,
    /// The owning account, `AC…`.
    #[serde(default)]
    pub account_sid: String,
    /// The number in E.164.
    pub phone_number: String,
    /// The account's label for it.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// What the number can do, as Twilio says.
    #[serde(default)]
    pub capabilities: NumberCapabilities,
}

/// The `capabilities` of an [`IncomingPhoneNumberResource`]. Twilio documents lower-case keys;
/// older answers used `SMS`/`MMS`, accepted too. A missing key is `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NumberCapabilities {
    /// Makes and receives calls.
    #[serde(default, alias = "Voice")]
    pub voice: bool,
    /// Sends and receives SMS.
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    /// Sends and receives MMS.
    #[serde(default, alias = "MMS")]
    pub mms: bool,
    /// Fax (not used by the engine).
    #[serde(default, alias = "Fax")]
    pub fax: bool,
}

/// A page of the IncomingPhoneNumbers list resource (the paging fields are not read: a
/// `PhoneNumber` filter for one full E.164 number matches a handful at most).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IncomingPhoneNumberPage {
    #[serde(default)]
    pub(crate) incoming_phone_numbers: Vec<IncomingPhoneNumberResource>,
}

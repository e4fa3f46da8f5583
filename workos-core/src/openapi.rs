//! OpenAPI schemas for the value types whose JSON form is a plain string (feature `openapi`).

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{Currency, E164, EmailAddress, HttpUrl, Patch, TimelineCursor};
use crate::ids;
use crate::page::Cursor;

fn string(format: Option<SchemaFormat>, description: &str, example: Option<&str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format)
        .description(Some(description))
        .examples(example.map(serde_json::Value::from))
        .into()
}

macro_rules! string_schema {
    ($($t:ty => $format:expr, $desc:literal, $example:expr;)+) => {$(
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                string($format, $desc, $example)
            }
        }
        impl ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($t))
            }
        }
    )+};
}

string_schema! {
    EmailAddress => Some(SchemaFormat::KnownFormat(KnownFormat::Email)), "An email address (compared case-insensitively).", Some("ada@example.com");
    HttpUrl => Some(SchemaFormat::Custom("uri".into())), "An absolute http(s) URL.", Some("https://example.com/hook");
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Currency::codes()))
            .description(Some("An ISO 4217 currency code."))
            .examples(Some(serde_json::Value::from("USD")))
            .into()
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

impl PartialSchema for E164 {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{1,14}$"))
            // Not a standard format: it names the rule the pattern cannot say, that the number
            // must be a valid one of its country (libphonenumber's metadata).
            .format(Some(SchemaFormat::Custom("e164".into())))
            .description(Some(
                "A phone number in E.164 form (format `e164`); it must also be a valid number \
                 of its country, as libphonenumber's metadata has it.",
            ))
            .examples(Some(serde_json::Value::from("+14155552671")))
            .into()
    }
}

impl ToSchema for E164 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("E164")
    }
}

/// The form [`Cursor`]'s `Display` writes and its `FromStr` reads, in unpadded base64url: the
/// default order's cursor is 16 bytes (22 characters, the last carrying 2 bits of zero
/// padding); a sorted list's holds its sort and last key as well (17 bytes or more, 23
/// characters or more), and is valid only with the sort it was made for.
const CURSOR_PATTERN: &str = "^([A-Za-z0-9_-]{21}[AQgw]|[A-Za-z0-9_-]{23,})$";

impl PartialSchema for Cursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(CURSOR_PATTERN))
            .description(Some(
                "An opaque cursor from a previous page's next_cursor; a sorted list's continues \
                 only the sort it was made for.",
            ))
            .into()
    }
}

impl ToSchema for Cursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Cursor")
    }
}

impl PartialSchema for TimelineCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(TimelineCursor::PATTERN))
            .description(Some(
                "An opaque timeline cursor from a previous page's next_cursor (it holds the last \
                 item's time, type and id).",
            ))
            .into()
    }
}

impl ToSchema for TimelineCursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimelineCursor")
    }
}

macro_rules! id_schema {
    ($($id:ident),+) => {$(
        impl PartialSchema for ids::$id {
            fn schema() -> RefOr<Schema> {
                string(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)), concat!("A ", stringify!($id), " (UUID v7)."), None)
            }
        }
        impl ToSchema for ids::$id {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($id))
            }
        }
    )+};
}

id_schema!(
    OrgId,
    UserId,
    MemberId,
    CompanyId,
    PersonId,
    DealId,
    TaskId,
    InteractionId,
    EmailId,
    SmsId,
    CallId,
    PhoneId,
    IntegrationId,
    ApiKeyId,
    WebhookId,
    WebhookDeliveryId,
    EventId,
    LeadId,
    PartnerId,
    LeadDeliveryId,
    LeadFormId
);

/// A patch field has the value's schema; `null` clears it and an absent key keeps it.
impl<T: ToSchema> ToSchema for Patch<T> {
    fn name() -> Cow<'static, str> {
        T::name()
    }
}

impl<T: ToSchema> utoipa::__dev::ComposeSchema for Patch<T> {
    fn compose(mut generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        let value = if generics.is_empty() {
            T::schema()
        } else {
            generics.swap_remove(0)
        };
        OneOfBuilder::new()
            .item(value)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

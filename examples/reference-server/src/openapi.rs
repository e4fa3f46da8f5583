//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` annotations give each operation its parameters, body and
//! successful answers; [`workos_axum::openapi::Completion`] adds what the middleware and
//! extractors do (authentication, the shared problem answers, response headers, paging bounds).
//! The public routes (lead forms, Twilio's webhooks, Google's OAuth callback) are marked
//! `security: []`. What is the server's own is here: its title, where API keys come from, the
//! body limit, and one fix of what utoipa gets wrong for generated clients: the variants of
//! `PartnerDelivery` (an internally tagged enum) refuse unknown fields as the server does.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use workos_axum::openapi::Completion;

/// The document's fixed part; the paths and schemas come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "WorkOS engine API",
    description = "The multi-tenant CRM engine over REST. Errors are RFC 9457 problem \
                   documents (`application/problem+json`)."
))]
pub(crate) struct ApiDoc;

/// The document: the generated one completed as the module docs say. `public` holds the
/// `(path, method)` of the operations that do not take an API key or user token.
#[must_use]
pub fn document(generated: &utoipa::openapi::OpenApi, public: BTreeSet<(String, String)>) -> Value {
    let mut doc = Completion::new(public)
        .body_limit(crate::MAX_BODY_BYTES)
        .api_key_description(
            "An API key (`wos_…`), made by an owner or admin (`POST /api/v1/api-keys`) \
             or by `workos-server admin create-org`. It acts in its own org.",
        )
        .document(generated);
    // utoipa (5 and 6) drops `deny_unknown_fields` from the variants of an internally tagged enum;
    // the server refuses unknown fields there as anywhere.
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/PartnerDelivery/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            variant["additionalProperties"] = json!(false);
        }
    }
    doc
}

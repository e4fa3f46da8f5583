//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` annotations give each operation its parameters, body and
//! successful answers. What every operation shares is added here, once, from what the
//! middleware and extractors actually do, so that no route has to repeat it and none can
//! forget it:
//!
//! - authentication: an API key, or a user JWT with `X-Org-Id`; the public routes (lead forms,
//!   Twilio's webhooks, Google's OAuth callback) are marked `security: []`;
//! - the errors, as shared `components.responses` in `application/problem+json`: 401, 403 and
//!   429 (authentication and the rate limit) and 400 (a user token without `X-Org-Id`) on
//!   authenticated routes; 400, 413, 415 and 422 where there is a JSON body; 422 where there
//!   are query parameters; 404 where the path holds an id; 409 and 422 on authenticated POSTs
//!   (`Idempotency-Key` reused or in progress);
//! - the response headers: `x-request-id` on every answer, `RateLimit-*` on authenticated ones,
//!   `Retry-After` on 429, `Location` on 201, `WWW-Authenticate` on 401;
//! - paging: every `limit` query parameter is 1 to [`MAX_PAGE_SIZE`] (unless it states its own
//!   maximum, as search's does), every `cursor` one has
//!   [`Cursor`]'s form (a timeline's has `TimelineCursor`'s);
//! - free-text query parameters refuse NUL, as the query extractor does;
//! - what utoipa gets wrong for generated clients: the variants of `PartnerDelivery` (an
//!   internally tagged enum) refuse unknown fields as the server does, and object-valued
//!   property defaults are left to the descriptions.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use utoipa::PartialSchema as _;
use workos_core::page::{Cursor, MAX_PAGE_SIZE};

/// The document's fixed part; the paths and schemas come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "WorkOS engine API",
    description = "The multi-tenant CRM engine over REST. Errors are RFC 9457 problem \
                   documents (`application/problem+json`)."
))]
pub(crate) struct ApiDoc;

/// The pattern of free text the server takes: anything but NUL (which Postgres cannot store).
const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// The HTTP methods an operation can sit under, as the document spells them.
const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The shared error answers: status, component name, description.
const PROBLEMS: [(&str, &str, &str); 12] = [
    (
        "400",
        "BadRequest",
        "The request cannot be read: malformed JSON, or a user token without a valid `X-Org-Id`.",
    ),
    (
        "401",
        "Unauthorized",
        "No credentials, or an API key or token that is not valid.",
    ),
    (
        "403",
        "Forbidden",
        "The caller's role does not allow this, or the user is not a member of the org.",
    ),
    ("404", "NotFound", "No such resource in this org."),
    (
        "409",
        "Conflict",
        "Conflicts with the current state: a duplicate, a request with the same \
         `Idempotency-Key` still running, or a provider the route needs that is not \
         configured (`type` `urn:workos:problem:integration-not-configured`, the detail \
         naming what to configure).",
    ),
    ("413", "PayloadTooLarge", "The body is over 1 MiB."),
    (
        "415",
        "UnsupportedMediaType",
        "The body must be JSON, sent with `Content-Type: application/json`.",
    ),
    (
        "422",
        "UnprocessableContent",
        "A field, query parameter or header is not valid; `errors` names each one.",
    ),
    (
        "429",
        "TooManyRequests",
        "Over the rate limit; retry after `Retry-After` seconds.",
    ),
    (
        "502",
        "BadGateway",
        "The provider (Twilio, Google) refused the request.",
    ),
    (
        "503",
        "ServiceUnavailable",
        "A dependency (the database, a provider) cannot be reached or did not finish in time (a database timeout); retry later.",
    ),
    (
        "504",
        "GatewayTimeout",
        "The provider did not answer in time; it may have acted: do not resend blindly.",
    ),
];

/// The document: the generated one completed as the module docs say. `public` holds the
/// `(path, method)` of the operations that do not take an API key or user token.
#[must_use]
pub fn document(
    generated: &utoipa::openapi::OpenApi,
    public: &BTreeSet<(String, String)>,
) -> Value {
    let mut doc = serde_json::to_value(generated).expect("an OpenAPI document serialises");
    // utoipa (5 and 6) drops `deny_unknown_fields` from the variants of an internally tagged enum;
    // the server refuses unknown fields there as anywhere.
    // An object as a property's `default` (a nested settings object's defaults) is dropped:
    // generated clients cannot give a nested model a default (openapi-python-client refuses
    // the whole schema), and the property's description says what the default is.
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for property in properties.values_mut() {
                    if property.get("default").is_some_and(Value::is_object)
                        && let Some(p) = property.as_object_mut()
                    {
                        p.remove("default");
                    }
                }
            }
        }
    }
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/PartnerDelivery/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants {
            variant["additionalProperties"] = json!(false);
        }
    }
    let root = doc.as_object_mut().expect("the document is an object");
    root.insert("openapi".into(), json!("3.1.0"));
    root.insert(
        "security".into(),
        json!([{ "apiKey": [] }, { "userJwt": [], "orgId": [] }]),
    );
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("components is an object");
    components.insert("securitySchemes".into(), security_schemes());
    components.insert("headers".into(), headers());
    components.insert("responses".into(), problem_responses());

    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                    let is_public = public.contains(&(path.clone(), method.to_owned()));
                    complete_operation(op, path, method, is_public);
                }
            }
        }
    }
    doc
}

fn security_schemes() -> Value {
    json!({
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`wos_…`), made by an owner or admin (`POST /api/v1/api-keys`) \
                            or by `workos-server admin create-org`. It acts in its own org."
        },
        "userJwt": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A user's HS256 token (`sub` = the user id), with `X-Org-Id` naming \
                            the org the user acts in."
        },
        "orgId": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Org-Id",
            "description": "The org a user token acts in (required with `userJwt`)."
        }
    })
}

fn header(description: &str, schema: Value) -> Value {
    json!({ "description": description, "schema": schema })
}

fn headers() -> Value {
    let integer = || json!({ "type": "integer", "minimum": 0 });
    json!({
        "XRequestId": header(
            "The request's id: the client's `x-request-id`, or a new UUID. It is in the access log \
             and on the events the request writes.",
            json!({ "type": "string" }),
        ),
        "RateLimitLimit": header("Requests allowed per window.", integer()),
        "RateLimitRemaining": header("Requests left in the window.", integer()),
        "RateLimitReset": header("Seconds until the budget is full again.", integer()),
        "RateLimitPolicy": header("The policy, e.g. `60;w=60`.", json!({ "type": "string" })),
        "RetryAfter": header("Seconds to wait before retrying.", integer()),
        "Location": header(
            "The created resource's URL.",
            json!({ "type": "string", "format": "uri-reference" }),
        ),
        "WWWAuthenticate": header("`Bearer`.", json!({ "type": "string" })),
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

/// The `RateLimit-*` headers of an authenticated answer.
fn rate_limit_headers(headers: &mut Map<String, Value>) {
    for (header, component) in [
        ("RateLimit-Limit", "RateLimitLimit"),
        ("RateLimit-Remaining", "RateLimitRemaining"),
        ("RateLimit-Reset", "RateLimitReset"),
        ("RateLimit-Policy", "RateLimitPolicy"),
    ] {
        headers.insert(header.into(), header_ref(component));
    }
}

fn problem_content() -> Value {
    json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } })
}

fn problem_responses() -> Value {
    let mut responses = Map::new();
    for (status, name, description) in PROBLEMS {
        let mut headers = Map::new();
        headers.insert("x-request-id".into(), header_ref("XRequestId"));
        match status {
            "401" => {
                headers.insert("WWW-Authenticate".into(), header_ref("WWWAuthenticate"));
            }
            "429" => {
                headers.insert("Retry-After".into(), header_ref("RetryAfter"));
                rate_limit_headers(&mut headers);
            }
            _ => {}
        }
        responses.insert(
            name.into(),
            json!({ "description": description, "headers": headers, "content": problem_content() }),
        );
    }
    Value::Object(responses)
}

fn shared(status: &str) -> Option<Value> {
    PROBLEMS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, name, _)| json!({ "$ref": format!("#/components/responses/{name}") }))
}

fn complete_operation(op: &mut Map<String, Value>, path: &str, method: &str, is_public: bool) {
    let has_body = op.contains_key("requestBody");
    let params: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_query = params.iter().any(|p| p["in"] == "query");
    let has_path_id = path.contains('{');

    // Every `limit` and `cursor` is paging, read by `routes::page()`.
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            // A `limit` with a maximum of its own (search's) keeps it.
            if p["in"] == "query" && p["name"] == "limit" && p["schema"].get("maximum").is_none() {
                p["schema"] = json!({ "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE });
            }
            // A timeline's cursor has a form of its own (time, type and id).
            let timeline = p["schema"].to_string().contains("TimelineCursor");
            if p["in"] == "query" && p["name"] == "cursor" && !timeline {
                p["schema"] = serde_json::to_value(Cursor::schema()).unwrap_or_default();
            }
            // The server refuses NUL in any query parameter (`extract::ApiQuery`); a free-text
            // one says so with a pattern. One with an enum, a format, a pattern or a `$ref`
            // already says more.
            let free_text = p["in"] == "query"
                && p["schema"]["type"] == "string"
                && ["enum", "format", "pattern", "$ref"]
                    .iter()
                    .all(|k| p["schema"].get(k).is_none());
            if free_text {
                p["schema"]["pattern"] = json!(NO_NUL_PATTERN);
            }
        }
    }

    if is_public {
        op.insert("security".into(), json!([]));
    } else {
        op.remove("security");
    }

    let mut statuses: Vec<&str> = Vec::new();
    if !is_public {
        statuses.extend(["400", "401", "403", "429"]);
    }
    if has_body {
        statuses.extend(["400", "413", "415", "422"]);
    }
    if has_query {
        statuses.push("422");
    }
    if has_path_id {
        statuses.push("404");
    }
    if method == "post" && !is_public {
        // `Idempotency-Key`: in progress (409), reused with another body or malformed (422).
        statuses.extend(["409", "422"]);
    }

    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for status in statuses {
        if !responses.contains_key(status) {
            responses.insert(status.into(), shared(status).expect("a shared problem"));
        }
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if response.get("$ref").is_some() {
            continue;
        }
        let own_description = response
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty());
        if is_error
            && !own_description
            && let Some(reference) = shared(status)
        {
            *response = reference;
            continue;
        }
        let response = response.as_object_mut().expect("a response is an object");
        // OpenAPI 3.1 requires a response's `description`; utoipa 6 leaves an empty one out
        // (3.2 made it optional), so the responses that give none get the empty one back.
        response.entry("description").or_insert_with(|| json!(""));
        if is_error {
            response.insert("content".into(), problem_content());
        }
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers is an object");
        headers.insert("x-request-id".into(), header_ref("XRequestId"));
        if !is_public {
            rate_limit_headers(headers);
        }
        if status == "201" {
            headers.insert("Location".into(), header_ref("Location"));
        }
        if status == "429" {
            headers.insert("Retry-After".into(), header_ref("RetryAfter"));
        }
    }
}

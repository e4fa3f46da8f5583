//! What this kit does, said in an application's OpenAPI 3.1 document (feature `openapi`).
//!
//! The handlers' `#[utoipa::path]` annotations give each operation its parameters, body and
//! successful answers. What every operation shares comes from this crate's middleware and
//! extractors, and [`Completion::document`] adds it, once, so that no route has to repeat it
//! and none can forget it:
//!
//! - authentication ([`crate::auth`]): an API key, or a user JWT with `X-Org-Id`; the public
//!   routes are marked `security: []`;
//! - the errors, as shared `components.responses` in `application/problem+json`
//!   ([`crate::Problem`]): 401, 403 and 429 (authentication and the rate limit) and 400 (a
//!   user token without `X-Org-Id`) on authenticated routes; 400, 413, 415 and 422 where there
//!   is a JSON body ([`crate::ApiJson`]); 422 where there are query parameters
//!   ([`crate::ApiQuery`]); 404 where the path holds an id; 409 and 422 on authenticated POSTs
//!   (`Idempotency-Key` reused or in progress, [`crate::idempotency`]);
//! - the response headers: `x-request-id` on every answer, `RateLimit-*` on authenticated ones,
//!   `Retry-After` on 429, `Location` on 201, `WWW-Authenticate` on 401;
//! - paging: every `limit` query parameter is 1 to [`MAX_PAGE_SIZE`] (unless it states its own
//!   maximum), every `cursor` one has [`Cursor`]'s form (unless its schema names
//!   `TimelineCursor`);
//! - free-text query parameters refuse NUL, as [`crate::ApiQuery`] does;
//! - what utoipa gets wrong for generated clients: object-valued property defaults are left
//!   to the descriptions (openapi-python-client refuses a nested model with a default).
//!
//! ```
//! use utoipa::OpenApi as _;
//!
//! #[derive(utoipa::OpenApi)]
//! #[openapi(info(title = "My CRM"))]
//! struct ApiDoc;
//!
//! let public = workos_axum::openapi::operations(&ApiDoc::openapi());
//! let doc = workos_axum::openapi::Completion::new(public)
//!     .api_key_description("An API key (`wos_…`), made by an admin. It acts in its own org.")
//!     .document(&ApiDoc::openapi());
//! assert_eq!(doc["openapi"], "3.1.0");
//! assert!(doc["components"]["responses"]["TooManyRequests"].is_object());
//! ```

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use utoipa::PartialSchema as _;
use workos_core::page::{Cursor, MAX_PAGE_SIZE};

/// The pattern of free text the extractors take: anything but NUL (which Postgres cannot
/// store).
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// The HTTP methods an operation can sit under, as the document spells them.
const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The shared error answers: status, component name, description (413's is made from the
/// body limit).
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
    ("413", "PayloadTooLarge", ""),
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

/// The `(path, method)` of every operation of `doc`, e.g. of a router holding only the
/// public routes, for [`Completion::new`].
#[must_use]
pub fn operations(doc: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    doc.paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = serde_json::to_value(item).unwrap_or_default();
            methods
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(move |m| (path.clone(), m))
        })
        .collect()
}

/// How an application's generated document is completed: which operations are public, the
/// body limit, and how its API keys are made.
#[derive(Debug, Clone)]
pub struct Completion {
    public: BTreeSet<(String, String)>,
    body_limit: usize,
    api_key_description: String,
}

impl Completion {
    /// `public` holds the `(path, method)` of the operations that take no API key or user
    /// token ([`operations`] lists them from a document). The body limit is
    /// [`crate::idempotency::MAX_BODY`] until [`Completion::body_limit`] says otherwise.
    #[must_use]
    pub fn new(public: BTreeSet<(String, String)>) -> Self {
        Self {
            public,
            body_limit: crate::idempotency::MAX_BODY,
            api_key_description: "An API key (`wos_…`). It acts in its own org.".to_owned(),
        }
    }

    /// The request body limit the application sets (axum's `DefaultBodyLimit`), as 413 says.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The `apiKey` security scheme's description: where an API key comes from.
    #[must_use]
    pub fn api_key_description(mut self, description: impl Into<String>) -> Self {
        self.api_key_description = description.into();
        self
    }

    /// The document: `generated` completed as the module docs say.
    ///
    /// # Panics
    /// Never for a document utoipa made (it serialises to a JSON object).
    #[must_use]
    pub fn document(&self, generated: &utoipa::openapi::OpenApi) -> Value {
        let mut doc = serde_json::to_value(generated).expect("an OpenAPI document serialises");
        drop_object_defaults(&mut doc);
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
        components.insert("securitySchemes".into(), self.security_schemes());
        components.insert("headers".into(), headers());
        components.insert("responses".into(), self.problem_responses());

        if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
            for (path, item) in paths.iter_mut() {
                for method in METHODS {
                    if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                        let is_public = self.public.contains(&(path.clone(), method.to_owned()));
                        complete_operation(op, path, method, is_public);
                    }
                }
            }
        }
        doc
    }

    fn security_schemes(&self) -> Value {
        json!({
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": self.api_key_description,
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

    fn problem_responses(&self) -> Value {
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
            let description = if status == "413" {
                format!("The body is over {}.", size(self.body_limit))
            } else {
                description.to_owned()
            };
            responses.insert(
                name.into(),
                json!({ "description": description, "headers": headers, "content": problem_content() }),
            );
        }
        Value::Object(responses)
    }
}

/// `bytes` as a person reads it: `1 MiB`, `64 KiB`, `1000 bytes`.
fn size(bytes: usize) -> String {
    match bytes {
        b if b > 0 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b > 0 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// An object as a property's `default` (a nested settings object's defaults) is dropped:
/// generated clients cannot give a nested model a default (openapi-python-client refuses the
/// whole schema), and the property's description says what the default is.
fn drop_object_defaults(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
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

fn shared(status: &str) -> Option<Value> {
    PROBLEMS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, name, _)| json!({ "$ref": format!("#/components/responses/{name}") }))
}

/// Paging bounds and cursor forms, and the NUL-refusing pattern of free text.
fn complete_query_parameters(params: &mut [Value]) {
    for p in params.iter_mut().filter(|p| p["in"] == "query") {
        // A `limit` with a maximum of its own (a search's) keeps it.
        if p["name"] == "limit" && p["schema"].get("maximum").is_none() {
            p["schema"] = json!({ "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE });
        }
        // A timeline's cursor has a form of its own (time, type and id).
        let timeline = p["schema"].to_string().contains("TimelineCursor");
        if p["name"] == "cursor" && !timeline {
            p["schema"] = serde_json::to_value(Cursor::schema()).unwrap_or_default();
        }
        // `ApiQuery` refuses NUL in any query parameter; a free-text one says so with a
        // pattern. One with an enum, a format, a pattern or a `$ref` already says more.
        let free_text = p["schema"]["type"] == "string"
            && ["enum", "format", "pattern", "$ref"]
                .iter()
                .all(|k| p["schema"].get(k).is_none());
        if free_text {
            p["schema"]["pattern"] = json!(NO_NUL_PATTERN);
        }
    }
}

fn complete_operation(op: &mut Map<String, Value>, path: &str, method: &str, is_public: bool) {
    let has_body = op.contains_key("requestBody");
    let mut has_query = false;
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        has_query = params.iter().any(|p| p["in"] == "query");
        complete_query_parameters(params);
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
    if path.contains('{') {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A document with a public GET and an authenticated POST taking a body and a query.
    fn generated() -> utoipa::openapi::OpenApi {
        serde_json::from_value(json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {
                "/forms/{id}": { "get": { "responses": { "200": { "description": "ok" } } } },
                "/notes": { "post": {
                    "parameters": [
                        { "in": "query", "name": "q", "required": false, "schema": { "type": "string" } },
                        { "in": "query", "name": "limit", "required": false, "schema": { "type": "integer" } }
                    ],
                    "requestBody": { "content": { "application/json": {
                        "schema": { "type": "object" }
                    } } },
                    "responses": {
                        "201": { "description": "made" },
                        "404": { "description": "" }
                    }
                } }
            }
        }))
        .expect("a document")
    }

    #[test]
    fn public_operations_need_no_credentials_and_others_declare_their_errors() {
        let public = BTreeSet::from([("/forms/{id}".to_owned(), "get".to_owned())]);
        let doc = Completion::new(public).document(&generated());
        let form = &doc["paths"]["/forms/{id}"]["get"];
        assert_eq!(form["security"], json!([]));
        assert!(form["responses"].get("401").is_none(), "{form}");
        assert_eq!(
            form["responses"]["404"]["$ref"],
            "#/components/responses/NotFound"
        );

        let post = &doc["paths"]["/notes"]["post"];
        assert!(
            post.get("security").is_none(),
            "the document's default applies"
        );
        for status in ["400", "401", "403", "409", "413", "415", "422", "429"] {
            assert!(post["responses"].get(status).is_some(), "{status}: {post}");
        }
        // An error without a description of its own is the shared one.
        assert_eq!(
            post["responses"]["404"]["$ref"],
            "#/components/responses/NotFound"
        );
        let made = &post["responses"]["201"]["headers"];
        assert!(made.get("Location").is_some() && made.get("RateLimit-Limit").is_some());
        assert_eq!(post["parameters"][0]["schema"]["pattern"], NO_NUL_PATTERN);
        assert_eq!(
            post["parameters"][1]["schema"]["maximum"],
            json!(MAX_PAGE_SIZE)
        );
    }

    #[test]
    fn the_body_limit_and_api_key_origin_are_the_applications() {
        let doc = Completion::new(BTreeSet::new())
            .body_limit(64 << 10)
            .api_key_description("From the admin console.")
            .document(&generated());
        let components = &doc["components"];
        assert_eq!(
            components["responses"]["PayloadTooLarge"]["description"],
            "The body is over 64 KiB."
        );
        assert_eq!(
            components["securitySchemes"]["apiKey"]["description"],
            "From the admin console."
        );
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn operations_lists_every_method_of_every_path() {
        let listed = operations(&generated());
        assert_eq!(
            listed,
            BTreeSet::from([
                ("/forms/{id}".to_owned(), "get".to_owned()),
                ("/notes".to_owned(), "post".to_owned()),
            ])
        );
    }
}

//! Calls: `POST …/Calls.json` with Twilio's validation errors, and the created resources.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::FakeTwilio;
use super::server::{bad_request, ok};
use super::state::{Created, RecordedRequest, Shared, find};
use super::wire::{API_VERSION, new_sid, now};

impl FakeTwilio {
    /// The call-creating requests that created a call, in order, with `sid` set.
    #[must_use]
    pub fn created_calls(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .calls
            .iter()
            .map(|c| c.request.clone())
            .collect()
    }

    /// The JSON resource of the call `sid`.
    #[must_use]
    pub fn call(&self, sid: &str) -> Option<Value> {
        find(&self.shared.lock().calls, sid).map(|c| c.resource.clone())
    }
}

pub(super) fn create_call(
    shared: &Shared,
    account_sid: &str,
    mut request: RecordedRequest,
) -> Response {
    let to = request.param("To").unwrap_or_default().to_owned();
    let from = request.param("From").unwrap_or_default().to_owned();
    if to.is_empty() {
        return bad_request(21201, "No 'To' number is specified");
    }
    if from.is_empty() {
        return bad_request(21213, "No 'From' number is specified");
    }
    if request.param("Url").is_none_or(str::is_empty)
        && request.param("Twiml").is_none_or(str::is_empty)
    {
        return bad_request(21205, "Url parameter is required.");
    }
    let sid = new_sid("CA");
    let base = format!("/{API_VERSION}/Accounts/{}/Calls/{sid}", account_sid);
    let now = now();
    let resource = json!({
        "account_sid": account_sid,
        "annotation": null,
        "answered_by": null,
        "api_version": API_VERSION,
        "caller_name": null,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": null,
        "end_time": null,
        "forwarded_from": null,
        "from": from,
        "from_formatted": from,
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": null,
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "start_time": null,
        "status": "queued",
        "subresource_uris": {
            "notifications": format!("{base}/Notifications.json"),
            "recordings": format!("{base}/Recordings.json"),
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": null,
        "uri": format!("{base}.json"),
        "queue_time": "0",
    });
    request.sid = Some(sid);
    let response = ok(StatusCode::CREATED, &resource);
    shared.lock().calls.push(Created { request, resource });
    response
}

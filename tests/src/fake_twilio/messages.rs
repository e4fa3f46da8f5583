//! Messages: `POST …/Messages.json` with Twilio's validation errors and STOP filter, the
//! created resources, and Twilio's segment count.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::FakeTwilio;
use super::server::{bad_request, ok};
use super::state::{Created, RecordedRequest, Shared, find};
use super::wire::{API_VERSION, new_sid, now};

impl FakeTwilio {
    /// The message-creating requests that created a message, in order, with `sid` set.
    #[must_use]
    pub fn sent_messages(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .messages
            .iter()
            .map(|c| c.request.clone())
            .collect()
    }

    /// The JSON resource of the message `sid`, as the fake would answer a GET.
    #[must_use]
    pub fn message(&self, sid: &str) -> Option<Value> {
        find(&self.shared.lock().messages, sid).map(|c| c.resource.clone())
    }

    /// Sets the `status` of message `sid` (e.g. `delivered`, as a later GET would show);
    /// `false` when there is no such message.
    pub fn set_message_status(&self, sid: &str, status: &str) -> bool {
        let mut recorded = self.shared.lock();
        match recorded
            .messages
            .iter_mut()
            .find(|c| c.request.sid.as_deref() == Some(sid))
        {
            Some(created) => {
                created.resource["status"] = json!(status);
                created.resource["date_updated"] = json!(now());
                true
            }
            None => false,
        }
    }
}

pub(super) fn create_message(
    shared: &Shared,
    account_sid: &str,
    mut request: RecordedRequest,
) -> Response {
    let to = request.param("To").unwrap_or_default().to_owned();
    let from = request
        .param("From")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let service = request
        .param("MessagingServiceSid")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let body = request.param("Body").unwrap_or_default().to_owned();
    let media = request.params_named("MediaUrl").len();
    if to.is_empty() {
        return bad_request(21604, "A 'To' phone number is required.");
    }
    if from.is_none() && service.is_none() {
        return bad_request(21603, "A 'From' phone number is required.");
    }
    if body.is_empty() && media == 0 {
        return bad_request(21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return bad_request(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(refused) = stop_filter(shared, from.as_deref(), &to) {
        return refused;
    }
    let sid = new_sid(if media == 0 { "SM" } else { "MM" });
    let uri = format!(
        "/{API_VERSION}/Accounts/{}/Messages/{sid}.json",
        account_sid
    );
    let now = now();
    let resource = json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": media.to_string(),
        "num_segments": segments(&body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {
            "media": format!("/{API_VERSION}/Accounts/{}/Messages/{sid}/Media.json", account_sid),
        },
        "to": to,
        "uri": uri,
    });
    request.sid = Some(sid);
    let response = ok(StatusCode::CREATED, &resource);
    shared.lock().messages.push(Created { request, resource });
    response
}

// --- Twilio's STOP filter -------------------------------------------------------------------

impl FakeTwilio {
    /// Twilio's STOP filter, as after `recipient` texted STOP to the account's number `sender`
    /// (whether or not the webhook reached anyone): from now on a message from `sender` to
    /// `recipient` is refused with `400` + `21610`, as Twilio does, until
    /// [`stop_filter_lifted`](Self::stop_filter_lifted).
    pub fn stop_filtered(&self, sender: &str, recipient: &str) {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((sender.to_owned(), recipient.to_owned()));
    }

    /// Lifts the STOP filter of `sender` → `recipient` (the recipient texted START).
    pub fn stop_filter_lifted(&self, sender: &str, recipient: &str) {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(sender.to_owned(), recipient.to_owned()));
    }
}

/// Twilio's answer to a message the STOP filter blocks (`400` + `21610`), if it blocks it.
fn stop_filter(shared: &Shared, from: Option<&str>, to: &str) -> Option<Response> {
    let from = from?;
    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&(from.to_owned(), to.to_owned()));
    stopped.then(|| bad_request(21610, "Attempt to send to unsubscribed recipient"))
}

/// Twilio's segment count: 160/153 characters for GSM-7-ish text, 70/67 otherwise.
pub(super) fn segments(body: &str) -> usize {
    let chars = body.chars().count();
    let (single, multi) = if body.is_ascii() {
        (160, 153)
    } else {
        (70, 67)
    };
    if chars <= single {
        1
    } else {
        chars.div_ceil(multi)
    }
}

//! The accounts the fake serves and their own phone numbers: the Account resource and
//! `IncomingPhoneNumbers.json`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use workos_twilio::parse_form;

use super::FakeTwilio;
use super::server::ok;
use super::state::{RecordedRequest, Shared};
use super::wire::{API_VERSION, new_sid, now};

impl FakeTwilio {
    /// Serves one more account (e.g. an org's own Twilio account) at the same base URL:
    /// requests authenticated as `account_sid:auth_token` may use `/Accounts/{account_sid}/…`.
    /// Resources it creates carry that account's SID.
    pub fn add_account(&self, account_sid: &str, auth_token: &str) {
        self.shared
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account_sid.to_owned(), auth_token.to_owned());
    }

    /// Gives the account `account_sid` the number `number` (E.164) with `capabilities` (any
    /// of `voice`, `sms`, `mms`, `fax`), as bought or ported into it: listed by its
    /// IncomingPhoneNumbers resource from now on (replacing the account's earlier entry for it).
    /// Returns the number's `PN…` SID.
    pub fn add_incoming_number(
        &self,
        account_sid: &str,
        number: &str,
        capabilities: &[&str],
    ) -> String {
        let sid = new_sid("PN");
        let has = |c: &str| capabilities.contains(&c);
        let now = now();
        let resource = json!({
            "account_sid": account_sid,
            "address_requirements": "none",
            "address_sid": null,
            "api_version": API_VERSION,
            "beta": false,
            "bundle_sid": null,
            "capabilities": {
                "fax": has("fax"),
                "mms": has("mms"),
                "sms": has("sms"),
                "voice": has("voice"),
            },
            "date_created": now,
            "date_updated": now,
            "emergency_address_sid": null,
            "emergency_address_status": "unregistered",
            "emergency_status": "Active",
            "friendly_name": number,
            "identity_sid": null,
            "origin": "twilio",
            "phone_number": number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status": "in-use",
            "status_callback": "",
            "status_callback_method": "POST",
            "subresource_uris": {
                "assigned_add_ons": format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}/AssignedAddOns.json"),
            },
            "trunk_sid": null,
            "uri": format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"),
            "voice_application_sid": null,
            "voice_caller_id_lookup": false,
            "voice_fallback_method": "POST",
            "voice_fallback_url": null,
            "voice_method": "POST",
            "voice_receive_mode": "voice",
            "voice_url": null,
        });
        let mut numbers = self
            .shared
            .numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        numbers.retain(|n| !(n["account_sid"] == account_sid && n["phone_number"] == number));
        numbers.push(resource);
        sid
    }
}

/// The account's IncomingPhoneNumbers, filtered by `PhoneNumber` the way Twilio does (a part
/// of the number matches), on one page.
pub(super) fn list_numbers(
    shared: &Shared,
    account_sid: &str,
    request: &RecordedRequest,
) -> Response {
    let query = request.query.clone().unwrap_or_default();
    let filter = parse_form(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == "PhoneNumber")
        .map(|(_, v)| v);
    let numbers: Vec<Value> = shared
        .numbers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|n| n["account_sid"] == account_sid)
        .filter(|n| {
            filter.as_deref().is_none_or(|f| {
                n["phone_number"]
                    .as_str()
                    .is_some_and(|number| number.contains(f))
            })
        })
        .cloned()
        .collect();
    let uri = format!("/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json?{query}");
    let page = json!({
        "end": numbers.len().saturating_sub(1),
        "first_page_uri": format!("{uri}&PageSize=50&Page=0"),
        "incoming_phone_numbers": numbers,
        "next_page_uri": null,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": null,
        "start": 0,
        "uri": uri,
    });
    ok(StatusCode::OK, &page)
}

/// An Account resource as Twilio answers it (Twilio includes the auth token).
pub(super) fn account_resource(sid: &str, auth_token: &str) -> Value {
    let now = now();
    let uri = format!("/{API_VERSION}/Accounts/{sid}.json");
    json!({
        "auth_token": auth_token,
        "date_created": now,
        "date_updated": now,
        "friendly_name": format!("{sid} account"),
        "owner_account_sid": sid,
        "sid": sid,
        "status": "active",
        "subresource_uris": {
            "messages": format!("/{API_VERSION}/Accounts/{sid}/Messages.json"),
            "calls": format!("/{API_VERSION}/Accounts/{sid}/Calls.json"),
        },
        "type": "Full",
        "uri": uri,
    })
}

#[cfg(test)]
mod tests {
    use crate::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};

    #[tokio::test]
    async fn incoming_numbers_are_the_account_s_own_and_matched_exactly() {
        let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
        let other = "ACfedcba9876543210fedcba9876543210";
        twilio.add_account(other, "fedcba9876543210fedcba9876543210");
        twilio.add_incoming_number(TEST_ACCOUNT_SID, "+14155550123", &["sms", "voice"]);
        twilio.add_incoming_number(other, "+14155550199", &["mms"]);
        let client = twilio.client_builder().build().unwrap();
        let found = client
            .find_incoming_phone_number("+14155550123")
            .await
            .unwrap()
            .expect("the account's number");
        assert!(found.sid.starts_with("PN") && found.sid.len() == 34);
        assert_eq!(found.account_sid, TEST_ACCOUNT_SID);
        assert!(found.capabilities.sms && found.capabilities.voice);
        assert!(!found.capabilities.mms && !found.capabilities.fax);
        // Twilio matches `PhoneNumber` as a pattern: a prefix is not the number.
        assert_eq!(
            client
                .find_incoming_phone_number("+1415555012")
                .await
                .unwrap(),
            None
        );
        // Another account's number is not this account's.
        assert_eq!(
            client
                .find_incoming_phone_number("+14155550199")
                .await
                .unwrap(),
            None
        );
        assert!(
            client
                .find_incoming_phone_number("4155550123")
                .await
                .is_err()
        );
        let asked = twilio.requests();
        assert_eq!(asked.len(), 3, "the malformed number was not sent");
        assert_eq!(
            asked[0].query.as_deref(),
            Some("PhoneNumber=%2B14155550123")
        );
    }
}

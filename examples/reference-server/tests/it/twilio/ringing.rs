//! Inbound calls ring the members set for the number (`GET`/`PUT /api/v1/phones/{id}/ringing`),
//! in order or all at once, and fall back to voicemail — greeting, `<Record>`, the recording
//! stored on the call, and Twilio's transcription when the org turns it on. Every TwiML
//! document is checked against Twilio's Python library. Settings changes emit their events.

use serde_json::{Value, json};

use super::calls::assert_valid_twiml;
use super::{Org, TwilioApp, param};
use crate::helpers::{Resp, id_of, phone_number};

/// A member of `org` with `phone` on their membership (none when `None`).
async fn member(t: &TwilioApp, org: &Org, phone: Option<&str>) -> Value {
    let member = t
        .create(
            "/api/v1/members",
            &org.key,
            json!({ "user_id": uuid::Uuid::now_v7(), "role": "member" }),
        )
        .await;
    if let Some(phone) = phone {
        let path = format!("/api/v1/members/{}/phone", id_of(&member));
        let resp = t
            .send(
                t.request(reqwest::Method::PUT, &path, &org.key)
                    .json(&json!({ "phone": phone })),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    member
}

async fn put(t: &TwilioApp, path: &str, key: &str, body: Value) -> Resp {
    t.send(t.request(reqwest::Method::PUT, path, key).json(&body))
        .await
}

/// The value of attribute `name` in `twiml` (unescaped).
fn attr(twiml: &str, name: &str) -> String {
    let key = format!(r#" {name}=""#);
    let start = twiml
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {twiml}"))
        + key.len();
    let end = start + twiml[start..].find('"').expect("closing quote");
    twiml[start..end].replace("&amp;", "&")
}

/// Asserts `resp` is the voicemail TwiML of `org` (transcribed or not); returns the recording
/// callback URL.
async fn assert_voicemail(t: &TwilioApp, resp: &Resp, org: &Org, transcribed: bool) -> String {
    assert_eq!(resp.status, 200, "{}", resp.text);
    let hook = |route: &str| format!("{}?org={}", t.hook(route), org.id);
    assert!(
        resp.text.contains("<Say>Thanks for calling"),
        "{}",
        resp.text
    );
    assert_eq!(attr(&resp.text, "action"), hook("hangup"));
    assert_eq!(attr(&resp.text, "maxLength"), "120");
    let recording = attr(&resp.text, "recordingStatusCallback");
    assert_eq!(recording, format!("{}&voicemail=1", hook("recording")));
    assert_eq!(
        resp.text.contains(r#"transcribe="true""#),
        transcribed,
        "{}",
        resp.text
    );
    if transcribed {
        assert_eq!(
            attr(&resp.text, "transcribeCallback"),
            hook("transcription")
        );
    }
    assert_valid_twiml(&resp.text).await;
    recording
}

async fn inbound_calls_ring_members_then_voicemail(t: &TwilioApp) {
    let org = t.org("Front desk").await;
    let (phone_a, phone_b) = (phone_number(), phone_number());
    let a = member(t, &org, Some(&phone_a)).await;
    let b = member(t, &org, Some(&phone_b)).await;
    let no_phone = member(t, &org, None).await;
    let ringing = format!("/api/v1/phones/{}/ringing", org.phone_id);

    // Defaults: nobody rings.
    assert_eq!(
        t.read(&ringing, &org.key).await,
        json!({ "members": [], "strategy": "sequential", "timeout_seconds": 20 })
    );
    // Bad input names the field; only admins change it; another org's number is not found.
    put(
        t,
        &ringing,
        &org.key,
        json!({ "members": [a["id"]], "timeout_seconds": 4 }),
    )
    .await
    .invalid_field("timeout_seconds");
    put(
        t,
        &ringing,
        &org.key,
        json!({ "members": [a["id"], a["id"]] }),
    )
    .await
    .invalid_field("members");
    put(
        t,
        &ringing,
        &org.key,
        json!({ "members": [uuid::Uuid::now_v7()] }),
    )
    .await
    .invalid_field("members");
    let viewer = t.api_key(org.id, workos_core::tenant::Role::Member).await;
    put(t, &ringing, &viewer, json!({ "members": [] }))
        .await
        .problem(403);
    let other = t.org("Elsewhere").await;
    put(t, &ringing, &other.key, json!({ "members": [] }))
        .await
        .problem(404);

    let settings = json!({
        "members": [a["id"], no_phone["id"], b["id"]],
        "strategy": "sequential",
        "timeout_seconds": 15,
    });
    let resp = put(t, &ringing, &org.key, settings.clone()).await;
    assert_eq!(resp.json(), settings, "{}", resp.text);
    assert_eq!(t.read(&ringing, &org.key).await, settings);

    // A call comes in: the first member rings, the caller hears ringing until they answer.
    let caller = phone_number();
    let params = t.twilio.inbound_call_params(&caller, &org.number);
    let sid = param(&params, "CallSid").to_owned();
    let resp = t.webhook(&t.hook("voice"), &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let action = attr(&resp.text, "action");
    assert_eq!(
        action,
        format!(
            "{}?org={}&phone={}&next=1",
            t.hook("ring"),
            org.id,
            org.phone_id
        )
    );
    assert_eq!(attr(&resp.text, "answerOnBridge"), "true");
    assert_eq!(attr(&resp.text, "timeout"), "15");
    assert!(
        resp.text.contains(&format!(">{phone_a}</Number>")),
        "{}",
        resp.text
    );
    assert!(!resp.text.contains(&phone_b), "{}", resp.text);
    // Its leg reports `answered` (only) to a URL naming the member.
    assert_eq!(
        attr(&resp.text, "statusCallback"),
        format!(
            "{}?org={}&member={}",
            t.hook("call-status"),
            org.id,
            id_of(&a)
        )
    );
    assert_eq!(attr(&resp.text, "statusCallbackEvent"), "answered");
    assert_valid_twiml(&resp.text).await;

    // Nobody answers: the next member with a phone rings, then the voicemail.
    let missed = |action: &str| {
        let params =
            t.twilio
                .dial_action_params(&sid, &caller, &org.number, "inbound", "no-answer", None);
        let action = action.to_owned();
        async move { t.webhook(&action, &params).await }
    };
    let resp = missed(&action).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(
        resp.text.contains(&format!(">{phone_b}</Number>")),
        "{}",
        resp.text
    );
    assert_valid_twiml(&resp.text).await;
    let resp = missed(&attr(&resp.text, "action")).await;
    let recording = assert_voicemail(t, &resp, &org, false).await;

    // The Record's action hangs up; the voicemail lands on the call.
    let resp = t
        .webhook(&format!("{}?org={}", t.hook("hangup"), org.id), &params)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(
        resp.text,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
    );
    assert_valid_twiml(&resp.text).await;
    let rec = t.twilio.recording_params(&sid, 17);
    assert_eq!(t.webhook(&recording, &rec).await.status, 204);
    let calls = t.list("/api/v1/calls", &org.key).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["voicemail"], json!(true));
    assert_eq!(calls[0]["recording_seconds"], json!(17));
    assert_eq!(calls[0]["transcription_text"], json!(null));

    // A member answers the next call: the call is theirs (`call.answered`) and ends with them.
    let params = t.twilio.inbound_call_params(&caller, &org.number);
    let sid = param(&params, "CallSid").to_owned();
    let resp = t.webhook(&t.hook("voice"), &params).await;
    let (url, leg) = t
        .twilio
        .number_answered(&resp.text, &sid, &caller, &phone_a)
        .expect("Ada's leg reports answered");
    assert_eq!(t.webhook(&url, &leg).await.status, 204);
    let taken = t
        .list("/api/v1/calls?status=in-progress", &org.key)
        .await
        .into_iter()
        .find(|c| c["call_sid"] == json!(sid))
        .expect("the answered call, in progress");
    assert_eq!(taken["answered_by_member_id"], a["id"]);
    let events = t.events("call.answered", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["answered_by_member_id"], a["id"]);
    // Replayed: nothing new.
    assert_eq!(t.webhook(&url, &leg).await.status, 204);
    assert_eq!(t.events("call.answered", &org.key).await.len(), 1);
    let answered =
        t.twilio
            .dial_action_params(&sid, &caller, &org.number, "inbound", "completed", Some(30));
    super::assert_empty_twiml(&t.webhook(&attr(&resp.text, "action"), &answered).await);
    let call = t
        .list("/api/v1/calls?status=completed", &org.key)
        .await
        .into_iter()
        .find(|c| c["call_sid"] == json!(sid))
        .expect("the answered call");
    assert_eq!(call["duration_seconds"], json!(30));
    assert_eq!(call["dial_call_sid"], json!(t.twilio.dialed_leg_sid(&sid)));
    assert_eq!(call["voicemail"], json!(false));
    assert_eq!(call["answered_by_member_id"], a["id"]);
    let completed = t.events("call.completed", &org.key).await;
    assert_eq!(completed[0]["data"]["answered_by_member_id"], a["id"]);
}
twilio_test!(inbound_calls_ring_members_then_voicemail);

async fn simultaneous_ringing_and_transcribed_voicemail(t: &TwilioApp) {
    let org = t.org("Sales line").await;
    let (phone_a, phone_b) = (phone_number(), phone_number());
    let a = member(t, &org, Some(&phone_a)).await;
    let b = member(t, &org, Some(&phone_b)).await;
    let ringing = format!("/api/v1/phones/{}/ringing", org.phone_id);
    let resp = put(
        t,
        &ringing,
        &org.key,
        json!({ "members": [a["id"], b["id"]], "strategy": "simultaneous" }),
    )
    .await;
    assert_eq!(resp.json()["timeout_seconds"], json!(20), "{}", resp.text);
    let resp = put(
        t,
        "/api/v1/calls/settings",
        &org.key,
        json!({ "record_calls": false, "transcribe_voicemail": true }),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text);

    // Both ring at once.
    let caller = phone_number();
    let params = t.twilio.inbound_call_params(&caller, &org.number);
    let sid = param(&params, "CallSid").to_owned();
    let resp = t.webhook(&t.hook("voice"), &params).await;
    assert!(
        resp.text.contains(&format!(">{phone_a}</Number><Number"))
            && resp.text.contains(&format!(">{phone_b}</Number></Dial>")),
        "{}",
        resp.text
    );
    assert_valid_twiml(&resp.text).await;
    let ringing_twiml = resp.text.clone();

    // Nobody answers: voicemail, transcribed.
    let missed =
        t.twilio
            .dial_action_params(&sid, &caller, &org.number, "inbound", "no-answer", None);
    let resp = t.webhook(&attr(&resp.text, "action"), &missed).await;
    let recording = assert_voicemail(t, &resp, &org, true).await;
    let rec = t.twilio.recording_params(&sid, 25);
    assert_eq!(t.webhook(&recording, &rec).await.status, 204);
    let text = "Hi, it's Ada — please call me back about the quote.";
    let transcription = t.twilio.transcription_params(
        &sid,
        param(&rec, "RecordingSid"),
        &caller,
        &org.number,
        Some(text),
    );
    let hook = format!("{}?org={}", t.hook("transcription"), org.id);
    let resp = t.webhook(&hook, &transcription).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    let calls = t.list("/api/v1/calls", &org.key).await;
    assert_eq!(calls[0]["transcription_text"], json!(text));
    assert_eq!(calls[0]["transcription_status"], json!("completed"));
    assert_eq!(calls[0]["voicemail"], json!(true));
    let events = t.events("call.transcription_available", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["transcription_text"], json!(text));
    // Retried: nothing new. Without the org, or without its parameters: 4xx naming them.
    assert_eq!(t.webhook(&hook, &transcription).await.status, 204);
    assert_eq!(
        t.events("call.transcription_available", &org.key)
            .await
            .len(),
        1
    );
    t.webhook(&t.hook("transcription"), &transcription)
        .await
        .invalid_field("org");
    let bare: Vec<(String, String)> = transcription
        .iter()
        .filter(|(k, _)| k != "TranscriptionStatus")
        .cloned()
        .collect();
    t.webhook(&hook, &bare)
        .await
        .invalid_field("TranscriptionStatus");
    // A signature over another URL is refused.
    let signature = t.twilio.webhook_signature(&hook, &transcription);
    let forged = hook.replace(&org.id.to_string(), &t.org("Other").await.id.to_string());
    let resp = t.post_form(&forged, &transcription, Some(&signature)).await;
    assert_eq!(resp.status, 403, "{}", resp.text);

    // Both ring again; Bob answers first: the call is his, whatever Ada's leg says later.
    let params = t.twilio.inbound_call_params(&caller, &org.number);
    let sid = param(&params, "CallSid").to_owned();
    let resp = t.webhook(&t.hook("voice"), &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let twiml = resp.text;
    let (bob_url, bob_leg) = t
        .twilio
        .number_answered(&twiml, &sid, &caller, &phone_b)
        .expect("Bob's leg reports answered");
    // A member named in a URL Twilio did not sign is refused; a malformed one is named.
    let signature = t.twilio.webhook_signature(&bob_url, &bob_leg);
    let forged = bob_url.replace(&id_of(&b), &id_of(&a));
    let resp = t.post_form(&forged, &bob_leg, Some(&signature)).await;
    assert_eq!(resp.status, 403, "{}", resp.text);
    t.webhook(&bob_url.replace(&id_of(&b), "bob"), &bob_leg)
        .await
        .invalid_field("member");
    assert_eq!(t.webhook(&bob_url, &bob_leg).await.status, 204);
    let (ada_url, ada_leg) = t
        .twilio
        .number_answered(&twiml, &sid, &caller, &phone_a)
        .expect("Ada's leg");
    assert_eq!(t.webhook(&ada_url, &ada_leg).await.status, 204);
    let call = t
        .list("/api/v1/calls", &org.key)
        .await
        .into_iter()
        .find(|c| c["call_sid"] == json!(sid))
        .expect("the call");
    assert_eq!(call["answered_by_member_id"], b["id"]);
    assert_eq!(call["status"], json!("in-progress"));
    let answered = t.events("call.answered", &org.key).await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["data"]["answered_by_member_id"], b["id"]);
    // Not rung at all: Twilio's document names no leg for a stranger.
    assert!(
        t.twilio
            .number_answered(&ringing_twiml, &sid, &caller, &phone_number())
            .is_none()
    );
}
twilio_test!(simultaneous_ringing_and_transcribed_voicemail);

async fn settings_changes_emit_events(t: &TwilioApp) {
    let org = t.org("Settings").await;
    let rep = member(t, &org, None).await;
    let resp = put(
        t,
        "/api/v1/sms/settings",
        &org.key,
        json!({ "help_text": "Acme: call us" }),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let events = t.events("sms_settings.updated", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["help_text"], json!("Acme: call us"));

    put(
        t,
        "/api/v1/calls/settings",
        &org.key,
        json!({ "record_calls": true }),
    )
    .await;
    let events = t.events("call_settings.updated", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"],
        json!({ "record_calls": true, "transcribe_voicemail": false })
    );

    let path = format!("/api/v1/members/{}/phone", id_of(&rep));
    let number = phone_number();
    put(t, &path, &org.key, json!({ "phone": number })).await;
    put(t, &path, &org.key, json!({ "phone": number })).await;
    let events = t.events("member_phone.updated", &org.key).await;
    assert_eq!(
        events.len(),
        1,
        "setting the same phone again changes nothing"
    );
    assert_eq!(events[0]["subject"]["id"], rep["id"]);
    assert_eq!(events[0]["data"]["phone"], json!(number));
    put(t, &path, &org.key, json!({ "phone": null })).await;
    assert_eq!(t.events("member_phone.updated", &org.key).await.len(), 2);

    let ringing = format!("/api/v1/phones/{}/ringing", org.phone_id);
    put(
        t,
        &ringing,
        &org.key,
        json!({ "members": [rep["id"]], "timeout_seconds": 30 }),
    )
    .await;
    let events = t.events("phone_ringing.updated", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"]["id"], json!(org.phone_id));
    assert_eq!(events[0]["data"]["members"], json!([rep["id"]]));
    assert_eq!(events[0]["data"]["timeout_seconds"], json!(30));
}
twilio_test!(settings_changes_emit_events);

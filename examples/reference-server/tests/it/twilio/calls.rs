//! Click-to-call: `POST /api/v1/calls` with `agent_phone` rings the rep first from the org's
//! number; when the rep answers, the engine's TwiML dials the customer with the org's number
//! as caller id, recording both legs when the org records calls. The TwiML is checked against
//! Twilio's own helper library (`tests/it/python/twiml_check.py`).

use std::io::Write as _;

use serde_json::json;

use super::{TwilioApp, python};
use crate::helpers::{id_of, phone_number};

/// Runs `twiml_check.py` on `twiml`: `Ok("ok")` when Twilio's library builds the same
/// document; `Err` when Python or the `twilio` package is missing (then the test passes with a
/// notice, unless `WORKOS_REQUIRE_PYTHON_VERIFIERS=1`, when it fails).
async fn twilio_library_agrees(twiml: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python/twiml_check.py");
        let mut child = std::process::Command::new(python())
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python()))?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(twiml.as_bytes())
            .expect("write the TwiML");
        let out = child.wait_with_output().expect("wait for python");
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        match out.status.code() {
            Some(3) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            _ => Ok(stdout),
        }
    })
    .await
    .expect("the python task")
}

/// Asserts that Twilio's library agrees with `twiml` (see [`twilio_library_agrees`]).
pub(super) async fn assert_valid_twiml(twiml: &str) {
    match twilio_library_agrees(twiml.to_owned()).await {
        Ok(verdict) => assert_eq!(verdict, "ok", "Twilio's library on {twiml}"),
        Err(why) => {
            assert!(
                std::env::var("WORKOS_REQUIRE_PYTHON_VERIFIERS").as_deref() != Ok("1"),
                "WORKOS_REQUIRE_PYTHON_VERIFIERS=1 but Twilio's library cannot run ({why})"
            );
            eprintln!("twilio Python package missing: TwiML check SKIPPED ({why})");
        }
    }
}

async fn click_to_call_rings_the_rep_then_dials_the_customer(t: &TwilioApp) {
    let org = t.org("Dialer").await;
    let rep = phone_number();
    let customer = phone_number();
    let person = t
        .create(
            "/api/v1/people",
            &org.key,
            json!({ "first_name": "Grace", "phone": customer }),
        )
        .await;
    assert_eq!(
        t.read("/api/v1/calls/settings", &org.key).await,
        json!({ "record_calls": false, "transcribe_voicemail": false })
    );
    let put = t
        .send(
            t.request(reqwest::Method::PUT, "/api/v1/calls/settings", &org.key)
                .json(&json!({ "record_calls": true })),
        )
        .await;
    assert_eq!(
        put.json(),
        json!({ "record_calls": true, "transcribe_voicemail": false }),
        "{}",
        put.text
    );

    let call = t
        .create(
            "/api/v1/calls",
            &org.key,
            json!({ "person_id": person["id"], "agent_phone": rep }),
        )
        .await;
    // The call is the customer's, on their timeline.
    assert_eq!(call["to"], json!(customer));
    assert_eq!(call["from"], json!(org.number));
    assert_eq!(call["direction"], json!("outbound"));
    assert_eq!(call["person_id"], person["id"]);
    assert!(call["interaction_id"].is_string(), "{call}");
    let timeline = t
        .list(
            &format!("/api/v1/interactions?person_id={}", id_of(&person)),
            &org.key,
        )
        .await;
    assert!(
        timeline.iter().any(|i| i["id"] == call["interaction_id"]),
        "{timeline:?}"
    );

    // Twilio was asked to ring the rep, from the org's number.
    let placed = t.twilio.created_calls();
    assert_eq!(placed.len(), 1);
    let leg = &placed[0];
    assert_eq!(leg.param("To"), Some(rep.as_str()));
    assert_eq!(leg.param("From"), Some(org.number.as_str()));
    let sid = call["call_sid"]
        .as_str()
        .expect("the call's SID")
        .to_owned();
    assert_eq!(leg.sid.as_deref(), Some(sid.as_str()));

    // The rep answers: the engine dials the customer with the org's number as caller id,
    // recording both legs.
    let (url, params) = t
        .twilio
        .answered_call(&sid)
        .expect("the call has instructions");
    let resp = t.webhook(&url, &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    let hook = |route: &str| format!("{}?org={}", t.hook(route), org.id);
    assert_eq!(
        resp.text,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="{ended}" callerId="{from}" record="record-from-answer-dual" recordingStatusCallback="{rec}" timeout="30"><Number statusCallback="{status}" statusCallbackEvent="initiated ringing answered completed">{customer}</Number></Dial></Response>"#,
            ended = hook("bridge-ended"),
            from = org.number,
            rec = hook("recording"),
            status = hook("call-status"),
        )
    );
    assert_valid_twiml(&resp.text).await;

    // The recording of both legs lands on the call.
    let recording = t.twilio.recording_params(&sid, 42);
    assert_eq!(t.webhook(&hook("recording"), &recording).await.status, 204);
    let stored = t
        .read(&format!("/api/v1/calls/{}", id_of(&call)), &org.key)
        .await;
    assert_eq!(stored["recording_seconds"], json!(42));
    assert!(stored["recording_url"].is_string(), "{stored}");
    assert_eq!(stored["person_id"], person["id"]);

    // The callee and the choice to record ride in the signed URL: changing them is refused.
    let forged = url.replace("record=1", "record=0");
    assert_ne!(forged, url);
    let signature = t.twilio.webhook_signature(&url, &params);
    let resp = t.post_form(&forged, &params, Some(&signature)).await;
    assert_eq!(resp.status, 403, "{}", resp.text);

    // Without recording, the dial records nothing.
    t.send(
        t.request(reqwest::Method::PUT, "/api/v1/calls/settings", &org.key)
            .json(&json!({ "record_calls": false })),
    )
    .await;
    let call = t
        .create(
            "/api/v1/calls",
            &org.key,
            json!({ "to": customer, "agent_phone": rep }),
        )
        .await;
    let sid = call["call_sid"].as_str().expect("SID").to_owned();
    let (url, params) = t.twilio.answered_call(&sid).expect("instructions");
    let resp = t.webhook(&url, &params).await;
    assert!(!resp.text.contains("record="), "{}", resp.text);
    assert!(
        resp.text.contains(&format!(">{customer}</Number>")),
        "{}",
        resp.text
    );
    assert_valid_twiml(&resp.text).await;

    // The rep cannot be the customer; nothing is asked of Twilio.
    let asked = t.twilio.requests().len();
    t.post(
        "/api/v1/calls",
        &org.key,
        &json!({ "to": rep, "agent_phone": rep }),
    )
    .await
    .invalid_field("agent_phone");
    assert_eq!(t.twilio.requests().len(), asked);
    // Only admins change the settings.
    let member = t.api_key(org.id, workos_core::tenant::Role::Member).await;
    let resp = t
        .send(
            t.request(reqwest::Method::PUT, "/api/v1/calls/settings", &member)
                .json(&json!({ "record_calls": true })),
        )
        .await;
    resp.problem(403);
}
twilio_test!(click_to_call_rings_the_rep_then_dials_the_customer);

async fn greeting_twiml_passes_twilio_s_library(t: &TwilioApp) {
    let org = t.org("Greeter").await;
    let params = t.twilio.inbound_call_params(&phone_number(), &org.number);
    let resp = t.webhook(&t.hook("voice"), &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_valid_twiml(&resp.text).await;
}
twilio_test!(greeting_twiml_passes_twilio_s_library);

async fn click_to_call_rings_the_member_s_phone(t: &TwilioApp) {
    let org = t.org("Team").await;
    let customer = phone_number();
    let rep_phone = phone_number();
    let member = t
        .create(
            "/api/v1/members",
            &org.key,
            json!({ "user_id": uuid::Uuid::now_v7(), "role": "member" }),
        )
        .await;
    let path = format!("/api/v1/members/{}/phone", id_of(&member));
    assert_eq!(t.read(&path, &org.key).await, json!({ "phone": null }));

    // No phone on the membership yet: refused on member_id, Twilio not asked.
    let asked = t.twilio.requests().len();
    t.post(
        "/api/v1/calls",
        &org.key,
        &json!({ "to": customer, "member_id": member["id"] }),
    )
    .await
    .invalid_field("member_id");
    t.post(
        "/api/v1/calls",
        &org.key,
        &json!({ "to": customer, "member_id": member["id"], "agent_phone": rep_phone }),
    )
    .await
    .invalid_field("member_id");
    assert_eq!(t.twilio.requests().len(), asked);

    let put = |body: serde_json::Value| {
        t.send(t.request(reqwest::Method::PUT, &path, &org.key).json(&body))
    };
    let set = put(json!({ "phone": rep_phone })).await;
    assert_eq!(set.json(), json!({ "phone": rep_phone }), "{}", set.text);
    put(json!({ "phone": "not a phone" }))
        .await
        .invalid_field("phone");
    let missing = t
        .send(
            t.request(
                reqwest::Method::PUT,
                &format!("/api/v1/members/{}/phone", uuid::Uuid::now_v7()),
                &org.key,
            )
            .json(&json!({ "phone": rep_phone })),
        )
        .await;
    missing.problem(404);

    // The member's phone rings first; the customer is who the call is with.
    let call = t
        .create(
            "/api/v1/calls",
            &org.key,
            json!({ "to": customer, "member_id": member["id"] }),
        )
        .await;
    assert_eq!(call["to"], json!(customer));
    let placed = t.twilio.created_calls();
    let leg = placed.last().expect("a call was placed");
    assert_eq!(leg.param("To"), Some(rep_phone.as_str()));
    assert_eq!(leg.param("From"), Some(org.number.as_str()));
    let (url, params) = t
        .twilio
        .answered_call(call["call_sid"].as_str().expect("SID"))
        .expect("instructions");
    let resp = t.webhook(&url, &params).await;
    assert!(
        resp.text.contains(&format!(r#"callerId="{}""#, org.number))
            && resp.text.contains(&format!(">{customer}</Number>")),
        "{}",
        resp.text
    );

    // Cleared: refused again.
    put(json!({ "phone": null })).await;
    t.post(
        "/api/v1/calls",
        &org.key,
        &json!({ "to": customer, "member_id": member["id"] }),
    )
    .await
    .invalid_field("member_id");
}
twilio_test!(click_to_call_rings_the_member_s_phone);

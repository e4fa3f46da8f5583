//! A click-to-call's outcome is the customer's: once the rep answered, the dialled leg's own
//! status callbacks (`ParentCallSid`) and the `<Dial>` action decide how the call ended, and
//! statuses only move forward along Twilio's progression, whatever order the callbacks come
//! in and however often they are replayed.

use serde_json::{Value, json};

use workos_tests::fake_twilio::TEST_ACCOUNT_SID;

use super::{TwilioApp, param, with_param};
use crate::helpers::{id_of, phone_number};

/// A click-to-call from `rep` to `customer` placed and answered by the rep (the bridge TwiML
/// asked): the stored call.
async fn bridged_call(t: &TwilioApp, key: &str, rep: &str, customer: &str) -> Value {
    let call = t
        .create(
            "/api/v1/calls",
            key,
            json!({ "to": customer, "agent_phone": rep }),
        )
        .await;
    let sid = call["call_sid"].as_str().expect("SID");
    let (url, params) = t.twilio.answered_call(sid).expect("instructions");
    let resp = t.webhook(&url, &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    call
}

async fn click_to_call_reads_the_customer_s_outcome(t: &TwilioApp) {
    let org = t.org("Outcomes").await;
    let (rep, customer) = (phone_number(), phone_number());
    let status_hook = format!("{}?org={}", t.hook("call-status"), org.id);
    let ended_hook = format!("{}?org={}", t.hook("bridge-ended"), org.id);

    // The rep's phone rings, the rep answers: the customer is being dialled.
    let call = t
        .create(
            "/api/v1/calls",
            &org.key,
            json!({ "to": customer, "agent_phone": rep }),
        )
        .await;
    let sid = call["call_sid"].as_str().expect("SID").to_owned();
    let path = format!("/api/v1/calls/{}", id_of(&call));
    let rep_leg = |status: &str, secs: Option<u32>| {
        t.twilio
            .call_status_params(&sid, &org.number, &rep, status, secs)
    };
    let customer_leg = |status: &str, secs: Option<u32>| {
        t.twilio
            .dialed_leg_status_params(&sid, &org.number, &customer, status, secs)
    };
    assert_eq!(
        t.webhook(&status_hook, &rep_leg("ringing", None))
            .await
            .status,
        204
    );
    assert_eq!(t.read(&path, &org.key).await["status"], json!("ringing"));
    let (url, params) = t.twilio.answered_call(&sid).expect("instructions");
    assert_eq!(t.webhook(&url, &params).await.status, 200);
    assert_eq!(
        t.read(&path, &org.key).await["status"],
        json!("in-progress")
    );

    // The customer's leg reports with its own CallSid and the rep's as ParentCallSid.
    let ringing = customer_leg("ringing", None);
    assert_eq!(param(&ringing, "ParentCallSid"), sid);
    assert_eq!(param(&ringing, "Direction"), "outbound-dial");
    for status in ["initiated", "ringing"] {
        let resp = t.webhook(&status_hook, &customer_leg(status, None)).await;
        assert_eq!(resp.status, 204, "{}", resp.text);
    }
    let stored = t.read(&path, &org.key).await;
    assert_eq!(
        stored["status"],
        json!("in-progress"),
        "never back to ringing"
    );
    assert_eq!(
        stored["dial_call_sid"],
        json!(t.twilio.dialed_leg_sid(&sid))
    );

    // Nobody picks up: the call reads no-answer, not completed.
    let before = t.events("call.status_changed", &org.key).await.len();
    let resp = t
        .webhook(&status_hook, &customer_leg("no-answer", None))
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert_eq!(t.read(&path, &org.key).await["status"], json!("no-answer"));
    assert_eq!(
        t.events("call.status_changed", &org.key).await.len(),
        before + 1
    );

    // The dial's action says the same; the rep hangs up (completed, 20 s); callbacks are
    // replayed: nothing changes, nothing is emitted.
    let action =
        t.twilio
            .dial_action_params(&sid, &org.number, &rep, "outbound-api", "no-answer", None);
    let resp = t.webhook(&ended_hook, &action).await;
    super::assert_empty_twiml(&resp);
    assert_eq!(
        t.webhook(&status_hook, &rep_leg("completed", Some(20)))
            .await
            .status,
        204
    );
    for status in ["ringing", "in-progress", "completed"] {
        t.webhook(&status_hook, &customer_leg(status, Some(3)))
            .await;
    }
    t.webhook(&status_hook, &rep_leg("ringing", None)).await;
    let stored = t.read(&path, &org.key).await;
    assert_eq!(stored["status"], json!("no-answer"), "{stored}");
    assert_eq!(stored["duration_seconds"], json!(null));
    assert_eq!(
        t.events("call.status_changed", &org.key).await.len(),
        before + 1
    );
    assert!(t.events("call.completed", &org.key).await.is_empty());
    assert_eq!(
        t.list("/api/v1/calls?status=no-answer", &org.key)
            .await
            .len(),
        1
    );
}
twilio_test!(click_to_call_reads_the_customer_s_outcome);

async fn out_of_order_callbacks_never_roll_back(t: &TwilioApp) {
    let org = t.org("Order").await;
    let (rep, customer) = (phone_number(), phone_number());
    let status_hook = format!("{}?org={}", t.hook("call-status"), org.id);
    let ended_hook = format!("{}?org={}", t.hook("bridge-ended"), org.id);

    // Answered: the rep's completed arrives before anything of the customer's leg; it does
    // not decide the call. The customer's completed does, with the customer's duration.
    let call = bridged_call(t, &org.key, &rep, &customer).await;
    let sid = call["call_sid"].as_str().expect("SID").to_owned();
    let path = format!("/api/v1/calls/{}", id_of(&call));
    let rep_done = t
        .twilio
        .call_status_params(&sid, &org.number, &rep, "completed", Some(120));
    assert_eq!(t.webhook(&status_hook, &rep_done).await.status, 204);
    assert_eq!(
        t.read(&path, &org.key).await["status"],
        json!("in-progress")
    );
    let done =
        t.twilio
            .dialed_leg_status_params(&sid, &org.number, &customer, "completed", Some(95));
    assert_eq!(t.webhook(&status_hook, &done).await.status, 204);
    let stored = t.read(&path, &org.key).await;
    assert_eq!(stored["status"], json!("completed"));
    assert_eq!(stored["duration_seconds"], json!(95));
    let completed = t.events("call.completed", &org.key).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["data"]["duration_seconds"], json!(95));

    // Replays, a late ringing, and a leg that is not the one dialled change nothing.
    assert_eq!(t.webhook(&status_hook, &done).await.status, 204);
    let late = t
        .twilio
        .dialed_leg_status_params(&sid, &org.number, &customer, "ringing", None);
    assert_eq!(t.webhook(&status_hook, &late).await.status, 204);
    let stranger = with_param(
        &t.twilio
            .dialed_leg_status_params(&sid, &org.number, &customer, "busy", None),
        "CallSid",
        "CA00000000000000000000000000000000",
    );
    assert_eq!(t.webhook(&status_hook, &stranger).await.status, 204);
    let stored = t.read(&path, &org.key).await;
    assert_eq!(stored["status"], json!("completed"));
    assert_eq!(stored["duration_seconds"], json!(95));
    assert_eq!(t.events("call.completed", &org.key).await.len(), 1);

    // Busy, reported by the dial's action alone (no leg callbacks reached us).
    let call = bridged_call(t, &org.key, &rep, &customer).await;
    let sid = call["call_sid"].as_str().expect("SID").to_owned();
    let action = t
        .twilio
        .dial_action_params(&sid, &org.number, &rep, "outbound-api", "busy", None);
    super::assert_empty_twiml(&t.webhook(&ended_hook, &action).await);
    let stored = t
        .read(&format!("/api/v1/calls/{}", id_of(&call)), &org.key)
        .await;
    assert_eq!(stored["status"], json!("busy"));
    assert_eq!(
        stored["dial_call_sid"],
        json!(t.twilio.dialed_leg_sid(&sid))
    );

    // The rep never answers: no bridge, the rep's leg decides.
    let call = t
        .create(
            "/api/v1/calls",
            &org.key,
            json!({ "to": customer, "agent_phone": rep }),
        )
        .await;
    let sid = call["call_sid"].as_str().expect("SID").to_owned();
    let missed = t
        .twilio
        .call_status_params(&sid, &org.number, &rep, "no-answer", None);
    assert_eq!(t.webhook(&status_hook, &missed).await.status, 204);
    let stored = t
        .read(&format!("/api/v1/calls/{}", id_of(&call)), &org.key)
        .await;
    assert_eq!(stored["status"], json!("no-answer"));
    assert_eq!(stored["dial_call_sid"], json!(null));
    // A dial action of a call the engine does not know is ignored (the org's call, no row).
    let unknown = t.twilio.dial_action_params(
        "CA11111111111111111111111111111111",
        &org.number,
        &rep,
        "outbound-api",
        "completed",
        Some(5),
    );
    super::assert_empty_twiml(&t.webhook(&ended_hook, &unknown).await);
    // Without the org in its URL the action cannot be placed.
    t.webhook(&t.hook("bridge-ended"), &action)
        .await
        .invalid_field("org");
}
twilio_test!(out_of_order_callbacks_never_roll_back);

/// Runs the reconciliation job once, `hours` from now.
async fn reconcile_in(t: &TwilioApp, hours: i64) -> workos_twilio::reconcile::ReconcileReport {
    let config = workos_twilio::reconcile::ReconcileConfig::default();
    let now = chrono::Utc::now() + chrono::Duration::hours(hours);
    workos_twilio::reconcile::run_once(&t.state.twilio, &config, now)
        .await
        .expect("a reconciliation run")
}

async fn calls_whose_callbacks_never_came_are_settled_from_twilio(t: &TwilioApp) {
    let org = t.org("Lost callbacks").await;
    let (rep, customer) = (phone_number(), phone_number());
    let status_hook = format!("{}?org={}", t.hook("call-status"), org.id);
    let key = org.key.clone();
    let read = |call: &Value| {
        let path = format!("/api/v1/calls/{}", id_of(call));
        let key = key.clone();
        async move { t.read(&path, &key).await }
    };

    // Bridged, and nothing of the customer's leg ever arrives: in progress for good…
    let silent = bridged_call(t, &org.key, &rep, &customer).await;
    let silent_sid = silent["call_sid"].as_str().expect("SID").to_owned();
    // …bridged, the customer's leg heard ringing, then nothing…
    let rang = bridged_call(t, &org.key, &rep, &customer).await;
    let rang_sid = rang["call_sid"].as_str().expect("SID").to_owned();
    let ringing =
        t.twilio
            .dialed_leg_status_params(&rang_sid, &org.number, &customer, "ringing", None);
    assert_eq!(t.webhook(&status_hook, &ringing).await.status, 204);
    // …an inbound call a member answered, whose dial action never came…
    let caller = phone_number();
    let inbound = t.twilio.inbound_call_params(&caller, &org.number);
    let inbound_sid = param(&inbound, "CallSid").to_owned();
    assert_eq!(t.webhook(&t.hook("voice"), &inbound).await.status, 200);
    let answered =
        t.twilio
            .dialed_leg_status_params(&inbound_sid, &caller, &rep, "in-progress", None);
    assert_eq!(t.webhook(&status_hook, &answered).await.status, 204);
    // …and a call Twilio still shows queued.
    let queued = t
        .create("/api/v1/calls", &org.key, json!({ "to": customer }))
        .await;

    // Twilio's records say how they ended; no callback says so.
    t.twilio.end_call(&silent_sid, "completed", Some(80));
    t.twilio.end_call(&rang_sid, "completed", Some(70));
    let rang_leg = t.twilio.dialed_leg_sid(&rang_sid);
    t.twilio.end_call(&rang_leg, "no-answer", None);

    // Within Twilio's longest call nothing is asked.
    let before = t.twilio.requests().len();
    assert_eq!(reconcile_in(t, 0).await.checked, 0);
    assert_eq!(t.twilio.requests().len(), before);
    assert_eq!(read(&silent).await["status"], json!("in-progress"));

    // Past it: each is read from Twilio with the org's account and settled forward.
    let report = reconcile_in(t, 5).await;
    assert_eq!(report.checked, 4, "{report:?}");
    assert_eq!(report.settled, 2, "{report:?}");
    assert_eq!(
        report.failed, 1,
        "the inbound call Twilio has no record of yet"
    );
    let fetched: Vec<String> = t
        .twilio
        .requests()
        .into_iter()
        .skip(before)
        .map(|r| {
            assert_eq!(r.method, "GET");
            r.path
        })
        .collect();
    let calls = format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Calls");
    assert!(
        fetched.contains(&format!("{calls}/{silent_sid}.json")),
        "{fetched:?}"
    );
    assert!(
        fetched.contains(&format!("{calls}/{rang_leg}.json")),
        "the customer's leg decides: {fetched:?}"
    );

    let stored = read(&silent).await;
    assert_eq!(
        (&stored["status"], &stored["duration_seconds"]),
        (&json!("completed"), &json!(80))
    );
    assert_eq!(read(&rang).await["status"], json!("no-answer"));
    assert_eq!(read(&queued).await["status"], json!("queued"));
    let completed = t.events("call.completed", &org.key).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["subject"]["id"], silent["id"]);

    // Twilio's record of the inbound call arrives: the next run settles it; runs after that
    // change nothing.
    t.twilio.end_call(&inbound_sid, "completed", Some(45));
    let report = reconcile_in(t, 5).await;
    assert_eq!((report.checked, report.settled, report.failed), (2, 1, 0));
    let inbound_call = t
        .list("/api/v1/calls?direction=inbound", &org.key)
        .await
        .pop()
        .expect("the inbound call");
    assert_eq!(inbound_call["status"], json!("completed"));
    assert_eq!(inbound_call["duration_seconds"], json!(45));
    assert_eq!(reconcile_in(t, 5).await.settled, 0);
    assert_eq!(t.events("call.completed", &org.key).await.len(), 2);
}
twilio_test!(calls_whose_callbacks_never_came_are_settled_from_twilio);

//! SMS opt-out compliance: STOP-family keywords recorded per org and number, sends to opted-out
//! numbers refused before Twilio is asked, Twilio's 21610 kept as an opt-out, START resuming,
//! HELP answered with the org's help text, and people's phones showing `sms_opted_out`.

use serde_json::{Value, json};

use super::{TwilioApp, assert_empty_twiml, param};
use crate::helpers::{id_of, phone_number};

/// The TwiML reply to a message: one `<Message>` with `text` (escaped as XML).
#[track_caller]
fn assert_reply(resp: &crate::helpers::Resp, text: &str) {
    assert_eq!(resp.status, 200, "body: {}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    assert_eq!(
        resp.text,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>"#,
            workos_twilio::xml_escape(text)
        )
    );
}

impl TwilioApp {
    /// `from` texts `body` to the org's `number`; returns the webhook's answer.
    async fn text(&self, from: &str, number: &str, body: &str) -> crate::helpers::Resp {
        let params = self.twilio.inbound_sms_params(from, number, body);
        self.webhook(&self.hook("sms"), &params).await
    }

    /// The org's opt-out record of `number`, if any.
    async fn opt_out_of(&self, key: &str, number: &str) -> Option<Value> {
        self.list("/api/v1/sms/opt-outs?limit=200", key)
            .await
            .into_iter()
            .find(|o| o["number"] == json!(number))
    }

    /// Sends an SMS to `to` and returns the answer.
    async fn send_to(&self, key: &str, to: &str) -> crate::helpers::Resp {
        self.post("/api/v1/sms/send", key, &json!({ "to": to, "body": "Hi!" }))
            .await
    }
}

async fn stop_opts_out_and_start_opts_back_in(t: &TwilioApp) {
    let org = t.org("Consent").await;
    let other = t.org("Other team").await;
    let contact = phone_number();
    let person = t
        .create(
            "/api/v1/people",
            &org.key,
            json!({ "first_name": "Ada", "phone": contact }),
        )
        .await;
    assert_eq!(
        person["phones"],
        json!([{ "number": contact, "primary": true, "sms_opted_out": false }])
    );

    // "Stop." is the keyword (any case, punctuation around it ignored); a sentence is not.
    assert_empty_twiml(&t.text(&contact, &org.number, "please stop texting").await);
    assert!(t.opt_out_of(&org.key, &contact).await.is_none());
    let params = t
        .twilio
        .inbound_sms_params(&contact, &org.number, " Stop. ");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    let sms = t.list("/api/v1/sms", &org.key).await;
    let stop = sms
        .iter()
        .find(|s| s["message_sid"] == json!(param(&params, "MessageSid")))
        .expect("the STOP message is stored like any other");
    let o = t.opt_out_of(&org.key, &contact).await.expect("recorded");
    assert_eq!(o["opted_out"], json!(true));
    assert_eq!(o["keyword"], json!("STOP"));
    assert_eq!(o["source"], json!("inbound_keyword"));
    assert_eq!(o["sms_id"], stop["id"]);
    assert_eq!(o["org_id"], json!(org.id.to_string()));
    assert!(o["changed_at"].is_string(), "{o}");

    // Twilio retries the webhook, the contact says it again: still one change, one event.
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    assert_empty_twiml(&t.text(&contact, &org.number, "UNSUBSCRIBE").await);
    let events = t.events("sms.opted_out", &org.key).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["number"], json!(contact));
    assert_eq!(events[0]["subject"]["kind"], json!("sms_opt_out"));
    assert_eq!(events[0]["subject"]["id"], o["id"]);

    // The person's phone shows it, on every read.
    let shown = t
        .read(&format!("/api/v1/people/{}", id_of(&person)), &org.key)
        .await;
    assert_eq!(shown["phones"][0]["sms_opted_out"], json!(true));
    let listed = t
        .list(
            &format!("/api/v1/people?phone=%2B{}", &contact[1..]),
            &org.key,
        )
        .await;
    assert_eq!(listed[0]["phones"][0]["sms_opted_out"], json!(true));

    // Sends to the number, or to the person, are refused on `to` before Twilio is asked.
    let asked = t.twilio.requests().len();
    t.send_to(&org.key, &contact).await.invalid_field("to");
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "person_id": person["id"], "body": "Hi!" }),
    )
    .await
    .invalid_field("to");
    assert_eq!(t.twilio.requests().len(), asked, "Twilio was not asked");

    // Per org: the other team may still text the number.
    assert_eq!(t.send_to(&other.key, &contact).await.status, 201);
    assert!(t.opt_out_of(&other.key, &contact).await.is_none());

    // START opts back in: recorded, evented, shown, and sends go through again.
    assert_empty_twiml(&t.text(&contact, &org.number, "start").await);
    let o = t.opt_out_of(&org.key, &contact).await.expect("kept");
    assert_eq!(o["opted_out"], json!(false));
    assert_eq!(o["keyword"], json!("START"));
    let events = t.events("sms.opted_in", &org.key).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["opted_out"], json!(false));
    let shown = t
        .read(&format!("/api/v1/people/{}", id_of(&person)), &org.key)
        .await;
    assert_eq!(shown["phones"][0]["sms_opted_out"], json!(false));
    let sent = t.send_to(&org.key, &contact).await;
    assert_eq!(sent.status, 201, "{}", sent.text);

    // Every keyword of each family, from a number of its own.
    for word in ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT"] {
        let n = phone_number();
        t.text(&n, &org.number, word).await;
        let o = t.opt_out_of(&org.key, &n).await.expect(word);
        assert_eq!(o["opted_out"], json!(true), "{word}");
        assert_eq!(o["keyword"], json!(word.to_uppercase()), "{word}");
    }
    for word in ["START", "unstop", "Yes"] {
        let n = phone_number();
        t.text(&n, &org.number, "stop").await;
        t.text(&n, &org.number, word).await;
        let o = t.opt_out_of(&org.key, &n).await.expect(word);
        assert_eq!(o["opted_out"], json!(false), "{word}");
    }
    // A START from a number that never opted out records nothing.
    let n = phone_number();
    t.text(&n, &org.number, "START").await;
    assert!(t.opt_out_of(&org.key, &n).await.is_none());
    // The list narrows to one state.
    let out = t
        .list("/api/v1/sms/opt-outs?opted_out=true", &org.key)
        .await;
    assert_eq!(out.len(), 6, "{out:?}");
    assert!(out.iter().all(|o| o["opted_out"] == json!(true)));
}
twilio_test!(stop_opts_out_and_start_opts_back_in);

async fn twilio_21610_is_recorded_as_an_opt_out(t: &TwilioApp) {
    let org = t.org("Filtered").await;
    let contact = phone_number();
    // The contact texted STOP to Twilio while no webhook was set: Twilio's filter knows, we
    // do not yet.
    t.twilio.stop_filtered(&org.number, &contact);
    let asked = t.twilio.requests().len();
    let p = t.send_to(&org.key, &contact).await.invalid_field("to");
    assert_eq!(t.twilio.requests().len(), asked + 1, "{p}");
    let o = t.opt_out_of(&org.key, &contact).await.expect("recorded");
    assert_eq!(o["opted_out"], json!(true));
    assert_eq!(o["source"], json!("twilio_error_21610"));
    assert_eq!(o["keyword"], Value::Null);
    assert_eq!(t.events("sms.opted_out", &org.key).await.len(), 1);
    // Now refused before Twilio is asked.
    t.send_to(&org.key, &contact).await.invalid_field("to");
    assert_eq!(t.twilio.requests().len(), asked + 1);
    assert!(
        t.list("/api/v1/sms", &org.key).await.is_empty(),
        "nothing was sent, nothing recorded as sent"
    );

    // The contact texts START: Twilio lifts its filter and the webhook tells us.
    t.twilio.stop_filter_lifted(&org.number, &contact);
    assert_empty_twiml(&t.text(&contact, &org.number, "START").await);
    assert_eq!(t.send_to(&org.key, &contact).await.status, 201);
    assert_eq!(t.twilio.sent_messages().len(), 1);
}
twilio_test!(twilio_21610_is_recorded_as_an_opt_out);

async fn help_is_answered_with_the_org_help_text(t: &TwilioApp) {
    let org = t.org("Acme Sales").await;
    let contact = phone_number();
    let settings = t.read("/api/v1/sms/settings", &org.key).await;
    assert_eq!(settings, json!({ "help_text": null }));
    // The default names the org.
    let default =
        "Acme Sales: reply STOP to stop messages, START to resume. Msg&data rates may apply.";
    assert_reply(&t.text(&contact, &org.number, "HELP").await, default);

    // The org's own text, XML-special characters and all, answers HELP and INFO.
    let text = "Acme & Co <sales>: call +1 415 555 0100. Reply STOP to opt out.";
    let put = t
        .send(
            t.request(reqwest::Method::PUT, "/api/v1/sms/settings", &org.key)
                .json(&json!({ "help_text": text })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json(), json!({ "help_text": text }));
    assert_reply(&t.text(&contact, &org.number, "help").await, text);
    assert_reply(&t.text(&contact, &org.number, "Info").await, text);
    // Not a keyword: no reply.
    assert_empty_twiml(&t.text(&contact, &org.number, "help me please").await);
    // HELP records no opt-out.
    assert!(t.opt_out_of(&org.key, &contact).await.is_none());
    // An opted-out number is not answered (Twilio would refuse the reply).
    t.text(&contact, &org.number, "STOP").await;
    assert_empty_twiml(&t.text(&contact, &org.number, "HELP").await);

    // Bad settings are the caller's error, named.
    for bad in [
        json!({ "help_text": "  " }),
        json!({ "help_text": "x".repeat(321) }),
    ] {
        t.send(
            t.request(reqwest::Method::PUT, "/api/v1/sms/settings", &org.key)
                .json(&bad),
        )
        .await
        .invalid_field("help_text");
    }
    let unknown = t
        .send(
            t.request(reqwest::Method::PUT, "/api/v1/sms/settings", &org.key)
                .json(&json!({ "help": "x" })),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    // Back to the default.
    let put = t
        .send(
            t.request(reqwest::Method::PUT, "/api/v1/sms/settings", &org.key)
                .json(&json!({ "help_text": null })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let n = phone_number();
    assert_reply(&t.text(&n, &org.number, "HELP").await, default);
}
twilio_test!(help_is_answered_with_the_org_help_text);

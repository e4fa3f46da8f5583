//! Twilio: signed inbound webhooks (`/api/v1/webhooks/twilio/*`) sent the way Twilio sends
//! them, and outbound SMS and calls (`POST /api/v1/sms/send`, `POST /api/v1/calls`) through the
//! fake Twilio REST API of `workos-tests`.
//!
//! Each test runs on a server configured as a deployment would be (`TWILIO_ACCOUNT_SID`,
//! `TWILIO_AUTH_TOKEN`, `TWILIO_API_BASE_URL` pointing at [`FakeTwilio`], `WORKOS_PUBLIC_URL`
//! set to the server's own `http://127.0.0.1:PORT`, which is the URL Twilio signs). The
//! harness's [`TestApp`] provides the fresh database; the Twilio-enabled server runs over that
//! database and the `TestApp` is pointed at it, so its helpers talk to the Twilio server.
//!
//! The official-verifier test runs `tests/it/python/twilio_sign.py` (Twilio's own Python
//! helper library) with the interpreter named by `WORKOS_PYTHON` (default `python3`). When the
//! `twilio` package cannot be imported it prints "twilio Python package missing: SKIPPED" and
//! passes, unless `WORKOS_REQUIRE_PYTHON_VERIFIERS=1`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::{JoinHandle, JoinSet};
use workos_core::crypto::SecretKey;
use workos_core::domain::{E164, RegisterPhone, UnknownSender};
use workos_core::ids::OrgId;
use workos_reference_server::config::Config;
use workos_reference_server::serve;
use workos_reference_server::state::AppState;
use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, WebhookSigner};

use crate::helpers::{Backend, Resp, TestApp, id_of, phone_number, python, spawn_app};

/// What inbound callers hear; XML-special characters on purpose, to check the escaping.
const GREETING: &str = "Thanks for calling Acme & Co. <beep>";

/// A server with Twilio configured, over the database of a harness [`TestApp`].
pub(crate) struct TwilioApp {
    /// The harness app, its `addr` and `state` pointed at the Twilio-enabled server.
    app: TestApp,
    /// The fake Twilio REST API the server sends through; it also signs webhooks.
    pub(crate) twilio: FakeTwilio,
    server: JoinHandle<std::io::Result<()>>,
}

impl Deref for TwilioApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Drop for TwilioApp {
    fn drop(&mut self) {
        // Before the harness app (and with it the database) goes.
        self.server.abort();
    }
}

/// A Twilio-enabled server on a fresh database of `backend`; `None` for Postgres without
/// `DATABASE_URL` (the harness says so).
pub(crate) async fn spawn(backend: Backend, unknown_sender: UnknownSender) -> Option<TwilioApp> {
    spawn_with(backend, unknown_sender, &[]).await
}

/// As [`spawn`], with extra (or overriding) environment variables.
pub(crate) async fn spawn_with(
    backend: Backend,
    unknown_sender: UnknownSender,
    extra_env: &[(&'static str, &str)],
) -> Option<TwilioApp> {
    let mut app = spawn_app(backend).await?;
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let policy = match unknown_sender {
        UnknownSender::CreatePerson => "create_person",
        UnknownSender::StoreUnmatched => "store_unmatched",
    };
    let mut env: HashMap<&str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_JWT_SECRET", app.jwt_secret.clone()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("WORKOS_BIND", addr.to_string()),
        ("WORKOS_PUBLIC_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", TEST_ACCOUNT_SID.to_owned()),
        ("TWILIO_AUTH_TOKEN", TEST_AUTH_TOKEN.to_owned()),
        ("TWILIO_API_BASE_URL", twilio.base_url().to_owned()),
        ("WORKOS_TWILIO_UNKNOWN_SENDER", policy.to_owned()),
        ("WORKOS_TWILIO_VOICE_GREETING", GREETING.to_owned()),
    ]);
    env.extend(extra_env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid Twilio configuration");
    let state = AppState::new(app.store.clone(), config);
    assert!(
        state.twilio.platform_sends() && state.twilio.platform_validates(),
        "TWILIO_* configure outbound sending and webhook validation"
    );
    let server = tokio::spawn(serve(
        listener,
        workos_reference_server::app(state.clone()),
        std::future::pending(),
    ));
    app.addr = addr;
    app.state = state;
    Some(TwilioApp {
        app,
        twilio,
        server,
    })
}

/// `server_test!` over [`spawn`]: `name::sqlite` and `name::postgres`.
macro_rules! twilio_test {
    ($name:ident) => {
        twilio_test!($name, ::workos_core::domain::UnknownSender::CreatePerson);
    };
    ($name:ident, $policy:expr) => {
        server_test!(@tests $name, |backend| $crate::twilio::spawn(backend, $policy));
    };
}
pub(crate) use twilio_test;

/// An org with an owner key and one number that can do everything.
pub(crate) struct Org {
    pub(crate) id: OrgId,
    pub(crate) key: String,
    pub(crate) number: String,
    pub(crate) phone_id: String,
}

impl TwilioApp {
    /// The public URL of a Twilio webhook route (what Twilio calls and signs).
    pub(crate) fn hook(&self, route: &str) -> String {
        self.url(&format!("/api/v1/webhooks/twilio/{route}"))
    }

    /// A new org with its own number (SMS, MMS and voice) of the platform's account, assigned
    /// by the operator.
    pub(crate) async fn org(&self, name: &str) -> Org {
        let (id, key) = self.create_org(name).await;
        let number = phone_number();
        let phone = self
            .assign(id, &number, &["sms", "mms", "voice"], Some("main"))
            .await;
        assert_eq!(phone["number"], json!(number));
        Org {
            id,
            key,
            number,
            phone_id: id_of(&phone),
        }
    }

    /// Gives the platform's Twilio account `number` with `capabilities` (in the fake) and
    /// assigns it to `org` as the operator does (`workos-server admin assign-phone`); returns
    /// the phone as the API shows it.
    pub(crate) async fn assign(
        &self,
        org: OrgId,
        number: &str,
        capabilities: &[&str],
        label: Option<&str>,
    ) -> Value {
        self.twilio
            .add_incoming_number(TEST_ACCOUNT_SID, number, capabilities);
        let request = RegisterPhone {
            number: E164::parse(number).expect("a valid test number"),
            provider: "twilio".to_owned(),
            label: label.map(str::to_owned),
        };
        let phone = self
            .state
            .twilio
            .assign_phone(org, request)
            .await
            .expect("assign the number");
        serde_json::to_value(phone).expect("phone as JSON")
    }

    /// Posts `params` to `url` signed by the fake Twilio over exactly `url`.
    pub(crate) async fn webhook(&self, url: &str, params: &[(String, String)]) -> Resp {
        read(self.twilio.send_webhook(url, params).await).await
    }

    /// Posts `params` to `url` as a form with `signature` (no header when `None`).
    pub(crate) async fn post_form(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Resp {
        let mut rb = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(params));
        if let Some(sig) = signature {
            rb = rb.header("x-twilio-signature", sig);
        }
        self.send_any(rb).await
    }

    /// The `data` of a list answer.
    pub(crate) async fn list(&self, path: &str, key: &str) -> Vec<Value> {
        let page = self.read(path, key).await;
        page["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: not a list: {page}"))
            .clone()
    }

    /// The org's events of type `ty`.
    async fn events(&self, ty: &str, key: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/events?type={ty}"), key).await
    }

    /// How many messages, calls, people, interactions and events about them the org has.
    async fn footprint(&self, key: &str) -> [usize; 5] {
        [
            self.list("/api/v1/sms", key).await.len(),
            self.list("/api/v1/calls", key).await.len(),
            self.list("/api/v1/people", key).await.len(),
            self.list("/api/v1/interactions", key).await.len(),
            self.list("/api/v1/events?limit=200", key)
                .await
                .iter()
                .filter(|e| {
                    let ty = e["type"].as_str().unwrap_or_default();
                    ["sms.", "call.", "person.", "interaction."]
                        .iter()
                        .any(|p| ty.starts_with(p))
                })
                .count(),
        ]
    }
}

async fn read(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read the body");
    Resp {
        status,
        headers,
        text,
    }
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or_else(|| panic!("no {name} parameter"), |(_, v)| v.as_str())
}

pub(crate) fn with_param(
    params: &[(String, String)],
    name: &str,
    value: &str,
) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| {
            let v = if k == name { value } else { v.as_str() };
            (k.clone(), v.to_owned())
        })
        .collect()
}

/// Asserts the empty TwiML answer Twilio expects from a messaging webhook.
#[track_caller]
pub(crate) fn assert_empty_twiml(resp: &Resp) {
    assert_eq!(resp.status, 200, "body: {}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    assert_eq!(
        resp.text,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
}

/// Asserts a 403 problem for a refused signature.
#[track_caller]
fn assert_refused(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 403, "{what}: {}", resp.text);
    resp.problem(403);
}

// -------------------------------------------------------------------------------------------
// Inbound SMS

async fn inbound_sms_is_stored_once(t: &TwilioApp) {
    let org = t.org("Inbound").await;
    let sender = phone_number();
    let media_url = format!(
        "{}/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages/MM1/Media/ME1",
        t.twilio.base_url()
    );
    let params = t.twilio.inbound_mms_params(
        &sender,
        &org.number,
        "Hello there & good morning",
        &[(media_url.as_str(), "image/jpeg")],
    );
    let sid = param(&params, "MessageSid").to_owned();
    let url = t.hook("sms");

    let first = t.webhook(&url, &params).await;
    assert_empty_twiml(&first);

    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    let s = &sms[0];
    assert_eq!(s["message_sid"], json!(sid));
    assert_eq!(s["org_id"], json!(org.id.to_string()));
    assert_eq!(s["phone_id"], json!(org.phone_id));
    assert_eq!(s["direction"], json!("inbound"));
    assert_eq!(s["from"], json!(sender));
    assert_eq!(s["to"], json!(org.number));
    assert_eq!(s["body"], json!("Hello there & good morning"));
    assert_eq!(s["status"], json!("received"));
    assert_eq!(
        s["media"],
        json!([{ "url": media_url, "content_type": "image/jpeg" }])
    );
    assert_eq!(
        t.read(&format!("/api/v1/sms/{}", id_of(s)), &org.key).await,
        *s,
        "GET /sms/{{id}} answers the listed message"
    );

    // The sender became a person, with the E.164 number as their phone.
    let people = t.list("/api/v1/people", &org.key).await;
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0]["phone"], json!(sender));
    assert_eq!(s["person_id"], people[0]["id"]);

    // On the person's timeline.
    let interactions = t
        .list(
            &format!("/api/v1/interactions?person_id={}", id_of(&people[0])),
            &org.key,
        )
        .await;
    assert_eq!(interactions.len(), 1, "{interactions:?}");
    assert_eq!(interactions[0]["kind"], json!("sms"));
    assert_eq!(s["interaction_id"], interactions[0]["id"]);

    let events = t.events("sms.received", &org.key).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subject"]["id"], s["id"]);
    assert_eq!(events[0]["data"]["message_sid"], json!(sid));
    // The snapshot is the stored message (it is built before the one insert statement).
    assert_eq!(
        events[0]["data"], *s,
        "the event carries the stored message"
    );
    let created = t.events("interaction.created", &org.key).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"], interactions[0]);

    // Twilio retries: same answer, nothing new.
    let before = t.footprint(&org.key).await;
    let again = t.webhook(&url, &params).await;
    assert_empty_twiml(&again);
    assert_eq!(again.text, first.text);
    assert_eq!(
        t.footprint(&org.key).await,
        before,
        "a retry stores nothing"
    );
    assert_eq!(t.events("sms.received", &org.key).await.len(), 1);

    // Eight copies of a new message at once: one row, one event.
    let burst = t
        .twilio
        .inbound_sms_params(&sender, &org.number, "Are you there?");
    let burst_sid = param(&burst, "MessageSid").to_owned();
    let mut running = JoinSet::new();
    for _ in 0..8 {
        let (signer, url, burst): (WebhookSigner, _, _) =
            (t.twilio.signer().clone(), url.clone(), burst.clone());
        running.spawn(async move { read(signer.send(&url, &burst).await).await });
    }
    while let Some(resp) = running.join_next().await {
        assert_empty_twiml(&resp.expect("the webhook task"));
    }
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(
        sms.iter()
            .filter(|s| s["message_sid"] == json!(burst_sid))
            .count(),
        1,
        "concurrent duplicates store one row: {sms:?}"
    );
    assert_eq!(sms.len(), 2);
    assert_eq!(t.events("sms.received", &org.key).await.len(), 2);
    assert_eq!(
        t.list("/api/v1/interactions?kind=sms", &org.key)
            .await
            .len(),
        2
    );
    let people = t.list("/api/v1/people", &org.key).await;
    assert_eq!(people.len(), 1, "the known sender is matched: {people:?}");
    assert!(sms.iter().all(|s| s["person_id"] == people[0]["id"]));
}
twilio_test!(inbound_sms_is_stored_once);

async fn inbound_sms_matches_an_additional_phone(t: &TwilioApp) {
    let org = t.org("Matching").await;
    let (primary, other) = (phone_number(), phone_number());
    let ada = t
        .create(
            "/api/v1/people",
            &org.key,
            json!({ "first_name": "Ada", "phone": primary, "additional_phones": [other] }),
        )
        .await;
    let params = t
        .twilio
        .inbound_sms_params(&other, &org.number, "from my other phone");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(
        sms[0]["person_id"], ada["id"],
        "matched by an additional phone"
    );
    let people = t.list("/api/v1/people", &org.key).await;
    assert_eq!(people.len(), 1, "nobody new: {people:?}");
    let interactions = t.list("/api/v1/interactions?kind=sms", &org.key).await;
    assert_eq!(interactions.len(), 1);
    assert_eq!(interactions[0]["person_id"], ada["id"]);
    let filtered = t
        .list(&format!("/api/v1/sms?person_id={}", id_of(&ada)), &org.key)
        .await;
    assert_eq!(filtered.len(), 1);
    assert!(
        t.list("/api/v1/sms?direction=outbound", &org.key)
            .await
            .is_empty()
    );
}
twilio_test!(inbound_sms_matches_an_additional_phone);

async fn new_sender_racing_makes_one_person(t: &TwilioApp) {
    let org = t.org("Race").await;
    let sender = phone_number();
    let url = t.hook("sms");
    let mut running = JoinSet::new();
    for i in 0..8 {
        let params = t
            .twilio
            .inbound_sms_params(&sender, &org.number, &format!("part {i}"));
        let (signer, url) = (t.twilio.signer().clone(), url.clone());
        running.spawn(async move { read(signer.send(&url, &params).await).await });
    }
    while let Some(resp) = running.join_next().await {
        assert_empty_twiml(&resp.expect("the webhook task"));
    }
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 8, "eight distinct messages");
    let people = t.list("/api/v1/people", &org.key).await;
    assert_eq!(people.len(), 1, "one person for one new sender: {people:?}");
    assert!(
        sms.iter().all(|s| s["person_id"] == people[0]["id"]),
        "every message is theirs: {sms:?}"
    );
    assert_eq!(t.events("person.created", &org.key).await.len(), 1);
    assert_eq!(t.events("sms.received", &org.key).await.len(), 8);
}
twilio_test!(new_sender_racing_makes_one_person);

async fn bad_signatures_are_refused(t: &TwilioApp) {
    let org = t.org("Signatures").await;
    let url = t.hook("sms");
    let params = t
        .twilio
        .inbound_sms_params(&phone_number(), &org.number, "Pay me");
    let good = t.twilio.webhook_signature(&url, &params);

    let forged = WebhookSigner::new("not-the-auth-token").signature(&url, &params);
    assert_refused(
        &t.post_form(&url, &params, Some(&forged)).await,
        "signed with another token",
    );
    assert_refused(&t.post_form(&url, &params, None).await, "no signature");
    assert_refused(
        &t.post_form(&url, &params, Some("")).await,
        "empty signature",
    );
    assert_refused(
        &t.post_form(&url, &params, Some("garbage!")).await,
        "not base64",
    );
    let tampered = with_param(&params, "Body", "Pay me 1,000,000");
    assert_refused(
        &t.post_form(&url, &tampered, Some(&good)).await,
        "replay with the body changed",
    );
    let mut extra = params.clone();
    extra.push(("MediaUrl0".into(), "https://evil.example/x".into()));
    assert_refused(
        &t.post_form(&url, &extra, Some(&good)).await,
        "replay with a parameter added",
    );
    let dropped: Vec<_> = params
        .iter()
        .filter(|(k, _)| k != "Body")
        .cloned()
        .collect();
    assert_refused(
        &t.post_form(&url, &dropped, Some(&good)).await,
        "replay with a parameter removed",
    );
    // Signed for another route or another host.
    let for_voice = t.twilio.webhook_signature(&t.hook("voice"), &params);
    assert_refused(
        &t.post_form(&url, &params, Some(&for_voice)).await,
        "signed for /voice",
    );
    let elsewhere = t
        .twilio
        .webhook_signature("https://evil.example/api/v1/webhooks/twilio/sms", &params);
    assert_refused(
        &t.post_form(&url, &params, Some(&elsewhere)).await,
        "signed for another host",
    );
    // Every route checks.
    for route in ["sms", "voice", "status", "call-status", "recording"] {
        assert_refused(
            &t.post_form(&t.hook(route), &params, None).await,
            &format!("unsigned post to {route}"),
        );
        assert_refused(
            &t.post_form(&t.hook(route), &params, Some(&forged)).await,
            &format!("forged post to {route}"),
        );
    }
    assert_eq!(
        t.footprint(&org.key).await,
        [0; 5],
        "nothing stored for refused requests"
    );

    // The genuine one still goes through.
    assert_empty_twiml(&t.post_form(&url, &params, Some(&good)).await);
    assert_eq!(t.list("/api/v1/sms", &org.key).await.len(), 1);
}
twilio_test!(bad_signatures_are_refused);

async fn unknown_number_is_ignored(t: &TwilioApp) {
    let org = t.org("Known").await;
    let stranger = phone_number();
    let params = t
        .twilio
        .inbound_sms_params(&phone_number(), &stranger, "Hello?");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    let call = t.twilio.inbound_call_params(&phone_number(), &stranger);
    let resp = t.webhook(&t.hook("voice"), &call).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    assert!(resp.text.contains("<Say>"), "{}", resp.text);
    assert!(!resp.text.contains("<Record"), "{}", resp.text);
    assert_eq!(t.footprint(&org.key).await, [0; 5], "nothing stored");
}
twilio_test!(unknown_number_is_ignored);

async fn numbers_route_to_their_own_org(t: &TwilioApp) {
    let a = t.org("Org A").await;
    let b = t.org("Org B").await;
    let sender = phone_number();
    let params = t
        .twilio
        .inbound_sms_params(&sender, &a.number, "for A only");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    let call = t.twilio.inbound_call_params(&sender, &a.number);
    assert_eq!(t.webhook(&t.hook("voice"), &call).await.status, 200);
    let a_sms = t.list("/api/v1/sms", &a.key).await;
    assert_eq!(a_sms.len(), 1);
    assert_eq!(t.list("/api/v1/calls", &a.key).await.len(), 1);
    assert_eq!(t.footprint(&b.key).await, [0; 5], "B sees nothing of A's");

    // A status callback naming B (signed, as if B's callback URL) finds nothing of A's.
    let sid = param(&params, "MessageSid");
    let status = t
        .twilio
        .message_status_params(sid, &sender, &a.number, "failed", Some(30008));
    let for_b = format!("{}?org={}", t.hook("status"), b.id);
    assert_eq!(t.webhook(&for_b, &status).await.status, 204);
    assert_eq!(
        t.read(&format!("/api/v1/sms/{}", id_of(&a_sms[0])), &a.key)
            .await,
        a_sms[0],
        "A's message is untouched by a callback for B"
    );
    // A signature for A's callback URL does not carry over to B's.
    let for_a = format!("{}?org={}", t.hook("status"), a.id);
    let signed_for_a = t.twilio.webhook_signature(&for_a, &status);
    assert_refused(
        &t.post_form(&for_b, &status, Some(&signed_for_a)).await,
        "org swapped in a signed URL",
    );
    assert_eq!(t.footprint(&b.key).await, [0; 5]);

    // And B's own number lands in B only.
    let to_b = t
        .twilio
        .inbound_sms_params(&sender, &b.number, "for B only");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &to_b).await);
    let b_sms = t.list("/api/v1/sms", &b.key).await;
    assert_eq!(b_sms.len(), 1);
    assert_eq!(b_sms[0]["body"], json!("for B only"));
    assert_eq!(t.list("/api/v1/sms", &a.key).await.len(), 1);
    // Each org has its own person for the same sender.
    assert_ne!(b_sms[0]["person_id"], a_sms[0]["person_id"]);
    assert_eq!(t.list("/api/v1/people", &a.key).await.len(), 1);
    assert_eq!(t.list("/api/v1/people", &b.key).await.len(), 1);
}
twilio_test!(numbers_route_to_their_own_org);

async fn short_code_sender_is_stored_without_person(t: &TwilioApp) {
    let org = t.org("Short codes").await;
    for from in ["12345", "ACMEBANK"] {
        let params = t
            .twilio
            .inbound_sms_params(from, &org.number, "Your code is 123456");
        assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    }
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 2);
    let mut froms: Vec<_> = sms.iter().map(|s| s["from"].clone()).collect();
    froms.sort_by_key(ToString::to_string);
    assert_eq!(froms, [json!("12345"), json!("ACMEBANK")]);
    assert!(
        sms.iter().all(|s| s["person_id"].is_null()),
        "no person for a non-E.164 sender: {sms:?}"
    );
    assert!(t.list("/api/v1/people", &org.key).await.is_empty());
    assert_eq!(t.events("sms.received", &org.key).await.len(), 2);
}
twilio_test!(short_code_sender_is_stored_without_person);

async fn store_unmatched_creates_nobody(t: &TwilioApp) {
    let org = t.org("Unmatched").await;
    let known = phone_number();
    let person = t
        .create("/api/v1/people", &org.key, json!({ "phone": known }))
        .await;
    let stranger = phone_number();
    for from in [&stranger, &known] {
        let params = t.twilio.inbound_sms_params(from, &org.number, "hi");
        assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    }
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 2);
    let by_from = |n: &str| sms.iter().find(|s| s["from"] == json!(n)).cloned();
    assert!(by_from(&stranger).expect("stranger's message")["person_id"].is_null());
    assert_eq!(by_from(&known).expect("known")["person_id"], person["id"]);
    assert_eq!(t.list("/api/v1/people", &org.key).await.len(), 1);
}
twilio_test!(
    store_unmatched_creates_nobody,
    ::workos_core::domain::UnknownSender::StoreUnmatched
);

async fn body_length_limit(t: &TwilioApp) {
    let org = t.org("Long").await;
    let url = t.hook("sms");
    for body in ["x".repeat(1600), "é".repeat(1600)] {
        let params = t
            .twilio
            .inbound_sms_params(&phone_number(), &org.number, &body);
        assert_empty_twiml(&t.webhook(&url, &params).await);
    }
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 2);
    assert!(
        sms.iter()
            .all(|s| s["body"].as_str().unwrap_or_default().chars().count() == 1600)
    );

    let params = t
        .twilio
        .inbound_sms_params(&phone_number(), &org.number, &"x".repeat(1601));
    let resp = t.webhook(&url, &params).await;
    assert!(
        (400..500).contains(&resp.status),
        "a 1,601-character body is refused as input, not a server error: {} {}",
        resp.status,
        resp.text
    );
    resp.invalid_field("body");
    assert_eq!(t.list("/api/v1/sms", &org.key).await.len(), 2);
    assert_eq!(t.list("/api/v1/people", &org.key).await.len(), 2);
}
twilio_test!(body_length_limit);

async fn missing_from_is_refused(t: &TwilioApp) {
    let org = t.org("No from").await;
    let params: Vec<_> = t
        .twilio
        .inbound_sms_params(&phone_number(), &org.number, "who am I")
        .into_iter()
        .filter(|(k, _)| k != "From")
        .collect();
    // Correctly signed: the payload, not the signature, is wrong.
    let resp = t.webhook(&t.hook("sms"), &params).await;
    assert!((400..500).contains(&resp.status), "{}", resp.text);
    let p = resp.invalid_field("From");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("From"),
        "{p}"
    );
    let empty_from = with_param(
        &t.twilio
            .inbound_sms_params(&phone_number(), &org.number, "x"),
        "From",
        "",
    );
    t.webhook(&t.hook("sms"), &empty_from)
        .await
        .invalid_field("From");
    assert_eq!(t.footprint(&org.key).await, [0; 5]);
}
twilio_test!(missing_from_is_refused);

// -------------------------------------------------------------------------------------------
// Status callbacks

async fn status_callback_updates_the_message(t: &TwilioApp) {
    let org = t.org("Status").await;
    let recipient = phone_number();
    let sent = t
        .post(
            "/api/v1/sms/send",
            &org.key,
            &json!({ "to": recipient, "body": "Your order shipped" }),
        )
        .await
        .expect(201);
    let sid = sent["message_sid"]
        .as_str()
        .expect("message_sid")
        .to_owned();
    let sent_id = sent["id"].clone();
    let path = format!("/api/v1/sms/{}", id_of(&sent));
    // Twilio calls the StatusCallback it was given, signing exactly that URL.
    let callback = t.twilio.sent_messages()[0]
        .param("StatusCallback")
        .expect("a status callback")
        .to_owned();

    let status = |status: &str, code: Option<u32>| {
        t.twilio
            .message_status_params(&sid, &org.number, &recipient, status, code)
    };
    // Without the org in the URL (a callback configured on the number) the number finds it.
    let sent = status("sent", None);
    assert_eq!(t.webhook(&t.hook("status"), &sent).await.status, 204);
    assert_eq!(t.read(&path, &org.key).await["status"], json!("sent"));

    // A status Twilio adds later is kept as given.
    let novel = status("teleported", None);
    assert_eq!(t.webhook(&callback, &novel).await.status, 204);
    let sms = t.read(&path, &org.key).await;
    assert_eq!(sms["status"], json!("teleported"));
    assert_eq!(sms["error_code"], json!(null));
    assert_eq!(t.events("sms.status_changed", &org.key).await.len(), 2);
    // The same callback again changes nothing and emits nothing.
    assert_eq!(t.webhook(&callback, &novel).await.status, 204);
    assert_eq!(t.events("sms.status_changed", &org.key).await.len(), 2);

    let undelivered = status("undelivered", Some(30003));
    let resp = t.webhook(&callback, &undelivered).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    let sms = t.read(&path, &org.key).await;
    assert_eq!(sms["status"], json!("undelivered"));
    assert_eq!(sms["error_code"], json!("30003"));
    let changed = t.events("sms.status_changed", &org.key).await;
    assert_eq!(changed.len(), 3, "{changed:?}");
    let last = changed
        .iter()
        .find(|e| e["data"]["status"] == json!("undelivered"))
        .expect("the undelivered event");
    assert_eq!(last["subject"]["id"], sent_id);
    assert_eq!(last["data"]["error_code"], json!("30003"));
    assert_eq!(
        t.list("/api/v1/sms?status=undelivered", &org.key)
            .await
            .len(),
        1
    );

    // Final is final: the old `sent` callback replayed (Twilio retries, callbacks race), or a
    // later status, changes nothing and emits nothing.
    assert_eq!(t.webhook(&t.hook("status"), &sent).await.status, 204);
    assert_eq!(
        t.webhook(&callback, &status("delivered", None))
            .await
            .status,
        204
    );
    let sms = t.read(&path, &org.key).await;
    assert_eq!(sms["status"], json!("undelivered"), "{sms}");
    assert_eq!(sms["error_code"], json!("30003"));
    assert_eq!(t.events("sms.status_changed", &org.key).await.len(), 3);

    // A callback for a message nobody knows is acknowledged and stores nothing.
    let before = t.footprint(&org.key).await;
    let unknown = t.twilio.message_status_params(
        "SM00000000000000000000000000000000",
        &org.number,
        &recipient,
        "delivered",
        None,
    );
    assert_eq!(t.webhook(&callback, &unknown).await.status, 204);
    assert_eq!(t.footprint(&org.key).await, before);
}
twilio_test!(status_callback_updates_the_message);

// -------------------------------------------------------------------------------------------
// Voice

/// The `recordingStatusCallback` of a TwiML answer, unescaped.
fn recording_callback(twiml: &str) -> String {
    let start = twiml
        .find(r#"recordingStatusCallback=""#)
        .unwrap_or_else(|| panic!("no recordingStatusCallback in {twiml}"))
        + r#"recordingStatusCallback=""#.len();
    let end = start + twiml[start..].find('"').expect("closing quote");
    twiml[start..end].replace("&amp;", "&")
}

async fn inbound_call_status_and_recording(t: &TwilioApp) {
    let org = t.org("Voice").await;
    let caller = phone_number();
    let params = t.twilio.inbound_call_params(&caller, &org.number);
    let call_sid = param(&params, "CallSid").to_owned();

    let resp = t.webhook(&t.hook("voice"), &params).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    // Nobody is set to ring for the number: straight to voicemail.
    let callback = format!("{}?org={}&voicemail=1", t.hook("recording"), org.id);
    assert_eq!(
        resp.text,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Thanks for calling Acme &amp; Co. &lt;beep&gt;</Say><Record action="{hangup}?org={org}" maxLength="120" recordingStatusCallback="{escaped}"/></Response>"#,
            hangup = t.hook("hangup"),
            org = org.id,
            escaped = callback.replace('&', "&amp;"),
        )
    );
    assert_eq!(recording_callback(&resp.text), callback);

    let calls = t.list("/api/v1/calls", &org.key).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["call_sid"], json!(call_sid));
    assert_eq!(c["direction"], json!("inbound"));
    assert_eq!(c["from"], json!(caller));
    assert_eq!(c["to"], json!(org.number));
    assert_eq!(c["phone_id"], json!(org.phone_id));
    assert_eq!(c["status"], json!("ringing"));
    let people = t.list("/api/v1/people", &org.key).await;
    assert_eq!(people.len(), 1);
    assert_eq!(people[0]["phone"], json!(caller));
    assert_eq!(c["person_id"], people[0]["id"]);
    let interactions = t.list("/api/v1/interactions?kind=call", &org.key).await;
    assert_eq!(interactions.len(), 1);
    assert_eq!(c["interaction_id"], interactions[0]["id"]);
    let received = t.events("call.received", &org.key).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["data"], *c, "the event carries the stored call");
    let path = format!("/api/v1/calls/{}", id_of(c));

    // Twilio retries the voice webhook: still one call.
    assert_eq!(t.webhook(&t.hook("voice"), &params).await.status, 200);
    assert_eq!(t.list("/api/v1/calls", &org.key).await.len(), 1);

    // Call ends.
    let done = t
        .twilio
        .call_status_params(&call_sid, &caller, &org.number, "completed", Some(61));
    let resp = t.webhook(&t.hook("call-status"), &done).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    let call = t.read(&path, &org.key).await;
    assert_eq!(call["status"], json!("completed"));
    assert_eq!(call["duration_seconds"], json!(61));
    let completed = t.events("call.completed", &org.key).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["subject"]["id"], c["id"]);
    assert_eq!(completed[0]["data"]["duration_seconds"], json!(61));
    assert_eq!(
        t.list("/api/v1/calls?status=completed", &org.key)
            .await
            .len(),
        1
    );

    // The recording arrives at the callback the TwiML named.
    let rec = t.twilio.recording_params(&call_sid, 12);
    let resp = t.webhook(&callback, &rec).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    let call = t.read(&path, &org.key).await;
    assert_eq!(call["recording_sid"], json!(param(&rec, "RecordingSid")));
    assert_eq!(call["recording_url"], json!(param(&rec, "RecordingUrl")));
    assert_eq!(call["recording_seconds"], json!(12));
    assert_eq!(call["voicemail"], json!(true));
    assert_eq!(call["status"], json!("completed"));
    assert_eq!(call["duration_seconds"], json!(61));
    assert_eq!(
        t.events("call.recording_available", &org.key).await.len(),
        1
    );
    // Retried: nothing new.
    assert_eq!(t.webhook(&callback, &rec).await.status, 204);
    assert_eq!(
        t.events("call.recording_available", &org.key).await.len(),
        1
    );

    // A recording callback without the org cannot be placed.
    t.webhook(&t.hook("recording"), &rec)
        .await
        .invalid_field("org");
}
twilio_test!(inbound_call_status_and_recording);

// -------------------------------------------------------------------------------------------
// Outbound

async fn outbound_sms_goes_through_twilio(t: &TwilioApp) {
    let org = t.org("Outbound").await;
    let other = t.org("Other").await;
    let recipient = phone_number();
    let resp = t
        .post(
            "/api/v1/sms/send",
            &org.key,
            &json!({ "to": recipient, "body": "Your order shipped & is on its way" }),
        )
        .await;
    let sms = resp.expect(201);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/v1/sms/{}", id_of(&sms)).as_str())
    );
    let sent = t.twilio.sent_messages();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json")
    );
    assert_eq!(
        req.basic_auth,
        Some((TEST_ACCOUNT_SID.to_owned(), TEST_AUTH_TOKEN.to_owned()))
    );
    assert_eq!(req.param("To"), Some(recipient.as_str()));
    assert_eq!(req.param("From"), Some(org.number.as_str()));
    assert_eq!(
        req.param("Body"),
        Some("Your order shipped & is on its way")
    );
    assert_eq!(
        req.param("StatusCallback"),
        Some(format!("{}?org={}", t.hook("status"), org.id).as_str())
    );
    assert!(req.params_named("MediaUrl").is_empty());
    let sid = req.sid.clone().expect("the fake created a message");
    assert!(sid.starts_with("SM"), "{sid}");
    assert_eq!(sms["message_sid"], json!(sid));
    assert_eq!(sms["direction"], json!("outbound"));
    assert_eq!(sms["from"], json!(org.number));
    assert_eq!(sms["to"], json!(recipient));
    assert_eq!(sms["status"], json!("queued"));
    assert_eq!(sms["phone_id"], json!(org.phone_id));
    assert!(
        sms["person_id"].is_string(),
        "the recipient is a person: {sms}"
    );
    assert_eq!(
        t.read(&format!("/api/v1/sms/{}", id_of(&sms)), &org.key)
            .await,
        sms
    );
    let events = t.events("sms.sent", &org.key).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"]["id"], sms["id"]);
    assert_eq!(
        t.list("/api/v1/sms?direction=outbound", &org.key)
            .await
            .len(),
        1
    );

    // To a person, at their primary phone; with media; from a chosen number of the org.
    let grace_phone = phone_number();
    let grace = t
        .create(
            "/api/v1/people",
            &org.key,
            json!({ "first_name": "Grace", "phone": grace_phone }),
        )
        .await;
    let second = phone_number();
    t.assign(org.id, &second, &["sms"], None).await;
    let sms = t
        .post(
            "/api/v1/sms/send",
            &org.key,
            &json!({ "person_id": grace["id"], "body": "", "from": second,
                     "media_urls": ["https://example.com/a.jpg"] }),
        )
        .await
        .expect(201);
    let req = t.twilio.sent_messages()[1].clone();
    assert_eq!(req.param("To"), Some(grace_phone.as_str()));
    assert_eq!(req.param("From"), Some(second.as_str()));
    assert_eq!(req.params_named("MediaUrl"), ["https://example.com/a.jpg"]);
    assert_eq!(sms["person_id"], grace["id"]);
    assert_eq!(sms["from"], json!(second));

    let sent_before = t.twilio.requests().len();
    let stored_before = t.list("/api/v1/sms", &org.key).await.len();
    // Another org's number is not ours to send from.
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "to": recipient, "from": other.number, "body": "spoof" }),
    )
    .await
    .invalid_field("from");
    // A number that is nobody's either.
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "to": recipient, "from": phone_number(), "body": "spoof" }),
    )
    .await
    .invalid_field("from");
    // Input errors before Twilio is asked.
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "to": recipient, "body": "x".repeat(1601) }),
    )
    .await
    .invalid_field("body");
    t.post("/api/v1/sms/send", &org.key, &json!({ "body": "to whom?" }))
        .await
        .invalid_field("to");
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "to": recipient, "person_id": grace["id"], "body": "both" }),
    )
    .await
    .invalid_field("person_id");
    t.post(
        "/api/v1/sms/send",
        &org.key,
        &json!({ "to": "12345", "body": "short code" }),
    )
    .await
    .invalid_field("to");
    // An org without a number.
    let (_, bare_key) = t.create_org("No numbers").await;
    t.post(
        "/api/v1/sms/send",
        &bare_key,
        &json!({ "to": recipient, "body": "hello" }),
    )
    .await
    .invalid_field("from");
    assert_eq!(
        t.twilio.requests().len(),
        sent_before,
        "Twilio was not asked"
    );

    // Twilio's answers about the recipient land on `to`, after exactly one request each
    // (to a number of its own: a 21610 is kept as the number's opt-out).
    for (code, message) in [
        (21211, "The 'To' number is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
    ] {
        let recipient = phone_number();
        let before = t.twilio.requests().len();
        t.twilio.fail_next(400, code, message);
        let p = t
            .post(
                "/api/v1/sms/send",
                &org.key,
                &json!({ "to": recipient, "body": "hello" }),
            )
            .await
            .invalid_field("to");
        assert_eq!(t.twilio.requests().len(), before + 1, "{code}: {p}");
    }
    // Twilio failing is a provider problem, not retried blindly.
    let before = t.twilio.requests().len();
    t.twilio.fail_next(500, 20500, "Internal Server Error");
    let resp = t
        .send_any(
            t.request(reqwest::Method::POST, "/api/v1/sms/send", &org.key)
                .json(&json!({ "to": recipient, "body": "hello" })),
        )
        .await;
    resp.problem(502);
    assert_eq!(
        t.twilio.requests().len(),
        before + 1,
        "no retry after a 500"
    );
    let before = t.twilio.requests().len();
    t.twilio.rate_limit_next(Duration::from_secs(7));
    let resp = t
        .send_any(
            t.request(reqwest::Method::POST, "/api/v1/sms/send", &org.key)
                .json(&json!({ "to": recipient, "body": "hello" })),
        )
        .await;
    assert!(
        matches!(resp.status, 429 | 503),
        "Twilio's 429 passes on as a retryable answer: {} {}",
        resp.status,
        resp.text
    );
    assert!(resp.header("retry-after").is_some(), "{:?}", resp.headers);
    assert_eq!(
        t.twilio.requests().len(),
        before + 1,
        "no retry after a 429"
    );
    assert_eq!(
        t.list("/api/v1/sms", &org.key).await.len(),
        stored_before,
        "nothing recorded for refused sends"
    );
}
twilio_test!(outbound_sms_goes_through_twilio);

async fn outbound_call_goes_through_twilio(t: &TwilioApp) {
    let org = t.org("Caller").await;
    let other = t.org("Other").await;
    let callee = phone_number();
    let resp = t
        .post("/api/v1/calls", &org.key, &json!({ "to": callee }))
        .await;
    let call = resp.expect(201);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/v1/calls/{}", id_of(&call)).as_str())
    );
    let created = t.twilio.created_calls();
    assert_eq!(created.len(), 1);
    let req = &created[0];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Calls.json")
    );
    assert_eq!(req.param("To"), Some(callee.as_str()));
    assert_eq!(req.param("From"), Some(org.number.as_str()));
    let voice_url = format!("{}?org={}", t.hook("voice"), org.id);
    let status_url = format!("{}?org={}", t.hook("call-status"), org.id);
    assert_eq!(req.param("Url"), Some(voice_url.as_str()));
    assert_eq!(req.param("StatusCallback"), Some(status_url.as_str()));
    let sid = req.sid.clone().expect("the fake created a call");
    assert!(sid.starts_with("CA"), "{sid}");
    assert_eq!(call["call_sid"], json!(sid));
    assert_eq!(call["direction"], json!("outbound"));
    assert_eq!(call["from"], json!(org.number));
    assert_eq!(call["to"], json!(callee));
    assert_eq!(call["status"], json!("queued"));
    assert!(call["person_id"].is_string(), "{call}");
    assert_eq!(t.events("call.started", &org.key).await.len(), 1);

    // The callee answers: Twilio fetches the instructions from Url, signed over that URL.
    let answered = with_param(
        &with_param(
            &with_param(
                &t.twilio.inbound_call_params(&org.number, &callee),
                "CallSid",
                &sid,
            ),
            "Direction",
            "outbound-api",
        ),
        "CallStatus",
        "in-progress",
    );
    let resp = t.webhook(&voice_url, &answered).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    // Without a rep the callee hears the greeting and is recorded; the `<Record>`'s action hangs
    // up (without one Twilio would request this URL again and record again), and so does the
    // `<Hangup/>` after it when the recording got no audio.
    let hangup = format!("{}?org={}", t.hook("hangup"), org.id);
    let recording = format!("{}?org={}", t.hook("recording"), org.id);
    assert!(
        resp.text.ends_with(&format!(
            r#"<Record action="{}" recordingStatusCallback="{}"/><Hangup/></Response>"#,
            hangup.replace('&', "&amp;"),
            recording.replace('&', "&amp;")
        )),
        "{}",
        resp.text
    );
    calls::assert_valid_twiml(&resp.text).await;
    let resp = t.webhook(&hangup, &answered).await;
    assert_eq!(
        resp.text,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
    );
    let calls = t.list("/api/v1/calls", &org.key).await;
    assert_eq!(calls.len(), 1, "the instructions request is the same call");
    assert_eq!(calls[0]["direction"], json!("outbound"));

    let done = t
        .twilio
        .call_status_params(&sid, &org.number, &callee, "completed", Some(42));
    assert_eq!(t.webhook(&status_url, &done).await.status, 204);
    let call = t
        .read(&format!("/api/v1/calls/{}", id_of(&call)), &org.key)
        .await;
    assert_eq!(call["status"], json!("completed"));
    assert_eq!(call["duration_seconds"], json!(42));
    assert_eq!(t.events("call.completed", &org.key).await.len(), 1);

    let before = t.twilio.requests().len();
    t.post(
        "/api/v1/calls",
        &org.key,
        &json!({ "to": callee, "from": other.number }),
    )
    .await
    .invalid_field("from");
    let (_, bare_key) = t.create_org("No numbers").await;
    t.post("/api/v1/calls", &bare_key, &json!({ "to": callee }))
        .await
        .invalid_field("from");
    // A number that cannot place calls is not picked.
    let (sms_only_org, sms_only) = t.create_org("SMS only").await;
    t.assign(sms_only_org, &phone_number(), &["sms"], None)
        .await;
    // The operator's assignment asked Twilio about the number; calls asked nothing.
    let before = before + 1;
    t.post("/api/v1/calls", &sms_only, &json!({ "to": callee }))
        .await
        .invalid_field("from");
    t.post("/api/v1/calls", &org.key, &json!({}))
        .await
        .invalid_field("to");
    assert_eq!(t.twilio.requests().len(), before, "Twilio was not asked");

    for code in [21211, 21610] {
        let before = t.twilio.requests().len();
        t.twilio.fail_next(400, code, "refused");
        t.post("/api/v1/calls", &org.key, &json!({ "to": callee }))
            .await
            .invalid_field("to");
        assert_eq!(t.twilio.requests().len(), before + 1);
    }
    assert_eq!(t.list("/api/v1/calls", &org.key).await.len(), 1);
}
twilio_test!(outbound_call_goes_through_twilio);

/// A send whose answer never comes is not resent: exactly one request reaches Twilio. The
/// server's Twilio timeout is set short (`TWILIO_TIMEOUT_SECS=1`); the fake hangs far longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_sms_timeout_is_not_retried() {
    let t = spawn_with(
        Backend::Sqlite,
        UnknownSender::CreatePerson,
        &[("TWILIO_TIMEOUT_SECS", "1")],
    )
    .await
    .expect("SQLite always runs");
    let org = t.org("Hang").await;
    t.twilio.hang_next(Duration::from_secs(25));
    let resp = t
        .send_any(
            t.request(reqwest::Method::POST, "/api/v1/sms/send", &org.key)
                .json(&json!({ "to": phone_number(), "body": "are you there?" })),
        )
        .await;
    assert!(
        (500..600).contains(&resp.status),
        "a timeout is a server-side failure: {} {}",
        resp.status,
        resp.text
    );
    resp.problem(resp.status);
    let posts = t
        .twilio
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/Messages.json"))
        .count();
    assert_eq!(posts, 1, "exactly one request: no blind retry");
    // The fake did create it (the answer was lost): the outcome is unknown to the server.
    assert_eq!(t.twilio.sent_messages().len(), 1);
    assert!(t.list("/api/v1/sms", &org.key).await.is_empty());
}

// -------------------------------------------------------------------------------------------
// Statement budget of the inbound path

/// Counts the statements sqlx runs (its `sqlx::query` log events) on this thread, except the
/// wake-ups of other processes (`pg_notify`), which the notifier sends after commits, coalesced
/// and off the request's path.
struct StatementCounter(Arc<AtomicUsize>);

/// Whether any field of an event mentions `pg_notify`.
#[derive(Default)]
struct Notifies(bool);

impl tracing::field::Visit for Notifies {
    fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0 |= format!("{value:?}").contains("pg_notify");
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut notifies = Notifies::default();
            event.record(&mut notifies);
            if !notifies.0 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// On Postgres, an inbound SMS from a known sender to a number seen before costs two
/// statements (round trips): one finding the sender and writing the message, its interaction
/// and both events (re-checking the cached owner of the number), and the commit (the `BEGIN`
/// carries the tenant settings and is not logged by sqlx). Runs on one thread so that every
/// statement of the server is counted (the subscriber is the thread's). Postgres only: round
/// trips are what this guards, and SQLite runs its statements on its own worker threads.
fn inbound_sms_statement_budget(backend: Backend, budget: usize) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(StatementCounter(count.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let Some(t) = spawn(backend, UnknownSender::CreatePerson).await else {
            return;
        };
        let org = t.org("Budget").await;
        let sender = phone_number();
        // The first message looks the number up, creates the person and loads the org's
        // Twilio account.
        let first = t.twilio.inbound_sms_params(&sender, &org.number, "first");
        assert_empty_twiml(&t.webhook(&t.hook("sms"), &first).await);
        let params = t.twilio.inbound_sms_params(&sender, &org.number, "second");
        count.store(0, Ordering::SeqCst);
        assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
        let used = count.load(Ordering::SeqCst);
        assert!(used > 0, "statements are counted");
        assert!(
            used <= budget,
            "{used} statements for one inbound SMS (budget {budget})"
        );
        assert_eq!(t.list("/api/v1/sms", &org.key).await.len(), 2);
    });
}

/// Set in the child process that does the counting.
const BUDGET_CHILD: &str = "WORKOS_STATEMENT_BUDGET_CHILD";

#[test]
fn inbound_sms_statement_budget_postgres() {
    if std::env::var_os(BUDGET_CHILD).is_some() {
        inbound_sms_statement_budget(Backend::Postgres, 2);
        return;
    }
    // tracing caches which callsites are enabled process-wide, so a thread-scoped subscriber
    // misses events while other tests run in the same process: count in a process of its own.
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "twilio::inbound_sms_statement_budget_postgres",
            "--exact",
            "--test-threads=1",
        ])
        .env(BUDGET_CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the counting run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// -------------------------------------------------------------------------------------------
// An org's own Twilio account

/// The org's own account (not the platform's `TEST_ACCOUNT_SID`).
pub(crate) const ORG_SID: &str = "ACfedcba9876543210fedcba9876543210";
/// Its auth token.
pub(crate) const ORG_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

impl TwilioApp {
    pub(crate) async fn put_account(&self, key: &str, body: &Value) -> Resp {
        self.send(
            self.request(reqwest::Method::PUT, "/api/v1/integrations/twilio", key)
                .json(body),
        )
        .await
    }
}

/// An org with its own Twilio account: webhooks for its numbers must be signed with its token
/// (the platform's is refused for it, while other orgs keep the platform's), its SMS and calls
/// go out through its account, the token is never answered, evented or stored in the clear,
/// and removing the account brings the platform's back.
async fn org_own_twilio_account(t: &TwilioApp) {
    let a = t.org("Own account").await;
    let b = t.org("Platform account").await;
    t.twilio.add_account(ORG_SID, ORG_TOKEN);
    let own_signer = WebhookSigner::new(ORG_TOKEN);
    let path = "/api/v1/integrations/twilio";

    // Bad input names the field; only admins may set it.
    t.put_account(
        &a.key,
        &json!({ "account_sid": "AC12", "auth_token": ORG_TOKEN }),
    )
    .await
    .invalid_field("account_sid");
    t.put_account(
        &a.key,
        &json!({ "account_sid": ORG_SID, "auth_token": "not:a token" }),
    )
    .await
    .invalid_field("auth_token");
    t.put_account(&a.key, &json!({ "account_sid": ORG_SID }))
        .await
        .invalid_field("auth_token");
    let member = t.api_key(a.id, workos_core::tenant::Role::Member).await;
    t.put_account(
        &member,
        &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
    )
    .await
    .problem(403);
    t.get(path, &a.key).await.problem(404);

    // Twilio must accept the credentials first: a well-formed token it refuses is a field
    // error, and Twilio out of reach (every retry answered 500) a 503; neither stores a thing.
    let refused = "0123456789abcdef0123456789abcdef";
    t.put_account(
        &a.key,
        &json!({ "account_sid": ORG_SID, "auth_token": refused }),
    )
    .await
    .invalid_field("auth_token");
    for _ in 0..4 {
        t.twilio.fail_next(500, 20500, "Internal Server Error");
    }
    // The one 5xx a test here means to see: the dependency's, not ours.
    t.send_any(
        t.request(reqwest::Method::PUT, path, &a.key)
            .json(&json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN })),
    )
    .await
    .problem(503);
    t.get(path, &a.key).await.problem(404);
    let checks: Vec<_> = t
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/2010-04-01/Accounts/{ORG_SID}.json"))
        .collect();
    assert_eq!(
        checks.len(),
        5,
        "one check refused, four tries out of reach"
    );
    assert!(checks.iter().all(|r| r.method == "GET"));
    assert_eq!(
        checks[0].basic_auth,
        Some((ORG_SID.to_owned(), refused.to_owned()))
    );
    t.twilio.reset();

    let set = t
        .put_account(
            &a.key,
            &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
        )
        .await;
    let integration = set.expect(200);
    assert_eq!(integration["provider"], json!("twilio"));
    assert_eq!(integration["account"], json!(ORG_SID));
    assert_eq!(integration["status"], json!("active"));
    let read_back = t.get(path, &a.key).await;
    assert_eq!(read_back.expect(200)["id"], integration["id"]);
    // Setting it again (same account, rotated token) keeps one integration.
    let again = t
        .put_account(
            &a.key,
            &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
        )
        .await;
    assert_eq!(again.expect(200)["id"], integration["id"]);
    t.get(path, &b.key).await.problem(404);

    // Inbound to A: the platform's signature is refused, the org's accepted.
    let sender = phone_number();
    let params = t
        .twilio
        .inbound_sms_params(&sender, &a.number, "own account");
    t.webhook(&t.hook("sms"), &params).await.problem(403);
    assert!(
        t.list("/api/v1/sms", &a.key).await.is_empty(),
        "nothing stored"
    );
    assert_empty_twiml(&read(own_signer.send(&t.hook("sms"), &params).await).await);
    assert_eq!(t.list("/api/v1/sms", &a.key).await.len(), 1);
    // B is unchanged: the platform's signature, not A's token.
    let params_b = t.twilio.inbound_sms_params(&sender, &b.number, "platform");
    read(own_signer.send(&t.hook("sms"), &params_b).await)
        .await
        .problem(403);
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params_b).await);
    assert_eq!(t.list("/api/v1/sms", &b.key).await.len(), 1);

    // Outbound: A's account path and credentials; B's through the platform account.
    let to = phone_number();
    let sent = t
        .post(
            "/api/v1/sms/send",
            &a.key,
            &json!({ "to": to, "body": "from A" }),
        )
        .await
        .expect(201);
    t.post("/api/v1/calls", &a.key, &json!({ "to": to }))
        .await
        .expect(201);
    t.post(
        "/api/v1/sms/send",
        &b.key,
        &json!({ "to": to, "body": "from B" }),
    )
    .await
    .expect(201);
    let creating: Vec<_> = t
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(creating.len(), 3);
    for r in &creating[..2] {
        assert!(
            r.path
                .starts_with(&format!("/2010-04-01/Accounts/{ORG_SID}/")),
            "{}",
            r.path
        );
        assert_eq!(
            r.basic_auth,
            Some((ORG_SID.to_owned(), ORG_TOKEN.to_owned()))
        );
    }
    assert!(
        creating[2]
            .path
            .starts_with(&format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/"))
    );
    // A's status callback (org in the signed URL) is checked with A's token.
    let callback = creating[0]
        .param("StatusCallback")
        .expect("a status callback")
        .to_owned();
    let status = t.twilio.message_status_params(
        sent["message_sid"].as_str().unwrap(),
        &a.number,
        &to,
        "delivered",
        None,
    );
    t.webhook(&callback, &status).await.problem(403);
    let ok = read(own_signer.send(&callback, &status).await).await;
    assert_eq!(ok.status, 204, "{}", ok.text);

    // The token is never answered, evented or stored in the clear.
    let ctx = workos_core::tenant::TenantContext::system(a.id, "test");
    let id: workos_core::ids::IntegrationId = integration["id"].as_str().unwrap().parse().unwrap();
    let sealed = workos_core::repo::IntegrationRepo::integration_credentials(&t.store, &ctx, id)
        .await
        .expect("the sealed token");
    let contains = |hay: &[u8]| {
        hay.windows(ORG_TOKEN.len())
            .any(|w| w == ORG_TOKEN.as_bytes())
    };
    assert!(
        !sealed.0.is_empty() && !contains(&sealed.0),
        "the token is sealed"
    );
    let events = t.list("/api/v1/events?limit=200", &a.key).await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == json!("integration.connected"))
    );
    let answers = [
        &set.text,
        &read_back.text,
        &serde_json::to_string(&events).unwrap(),
    ];
    for text in answers {
        assert!(!contains(text.as_bytes()), "the token leaked: {text}");
    }

    // Removing it: the platform's token applies to A again, A's no longer does.
    t.delete(path, &member).await.problem(403);
    assert_eq!(t.delete(path, &a.key).await.status, 204);
    t.get(path, &a.key).await.problem(404);
    let params = t
        .twilio
        .inbound_sms_params(&sender, &a.number, "platform again");
    read(own_signer.send(&t.hook("sms"), &params).await)
        .await
        .problem(403);
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &params).await);
    assert_eq!(t.list("/api/v1/sms", &a.key).await.len(), 3);
}
twilio_test!(org_own_twilio_account);

impl TwilioApp {
    /// Gives the platform's `number` to `org` (as the operator); returns the phone's id.
    async fn take_number(&self, org: OrgId, number: &str) -> String {
        id_of(
            &self
                .assign(org, number, &["sms", "mms", "voice"], None)
                .await,
        )
    }
}

/// The inbound SMS webhook keeps numbers' owners for a while, yet a number released by one
/// org and taken by another lands in the new org at once: the write re-checks the owner, and a
/// signature checked against the old owner's Twilio account is checked again for the new one.
async fn moved_number_lands_in_its_new_org(t: &TwilioApp) {
    let a = t.org("Old owner").await;
    let b = t.org("New owner").await;
    let sender = phone_number();
    // A refused message reads (and keeps) the owner of A's number.
    let to_a = t.twilio.inbound_sms_params(&sender, &a.number, "to A");
    assert_refused(
        &t.post_form(&t.hook("sms"), &to_a, Some("bm90IGEgc2lnbmF0dXJl"))
            .await,
        "bad signature",
    );
    // A releases the number and B takes it.
    assert_eq!(
        t.delete(&format!("/api/v1/phones/{}", a.phone_id), &a.key)
            .await
            .status,
        204
    );
    let taken = t.take_number(b.id, &a.number).await;
    let to_b = t.twilio.inbound_sms_params(&sender, &a.number, "to B");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &to_b).await);
    assert_eq!(t.footprint(&a.key).await, [0; 5], "nothing reached A");
    let b_sms = t.list("/api/v1/sms", &b.key).await;
    assert_eq!(b_sms.len(), 1);
    assert_eq!(b_sms[0]["body"], json!("to B"));
    assert_eq!(b_sms[0]["phone_id"], json!(taken));
    assert!(
        b_sms[0]["person_id"].is_string(),
        "the sender became B's person"
    );

    // B's own number moves to an org with its own Twilio account, which now signs for it.
    let c = t.org("Own account").await;
    t.twilio.add_account(ORG_SID, ORG_TOKEN);
    t.put_account(
        &c.key,
        &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
    )
    .await
    .expect(200);
    let to_b = t
        .twilio
        .inbound_sms_params(&sender, &b.number, "to B again");
    assert_refused(
        &t.post_form(&t.hook("sms"), &to_b, Some("bm90IGEgc2lnbmF0dXJl"))
            .await,
        "bad signature",
    );
    assert_eq!(
        t.delete(&format!("/api/v1/phones/{}", b.phone_id), &b.key)
            .await
            .status,
        204
    );
    // The number was ported into C's own account: C's admin registers it.
    t.twilio
        .add_incoming_number(ORG_SID, &b.number, &["sms", "mms", "voice"]);
    t.create(
        "/api/v1/phones",
        &c.key,
        json!({ "number": b.number, "provider": "twilio" }),
    )
    .await;
    let to_c = t.twilio.inbound_sms_params(&sender, &b.number, "to C");
    let own_signer = WebhookSigner::new(ORG_TOKEN);
    assert_empty_twiml(&read(own_signer.send(&t.hook("sms"), &to_c).await).await);
    let c_sms = t.list("/api/v1/sms", &c.key).await;
    assert_eq!(c_sms.len(), 1);
    assert_eq!(c_sms[0]["body"], json!("to C"));
    // The platform's signature is no good for C's number, cached owner or not.
    let again = t.twilio.inbound_sms_params(&sender, &b.number, "platform");
    t.webhook(&t.hook("sms"), &again).await.problem(403);
    assert_eq!(t.list("/api/v1/sms", &c.key).await.len(), 1);
    assert_eq!(
        t.list("/api/v1/sms", &b.key).await.len(),
        1,
        "B keeps its one"
    );
    assert_eq!(t.footprint(&a.key).await, [0; 5]);
}
twilio_test!(moved_number_lands_in_its_new_org);

/// `TWILIO_TIMEOUT_SECS` must be a positive number of seconds; a bad value names the variable.
#[test]
fn twilio_timeout_must_be_positive() {
    for bad in ["0", "-1", "soon", ""] {
        let env: HashMap<&str, String> = HashMap::from([
            ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
            ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
            ("TWILIO_TIMEOUT_SECS", bad.to_owned()),
        ]);
        let Err(e) = Config::from_lookup(|k| env.get(k).cloned()) else {
            panic!("TWILIO_TIMEOUT_SECS={bad:?} was accepted");
        };
        assert!(e.to_string().contains("TWILIO_TIMEOUT_SECS"), "{e}");
    }
}

// -------------------------------------------------------------------------------------------
// The official verifier (Twilio's Python helper library)

static PYTHON_SKIP: Once = Once::new();

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python/twilio_sign.py")
}

/// Runs the script with `request` as JSON on stdin: `Ok(stdout)`, or `Err(why)` when the
/// interpreter or the `twilio` package is missing (exit 3).
async fn run_python(request: Value) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(python())
            .arg(script())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python()))?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(request.to_string().as_bytes())
            .expect("write the request");
        let out = child.wait_with_output().expect("wait for python");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(String::from_utf8(out.stdout)
                .expect("utf-8 output")
                .trim()
                .to_owned()),
            Some(3) => Err(stderr),
            _ => panic!("twilio_sign.py failed ({}): {stderr}", out.status),
        }
    })
    .await
    .expect("the python task")
}

/// Whether the official verifier can run here; prints the skip notice once when not.
///
/// # Panics
/// When it cannot and `WORKOS_REQUIRE_PYTHON_VERIFIERS=1`.
async fn official_verifier_available() -> bool {
    let probe = run_python(json!({ "auth_token": "t", "url": "https://x", "params": [] })).await;
    match probe {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("WORKOS_REQUIRE_PYTHON_VERIFIERS").as_deref() != Ok("1"),
                "WORKOS_REQUIRE_PYTHON_VERIFIERS=1 but the official verifier cannot run ({why}); \
                 install it with `pip install twilio` and set WORKOS_PYTHON"
            );
            PYTHON_SKIP.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "twilio Python package missing: SKIPPED ({})",
                    why.trim()
                );
            });
            false
        }
    }
}

async fn official_python_verifier_agrees(t: &TwilioApp) {
    if !official_verifier_available().await {
        return;
    }
    let org = t.org("Official").await;
    let url = t.hook("sms");
    let params = t.twilio.inbound_mms_params(
        &phone_number(),
        &org.number,
        "Ça va? 1+1=2 & 50% off <b>\"now\"</b> 👍",
        &[("https://example.com/a b.jpg?x=1&y=2", "image/jpeg")],
    );
    let signature =
        run_python(json!({ "auth_token": TEST_AUTH_TOKEN, "url": url, "params": params }))
            .await
            .expect("the official library signs");
    assert_eq!(
        signature,
        t.twilio.webhook_signature(&url, &params),
        "the official library and ours sign alike"
    );
    let resp = t.post_form(&url, &params, Some(&signature)).await;
    assert_empty_twiml(&resp);
    let sms = t.list("/api/v1/sms", &org.key).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["message_sid"], json!(param(&params, "MessageSid")));
    assert_eq!(sms[0]["body"], json!(param(&params, "Body")));

    // A URL with a query (the callback URLs the engine hands out), checked both ways.
    let callback = format!("{}?org={}", t.hook("status"), org.id);
    let status = t.twilio.message_status_params(
        param(&params, "MessageSid"),
        &org.number,
        "+14155550100",
        "read",
        None,
    );
    let signature =
        run_python(json!({ "auth_token": TEST_AUTH_TOKEN, "url": callback, "params": status }))
            .await
            .expect("sign");
    assert_eq!(
        run_python(
            json!({ "auth_token": TEST_AUTH_TOKEN, "url": callback, "params": status,
                           "signature": t.twilio.webhook_signature(&callback, &status) })
        )
        .await
        .expect("validate"),
        "valid",
        "the official validator accepts our signature"
    );
    assert_eq!(
        t.post_form(&callback, &status, Some(&signature))
            .await
            .status,
        204
    );
    // Accepted (a refused signature answers 403); `received` is final, so it stays.
    assert_eq!(sms[0]["status"], json!("received"));
    assert_eq!(
        t.read(&format!("/api/v1/sms/{}", id_of(&sms[0])), &org.key)
            .await["status"],
        json!("received")
    );

    // What the official library signs for other parameters does not pass for these.
    let tampered = with_param(&params, "Body", "changed");
    assert_refused(
        &t.post_form(&url, &tampered, Some(&signature)).await,
        "official signature of another request",
    );
    assert_eq!(
        run_python(
            json!({ "auth_token": TEST_AUTH_TOKEN, "url": url, "params": tampered,
                           "signature": t.twilio.webhook_signature(&url, &params) })
        )
        .await
        .expect("validate"),
        "invalid"
    );
    assert_eq!(t.list("/api/v1/sms", &org.key).await.len(), 1);
}
twilio_test!(official_python_verifier_agrees);

mod call_legs;
mod calls;
mod opt_outs;
mod ringing;

//! Gmail: the connect flow (`/integrations/gmail/connect`, Google's consent at [`FakeGoogle`],
//! the public `/integrations/gmail/callback`), connected accounts, sending, stored emails,
//! forced and scheduled syncs, disconnecting, roles and tenant isolation.
//!
//! Each test runs on a server configured as a deployment would be (`GOOGLE_*` and
//! `GMAIL_API_BASE_URL` pointing at the fake), over the harness's fresh database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use workos_core::crypto::SecretKey;
use workos_core::ids::OrgId;
use workos_reference_server::config::Config;
use workos_reference_server::serve;
use workos_reference_server::state::AppState;
use workos_tests::fake_google::{FakeGoogle, Route, sample_messages};

use crate::helpers::{Backend, Resp, TestApp, id_of, ids_in, spawn_app};

/// The connected mailbox.
const ACCOUNT: &str = "owner@acme.example";

/// A server with Gmail configured, over the database of a harness [`TestApp`].
pub(crate) struct GmailApp {
    app: TestApp,
    pub(crate) google: FakeGoogle,
    server: JoinHandle<std::io::Result<()>>,
    /// The server's environment (a second process on the same database reads the same).
    env: HashMap<&'static str, String>,
}

/// Another server process on the same database and configuration (same keys).
struct OtherProcess {
    addr: SocketAddr,
    state: AppState,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for OtherProcess {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GmailApp {
    /// Starts another server process over the same database, with the same configuration.
    async fn other_process(&self) -> OtherProcess {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let env = self.env.clone();
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid configuration");
        let state = AppState::new(self.app.store.clone(), config);
        let server = tokio::spawn(serve(
            listener,
            workos_reference_server::app(state.clone()),
            std::future::pending(),
        ));
        OtherProcess {
            addr,
            state,
            server,
        }
    }
}

impl Deref for GmailApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Drop for GmailApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One run of the Gmail scheduler of the server process with `state`, as `workos-server serve`
/// runs it (`Workers::start`), with `interval`.
pub(crate) async fn sync_due(state: &AppState, interval: Duration) -> usize {
    state
        .gmail
        .as_ref()
        .expect("Gmail configured")
        .scheduler(workos_gmail::SchedulerConfig { interval })
        .run_once()
        .await
}

/// A Gmail-enabled server on a fresh database of `backend`.
pub(crate) async fn spawn(backend: Backend) -> Option<GmailApp> {
    spawn_with(backend, false).await
}

/// The path Pub/Sub pushes Gmail's notifications to.
pub(crate) const PUSH_PATH: &str = "/api/v1/webhooks/gmail/push";

/// A Gmail-enabled server, with push on (`GMAIL_PUBSUB_*` pointing at the fake, the audience
/// the push URL) when `push` is set.
pub(crate) async fn spawn_with(backend: Backend, push: bool) -> Option<GmailApp> {
    let mut app = spawn_app(backend).await?;
    let google = FakeGoogle::start(ACCOUNT).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let mut env: HashMap<&'static str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_JWT_SECRET", app.jwt_secret.clone()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("WORKOS_BIND", addr.to_string()),
        ("WORKOS_PUBLIC_URL", format!("http://{addr}")),
    ]);
    env.extend(google.env_vars());
    if push {
        env.extend(google.push_env_vars(&format!("http://{addr}{PUSH_PATH}")));
    }
    // The lead sender's (webhook pipeline) settings, for the lead-delivery tests.
    env.extend(crate::helpers::WEBHOOK_ENV.map(|(k, v)| (k, v.to_owned())));
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid Gmail configuration");
    let state = AppState::new(app.store.clone(), config);
    assert!(state.gmail.is_some(), "GOOGLE_* configure Gmail");
    let server = tokio::spawn(serve(
        listener,
        workos_reference_server::app(state.clone()),
        std::future::pending(),
    ));
    app.addr = addr;
    app.state = state;
    Some(GmailApp {
        app,
        google,
        server,
        env,
    })
}

macro_rules! gmail_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::gmail::spawn(backend));
    };
}

/// A started connect as the browser holds it: the callback's query (after Google's consent)
/// and the connect cookie.
struct Consented {
    query: String,
    cookie: String,
}

/// Starts a connect as `jwt`'s user of `org` and consents at the fake Google.
async fn start_and_consent(app: &GmailApp, jwt: &str, org: OrgId) -> Consented {
    let started = app
        .send(app.user_request(Method::GET, "/api/v1/integrations/gmail/connect", jwt, org))
        .await;
    let body = started.expect(200);
    let set_cookie = started
        .header("set-cookie")
        .expect("connect sets the browser cookie")
        .to_owned();
    let (pair, attributes) = set_cookie.split_once(';').expect("cookie attributes");
    let cookie = pair
        .strip_prefix("workos_gmail_connect=")
        .expect("the connect cookie")
        .to_owned();
    assert!(cookie.len() >= 40, "a random nonce: {set_cookie}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Max-Age=600",
        "Path=/api/v1/integrations/gmail/callback",
    ] {
        assert!(
            attributes.split(';').any(|a| a.trim() == attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let consent_url = body["authorization_url"].as_str().expect("a URL");
    assert!(
        consent_url.starts_with(&app.google.auth_url()),
        "{consent_url}"
    );
    assert!(
        !consent_url.contains(&cookie),
        "the nonce never goes to Google"
    );
    // The fake consents at once and redirects to GOOGLE_REDIRECT_URL with code and state.
    let consent = app.client.get(consent_url).send().await.expect("consent");
    assert_eq!(consent.status().as_u16(), 302);
    let location = consent.headers()["location"].to_str().expect("ascii");
    let query = reqwest::Url::parse(location)
        .expect("a redirect URL")
        .query()
        .expect("code and state")
        .to_owned();
    Consented { query, cookie }
}

/// Google's redirect reaching `base` (this server's URL unless given) in a browser holding
/// `cookie` (none when `None`), without credentials.
async fn callback(app: &GmailApp, base: Option<&str>, query: &str, cookie: Option<&str>) -> Resp {
    let url = format!(
        "{}/api/v1/integrations/gmail/callback?{query}",
        base.map_or_else(|| app.url(""), str::to_owned)
    );
    let mut request = app.client.get(url);
    if let Some(cookie) = cookie {
        request = request.header(
            "cookie",
            format!("theme=dark; workos_gmail_connect={cookie}"),
        );
    }
    app.send(request).await
}

/// Connects the fake's mailbox to `org` as a new admin user, through both routes and Google's
/// consent page, in one browser; returns the callback's answer.
pub(crate) async fn connect(app: &GmailApp, owner_key: &str, org: OrgId) -> Value {
    let user = app.add_member(owner_key, "admin").await;
    let jwt = app.jwt(user);
    let consented = start_and_consent(app, &jwt, org).await;
    // The browser follows the redirect to our callback, with its cookie.
    let done = callback(app, None, &consented.query, Some(&consented.cookie)).await;
    let integration = done.expect(200);
    assert!(
        done.header("set-cookie")
            .is_some_and(|c| c.starts_with("workos_gmail_connect=;") && c.contains("Max-Age=0")),
        "the spent cookie is cleared"
    );
    // A state is single use.
    callback(app, None, &consented.query, Some(&consented.cookie))
        .await
        .invalid_field("state");
    integration
}

/// A consent link that reaches another browser (an admin sending the real Google link to a
/// victim) cannot connect that mailbox: the callback needs the cookie of the browser that
/// started the connect, and refuses without storing anything. The connected address is shown
/// in the callback's answer and the integration's listing.
async fn callback_needs_the_starting_browser(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let user = app.add_member(&owner, "admin").await;
    let jwt = app.jwt(user);
    let other_browser = start_and_consent(app, &jwt, org).await.cookie;
    for cookie in [None, Some("made-up"), Some(other_browser.as_str())] {
        let victim = start_and_consent(app, &jwt, org).await;
        let refused = callback(app, None, &victim.query, cookie)
            .await
            .invalid_field("state");
        assert!(
            refused["detail"]
                .as_str()
                .is_some_and(|d| d.contains("browser")),
            "{refused}"
        );
        // The state is spent: the right cookie cannot finish it afterwards either.
        callback(app, None, &victim.query, Some(&victim.cookie))
            .await
            .invalid_field("state");
    }
    assert!(
        ids_in(&app.read("/api/v1/integrations", &owner).await).is_empty(),
        "nothing was connected"
    );
    assert!(
        app.read("/api/v1/events?type=integration.connected", &owner)
            .await["data"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    let browser = start_and_consent(app, &jwt, org).await;
    let connected = callback(app, None, &browser.query, Some(&browser.cookie))
        .await
        .expect(200);
    assert_eq!(
        connected["account"], ACCOUNT,
        "the callback shows the address"
    );
    let listed = app.read("/api/v1/integrations", &owner).await;
    assert_eq!(listed["data"][0]["id"], connected["id"]);
    assert_eq!(
        listed["data"][0]["account"], ACCOUNT,
        "and so does the listing"
    );
}
gmail_test!(callback_needs_the_starting_browser);

/// `POST /api/v1/email/send`, asserting a `201` whose `Location` names the stored email.
async fn send_email(app: &GmailApp, key: &str, body: Value) -> Value {
    let resp = app.post("/api/v1/email/send", key, &body).await;
    let email = resp.expect(201);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/v1/emails/{}", id_of(&email)).as_str())
    );
    email
}

async fn connect_flow_send_sync_disconnect(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let integration = connect(app, &owner, org).await;
    assert_eq!(integration["provider"], "gmail");
    assert_eq!(integration["account"], ACCOUNT);
    assert_eq!(integration["status"], "active");
    assert_eq!(
        integration["email_counts"],
        json!({"inbound": 0, "outbound": 0})
    );
    let id = id_of(&integration);

    let listed = app.read("/api/v1/integrations", &owner).await;
    assert_eq!(ids_in(&listed), std::slice::from_ref(&id));
    assert_eq!(listed["data"][0]["status"], "active");
    assert!(listed["data"][0]["last_error"].is_null());

    // Send from the org's (only) account.
    let sent = send_email(app, &owner, json!({"to": ["ada@example.com"], "cc": ["bob@example.com"], "subject": "Hello", "text": "Hi Ada"}),
        )
        .await;
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["integration_id"], id.as_str());
    assert_eq!(sent["subject"], "Hello");
    let delivered = app.google.sent();
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0]
            .envelope_to
            .iter()
            .any(|a| a == "ada@example.com")
    );
    assert_eq!(sent["provider_id"], delivered[0].id.as_str());

    let emails = app.read("/api/v1/emails", &owner).await;
    assert_eq!(ids_in(&emails), [id_of(&sent)]);
    let one = app
        .read(&format!("/api/v1/emails/{}", id_of(&sent)), &owner)
        .await;
    assert_eq!(one["id"], sent["id"]);
    let inbound = app.read("/api/v1/emails?direction=inbound", &owner).await;
    assert!(ids_in(&inbound).is_empty());

    // A reply in the same thread.
    let reply = send_email(
        app,
        &owner,
        json!({"to": ["ada@example.com"], "subject": "Re: Hello", "html": "<p>More</p>",
                   "reply_to_email_id": sent["id"]}),
    )
    .await;
    assert_eq!(reply["thread_id"], sent["thread_id"]);
    let thread = app
        .read(
            &format!(
                "/api/v1/emails?thread_id={}",
                sent["thread_id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    assert_eq!(ids_in(&thread).len(), 2);

    // Bad input.
    app.post(
        "/api/v1/email/send",
        &owner,
        &json!({"to": [], "subject": "x", "text": "y"}),
    )
    .await
    .invalid_field("to");
    app.post(
        "/api/v1/email/send",
        &owner,
        &json!({"to": ["nope"], "subject": "x", "text": "y"}),
    )
    .await
    .invalid_field("to[0]");

    // A forced sync stores the mailbox.
    app.google.add_sample_messages();
    let sync_path = format!("/api/v1/integrations/gmail/{id}/sync");
    let synced = app.post(&sync_path, &owner, &json!({})).await.expect(202);
    assert_eq!(synced["status"], "active", "{synced}");
    assert!(
        synced["report"]["recorded"].as_u64().unwrap() > 0,
        "{synced}"
    );
    assert!(synced["last_synced_at"].is_string());
    let status = app.read(&sync_path, &owner).await;
    assert!(
        status["email_counts"]["inbound"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert!(status.get("report").is_none());
    let inbound = app.read("/api/v1/emails?direction=inbound", &owner).await;
    assert!(!ids_in(&inbound).is_empty());

    // Disconnect: revoked at Google, kept as disconnected, emails kept, nothing to send from.
    let gone = app
        .delete(&format!("/api/v1/integrations/{id}"), &owner)
        .await
        .expect(200);
    assert_eq!(gone["status"], "disconnected");
    assert_eq!(gone["revoked"], true);
    let listed = app.read("/api/v1/integrations", &owner).await;
    assert_eq!(listed["data"][0]["status"], "disconnected");
    assert!(
        listed["data"][0]["email_counts"]["inbound"]
            .as_u64()
            .unwrap()
            > 0
    );
    app.post(
        "/api/v1/email/send",
        &owner,
        &json!({"to": ["ada@example.com"], "subject": "x", "text": "y"}),
    )
    .await
    .invalid_field("integration_id");
}
gmail_test!(connect_flow_send_sync_disconnect);

async fn scheduler_syncs_due_integrations(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let integration = connect(app, &owner, org).await;
    app.google.add_message(sample_messages(ACCOUNT).remove(0));
    let interval = Duration::from_secs(60);
    assert_eq!(sync_due(&app.state, interval).await, 1);
    // Synced just now: not due again.
    assert_eq!(sync_due(&app.state, interval).await, 0);
    let status = app
        .read(
            &format!("/api/v1/integrations/gmail/{}/sync", id_of(&integration)),
            &owner,
        )
        .await;
    assert_eq!(status["email_counts"]["inbound"], 1, "{status}");
    // Gmail's labels are part of the stored email, and follow label changes.
    let emails = app.get("/api/v1/emails", &owner).await.expect(200);
    assert_eq!(emails["data"][0]["labels"], json!(["INBOX"]), "{emails}");
    let message = app.google.message_ids().remove(0);
    assert!(app.google.modify_labels(&message, &["STARRED"], &[]));
    assert_eq!(sync_due(&app.state, Duration::ZERO).await, 1);
    let emails = app.get("/api/v1/emails", &owner).await.expect(200);
    assert_eq!(emails["data"][0]["labels"], json!(["INBOX", "STARRED"]));
}
gmail_test!(scheduler_syncs_due_integrations);

async fn two_schedulers_sync_each_account_once(app: &GmailApp) {
    // Three orgs connect the mailbox; a needs_reauth one is left alone.
    let mut integrations = Vec::new();
    for name in ["A", "B", "C", "D"] {
        let (org, owner) = app.create_org(name).await;
        integrations.push((org, id_of(&connect(app, &owner, org).await)));
    }
    let (reauth_org, reauth_id) = integrations.pop().unwrap();
    {
        use workos_core::domain::IntegrationStatus;
        use workos_core::repo::IntegrationRepo as _;
        let ctx = workos_core::tenant::TenantContext::system(reauth_org, "test");
        app.store
            .set_integration_status(
                &ctx,
                reauth_id.parse().unwrap(),
                IntegrationStatus::NeedsReauth,
                None,
            )
            .await
            .unwrap();
    }
    app.google.add_message(sample_messages(ACCOUNT).remove(0));
    app.google.reset_counters();
    // Two processes, each with its own scheduler state, on one database: the scheduler
    // finds every org's integrations by itself, and never syncs one twice.
    let other = app.other_process().await;
    let (one, two) = (&app.state, &other.state);
    let interval = Duration::from_secs(60);
    let (a, b) = tokio::join!(sync_due(one, interval), sync_due(two, interval));
    assert_eq!(a + b, 3, "each account synced once ({a} + {b})");
    // A full sync of this small mailbox lists it once per account.
    assert_eq!(app.google.calls(Route::MessagesList), 3);
    // Within the interval, neither syncs again.
    let (a, b) = tokio::join!(sync_due(one, interval), sync_due(two, interval));
    assert_eq!((a, b), (0, 0));
    assert_eq!(app.google.calls(Route::MessagesList), 3);
    assert_eq!(app.google.calls(Route::History), 0);
    for (org, id) in &integrations {
        let owner_ctx = workos_core::tenant::TenantContext::system(*org, "test");
        let emails = {
            use workos_core::repo::EmailRepo as _;
            app.store
                .email_counts(&owner_ctx, id.parse().unwrap())
                .await
                .unwrap()
        };
        assert_eq!(emails.0, 1, "org {org} has its email");
    }
    // An interval later (zero here), each is synced once more, incrementally.
    let (a, b) = tokio::join!(sync_due(one, Duration::ZERO), sync_due(two, Duration::ZERO));
    assert_eq!(a + b, 3, "each account synced once more ({a} + {b})");
    assert_eq!(app.google.calls(Route::History), 3);
}
gmail_test!(two_schedulers_sync_each_account_once);

async fn callback_on_another_process(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let user = app.add_member(&owner, "admin").await;
    let jwt = app.jwt(user);
    let other = app.other_process().await;
    // The connect starts on this process...
    let consented = start_and_consent(app, &jwt, org).await;
    // ...and Google's redirect reaches the other one.
    let other_base = format!("http://{}", other.addr);
    let integration = callback(
        app,
        Some(&other_base),
        &consented.query,
        Some(&consented.cookie),
    )
    .await
    .expect(200);
    assert_eq!(integration["account"], ACCOUNT);
    assert_eq!(integration["status"], "active");
    // Single use across processes.
    for base in [None, Some(other_base.as_str())] {
        callback(app, base, &consented.query, Some(&consented.cookie))
            .await
            .invalid_field("state");
    }
    // The integration is the org's, on either process.
    let listed = app.get("/api/v1/integrations", &owner).await.expect(200);
    assert_eq!(listed["data"][0]["id"], integration["id"]);
}
gmail_test!(callback_on_another_process);

async fn roles(app: &GmailApp) {
    let (org, owner) = app.create_org("Acme").await;
    let member = app.add_member(&owner, "member").await;
    let member_jwt = app.jwt(member);
    app.send(app.user_request(
        Method::GET,
        "/api/v1/integrations/gmail/connect",
        &member_jwt,
        org,
    ))
    .await
    .problem(403);
    // An admin API key is no user to bind the consent to.
    let admin_key = app.api_key(org, workos_core::tenant::Role::Admin).await;
    app.get("/api/v1/integrations/gmail/connect", &admin_key)
        .await
        .invalid_field("authorization");

    let integration = connect(app, &owner, org).await;
    let id = id_of(&integration);
    let member_key = app.api_key(org, workos_core::tenant::Role::Member).await;
    let viewer_key = app.api_key(org, workos_core::tenant::Role::Viewer).await;
    app.delete(&format!("/api/v1/integrations/{id}"), &member_key)
        .await
        .problem(403);
    app.post(
        "/api/v1/email/send",
        &viewer_key,
        &json!({"to": ["ada@example.com"], "subject": "x", "text": "y"}),
    )
    .await
    .problem(403);
    app.post(
        &format!("/api/v1/integrations/gmail/{id}/sync"),
        &viewer_key,
        &json!({}),
    )
    .await
    .problem(403);
    // Members send and sync; viewers read.
    send_email(
        app,
        &member_key,
        json!({"to": ["ada@example.com"], "subject": "x", "text": "y"}),
    )
    .await;
    app.post(
        &format!("/api/v1/integrations/gmail/{id}/sync"),
        &member_key,
        &json!({}),
    )
    .await
    .expect(202);
    assert_eq!(
        ids_in(&app.read("/api/v1/emails", &viewer_key).await).len(),
        1
    );
    assert_eq!(
        ids_in(&app.read("/api/v1/integrations", &viewer_key).await),
        [id]
    );
    // The callback needs a state.
    app.get(
        "/api/v1/integrations/gmail/callback?code=x&state=unknown",
        "",
    )
    .await
    .invalid_field("state");
    app.get(
        "/api/v1/integrations/gmail/callback?error=access_denied",
        "",
    )
    .await
    .invalid_field("error");
}
gmail_test!(roles);

async fn tenant_isolation(app: &GmailApp) {
    let (org_a, key_a) = app.create_org("A").await;
    let (_org_b, key_b) = app.create_org("B").await;
    let integration = connect(app, &key_a, org_a).await;
    let id = id_of(&integration);
    let sent = send_email(
        app,
        &key_a,
        json!({"to": ["ada@example.com"], "subject": "x", "text": "y"}),
    )
    .await;
    let email = id_of(&sent);

    app.get(&format!("/api/v1/emails/{email}"), &key_b)
        .await
        .problem(404);
    assert!(ids_in(&app.read("/api/v1/emails", &key_b).await).is_empty());
    assert!(ids_in(&app.read("/api/v1/integrations", &key_b).await).is_empty());
    app.delete(&format!("/api/v1/integrations/{id}"), &key_b)
        .await
        .problem(404);
    app.get(&format!("/api/v1/integrations/gmail/{id}/sync"), &key_b)
        .await
        .problem(404);
    app.post(
        &format!("/api/v1/integrations/gmail/{id}/sync"),
        &key_b,
        &json!({}),
    )
    .await
    .problem(404);
    // B has no account of its own, and cannot send through A's or reply to A's email.
    app.post(
        "/api/v1/email/send",
        &key_b,
        &json!({"to": ["ada@example.com"], "subject": "x", "text": "y"}),
    )
    .await
    .invalid_field("integration_id");
    app.post(
        "/api/v1/email/send",
        &key_b,
        &json!({"to": ["ada@example.com"], "subject": "x", "text": "y", "integration_id": id}),
    )
    .await
    .invalid_field("integration_id");
    app.post("/api/v1/email/send", &key_b, &json!({"to": ["ada@example.com"], "subject": "x", "text": "y", "reply_to_email_id": email}))
        .await
        .invalid_field("reply_to_email_id");
    assert_eq!(app.google.sent().len(), 1);
    // A's account is untouched.
    let listed = app.read("/api/v1/integrations", &key_a).await;
    assert_eq!(listed["data"][0]["status"], "active");
}
gmail_test!(tenant_isolation);

async fn gmail_not_configured(app: &TestApp) {
    let (_, owner) = app.create_org("Acme").await;
    assert!(app.state.gmail.is_none());
    let problem = app
        .send(
            app.request(Method::POST, "/api/v1/email/send", &owner)
                .json(&json!({"to": ["ada@example.com"], "subject": "x", "text": "y"})),
        )
        .await
        .problem(409);
    assert_eq!(
        problem["type"],
        "urn:workos:problem:integration-not-configured"
    );
    assert!(ids_in(&app.read("/api/v1/integrations", &owner).await).is_empty());
    assert!(ids_in(&app.read("/api/v1/emails", &owner).await).is_empty());
}
server_test!(gmail_not_configured);

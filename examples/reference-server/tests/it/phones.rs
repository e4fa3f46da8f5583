//! `/api/v1/phones`: a tenant registers a number only when its own Twilio account owns it (the
//! server asks Twilio's IncomingPhoneNumbers resource, here the fake's), with the capabilities
//! Twilio reports; numbers of the platform's account are assigned by the operator
//! (`workos-server admin assign-phone`, run here as the real binary).

use std::process::Stdio;

use serde_json::{Value, json};
use workos_core::crypto::SecretKey;
use workos_core::tenant::Role;
use workos_tests::fake_twilio::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};

use crate::helpers::{id_of, ids_in, phone_number};
use crate::twilio::{ORG_SID, ORG_TOKEN, TwilioApp, assert_empty_twiml};

/// `server_test!` over a Twilio-enabled server.
macro_rules! phones_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::twilio::spawn(
            backend,
            ::workos_core::domain::UnknownSender::CreatePerson
        ));
    };
}

/// The `IncomingPhoneNumbers` lookups the fake received, as `(account, query)`.
fn number_lookups(t: &TwilioApp) -> Vec<(String, String)> {
    t.twilio
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/IncomingPhoneNumbers.json"))
        .map(|r| {
            (
                r.basic_auth.map(|(user, _)| user).unwrap_or_default(),
                r.query.unwrap_or_default(),
            )
        })
        .collect()
}

async fn phones_crud(t: &TwilioApp) {
    let (org, owner) = t.create_org("Phones").await;
    let admin = t.api_key(org, Role::Admin).await;
    let viewer = t.api_key(org, Role::Viewer).await;
    t.twilio.add_account(ORG_SID, ORG_TOKEN);
    t.put_account(
        &admin,
        &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
    )
    .await
    .expect(200);
    t.twilio
        .add_incoming_number(ORG_SID, "+14155552671", &["voice", "sms", "fax"]);

    // Capabilities are Twilio's to say, not the caller's.
    t.post(
        "/api/v1/phones",
        &admin,
        &json!({ "number": "+14155552671", "provider": "twilio",
                 "capabilities": { "sms": true, "mms": true, "voice": true } }),
    )
    .await
    .invalid_field("capabilities");
    let created = t
        .create(
            "/api/v1/phones",
            &admin,
            json!({ "number": "+1 (415) 555-2671", "provider": "twilio", "label": "Support" }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(
        created["number"],
        json!("+14155552671"),
        "numbers are normalised to E.164"
    );
    assert_eq!(created["provider"], json!("twilio"));
    assert_eq!(created["label"], json!("Support"));
    assert_eq!(
        created["capabilities"],
        json!({ "sms": true, "mms": false, "voice": true }),
        "the capabilities Twilio reported"
    );
    assert_eq!(
        number_lookups(t),
        [(ORG_SID.to_owned(), "PhoneNumber=%2B14155552671".to_owned())],
        "the org's own account was asked for exactly that number"
    );

    let path = format!("/api/v1/phones/{id}");
    assert_eq!(
        t.read(&path, &viewer).await,
        created,
        "anyone in the org reads numbers"
    );
    assert!(ids_in(&t.read("/api/v1/phones", &viewer).await).contains(&id));
    t.post(
        "/api/v1/phones",
        &owner,
        &json!({ "number": "+14155552671" }),
    )
    .await
    .problem(409);

    let patched = t
        .patch(&path, &admin, &json!({ "label": null }))
        .await
        .expect(200);
    assert_eq!(patched["label"], json!(null), "null clears the label");
    assert_eq!(patched["number"], json!("+14155552671"));
    t.patch(&path, &admin, &json!({ "number": "+14155552672" }))
        .await
        .invalid_field("number");
    assert_eq!(t.read(&path, &admin).await, patched);

    t.delete(&path, &admin).await.expect(204);
    t.get(&path, &admin).await.problem(404);
    t.delete(&path, &admin).await.problem(404);
    assert!(ids_in(&t.read("/api/v1/phones", &admin).await).is_empty());
    // A removed number can be registered again; `provider` defaults to Twilio.
    let again = t
        .create(
            "/api/v1/phones",
            &admin,
            json!({ "number": "+14155552671" }),
        )
        .await;
    assert_eq!(again["provider"], json!("twilio"));
}
phones_test!(phones_crud);

async fn phones_bad_input(t: &TwilioApp) {
    let (org, owner) = t.create_org("Phone rules").await;
    let member = t.api_key(org, Role::Member).await;
    t.post(
        "/api/v1/phones",
        &member,
        &json!({ "number": phone_number(), "provider": "twilio" }),
    )
    .await
    .problem(403);
    for (body, field) in [
        (
            json!({ "number": "4155552671", "provider": "twilio" }),
            "number",
        ),
        (json!({ "number": 14155552671_u64 }), "number"),
        (
            json!({ "number": phone_number(), "provider": "nexmo" }),
            "provider",
        ),
        (json!({ "provider": "twilio" }), "number"),
        (
            json!({ "number": phone_number(), "capabilities": {} }),
            "capabilities",
        ),
        (
            json!({ "number": phone_number(), "label": "x".repeat(201) }),
            "label",
        ),
    ] {
        t.post("/api/v1/phones", &owner, &body)
            .await
            .invalid_field(field);
    }
    assert!(ids_in(&t.read("/api/v1/phones", &owner).await).is_empty());
    assert!(
        number_lookups(t).is_empty(),
        "bad input never reaches Twilio"
    );
}
phones_test!(phones_bad_input);

/// A tenant cannot map a number its own Twilio account does not own: not another org's, not
/// the platform's, not one nobody has; and the refusal is the same whichever it is, so it does
/// not tell whether another org uses the number. The real owner keeps its inbound traffic.
async fn number_squatting_is_refused(t: &TwilioApp) {
    let victim = t.org("Victim").await;
    let (_, squatter) = t.create_org("Squatter").await;
    let free = phone_number();
    t.twilio
        .add_incoming_number(TEST_ACCOUNT_SID, &free, &["sms", "voice"]);
    let nobodys = phone_number();
    // The operator's assignment of the victim's number asked the platform's account.
    let operator_lookups = number_lookups(t).len();

    let refusal = |p: &Value| (p["detail"].clone(), p["errors"].clone());
    let mut refusals = Vec::new();
    for number in [&victim.number, &free, &nobodys] {
        let p = t
            .post(
                "/api/v1/phones",
                &squatter,
                &json!({ "number": number, "provider": "twilio" }),
            )
            .await
            .invalid_field("number");
        refusals.push(refusal(&p));
    }
    assert!(
        refusals.iter().all(|r| *r == refusals[0]),
        "one answer whoever holds the number: {refusals:?}"
    );
    assert_eq!(
        number_lookups(t).len(),
        operator_lookups,
        "without an account of its own, the org's numbers are not looked up"
    );

    // With an account of its own, only that account's numbers are the org's; Twilio's partial
    // match of `PhoneNumber` is not ownership.
    t.twilio.add_account(ORG_SID, ORG_TOKEN);
    t.put_account(
        &squatter,
        &json!({ "account_sid": ORG_SID, "auth_token": ORG_TOKEN }),
    )
    .await
    .expect(200);
    t.twilio.add_incoming_number(
        ORG_SID,
        &format!("{}9", victim.number),
        &["sms", "mms", "voice"],
    );
    for number in [&victim.number, &free, &nobodys] {
        let p = t
            .post(
                "/api/v1/phones",
                &squatter,
                &json!({ "number": number, "provider": "twilio" }),
            )
            .await
            .invalid_field("number");
        assert_eq!(refusal(&p), refusals[0], "the same answer for {number}");
    }
    let lookups = number_lookups(t).split_off(operator_lookups);
    assert_eq!(lookups.len(), 3);
    assert!(
        lookups.iter().all(|(account, _)| account == ORG_SID),
        "only the org's own account is asked: {lookups:?}"
    );
    assert!(ids_in(&t.read("/api/v1/phones", &squatter).await).is_empty());
    assert_eq!(
        ids_in(&t.read("/api/v1/phones", &victim.key).await),
        std::slice::from_ref(&victim.phone_id)
    );

    // The victim's number still routes to the victim.
    let sms = t
        .twilio
        .inbound_sms_params(&phone_number(), &victim.number, "still mine");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &sms).await);
    assert_eq!(t.list("/api/v1/sms", &victim.key).await.len(), 1);
    assert!(t.list("/api/v1/sms", &squatter).await.is_empty());

    // Once its own account does own a number another org maps (ported in, say), the org
    // learns of the conflict: it has proved the number is its own.
    t.twilio
        .add_incoming_number(ORG_SID, &victim.number, &["sms"]);
    t.post(
        "/api/v1/phones",
        &squatter,
        &json!({ "number": victim.number }),
    )
    .await
    .problem(409);
    assert!(ids_in(&t.read("/api/v1/phones", &squatter).await).is_empty());
}
phones_test!(number_squatting_is_refused);

/// Runs `workos-server <args>` on the test database, with Twilio pointed at the fake.
async fn workos_server(t: &TwilioApp, args: &[&str]) -> std::process::Output {
    let mut command = crate::helpers::workos_server_command();
    command
        .args(args)
        .env("DATABASE_URL", t.database_url())
        .env("WORKOS_MIGRATE", "off")
        .env("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64())
        .env("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64())
        .env("WORKOS_LOG", "warn")
        .env("TWILIO_ACCOUNT_SID", TEST_ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", TEST_AUTH_TOKEN)
        .env("TWILIO_API_BASE_URL", t.twilio.base_url())
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("run workos-server")
}

/// The operator gives an org a number of the platform's account with `workos-server admin
/// assign-phone`; inbound SMS to it then land in that org.
async fn admin_assign_phone_cli(t: &TwilioApp) {
    let (org, owner) = t.create_org("Assigned").await;
    let number = phone_number();
    t.twilio
        .add_incoming_number(TEST_ACCOUNT_SID, &number, &["sms", "mms"]);
    let org_arg = org.to_string();
    let out = workos_server(
        t,
        &[
            "admin",
            "assign-phone",
            "--org",
            &org_arg,
            "--number",
            &number,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "assign-phone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value =
        serde_json::from_slice(&out.stdout).expect("assign-phone prints the phone as JSON");
    assert_eq!(printed["org_id"], json!(org_arg));
    assert_eq!(printed["number"], json!(number));
    assert_eq!(
        printed["capabilities"],
        json!({ "sms": true, "mms": true, "voice": false }),
        "the capabilities the platform's account reports"
    );
    assert_eq!(
        ids_in(&t.read("/api/v1/phones", &owner).await),
        [id_of(&printed)]
    );

    let sms = t
        .twilio
        .inbound_sms_params(&phone_number(), &number, "hello assigned");
    assert_empty_twiml(&t.webhook(&t.hook("sms"), &sms).await);
    let received = t.list("/api/v1/sms", &owner).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"], json!("hello assigned"));
    assert_eq!(received[0]["phone_id"], printed["id"]);

    // A number the platform's account does not own, and an org that does not exist, fail.
    let stranger = phone_number();
    let out = workos_server(
        t,
        &[
            "admin",
            "assign-phone",
            "--org",
            &org_arg,
            "--number",
            &stranger,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("owns this number"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nobody = workos_core::ids::OrgId::new().to_string();
    let out = workos_server(
        t,
        &[
            "admin",
            "assign-phone",
            "--org",
            &nobody,
            "--number",
            &number,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(
        t.read("/api/v1/phones", &owner).await["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
phones_test!(admin_assign_phone_cli);

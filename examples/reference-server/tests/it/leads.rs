//! Lead generation over REST: capture and routing, partners, partner callbacks, the summary,
//! routing settings, lead forms and the public intake (signature, honeypot, required fields,
//! size and rate limits), roles and tenant isolation.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::domain::{LeadDeliveryStatus, form_signature};
use workos_core::ids::{LeadDeliveryId, OrgId};
use workos_core::repo::LeadDeliveryRepo;
use workos_core::tenant::{Role, TenantContext};

use crate::helpers::{Resp, TestApp, assert_field_error, email, id_of, ids_in};

fn partner_body(name: &str) -> Value {
    json!({
        "name": name,
        "delivery": { "kind": "webhook", "url": "https://93.184.215.14/leads" },
        "verticals": ["solar"],
        "regions": ["CA", "941"],
        "priority": 10,
        "weight": 2,
        "price_minor": 2500,
        "daily_cap": 50,
        "monthly_cap": 500,
        "timezone": "America/New_York",
        "exclusive": true,
        "active": true,
    })
}

fn lead_body(address: &str) -> Value {
    json!({
        "first_name": "Ann",
        "email": address,
        "postal_code": "94107",
        "region": "CA",
        "vertical": "solar",
        "utm_source": "google",
        "utm_campaign": "spring",
    })
}

/// A unique client address for the public form's per-IP limit (documentation range).
fn client_ip() -> String {
    // A /64 of its own: the form's limit counts an IPv6 client by its /64.
    let u = Uuid::now_v7().as_u128();
    format!("2001:db8:{:x}:{:x}::1", (u >> 16) & 0xffff, u & 0xffff)
}

/// Marks a delivery sent, as the (not yet built) sender would.
async fn mark_delivered(app: &TestApp, org: OrgId, delivery: &Value) {
    let id: LeadDeliveryId = delivery["id"].as_str().unwrap().parse().unwrap();
    app.store
        .update_delivery(
            &TenantContext::system(org, "test"),
            id,
            LeadDeliveryStatus::Delivered,
            None,
            None,
        )
        .await
        .expect("mark delivered");
}

async fn leads_are_captured_routed_and_listed(app: &TestApp) {
    let (org, owner) = app.create_org("Leads").await;
    let member = app.api_key(org, Role::Member).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let partner = app
        .create("/api/v1/partners", &owner, partner_body("Buyer"))
        .await;

    let address = email();
    let lead = app
        .create("/api/v1/leads", &member, lead_body(&address))
        .await;
    assert_eq!(lead["status"], json!("routed"), "{lead}");
    assert_eq!(lead["duplicate_of"], Value::Null);
    assert_eq!(lead["org_id"], json!(org.to_string()));
    assert_eq!(lead["email"], json!(address));
    assert_eq!(lead["utm_source"], json!("google"));
    assert!(lead["person_id"].is_string());
    let id = id_of(&lead);
    assert_eq!(
        app.read(&format!("/api/v1/leads/{id}"), &viewer).await,
        lead
    );

    let deliveries = app
        .read(&format!("/api/v1/leads/{id}/deliveries"), &viewer)
        .await;
    let d = &deliveries["data"][0];
    assert_eq!(d["partner_id"], partner["id"]);
    assert_eq!(d["lead_id"], json!(id));
    assert_eq!(d["status"], json!("pending"));
    assert_eq!(d["price_minor"], json!(2500));
    assert_eq!(d["currency"], json!("USD"));
    assert_eq!(d["rule"], json!("priority:exclusive"));
    let by_partner = app
        .read(
            &format!(
                "/api/v1/partners/{}/deliveries?status=pending",
                id_of(&partner)
            ),
            &viewer,
        )
        .await;
    assert_eq!(ids_in(&by_partner), [id_of(d)]);
    assert_eq!(
        app.read(&format!("/api/v1/lead-deliveries/{}", id_of(d)), &viewer)
            .await["id"],
        d["id"]
    );

    // A duplicate is stored, answered with what it repeats, and never routed.
    let dup = app
        .create("/api/v1/leads", &member, lead_body(&address))
        .await;
    assert_eq!(dup["status"], json!("duplicate"));
    assert_eq!(dup["duplicate_of"], json!(id));
    let dup_deliveries = app
        .read(
            &format!("/api/v1/leads/{}/deliveries", id_of(&dup)),
            &viewer,
        )
        .await;
    assert_eq!(dup_deliveries["data"], json!([]));

    // No buyer for this vertical: unrouted.
    let mut other = lead_body(&email());
    other["vertical"] = json!("roofing");
    let unrouted = app.create("/api/v1/leads", &member, other).await;
    assert_eq!(unrouted["status"], json!("unrouted"));

    // Filters.
    let routed = app.read("/api/v1/leads?status=routed", &viewer).await;
    assert_eq!(ids_in(&routed), std::slice::from_ref(&id));
    let to_partner = app
        .read(
            &format!("/api/v1/leads?partner_id={}", id_of(&partner)),
            &viewer,
        )
        .await;
    assert_eq!(ids_in(&to_partner), std::slice::from_ref(&id));
    let google = app
        .read(
            "/api/v1/leads?utm_source=google&utm_campaign=spring",
            &viewer,
        )
        .await;
    assert_eq!(ids_in(&google).len(), 3);
    let none = app.read("/api/v1/leads?utm_source=meta", &viewer).await;
    assert_eq!(ids_in(&none).len(), 0);
    let later = app
        .read("/api/v1/leads?created_after=2999-01-01T00:00:00Z", &viewer)
        .await;
    assert_eq!(ids_in(&later).len(), 0);
    app.get("/api/v1/leads?status=bogus", &viewer)
        .await
        .invalid_field("status");
    app.get("/api/v1/leads?partner_id=nope", &viewer)
        .await
        .problem(422);

    // Roles: a viewer cannot capture; bad input names its field.
    app.post("/api/v1/leads", &viewer, &lead_body(&email()))
        .await
        .problem(403);
    app.post(
        "/api/v1/leads",
        &member,
        &json!({ "first_name": "No contact" }),
    )
    .await
    .invalid_field("email");
    app.post(
        "/api/v1/leads",
        &member,
        &json!({ "email": email(), "emial": "x" }),
    )
    .await
    .invalid_field("emial");
    // NUL anywhere in `answers` (Postgres cannot store it) is refused alike on every backend.
    for answers in [json!({ "a\u{0}": 1 }), json!({ "q": ["ok", "x\u{0}"] })] {
        app.post(
            "/api/v1/leads",
            &member,
            &json!({ "email": email(), "answers": answers }),
        )
        .await
        .invalid_field("answers");
    }
    app.get(&format!("/api/v1/leads/{}", Uuid::now_v7()), &viewer)
        .await
        .problem(404);
}
server_test!(leads_are_captured_routed_and_listed);

async fn partners_crud_and_roles(app: &TestApp) {
    let (org, owner) = app.create_org("Partners").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    app.post("/api/v1/partners", &member, &partner_body("Nope"))
        .await
        .problem(403);
    let mut p = app
        .create("/api/v1/partners", &admin, partner_body("Buyer"))
        .await;
    // A webhook partner's signing secret is answered once, at creation (see lead_delivery.rs).
    let secret = p.as_object_mut().and_then(|p| p.remove("signing_secret"));
    assert!(
        secret
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("whsec_")),
        "{secret:?}"
    );
    for (field, value) in [
        ("name", json!("Buyer")),
        (
            "delivery",
            json!({ "kind": "webhook", "url": "https://93.184.215.14/leads" }),
        ),
        ("verticals", json!(["solar"])),
        ("regions", json!(["CA", "941"])),
        ("priority", json!(10)),
        ("weight", json!(2)),
        ("price_minor", json!(2500)),
        ("daily_cap", json!(50)),
        ("monthly_cap", json!(500)),
        ("timezone", json!("America/New_York")),
        ("exclusive", json!(true)),
        ("active", json!(true)),
    ] {
        assert_eq!(p[field], value, "{field}: {p}");
    }
    let path = format!("/api/v1/partners/{}", id_of(&p));
    // A member reads the partner with its (capability) URL reduced to scheme and host.
    let mut as_member = p.clone();
    as_member["delivery"]["url"] = json!("https://93.184.215.14/[redacted]");
    assert_eq!(app.read(&path, &member).await, as_member);
    let email_partner = app
        .create(
            "/api/v1/partners",
            &owner,
            json!({ "name": "Mailbox", "delivery": { "kind": "email", "address": "Leads@Buyer.example" } }),
        )
        .await;
    assert_eq!(
        email_partner["delivery"],
        json!({ "kind": "email", "address": "leads@buyer.example" })
    );
    assert_eq!(email_partner["exclusive"], json!(true), "defaults");

    let patched = app
        .patch(
            &path,
            &admin,
            &json!({ "active": false, "daily_cap": null, "weight": 5 }),
        )
        .await
        .expect(200);
    assert_eq!(patched["active"], json!(false));
    assert_eq!(patched["daily_cap"], Value::Null);
    assert_eq!(patched["weight"], json!(5));
    app.patch(&path, &member, &json!({ "active": true }))
        .await
        .problem(403);
    let paused = app.read("/api/v1/partners?active=false", &member).await;
    assert_eq!(ids_in(&paused), [id_of(&p)]);
    assert_eq!(
        ids_in(&app.read("/api/v1/partners", &member).await).len(),
        2
    );

    let mut bad = partner_body("Bad");
    bad["timezone"] = json!("Nowhere/Town");
    bad["weight"] = json!(0);
    let problem = app
        .post("/api/v1/partners", &admin, &bad)
        .await
        .invalid_field("timezone");
    assert_field_error(&problem, "weight");
    let mut bad_delivery = partner_body("Bad");
    bad_delivery["delivery"] = json!({ "kind": "fax", "number": "1" });
    app.post("/api/v1/partners", &admin, &bad_delivery)
        .await
        .problem(422);

    app.delete(&path, &member).await.problem(403);
    app.delete(&path, &admin).await.expect(204);
    app.get(&path, &admin).await.problem(404);
    app.get(&format!("{path}/deliveries"), &admin)
        .await
        .problem(404);
}
server_test!(partners_crud_and_roles);

async fn partner_callbacks_and_summary(app: &TestApp) {
    let (org, owner) = app.create_org("Callbacks").await;
    let member = app.api_key(org, Role::Member).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let partner = app
        .create("/api/v1/partners", &owner, partner_body("Buyer"))
        .await;
    let first = app
        .create("/api/v1/leads", &member, lead_body(&email()))
        .await;
    let second = app
        .create("/api/v1/leads", &member, lead_body(&email()))
        .await;
    let member_key = member.as_str();
    let delivery_of = |lead: &Value| {
        let path = format!("/api/v1/leads/{}/deliveries", id_of(lead));
        async move { app.read(&path, member_key).await["data"][0].clone() }
    };
    let d1 = delivery_of(&first).await;
    let d2 = delivery_of(&second).await;
    let accept = format!("/api/v1/lead-deliveries/{}/accept", id_of(&d1));
    // Not sent yet: a partner cannot have accepted it.
    app.post(&accept, &member, &json!({})).await.problem(409);
    mark_delivered(app, org, &d1).await;
    mark_delivered(app, org, &d2).await;
    app.post(&accept, &viewer, &json!({})).await.problem(403);
    // The body is optional.
    let accepted = app
        .send(app.request(Method::POST, &accept, &member))
        .await
        .expect(200);
    assert_eq!(accepted["status"], json!("accepted"));
    assert_eq!(accepted["response"]["callback"], json!("accepted"));
    let lead = app
        .read(&format!("/api/v1/leads/{}", id_of(&first)), &member)
        .await;
    assert_eq!(lead["status"], json!("accepted"));
    app.post(&accept, &member, &json!({})).await.problem(409);

    let ret = format!("/api/v1/lead-deliveries/{}/return", id_of(&d2));
    app.post(&ret, &member, &json!({ "note": "no reason" }))
        .await
        .invalid_field("reason");
    app.post(&ret, &member, &json!({ "reason": "bogus" }))
        .await
        .invalid_field("reason");
    let returned = app
        .post(
            &ret,
            &member,
            &json!({ "reason": "bad_contact_info", "note": "bounced" }),
        )
        .await
        .expect(200);
    assert_eq!(returned["status"], json!("returned"));
    assert_eq!(returned["return_reason"], json!("bad_contact_info"));
    assert_eq!(returned["response"]["note"], json!("bounced"));
    let lead = app
        .read(&format!("/api/v1/leads/{}", id_of(&second)), &member)
        .await;
    assert_eq!(lead["status"], json!("returned"));

    let third = app
        .create("/api/v1/leads", &member, lead_body(&email()))
        .await;
    let d3 = delivery_of(&third).await;
    mark_delivered(app, org, &d3).await;
    let rejected = app
        .post(
            &format!("/api/v1/lead-deliveries/{}/reject", id_of(&d3)),
            &member,
            &json!({ "note": "not now" }),
        )
        .await
        .expect(200);
    assert_eq!(rejected["status"], json!("rejected"));
    app.post(
        &format!("/api/v1/lead-deliveries/{}/accept", Uuid::now_v7()),
        &member,
        &json!({}),
    )
    .await
    .problem(404);

    let summary = app
        .read(
            "/api/v1/leads/summary?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
            &viewer,
        )
        .await;
    assert_eq!(summary["leads"], json!(3));
    assert_eq!(summary["deliveries"], json!(3));
    let p = &summary["partners"][0];
    assert_eq!(p["partner_id"], partner["id"]);
    assert_eq!(p["name"], json!("Buyer"));
    assert_eq!(
        (
            p["deliveries"].clone(),
            p["accepted"].clone(),
            p["returned"].clone(),
            p["rejected"].clone()
        ),
        (json!(3), json!(1), json!(1), json!(1))
    );
    let rate = p["acceptance_rate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{p}");
    assert!((p["return_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let source = &summary["sources"][0];
    assert_eq!(source["utm_source"], json!("google"));
    assert_eq!(source["utm_campaign"], json!("spring"));
    assert_eq!(source["leads"], json!(3));
    assert_eq!(source["accepted"], json!(1));
    let empty = app
        .read("/api/v1/leads/summary?from=2999-01-01T00:00:00Z", &viewer)
        .await;
    assert_eq!(empty["leads"], json!(0));
    app.get(
        "/api/v1/leads/summary?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        &viewer,
    )
    .await
    .invalid_field("to");
}
server_test!(partner_callbacks_and_summary);

async fn routing_settings_are_admin_only(app: &TestApp) {
    let (org, owner) = app.create_org("Settings").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    app.get("/api/v1/routing-settings", &member)
        .await
        .problem(403);
    let defaults = app.read("/api/v1/routing-settings", &admin).await;
    assert_eq!(defaults["strategy"], json!("priority"));
    assert_eq!(defaults["when_full"], json!("queue"));
    assert_eq!(defaults["distribution"], json!("exclusive"));
    assert_eq!(defaults["return_window_days"], json!(7));
    assert_eq!(
        defaults["dedupe"],
        json!({ "fields": ["email", "phone"], "window_days": 30, "scope": "same_vertical" })
    );
    let put = |path: &'static str, key: String, body: Value| {
        let rb = app.request(Method::PUT, path, &key).json(&body);
        async move { app.send(rb).await }
    };
    put("/api/v1/routing-settings", member.clone(), json!({}))
        .await
        .problem(403);
    let solar = put(
        "/api/v1/routing-settings?vertical=solar",
        admin.clone(),
        json!({ "strategy": "round_robin", "when_full": "unrouted", "distribution": "shared",
                "max_partners": 2, "dedupe": { "fields": ["email"], "window_days": 7 },
                "return_window_days": 3 }),
    )
    .await
    .expect(200);
    assert_eq!(solar["vertical"], json!("solar"));
    assert_eq!(solar["strategy"], json!("round_robin"));
    assert_eq!(
        app.read("/api/v1/routing-settings?vertical=solar", &owner)
            .await,
        solar
    );
    let org_wide = app
        .read("/api/v1/routing-settings?vertical=roofing", &admin)
        .await;
    assert_eq!(org_wide["strategy"], json!("priority"));
    let bad = put(
        "/api/v1/routing-settings",
        admin.clone(),
        json!({ "max_partners": 0, "strategy": "random" }),
    )
    .await;
    bad.problem(422);
    let bad = put(
        "/api/v1/routing-settings",
        admin.clone(),
        json!({ "max_partners": 0 }),
    )
    .await;
    bad.invalid_field("max_partners");

    // The vertical's policy is the one capture uses: `unrouted` when every partner is full.
    app.create(
        "/api/v1/partners",
        &owner,
        json!({ "name": "Paused", "delivery": { "kind": "email", "address": "p@buyer.example" },
                "verticals": ["solar"], "exclusive": false, "active": false }),
    )
    .await;
    let lead = app
        .create("/api/v1/leads", &member, lead_body(&email()))
        .await;
    assert_eq!(lead["status"], json!("unrouted"));
}
server_test!(routing_settings_are_admin_only);

/// Posts raw bytes to a public form from `ip`.
async fn submit(
    app: &TestApp,
    form: &Value,
    ip: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Resp {
    let path = format!(
        "/api/v1/forms/{}/leads",
        form["public_form_id"].as_str().unwrap()
    );
    let mut rb = app
        .request(Method::POST, &path, "")
        .header("content-type", "application/json")
        .header("x-forwarded-for", ip)
        .body(body);
    if let Some(sig) = signature {
        rb = rb.header("x-form-signature", sig);
    }
    app.send(rb).await
}

async fn lead_count(app: &TestApp, key: &str) -> usize {
    ids_in(&app.read("/api/v1/leads?limit=200", key).await).len()
}

async fn public_forms_take_leads_without_a_key(app: &TestApp) {
    let (org, owner) = app.create_org("Forms").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    app.create("/api/v1/partners", &owner, partner_body("Buyer"))
        .await;
    app.post("/api/v1/lead-forms", &member, &json!({ "name": "Nope" }))
        .await
        .problem(403);
    let secret = "form-secret-0123456789";
    let signed = app
        .create(
            "/api/v1/lead-forms",
            &admin,
            json!({ "name": "Quote", "vertical": "solar", "required_fields": ["first_name", "email"],
                    "secret": secret }),
        )
        .await;
    assert_eq!(signed["has_secret"], json!(true));
    assert_eq!(signed["honeypot_field"], json!("website"));
    assert!(signed.get("secret").is_none(), "the secret is never shown");
    assert!(
        signed["public_form_id"]
            .as_str()
            .unwrap()
            .starts_with("lf_")
    );
    let open = app
        .create("/api/v1/lead-forms", &admin, json!({ "name": "Open" }))
        .await;
    let ip = client_ip();

    // Signatures.
    let body =
        serde_json::to_vec(&json!({ "first_name": "Ann", "email": email(), "region": "CA" }))
            .unwrap();
    submit(app, &signed, &ip, body.clone(), None)
        .await
        .problem(403);
    submit(app, &signed, &ip, body.clone(), Some("sha256=00".into()))
        .await
        .problem(403);
    submit(
        app,
        &signed,
        &ip,
        body.clone(),
        Some(form_signature(b"wrong-secret-000000", &body)),
    )
    .await
    .problem(403);
    assert_eq!(
        lead_count(app, &member).await,
        0,
        "refused submissions store nothing"
    );
    let ok = submit(
        app,
        &signed,
        &ip,
        body.clone(),
        Some(form_signature(secret.as_bytes(), &body)),
    )
    .await
    .expect(202);
    assert_eq!(ok, json!({ "status": "accepted" }));
    let leads = app.read("/api/v1/leads", &member).await;
    let lead = &leads["data"][0];
    assert_eq!(lead["vertical"], json!("solar"), "the form's vertical");
    assert_eq!(lead["status"], json!("routed"));

    // Honeypot: answered as accepted, nothing stored.
    let bot = serde_json::to_vec(
        &json!({ "first_name": "Bot", "email": email(), "website": "http://spam" }),
    )
    .unwrap();
    let sig = form_signature(secret.as_bytes(), &bot);
    assert_eq!(
        submit(app, &signed, &ip, bot, Some(sig)).await.expect(202),
        ok
    );
    assert_eq!(lead_count(app, &member).await, 1);

    // Missing required fields are named.
    let partial = serde_json::to_vec(&json!({ "last_name": "Lee", "email": " " })).unwrap();
    let sig = form_signature(secret.as_bytes(), &partial);
    let p = submit(app, &signed, &ip, partial, Some(sig))
        .await
        .problem(422);
    assert_field_error(&p, "first_name");
    assert_field_error(&p, "email");
    // Without required fields, the lead's own rules still apply (an email or a phone).
    let p = submit(app, &open, &ip, br#"{"first_name":"Ann"}"#.to_vec(), None)
        .await
        .problem(422);
    assert_field_error(&p, "email");
    // Unknown fields are refused; answers go under `answers`.
    submit(
        app,
        &open,
        &ip,
        br#"{"email":"a@b.example","shoe":1}"#.to_vec(),
        None,
    )
    .await
    .invalid_field("shoe");
    let with_answers =
        serde_json::to_vec(&json!({ "email": email(), "answers": { "roof_age": 12 },
        "consent": { "text": "I agree", "given_at": "2026-01-01T00:00:00Z" } }))
        .unwrap();
    submit(app, &open, &ip, with_answers, None)
        .await
        .expect(202);
    let consented = app.read("/api/v1/leads?status=unrouted", &member).await;
    let stored = &consented["data"][0];
    assert_eq!(stored["answers"], json!({ "roof_age": 12 }));
    assert_eq!(
        stored["consent"]["ip"],
        json!(ip),
        "the submitter's address is recorded"
    );

    // A URL-encoded HTML form: lead fields by name, the rest as answers.
    let path = format!(
        "/api/v1/forms/{}/leads",
        open["public_form_id"].as_str().unwrap()
    );
    let html = app
        .request(Method::POST, &path, "")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", &ip)
        .body(format!(
            "email={}&first_name=Bo&roof=tile&website=",
            email()
        ));
    app.send(html).await.expect(202);
    let bo = app.read("/api/v1/leads?limit=200", &member).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["first_name"] == json!("Bo"))
        .cloned()
        .expect("the URL-encoded lead");
    assert_eq!(bo["answers"], json!({ "roof": "tile" }));

    // Size, malformed bodies, unknown forms.
    let huge =
        serde_json::to_vec(&json!({ "email": email(), "answers": { "x": "y".repeat(70 * 1024) } }))
            .unwrap();
    submit(app, &open, &ip, huge, None).await.problem(413);
    submit(app, &open, &ip, b"{not json".to_vec(), None)
        .await
        .problem(400);
    let nothing = json!({ "public_form_id": "lf_00000000000000000000000000000000" });
    submit(app, &nothing, &ip, b"{}".to_vec(), None)
        .await
        .problem(404);
    let junk = json!({ "public_form_id": "not-a-form" });
    submit(app, &junk, &ip, b"{}".to_vec(), None)
        .await
        .problem(404);

    // A closed or deleted form stops answering.
    let open_path = format!("/api/v1/lead-forms/{}", id_of(&open));
    let closed = app
        .patch(&open_path, &admin, &json!({ "active": false }))
        .await
        .expect(200);
    assert_eq!(closed["active"], json!(false));
    submit(app, &open, &ip, b"{}".to_vec(), None)
        .await
        .problem(404);
    app.delete(&open_path, &admin).await.expect(204);
    app.get(&open_path, &admin).await.problem(404);

    // Clearing the secret makes the form unsigned.
    let signed_path = format!("/api/v1/lead-forms/{}", id_of(&signed));
    app.patch(&signed_path, &admin, &json!({ "secret": "short" }))
        .await
        .invalid_field("secret");
    let cleared = app
        .patch(&signed_path, &admin, &json!({ "secret": null }))
        .await
        .expect(200);
    assert_eq!(cleared["has_secret"], json!(false));
    let unsigned = serde_json::to_vec(&json!({ "first_name": "Cy", "email": email() })).unwrap();
    submit(app, &signed, &ip, unsigned, None).await.expect(202);
    let listed = app.read("/api/v1/lead-forms", &member).await;
    assert_eq!(ids_in(&listed), [id_of(&signed)]);
}
server_test!(
    public_forms_take_leads_without_a_key,
    super::behind_a_proxy()
);

async fn public_forms_are_rate_limited_per_ip(app: &TestApp) {
    let (org, _) = app.create_org("Limits").await;
    let admin = app.api_key(org, Role::Admin).await;
    let form = app
        .create("/api/v1/lead-forms", &admin, json!({ "name": "Busy" }))
        .await;
    let (ip, other) = (client_ip(), client_ip());
    let honeypot = br#"{"website":"bot"}"#.to_vec();
    for _ in 0..30 {
        submit(app, &form, &ip, honeypot.clone(), None)
            .await
            .expect(202);
    }
    let limited = submit(app, &form, &ip, honeypot.clone(), None).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    submit(app, &form, &other, honeypot, None).await.expect(202);
}
server_test!(
    public_forms_are_rate_limited_per_ip,
    super::behind_a_proxy()
);

async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(app: &TestApp) {
    let (org, key) = app.create_org("Spoofed").await;
    let admin = app.api_key(org, Role::Admin).await;
    let form = app
        .create("/api/v1/lead-forms", &admin, json!({ "name": "Open" }))
        .await;
    // No trusted proxies: every request is the loopback peer's, whatever it claims.
    let body = serde_json::to_vec(&json!({ "email": email(),
        "consent": { "text": "I agree", "given_at": "2026-01-01T00:00:00Z" } }))
    .unwrap();
    submit(app, &form, "203.0.113.7", body, None)
        .await
        .expect(202);
    let lead = &app.read("/api/v1/leads", &key).await["data"][0];
    assert_eq!(
        lead["consent"]["ip"],
        json!("127.0.0.1"),
        "the peer, not the claim"
    );
    let honeypot = br#"{"website":"bot"}"#.to_vec();
    for _ in 1..30 {
        submit(app, &form, &client_ip(), honeypot.clone(), None)
            .await
            .expect(202);
    }
    let limited = submit(app, &form, &client_ip(), honeypot, None).await;
    limited.problem(429);
}
server_test!(spoofed_forwarded_for_from_an_untrusted_peer_is_ignored);

async fn a_trusted_proxy_names_the_client(app: &TestApp) {
    let (org, _) = app.create_org("Proxied").await;
    let admin = app.api_key(org, Role::Admin).await;
    let form = app
        .create("/api/v1/lead-forms", &admin, json!({ "name": "Busy" }))
        .await;
    let honeypot = br#"{"website":"bot"}"#.to_vec();
    // The client forges entries to the left of what the trusted proxy appended: they change
    // nothing, the right-most untrusted entry is the client.
    let ip = client_ip();
    for _ in 0..30 {
        let chain = format!("{}, {ip}", client_ip());
        submit(app, &form, &chain, honeypot.clone(), None)
            .await
            .expect(202);
    }
    submit(
        app,
        &form,
        &format!("{}, {ip}", client_ip()),
        honeypot.clone(),
        None,
    )
    .await
    .problem(429);
    // Hops through another trusted proxy (10.0.0.0/8) are looked past.
    submit(
        app,
        &form,
        &format!("{ip}, 10.1.2.3"),
        honeypot.clone(),
        None,
    )
    .await
    .problem(429);
    submit(
        app,
        &form,
        &format!("{ip}, {}", client_ip()),
        honeypot,
        None,
    )
    .await
    .expect(202);
}
server_test!(a_trusted_proxy_names_the_client, super::behind_a_proxy());

async fn form_limit_keys_clients_as_the_server_sees_them(app: &TestApp) {
    let (org, key) = app.create_org("Addresses").await;
    let admin = app.api_key(org, Role::Admin).await;
    let form = app
        .create("/api/v1/lead-forms", &admin, json!({ "name": "Open" }))
        .await;
    let honeypot = br#"{"website":"bot"}"#.to_vec();
    // One IPv6 /64 is one client, whichever of its addresses it rotates through.
    for i in 1..=30 {
        submit(
            app,
            &form,
            &format!("2001:db8:77:1::{i:x}"),
            honeypot.clone(),
            None,
        )
        .await
        .expect(202);
    }
    submit(app, &form, "2001:db8:77:1:ffff::9", honeypot.clone(), None)
        .await
        .problem(429);
    submit(app, &form, "2001:db8:77:2::1", honeypot.clone(), None)
        .await
        .expect(202);

    // A hop written with its port is its address; a consent address in the body is ignored:
    // the consent records the address the server determined.
    let body = serde_json::to_vec(&json!({ "email": email(),
        "consent": { "text": "I agree", "given_at": "2026-01-01T00:00:00Z", "ip": "192.0.2.1" } }))
    .unwrap();
    submit(app, &form, "198.51.100.9:4711, 10.0.0.7:80", body, None)
        .await
        .expect(202);
    let lead = &app.read("/api/v1/leads", &key).await["data"][0];
    assert_eq!(lead["consent"]["ip"], json!("198.51.100.9"), "{lead}");
    // The same client through another source port shares its budget.
    for i in 1..30 {
        submit(
            app,
            &form,
            &format!("198.51.100.9:{}", 5000 + i),
            honeypot.clone(),
            None,
        )
        .await
        .expect(202);
    }
    submit(app, &form, "198.51.100.9:6000", honeypot, None)
        .await
        .problem(429);
}
server_test!(
    form_limit_keys_clients_as_the_server_sees_them,
    super::behind_a_proxy()
);

/// A server behind a proxy on loopback (where the tests connect from) and one in 10.0.0.0/8.
fn behind_a_proxy() -> crate::helpers::Settings {
    crate::helpers::Settings {
        trusted_proxies: "127.0.0.1, 10.0.0.0/8",
        ..crate::helpers::Settings::default()
    }
}

async fn partner_schedules_over_the_api(app: &TestApp) {
    let (org, owner) = app.create_org("Hours").await;
    let admin = app.api_key(org, Role::Admin).await;
    let mut body = partner_body("Office hours");
    body["schedule"] = json!({ "mon": [["09:00", "17:00"]], "fri": [["09:00", "24:00"]] });
    let p = app.create("/api/v1/partners", &admin, body).await;
    assert_eq!(
        p["schedule"],
        json!({ "mon": [["09:00", "17:00"]], "fri": [["09:00", "24:00"]] })
    );
    let path = format!("/api/v1/partners/{}", id_of(&p));
    let problem = app
        .patch(
            &path,
            &admin,
            &json!({ "schedule": { "mon": [["17:00", "09:00"]], "tue": [["9am", "5pm"]] } }),
        )
        .await
        .invalid_field("schedule.mon[0]");
    assert_field_error(&problem, "schedule.tue[0]");
    app.patch(&path, &admin, &json!({ "schedule": { "someday": [] } }))
        .await
        .problem(422);
    let always = app
        .patch(&path, &admin, &json!({ "schedule": null }))
        .await
        .expect(200);
    assert_eq!(always["schedule"], Value::Null);
    assert_eq!(app.read(&path, &owner).await["schedule"], Value::Null);
}
server_test!(partner_schedules_over_the_api);

async fn the_queued_lead_job_routes_waiting_leads(app: &TestApp) {
    let (_, owner) = app.create_org("Queue").await;
    let mut body = partner_body("Small");
    body["daily_cap"] = json!(1);
    body["timezone"] = json!("UTC");
    let p = app.create("/api/v1/partners", &owner, body).await;
    let lead = |n: u32| json!({ "email": format!("q{n}-{}", email()), "vertical": "solar", "region": "CA" });
    let first = app.create("/api/v1/leads", &owner, lead(1)).await;
    assert_eq!(first["status"], json!("routed"));
    let second = app.create("/api/v1/leads", &owner, lead(2)).await;
    assert_eq!(second["status"], json!("queued"));
    // Still full: the job leaves it queued.
    assert_eq!(
        workos_leads::routing_job::run_once(&app.store)
            .await
            .unwrap(),
        0
    );
    app.patch(
        &format!("/api/v1/partners/{}", id_of(&p)),
        &owner,
        &json!({ "daily_cap": 5 }),
    )
    .await
    .expect(200);
    assert_eq!(
        workos_leads::routing_job::run_once(&app.store)
            .await
            .unwrap(),
        1
    );
    let path = format!("/api/v1/leads/{}", id_of(&second));
    assert_eq!(app.read(&path, &owner).await["status"], json!("routed"));
    let deliveries = app.read(&format!("{path}/deliveries"), &owner).await;
    assert_eq!(deliveries["data"][0]["partner_id"], p["id"]);
}
server_test!(the_queued_lead_job_routes_waiting_leads);

async fn concurrent_captures_never_exceed_a_partners_cap(app: &TestApp) {
    const CAP: usize = 5;
    const LEADS: usize = 24;
    let (_, owner) = app.create_org("Busy").await;
    let mut body = partner_body("Capped");
    body["daily_cap"] = json!(CAP);
    body["timezone"] = json!("UTC");
    let partner = app.create("/api/v1/partners", &owner, body).await;
    // Every capture races every other for the partner's last slots.
    let leads: Vec<Value> = (0..LEADS)
        .map(|n| json!({ "email": format!("race{n}-{}", email()), "vertical": "solar", "region": "CA" }))
        .collect();
    let captures = leads
        .iter()
        .map(|lead| app.post("/api/v1/leads", &owner, lead));
    let answers = futures_util::future::join_all(captures).await;
    let mut routed = 0;
    for answer in &answers {
        let lead = answer.expect(201);
        match lead["status"].as_str() {
            Some("routed") => routed += 1,
            Some("queued") => {}
            other => panic!("a capture ended {other:?}: {lead}"),
        }
    }
    assert_eq!(routed, CAP, "exactly the cap is routed");
    let leads = app
        .read(
            &format!("/api/v1/partners/{}/deliveries?limit=100", id_of(&partner)),
            &owner,
        )
        .await;
    assert_eq!(leads["data"].as_array().map(Vec::len), Some(CAP), "{leads}");
}
server_test!(concurrent_captures_never_exceed_a_partners_cap);

async fn leads_are_isolated_between_orgs(app: &TestApp) {
    let (org_a, owner_a) = app.create_org("A").await;
    let (_, owner_b) = app.create_org("B").await;
    let partner = app
        .create("/api/v1/partners", &owner_a, partner_body("A's"))
        .await;
    let lead = app
        .create("/api/v1/leads", &owner_a, lead_body(&email()))
        .await;
    let form = app
        .create(
            "/api/v1/lead-forms",
            &owner_a,
            json!({ "name": "A's form" }),
        )
        .await;
    let delivery = app
        .read(
            &format!("/api/v1/leads/{}/deliveries", id_of(&lead)),
            &owner_a,
        )
        .await["data"][0]
        .clone();
    mark_delivered(app, org_a, &delivery).await;
    for path in [
        format!("/api/v1/leads/{}", id_of(&lead)),
        format!("/api/v1/leads/{}/deliveries", id_of(&lead)),
        format!("/api/v1/partners/{}", id_of(&partner)),
        format!("/api/v1/partners/{}/deliveries", id_of(&partner)),
        format!("/api/v1/lead-deliveries/{}", id_of(&delivery)),
        format!("/api/v1/lead-forms/{}", id_of(&form)),
    ] {
        app.get(&path, &owner_b).await.problem(404);
    }
    app.patch(
        &format!("/api/v1/partners/{}", id_of(&partner)),
        &owner_b,
        &json!({ "active": false }),
    )
    .await
    .problem(404);
    app.delete(&format!("/api/v1/partners/{}", id_of(&partner)), &owner_b)
        .await
        .problem(404);
    app.patch(
        &format!("/api/v1/lead-forms/{}", id_of(&form)),
        &owner_b,
        &json!({ "active": false }),
    )
    .await
    .problem(404);
    app.post(
        &format!("/api/v1/lead-deliveries/{}/accept", id_of(&delivery)),
        &owner_b,
        &json!({}),
    )
    .await
    .problem(404);
    // B's own partner never receives A's leads; B's lists and summary are empty.
    app.create("/api/v1/partners", &owner_b, partner_body("B's"))
        .await;
    assert!(ids_in(&app.read("/api/v1/leads", &owner_b).await).is_empty());
    assert_eq!(
        ids_in(&app.read("/api/v1/partners", &owner_b).await).len(),
        1
    );
    assert!(ids_in(&app.read("/api/v1/lead-forms", &owner_b).await).is_empty());
    let summary = app.read("/api/v1/leads/summary", &owner_b).await;
    assert_eq!(
        (summary["leads"].clone(), summary["deliveries"].clone()),
        (json!(0), json!(0))
    );
    // A's things are intact.
    let still = app
        .read(
            &format!("/api/v1/lead-deliveries/{}", id_of(&delivery)),
            &owner_a,
        )
        .await;
    assert_eq!(still["status"], json!("delivered"));
    assert_eq!(
        app.read(&format!("/api/v1/partners/{}", id_of(&partner)), &owner_a)
            .await["active"],
        json!(true)
    );
}
server_test!(leads_are_isolated_between_orgs);

async fn leads_take_status_and_notes_and_are_soft_deleted(app: &TestApp) {
    let (org, owner) = app.create_org("Lead changes").await;
    let member = app.api_key(org, Role::Member).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let lead = app
        .create("/api/v1/leads", &member, lead_body(&email()))
        .await;
    assert_eq!(lead["notes"], Value::Null);
    let path = format!("/api/v1/leads/{}", id_of(&lead));

    let owner = owner.as_str();
    let events = |ty: &'static str| {
        let path = format!("/api/v1/events?type={ty}&subject_id={}", id_of(&lead));
        async move {
            app.read(&path, owner).await["data"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    let routed = events("lead.status_changed").await;
    let noted = app
        .patch(&path, &member, &json!({ "notes": "Prefers mornings" }))
        .await
        .expect(200);
    assert_eq!(noted["notes"], json!("Prefers mornings"));
    assert_eq!(noted["status"], lead["status"]);
    let closed = app
        .patch(&path, &member, &json!({ "status": "rejected" }))
        .await
        .expect(200);
    assert_eq!(closed["status"], json!("rejected"));
    assert_eq!(
        closed["notes"],
        json!("Prefers mornings"),
        "absent fields are kept"
    );
    let cleared = app
        .patch(&path, &member, &json!({ "notes": null }))
        .await
        .expect(200);
    assert_eq!(cleared["notes"], Value::Null);
    assert_eq!(app.read(&path, &viewer).await, cleared);
    assert_eq!(events("lead.updated").await, 2, "notes set, then cleared");
    assert_eq!(events("lead.status_changed").await, routed + 1);

    app.patch(&path, &member, &json!({ "status": "duplicate" }))
        .await
        .invalid_field("status");
    app.patch(&path, &member, &json!({ "notes": "x".repeat(10_001) }))
        .await
        .invalid_field("notes");
    app.patch(&path, &member, &json!({ "email": "a@b.example" }))
        .await
        .problem(422);
    app.patch(&path, &viewer, &json!({ "notes": "mine" }))
        .await
        .problem(403);
    app.delete(&path, &viewer).await.problem(403);
    let (_, stranger) = app.create_org("Stranger").await;
    app.patch(&path, &stranger, &json!({ "notes": "mine" }))
        .await
        .problem(404);
    app.delete(&path, &stranger).await.problem(404);

    app.delete(&path, &member).await.expect(204);
    app.get(&path, &viewer).await.problem(404);
    assert!(!ids_in(&app.read("/api/v1/leads", &viewer).await).contains(&id_of(&lead)));
    assert_eq!(events("lead.deleted").await, 1);
    app.delete(&path, &member).await.problem(404);
    app.patch(&path, &member, &json!({ "notes": "late" }))
        .await
        .problem(404);
}
server_test!(leads_take_status_and_notes_and_are_soft_deleted);

//! The operator's per-org allowance of private subnets: `workos-server admin allow-subnets`,
//! `list-subnets` and `revoke-subnets` (the real binary, on the test server's database) open a
//! loopback receiver to one org of a server that has no deployment-wide allow-list, and only to
//! that org: its endpoints register and receive deliveries; another org's registrations are
//! refused without naming an address; a revocation applies at once to the running server (which
//! reads the allowance each time its guard refuses a destination, and caches nothing).

use serde_json::{Value, json};
use workos_core::ids::OrgId;
use workos_core::tenant::Role;

use crate::helpers::{id_of, workos_server_command};
use crate::webhooks::{HookApp, Sink, webhook_strict_test};

/// Runs `workos-server admin <args>` on `app`'s database: its JSON answer, or the failure's
/// stderr as `Err`.
fn admin(app: &HookApp, args: &[&str]) -> Result<Value, String> {
    let out = workos_server_command()
        .arg("admin")
        .args(args)
        .env("DATABASE_URL", app.database_url())
        .env(
            "WORKOS_ENCRYPTION_KEY",
            workos_core::crypto::SecretKey::generate().to_base64(),
        )
        .env(
            "WORKOS_API_KEY_PEPPER",
            workos_core::crypto::SecretKey::generate().to_base64(),
        )
        .env("WORKOS_LOG", "warn")
        .output()
        .expect("run workos-server");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("JSON ({e}): {stdout}")))
}

fn subnets(app: &HookApp, command: &str, org: OrgId, cidrs: &[&str]) -> Value {
    let org = org.to_string();
    let mut args = vec![command, "--org", &org];
    for c in cidrs {
        args.extend(["--cidr", c]);
    }
    let out = admin(app, &args).unwrap_or_else(|e| panic!("admin {args:?} failed: {e}"));
    assert_eq!(out["org_id"], json!(org), "{out}");
    out["allowed_subnets"].clone()
}

/// Asserts that registering `url` as a webhook endpoint and as a webhook partner of the org of
/// `key` is refused with a 422 on the URL's field whose message names no address, and that
/// nothing was registered.
async fn refused(app: &HookApp, key: &str, url: &str) {
    let bodies = [
        ("/api/v1/webhooks", "url", json!({ "url": url })),
        (
            "/api/v1/partners",
            "delivery.url",
            json!({ "name": "Inside", "delivery": { "kind": "webhook", "url": url } }),
        ),
    ];
    for (path, field, body) in bodies {
        let resp = app.post(path, key, &body).await;
        let p = resp.invalid_field(field);
        let text = p.to_string();
        for address in ["127.0.0.1", "::1", "localhost"] {
            assert!(!text.contains(address), "the refusal names no address: {p}");
        }
        let listed = app.read(path, key).await;
        assert_eq!(listed["data"], json!([]), "nothing registered at {path}");
    }
}

async fn operator_allows_a_subnet_to_one_org(app: &HookApp) {
    let (a, _) = app.create_org("Allowed").await;
    let a_admin = app.api_key(a, Role::Admin).await;
    let (b, _) = app.create_org("Other").await;
    let b_admin = app.api_key(b, Role::Admin).await;
    let sink = Sink::start(204).await;

    // No deployment-wide allow-list: loopback is refused to everyone at first.
    refused(app, &a_admin, &sink.url()).await;
    assert_eq!(subnets(app, "list-subnets", a, &[]), json!([]));

    // Host bits are cleared; allowing twice changes nothing.
    assert_eq!(
        subnets(app, "allow-subnets", a, &["127.0.0.1/32", "10.1.2.3/16"]),
        json!(["10.1.0.0/16", "127.0.0.1/32"])
    );
    assert_eq!(
        subnets(app, "allow-subnets", a, &["127.0.0.1"]),
        json!(["10.1.0.0/16", "127.0.0.1/32"])
    );
    assert_eq!(subnets(app, "list-subnets", b, &[]), json!([]));

    // Org A registers a loopback endpoint (and a partner) and receives deliveries there.
    let (hook, secret) = app
        .endpoint(
            &a_admin,
            json!({ "url": sink.url(), "event_types": ["company.created"] }),
        )
        .await;
    let hook_id = id_of(&hook);
    app.create(
        "/api/v1/partners",
        &a_admin,
        json!({ "name": "Inside", "delivery": { "kind": "webhook", "url": sink.url() } }),
    )
    .await;
    let (_, event) = app.company(&a_admin, "Acme").await;
    app.delivery_settled(&hook_id, &a_admin, &event, "succeeded")
        .await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].verify(&secret), Ok(()));

    // Org B, on the same server, is refused.
    refused(app, &b_admin, &sink.url()).await;
    // The allowance is not tenant data: none of A's events carries it.
    let events = app.get("/api/v1/events?limit=200", &a_admin).await;
    assert!(!events.text.contains("10.1.0.0/16"), "{}", events.text);

    // A subnet that is not allowed cannot be revoked (nothing changes).
    let err = admin(
        app,
        &[
            "revoke-subnets",
            "--org",
            &a.to_string(),
            "--cidr",
            "127.0.0.1/32",
            "--cidr",
            "192.168.0.0/16",
        ],
    )
    .expect_err("192.168.0.0/16 was never allowed");
    assert!(err.contains("192.168.0.0/16"), "names the subnet: {err}");
    assert_eq!(
        subnets(app, "list-subnets", a, &[]),
        json!(["10.1.0.0/16", "127.0.0.1/32"])
    );
    let err = admin(
        app,
        &[
            "allow-subnets",
            "--org",
            &a.to_string(),
            "--cidr",
            "intranet",
        ],
    )
    .expect_err("not a subnet");
    assert!(err.contains("--cidr"), "names the option: {err}");

    // Revoked: the running server refuses at once, at registration and at delivery.
    assert_eq!(
        subnets(app, "revoke-subnets", a, &["127.0.0.1/32"]),
        json!(["10.1.0.0/16"])
    );
    refused_again(app, &a_admin, &sink).await;
    let (_, event) = app.company(&a_admin, "Globex").await;
    let failed = app
        .delivery_settled(&hook_id, &a_admin, &event, "failed")
        .await;
    let attempts = app.attempts(&id_of(&failed), &a_admin).await;
    assert!(!attempts.is_empty(), "{failed}");
    assert!(
        attempts.iter().all(|a| a["error_kind"] == "blocked"),
        "every attempt was blocked: {attempts:?}"
    );
    assert_eq!(
        sink.received().len(),
        1,
        "nothing more reached the receiver"
    );
}
webhook_strict_test!(operator_allows_a_subnet_to_one_org);

/// A registration of org A's loopback receiver is refused again (its endpoint and partner
/// registered earlier stay listed).
async fn refused_again(app: &HookApp, key: &str, sink: &Sink) {
    let resp = app
        .post("/api/v1/webhooks", key, &json!({ "url": sink.url() }))
        .await;
    let p = resp.invalid_field("url");
    assert!(!p.to_string().contains("127.0.0.1"), "{p}");
}

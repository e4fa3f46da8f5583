//! Authentication: API keys and user JWTs.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use workos_core::crypto::SecretKey;
use workos_reference_server::config::Config;

use crate::helpers::{Settings, TestApp, jwt_with};

async fn api_key_authentication(app: &TestApp) {
    let (_, key) = app.create_org("Auth").await;
    app.read("/api/v1/companies", &key).await;

    let missing = app.get("/api/v1/companies", "").await;
    missing.problem(401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer"),
        "a 401 says how to authenticate"
    );
    let wrong_scheme = app
        .send(
            app.request(Method::GET, "/api/v1/companies", "")
                .header("authorization", format!("Basic {key}")),
        )
        .await;
    wrong_scheme.problem(401);
    // Same prefix, wrong secret: the lookup finds the key, the hash check refuses it.
    let (prefix, _) = key.rsplit_once('_').expect("wos_<prefix>_<secret>");
    app.get(
        "/api/v1/companies",
        &format!("{prefix}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await
    .problem(401);
    app.get(
        "/api/v1/companies",
        "wos_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await
    .problem(401);
    app.get("/api/v1/companies", "wos_garbage")
        .await
        .problem(401);
    app.get("/api/v1/companies", &format!("{key}x"))
        .await
        .problem(401);
    // Every API route is behind authentication, writes included.
    app.post("/api/v1/companies", "", &json!({ "name": "Anonymous" }))
        .await
        .problem(401);
    app.delete(&format!("/api/v1/companies/{}", Uuid::now_v7()), "")
        .await
        .problem(401);
    app.get("/api/v1/events", "").await.problem(401);
    assert!(
        app.read("/api/v1/companies", &key).await["data"]
            .as_array()
            .expect("data")
            .is_empty(),
        "nothing was created"
    );
}
server_test!(api_key_authentication);

async fn jwt_of_a_member_authenticates(app: &TestApp) {
    let (org, owner) = app.create_org("JWT").await;
    let user = app.add_member(&owner, "member").await;
    let jwt = app.jwt(user);
    let list = app
        .send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let made = app
        .send(
            app.user_request(Method::POST, "/api/v1/companies", &jwt, org)
                .json(&json!({ "name": "Via JWT" })),
        )
        .await;
    let company = made.expect(201);
    assert_eq!(
        company["org_id"],
        json!(org.to_string()),
        "the user acts in the X-Org-Id org"
    );
    // The write recorded its event like any other.
    let events = app
        .read(
            &format!(
                "/api/v1/events?subject_id={}",
                company["id"].as_str().expect("id")
            ),
            &owner,
        )
        .await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");
}
server_test!(jwt_of_a_member_authenticates);

async fn bad_jwts_are_refused(app: &TestApp) {
    let (org, owner) = app.create_org("JWT rules").await;
    let user = app.add_member(&owner, "admin").await;
    let get = |jwt: String| async move {
        app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
            .await
    };

    let expired = get(jwt_with(&app.jwt_secret, user, -3600)).await;
    expired.problem(401);
    assert_eq!(expired.header("www-authenticate"), Some("Bearer"));
    get(jwt_with("not-the-server-secret", user, 3600))
        .await
        .problem(401);
    get(jwt_with(&app.jwt_secret, Uuid::now_v7(), 3600))
        .await
        .problem(403);
    // Tampered: a valid token with its payload swapped for another user's.
    let mine = app.jwt(user);
    let theirs = app.jwt(Uuid::now_v7());
    let parts: Vec<&str> = mine.split('.').collect();
    let other_payload = theirs.split('.').nth(1).expect("payload");
    get(format!("{}.{other_payload}.{}", parts[0], parts[2]))
        .await
        .problem(401);
    get("not.a.jwt".to_owned()).await.problem(401);
    // The algorithm is pinned to HS256: neither an unsigned token nor another algorithm passes,
    // even with the right secret, and a token must expire.
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({ "sub": user, "exp": chrono::Utc::now().timestamp() + 3600 });
    get(format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })),
        b64(claims.clone())
    ))
    .await
    .problem(401);
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes())
            .expect("a non-empty HMAC key"),
    )
    .expect("sign");
    get(hs512).await.problem(401);
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": user }),
        &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes())
            .expect("a non-empty HMAC key"),
    )
    .expect("sign");
    get(no_exp).await.problem(401);
    let not_a_user = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": "admin", "exp": chrono::Utc::now().timestamp() + 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes())
            .expect("a non-empty HMAC key"),
    )
    .expect("sign");
    get(not_a_user).await.problem(401);

    let no_org = app
        .send(app.request(Method::GET, "/api/v1/companies", &mine))
        .await;
    let p = no_org.problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Org-Id"),
        "the 400 names the header: {p}"
    );
    let bad_org = app
        .send(
            app.request(Method::GET, "/api/v1/companies", &mine)
                .header("x-org-id", "acme"),
        )
        .await;
    bad_org.problem(400);
    get(mine).await.expect(200);
}
server_test!(bad_jwts_are_refused);

/// An HS256 token signed with `secret` carrying `claims`.
fn signed(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("a non-empty HMAC key"),
    )
    .expect("sign")
}

fn audience_and_issuer() -> Settings {
    Settings {
        jwt_audience: "workos-api",
        jwt_issuer: "https://auth.example.com/",
        ..Settings::default()
    }
}

/// With `WORKOS_JWT_AUDIENCE` and `WORKOS_JWT_ISSUER` set, a token made for another audience or
/// by another issuer (same secret: a shared secret signing tokens for several services) is
/// refused, as is one without those claims.
async fn audience_and_issuer_are_checked_when_configured(app: &TestApp) {
    let (org, owner) = app.create_org("JWT aud/iss").await;
    let user = app.add_member(&owner, "member").await;
    let get = |claims: serde_json::Value| async move {
        app.send(app.user_request(
            Method::GET,
            "/api/v1/companies",
            &signed(&app.jwt_secret, &claims),
            org,
        ))
        .await
    };
    let exp = chrono::Utc::now().timestamp() + 3600;
    let (aud, iss) = ("workos-api", "https://auth.example.com/");

    get(json!({ "sub": user, "exp": exp, "aud": aud, "iss": iss }))
        .await
        .expect(200);
    get(json!({ "sub": user, "exp": exp, "aud": [ "other", aud ], "iss": iss }))
        .await
        .expect(200);
    get(json!({ "sub": user, "exp": exp, "aud": "billing-api", "iss": iss }))
        .await
        .problem(401);
    get(json!({ "sub": user, "exp": exp, "aud": aud, "iss": "https://evil.example.com/" }))
        .await
        .problem(401);
    get(json!({ "sub": user, "exp": exp, "iss": iss }))
        .await
        .problem(401);
    get(json!({ "sub": user, "exp": exp, "aud": aud }))
        .await
        .problem(401);
    // The helper's tokens carry neither claim.
    get(json!({ "sub": user, "exp": exp })).await.problem(401);
}
server_test!(
    audience_and_issuer_are_checked_when_configured,
    super::audience_and_issuer()
);

/// A token is not accepted before its `nbf` (beyond the 60 s clock-skew leeway).
async fn a_token_is_refused_before_not_before(app: &TestApp) {
    let (org, owner) = app.create_org("JWT nbf").await;
    let user = app.add_member(&owner, "member").await;
    let now = chrono::Utc::now().timestamp();
    let get = |nbf: i64| {
        let jwt = signed(
            &app.jwt_secret,
            &json!({ "sub": user, "exp": now + 7200, "nbf": nbf }),
        );
        async move {
            app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
                .await
        }
    };
    get(now + 3600).await.problem(401);
    get(now - 10).await.expect(200);
}
server_test!(a_token_is_refused_before_not_before);

#[test]
fn a_short_jwt_secret_is_a_configuration_error() {
    let (key, pepper) = (
        SecretKey::generate().to_base64(),
        SecretKey::generate().to_base64(),
    );
    let config = |vars: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = HashMap::from([
            ("WORKOS_ENCRYPTION_KEY".to_owned(), key.clone()),
            ("WORKOS_API_KEY_PEPPER".to_owned(), pepper.clone()),
            ("DATABASE_URL".to_owned(), "sqlite://unused.db".to_owned()),
        ]);
        env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Config::from_lookup(|k| env.get(k).cloned())
    };
    let short = "s".repeat(31);
    let e = config(&[("WORKOS_JWT_SECRET", &short)]).expect_err("31 bytes is too short");
    let message = e.to_string();
    assert!(
        message.contains("WORKOS_JWT_SECRET"),
        "names the variable: {message}"
    );
    assert!(message.contains("32"), "says the minimum: {message}");
    assert!(
        !message.contains(&short),
        "never shows the secret: {message}"
    );

    let long = "s".repeat(32);
    let ok = config(&[("WORKOS_JWT_SECRET", &long)]).expect("32 bytes is enough");
    assert!(ok.jwt.is_some(), "JWT auth is on");
    assert!(config(&[]).expect("unset").jwt.is_none(), "JWT auth is off");

    let e = config(&[("WORKOS_JWT_AUDIENCE", "workos-api")])
        .expect_err("an audience without a secret would check nothing");
    assert!(e.to_string().contains("WORKOS_JWT_SECRET"), "{e}");
}

/// A JWKS URL the server cannot fetch keys from is a configuration error that stops the server
/// from starting (it used to start with JWT login off and an error in the log).
#[test]
fn a_bad_jwks_url_refuses_to_start() {
    let (key, pepper) = (
        SecretKey::generate().to_base64(),
        SecretKey::generate().to_base64(),
    );
    for bad in [
        "http://",
        "https://exa mple.com/jwks",
        "ftp://idp.example/jwks",
    ] {
        let env: HashMap<&str, &str> = HashMap::from([
            ("WORKOS_ENCRYPTION_KEY", key.as_str()),
            ("WORKOS_API_KEY_PEPPER", pepper.as_str()),
            ("DATABASE_URL", "sqlite://unused.db"),
            ("WORKOS_JWT_JWKS_URL", bad),
        ]);
        let e = Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()))
            .expect_err("a JWKS URL without a usable host is refused");
        assert!(e.to_string().contains("WORKOS_JWT_JWKS_URL"), "{bad}: {e}");
    }
    let good = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", key.clone()),
        ("WORKOS_API_KEY_PEPPER", pepper.clone()),
        ("DATABASE_URL", "sqlite://unused.db".to_owned()),
        (
            "WORKOS_JWT_JWKS_URL",
            "https://idp.example/.well-known/jwks.json".to_owned(),
        ),
    ]);
    let ok = Config::from_lookup(|k| good.get(k).cloned()).expect("a good JWKS URL");
    assert!(ok.jwt.is_some_and(|j| j.jwks_url.is_some()));

    // The binary stops before touching the database, naming the variable.
    let db = std::env::temp_dir().join(format!("workos-never-{}.db", uuid::Uuid::now_v7()));
    let out = crate::helpers::workos_server_command()
        .args(["admin", "create-org", "--name", "Never"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("WORKOS_ENCRYPTION_KEY", &key)
        .env("WORKOS_API_KEY_PEPPER", &pepper)
        .env("WORKOS_JWT_JWKS_URL", "http://")
        .output()
        .expect("run workos-server");
    assert!(!out.status.success(), "refused to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WORKOS_JWT_JWKS_URL"), "{stderr}");
    assert!(!db.exists(), "no database was opened");
}

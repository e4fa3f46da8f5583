//! User JWTs signed by an identity provider's keys (`WORKOS_JWT_JWKS_URL`, RS256 and ES256),
//! as Supabase and others issue them: keys fetched from a local JWKS server, cached, fetched
//! again when a token names a new `kid`, and no more often than that allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;
use workos_reference_server::config::Config;
use workos_reference_server::serve;
use workos_reference_server::state::AppState;

use crate::helpers::TestApp;

/// Test-only keys (generated for this test, never used anywhere else), base64 DER: RSA in
/// PKCS#1, P-256 in PKCS#8.
const RSA_KEY: &str = concat!(
    "MIIEpAIBAAKCAQEAjRnG/ljlcKs7BH/aIKYMnu+rRO2iRCBLotDTey/pqdPX6lfSqCcA3XpyOvvOlKCllE5jr8JQ2Q",
    "D3aDAJNzUq3fi5KCSVweO6CwyBr2jbrZbPIVNjSESUso14hNz4eBy8yhmHRX7FwOXTBaCCNrQoOBnMHg5i4lfHdBIV",
    "P2mXNhDudtu8s9/vmRDpw9WWuGLLZBVGoMbmN4bXwE3FZCedxOx6FQKDpMih4ZhYwUulfrjY9v0IALXc4Xq4DCJgJ9",
    "O2Qg1BhdksCa+x1Fz//uQed6Gm68ENbY+DY54qFWjO26wkQQqb6Y0Dmg7Ed4qwgZXVE4XJs2WhoX4SPhIkRjscPQID",
    "AQABAoIBABfgKEFqpmxRtRtWTQEgR9tu/6KauU3gzxueTWK3YUkI3Sy8rpsgem9/pCuh5ztUEaCOQSUA8vA9Tx/0nO",
    "KYHwhPaXlG84ZK8/ShqaIWUrHFZogjlZWpcSXjdWS6BVtBtZpXBoI2aNzypqn5ln8OLg4MI3NkiMv3AXt9AdZolhsi",
    "MvVIn6OiLNGsxSZD2FHnfgjLPOM4M65p7VlgDbIfcdUkB9ah0T1i0xLcF5sfyA4qPgJzaaG1njC6pq0KbpW5on8zns",
    "fjO/u/T2rI3bPhlMzOISKG07dX3cH+fgfs041albBowSP9hYoeG0GnTW1JAb6fnGV58z4BQvsvMCUXOlECgYEAxD9d",
    "XE0AseR8QSr7tqHU/m1Jo4wHCouLNoARVF+Zcr3pxAkKylh7nl2go8ScKc97orFLRtESy0QyUDrMDc4Bbxfek52g3+",
    "AY2HnOpucyZf1+Ycs903cBgyQCGR9CTwn/C7AxlAb/2A3zUUlJNyK7gOpt05pOLCzZAEH8MdG9vuUCgYEAuA/1eS1z",
    "38+fYrTsJSQNJmB11nsGaGf+0jIKh8CaCOT2qUngtgzH/90kB+FDYkrY+Sxw9wdfBE85k1/fVtZWFm+zJwWYWF/yid",
    "jevdFcCW1K63M6B7cC+EafJcNPJv7oaV/oujXNqytAS9xxBvK8erKgDtHmvp/QQDmaY5xcOnkCgYAhBdib84kuZhhS",
    "jv0UWl8RASrnDmUQ7TJb1WkVHZEgsbxodG0QZ5tFptOlOyxcDMHtOpBENmJHOg6NWZeEqymqnAWkKV4szfTgWH7hrv",
    "3YE7P0mNKqhtgGTUTdHVl3G2ODf/6XviXHIXHUN9TOJlYO92PLu6dz34gUdwYNDBI10QKBgQCweUSe+VBW7ubfKZ4c",
    "AhPFjsiMaon7QnJUL/xeqfBFxNkl+JpFkb2T+P/ZukX0ENU1GkH45w1XwWnvfgVRadFCU7hOGpQ1b1DIj7EIB5oZw7",
    "sIQgMKcJKdXoCqITdbqR1GItms53cYvTA5S9LmmYbSkT7a1q9IZ0uwuEnpZXob6QKBgQCw4LsGuDxO/f8ob/qW6CHW",
    "r1+csddSoE1nbXcfi7yeGSskKwQzPFUDmgHtHIoiJJ5/KiKgkFJFdQwtTlOmCA28O79Y4nIHCJiD8nytYRc595tB+X",
    "rZJeM/UDlKYSh/+5s3yI4JLA/VsMIwVwpF2bOlmkioS9TPW6LNWAZl5FnDgQ==",
);
const EC_KEY: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3wHeQuJmfwTB+RKP2LpXJ+VUPmYn97WjG0P1NKGrIt",
    "+hRANCAARMDU2pk1iTT/Q9kQ7lmiUU/edgkYQ+dylTDqMXwr04h5Wx3wC3+c7GVueo5P95FdCrbBGAWBftqajJDzYo",
    "oZ7V",
);

/// A JWKS endpoint on loopback whose key set the test changes, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks_server(keys: Vec<Jwk>) -> JwksServer {
    let keys = Arc::new(Mutex::new(JwkSet { keys }));
    let fetches = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        get({
            let (keys, fetches) = (keys.clone(), fetches.clone());
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                axum::Json(keys.lock().await.clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    JwksServer {
        url: format!("http://{addr}/.well-known/jwks.json"),
        keys,
        fetches,
    }
}

fn encoding_key(alg: Algorithm, der: &str) -> EncodingKey {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .unwrap();
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&der),
        _ => EncodingKey::from_ec_der(&der),
    }
}

/// The public JWK of `der`, named `kid`.
fn jwk(alg: Algorithm, der: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg, der), alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A token for `user`, valid for an hour, signed with `der` and naming `kid`.
fn token(alg: Algorithm, der: &str, kid: &str, user: Uuid) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let exp = chrono::Utc::now().timestamp() + 3600;
    jsonwebtoken::encode(
        &header,
        &json!({ "sub": user.to_string(), "exp": exp, "aud": "authenticated" }),
        &encoding_key(alg, der),
    )
    .unwrap()
}

async fn tokens_from_a_jwks_url_sign_users_in(app: &TestApp) {
    let jwks = jwks_server(vec![
        jwk(Algorithm::RS256, RSA_KEY, "rsa-1"),
        jwk(Algorithm::ES256, EC_KEY, "ec-1"),
    ])
    .await;
    // A server of the test's database that trusts only the provider's keys (no shared secret).
    let env = std::collections::HashMap::from([
        (
            "WORKOS_ENCRYPTION_KEY",
            workos_core::crypto::SecretKey::generate().to_base64(),
        ),
        (
            "WORKOS_API_KEY_PEPPER",
            workos_core::crypto::SecretKey::generate().to_base64(),
        ),
        ("DATABASE_URL", app.database_url().to_owned()),
        ("WORKOS_JWT_JWKS_URL", jwks.url.clone()),
        ("WORKOS_JWT_AUDIENCE", "authenticated".to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(app.store.clone(), config);
    tokio::spawn(serve(
        listener,
        workos_reference_server::app(state),
        std::future::pending(),
    ));

    let (org, owner) = app.create_org("Jwks").await;
    let user = app.add_member(&owner, "member").await;
    let client = reqwest::Client::new();
    let status = |jwt: String| {
        let client = client.clone();
        async move {
            client
                .request(Method::GET, format!("http://{addr}/api/v1/companies"))
                .bearer_auth(jwt)
                .header("x-org-id", org.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert_eq!(
        status(token(Algorithm::RS256, RSA_KEY, "rsa-1", user)).await,
        200
    );
    assert_eq!(
        status(token(Algorithm::ES256, EC_KEY, "ec-1", user)).await,
        200
    );
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        1,
        "the key set is cached"
    );

    // A key named for one algorithm does not verify another.
    assert_eq!(
        status(token(Algorithm::ES256, EC_KEY, "rsa-1", user)).await,
        401
    );
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        1,
        "a known kid is not fetched again"
    );
    // Not a member: the signature is fine, the membership is not.
    assert_eq!(
        status(token(Algorithm::RS256, RSA_KEY, "rsa-1", Uuid::now_v7())).await,
        403
    );
    // HS256 tokens are refused: no shared secret is configured.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": user.to_string(), "exp": chrono::Utc::now().timestamp() + 3600, "aud": "authenticated" }),
        &EncodingKey::from_secret(b"any-secret-any-secret-any-secret").expect("a non-empty HMAC key"),
    )
    .unwrap();
    assert_eq!(status(hs).await, 401);

    // The provider rotates: a token naming the new key makes the set be fetched again.
    jwks.keys
        .lock()
        .await
        .keys
        .push(jwk(Algorithm::RS256, RSA_KEY, "rsa-2"));
    let before = jwks.fetches.load(Ordering::SeqCst);
    assert_eq!(
        status(token(Algorithm::RS256, RSA_KEY, "rsa-2", user)).await,
        200
    );
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), before + 1);
    // Made-up key ids do not: one refetch per interval at most.
    for n in 0..5 {
        let made_up = format!("made-up-{n}");
        assert_eq!(
            status(token(Algorithm::RS256, RSA_KEY, &made_up, user)).await,
            401
        );
    }
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        before + 1,
        "unknown kids refetch the set at most once per interval"
    );
}
server_test!(tokens_from_a_jwks_url_sign_users_in);

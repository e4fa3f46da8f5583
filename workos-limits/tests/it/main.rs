//! The Redis limiter against a real Redis (`WORKOS_REDIS_URL`, default `redis://127.0.0.1:6379`).
//! Without one the tests say so and pass, unless `WORKOS_REQUIRE_REDIS=1` (CI), which turns
//! that into a failure.

#![cfg(feature = "redis")]

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use workos_limits::{Decision, Quota, RateLimiter, RedisLimiter};

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero")
}

/// The Redis URL, when a Redis answers there.
async fn redis_url() -> Option<String> {
    let url = std::env::var("WORKOS_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let reachable = tokio::net::TcpStream::connect(&addr).await.is_ok();
    if reachable {
        return Some(url);
    }
    assert!(
        std::env::var("WORKOS_REQUIRE_REDIS").as_deref() != Ok("1"),
        "WORKOS_REQUIRE_REDIS=1 but no Redis answers at {addr}"
    );
    eprintln!("no Redis at {addr}: Redis limiter test skipped");
    None
}

/// A key no other run uses.
fn fresh_key(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("test:{name}:{}:{nanos}", std::process::id())
}

#[tokio::test]
async fn limiters_on_one_redis_share_one_budget() {
    let Some(url) = redis_url().await else { return };
    // Three limiters stand for three processes.
    let limiters: Vec<RedisLimiter> = (0..3)
        .map(|_| RedisLimiter::new(&url).expect("url"))
        .collect();
    let key = fresh_key("shared");
    let quota = Quota::per_minute(n(10));
    let mut allowed = 0;
    let mut last_remaining = None;
    for i in 0..30 {
        match limiters[i % 3].check(&key, quota).await {
            Decision::Allowed { remaining, reset } => {
                allowed += 1;
                assert!(reset <= Duration::from_secs(60), "{reset:?}");
                last_remaining = Some(remaining);
            }
            Decision::Limited { retry_after } => {
                assert!(retry_after <= Duration::from_secs(6), "{retry_after:?}");
            }
        }
    }
    // 10 a minute means one more every 6 s: the loop takes far less, so exactly the burst.
    assert_eq!(
        allowed, 10,
        "three limiters together let the budget through once"
    );
    assert_eq!(last_remaining, Some(0));
    // Another key has its own budget.
    assert!(
        limiters[0]
            .check(&fresh_key("other"), quota)
            .await
            .is_allowed()
    );
}

#[tokio::test]
async fn spacing_with_a_burst_of_one() {
    let Some(url) = redis_url().await else { return };
    let limiter = RedisLimiter::new(&url).expect("url");
    let key = fresh_key("spaced");
    let quota = Quota::per_second(n(2)).with_burst(n(1));
    assert!(limiter.check(&key, quota).await.is_allowed());
    match limiter.check(&key, quota).await {
        Decision::Limited { retry_after } => {
            assert!(retry_after <= Duration::from_millis(500), "{retry_after:?}");
        }
        Decision::Allowed { .. } => panic!("one every 500 ms, no burst"),
    }
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_the_per_process_limit() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let limiter = RedisLimiter::new(&format!("redis://127.0.0.1:{port}")).expect("url");
    let quota = Quota::per_minute(n(3));
    let mut allowed = 0;
    for _ in 0..5 {
        if limiter.check("key:down", quota).await.is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(
        allowed, 3,
        "fails open to this process's own limit, not to no limit"
    );
}

#[test]
fn a_bad_url_is_refused_without_repeating_it() {
    let e = RedisLimiter::new("http://user:hunter2@example.com").expect_err("not redis");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

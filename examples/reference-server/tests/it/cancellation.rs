//! Requests whose client goes away mid-request: each either commits whole or rolls back whole,
//! its `Idempotency-Key` never stays "in progress", and the connection pool stays healthy.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::helpers::{TestApp, id_of};

/// Requests sent and then abandoned.
const ABANDONED: u64 = 100;

/// How long the client of the `i`-th request waits before closing its connection: from at
/// once to ~80 ms, finely at first (where the request is still being read and the
/// transactions are opening) and coarser later.
fn patience(i: u64) -> Duration {
    Duration::from_micros(8 * i * i)
}

/// Sends `POST path` with `body` and `Idempotency-Key: idem` on a connection of its own, waits
/// `wait`, and closes the connection without reading the answer.
async fn abandon(
    app: &TestApp,
    key: &str,
    (path, idem): (&str, &str),
    body: &Value,
    wait: Duration,
) {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Idempotency-Key: {idem}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    tokio::time::sleep(wait).await;
    drop(stream);
}

/// Every page of `path` (a list), as its `data` items.
async fn all(app: &TestApp, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut next = format!("{path}{sep}limit=200");
    loop {
        let page = app.read(&next, key).await;
        items.extend(page["data"].as_array().expect("a list").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}{sep}limit=200&cursor={cursor}"),
            None => return items,
        }
    }
}

server_test!(abandoned_requests_commit_or_roll_back_whole);
async fn abandoned_requests_commit_or_roll_back_whole(app: &TestApp) {
    let (_, key) = app.create_org("Impatient clients").await;
    let requests: Vec<(String, Value)> = (0..ABANDONED)
        .map(|i| {
            let email = format!("gone{i}-{}@example.com", uuid::Uuid::now_v7().simple());
            (
                format!("abandoned-{i}"),
                json!({ "first_name": "Gone", "last_name": format!("{i}"), "email": email }),
            )
        })
        .collect();
    futures_util::future::join_all(
        requests.iter().zip(0..).map(|((idem, body), i)| {
            abandon(app, &key, ("/api/v1/people", idem), body, patience(i))
        }),
    )
    .await;

    // Each request, sent again with its key, is answered: by the first one's stored answer
    // when it got that far, or by a new run when it rolled back. A key whose request was cut
    // off between its transactions would answer 409 ("in progress") for good; one still
    // running answers 409 until it ends, so 409 is retried, for a while.
    let mut people: HashMap<String, String> = HashMap::new();
    for (idem, body) in &requests {
        let mut tries = 0;
        let answer = loop {
            let resp = app
                .send(
                    app.request(Method::POST, "/api/v1/people", &key)
                        .header("idempotency-key", idem.as_str())
                        .json(body),
                )
                .await;
            if resp.status != 409 || tries == 300 {
                break resp;
            }
            tries += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(answer.status, 201, "{idem} sent again: {}", answer.text);
        let person = answer.json();
        people.insert(
            body["email"].as_str().expect("email").to_owned(),
            id_of(&person),
        );
    }

    // Exactly one person per request, each with its one `person.created` event, and no event
    // for a person that is not there.
    let listed = all(app, "/api/v1/people", &key).await;
    assert_eq!(
        listed.len(),
        requests.len(),
        "one person per request, however far it got: {listed:?}"
    );
    let listed_ids: HashSet<String> = listed.iter().map(id_of).collect();
    let answered: HashSet<String> = people.values().cloned().collect();
    assert_eq!(listed_ids, answered, "the answers name the people stored");
    let created = all(app, "/api/v1/events?type=person.created", &key).await;
    let mut subjects: Vec<String> = created
        .iter()
        .map(|e| e["subject"]["id"].as_str().expect("subject id").to_owned())
        .collect();
    subjects.sort();
    let mut expected: Vec<String> = listed_ids.into_iter().collect();
    expected.sort();
    assert_eq!(subjects, expected, "one person.created event per person");

    // The pool is healthy: more requests at once than it has connections all succeed, and on
    // Postgres no connection is left inside a transaction.
    let more = futures_util::future::join_all((0..40).map(|i| {
        app.send_any(
            app.request(Method::POST, "/api/v1/people", &key)
                .json(&json!({
                    "first_name": "After", "last_name": format!("{i}"),
                })),
        )
    }))
    .await;
    for resp in more {
        assert_eq!(resp.status, 201, "{}", resp.text);
    }
    if let Some(url) = app.postgres_url() {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let stuck: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity");
        assert_eq!(stuck, 0, "connections left idle in a transaction");
        pool.close().await;
    }
}

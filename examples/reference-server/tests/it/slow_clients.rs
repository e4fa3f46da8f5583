//! Slow clients (slowloris): a client that does not finish its headers, or its body, in time is
//! cut off instead of holding a connection open for as long as it likes.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use workos_reference_server::{ReadTimeouts, serve_with};

use crate::helpers::TestApp;

/// Only a hang guard: a server without read timeouts never answers, and the test fails here.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Serves `app`'s state on a new port with one-second read timeouts.
async fn strict_server(app: &TestApp) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = ReadTimeouts {
        headers: Duration::from_secs(1),
        body: Duration::from_secs(1),
    };
    tokio::spawn(serve_with(
        listener,
        workos_reference_server::app(app.state.clone()),
        std::future::pending(),
        timeouts,
    ));
    addr
}

/// Sends `start` and then nothing more; answers what the server sent until it closed.
async fn stall_after(addr: std::net::SocketAddr, start: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(start.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a stalled connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn slow_headers_and_bodies_are_cut_off(app: &TestApp) {
    let addr = strict_server(app).await;
    let (_, key) = app.create_org("Slow").await;

    // Headers never finished: the connection is closed (hyper may say 408 first).
    let answer = stall_after(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );

    // A body announced and not sent: 408, as a problem document.
    let answer = stall_after(
        addr,
        &format!(
            "POST /api/v1/people HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n\
             {{\"first_name\""
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");

    // A client in time is served as usual on the same server.
    let answer = stall_after(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
server_test!(slow_headers_and_bodies_are_cut_off);

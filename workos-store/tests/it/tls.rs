//! TLS to Postgres, over real connections: `require` and `disable` against the server
//! `DATABASE_URL` names (it has TLS on, with a self-signed certificate), and the verifying modes
//! against a CA and server certificates made here, served by a small TLS-terminating proxy for
//! the Postgres wire protocol (it answers the `SSLRequest`, accepts TLS with rustls and pipes
//! the session to the real server in plain text).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use uuid::Uuid;
use workos_core::Error;
use workos_store::SqlStore;
use workos_tests::db::postgres_url;

/// A password in every URL, so the tests can check that no message repeats it (the server
/// trusts local connections and never asks for it).
const PASSWORD: &str = "never-shown-pw";

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA of the test's own.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses) and its key.
    fn server(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "postgres");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// The CA certificate in a PEM file, removed with the returned value.
    fn file(&self) -> TempFile {
        let path = std::env::temp_dir().join(format!("workos-ca-{}.pem", Uuid::now_v7()));
        std::fs::write(&path, &self.pem).expect("write the CA file");
        TempFile(path)
    }
}

struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy

/// How the proxy treats a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// TLS when asked for, plain otherwise; both piped to the server.
    Serve,
    /// Answers `N` to the `SSLRequest`, like a server without TLS.
    NoTls,
    /// Refuses plain sessions, like `hostssl` lines alone in `pg_hba.conf`.
    RefusePlain,
    /// Refuses sessions over TLS, like `hostnossl` lines alone in `pg_hba.conf`.
    RefuseTls,
}

/// The 8 bytes of the `SSLRequest` message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

struct Proxy {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port, presenting `cert` to TLS clients and piping sessions to
    /// the server `DATABASE_URL` names.
    async fn start(
        mode: Mode,
        cert: (CertificateDer<'static>, PrivateKeyDer<'static>),
        upstream: String,
    ) -> Self {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.0], cert.1)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream, counted) =
                    (acceptor.clone(), upstream.clone(), counted.clone());
                tokio::spawn(async move {
                    let _ = session(client, mode, acceptor, &upstream, &counted).await;
                });
            }
        });
        Self {
            addr,
            handshakes,
            task,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

async fn session(
    mut client: TcpStream,
    mode: Mode,
    acceptor: TlsAcceptor,
    upstream: &str,
    handshakes: &AtomicUsize,
) -> std::io::Result<()> {
    let mut head = [0u8; 8];
    client.read_exact(&mut head).await?;
    if head == SSL_REQUEST {
        if mode == Mode::NoTls {
            client.write_all(b"N").await?;
            client.read_exact(&mut head).await?;
            return pipe(client, &head, upstream).await;
        }
        client.write_all(b"S").await?;
        let mut tls = acceptor.accept(client).await?;
        handshakes.fetch_add(1, Ordering::SeqCst);
        if mode == Mode::RefuseTls {
            let mut head = [0u8; 8];
            tls.read_exact(&mut head).await?;
            return refuse(tls, &head).await;
        }
        return pipe(tls, &[], upstream).await;
    }
    if mode == Mode::RefusePlain {
        return refuse(client, &head).await;
    }
    pipe(client, &head, upstream).await
}

/// Sends `head` (bytes already read from the client) to the server, then pipes both ways.
async fn pipe(
    mut client: impl AsyncRead + AsyncWrite + Unpin,
    head: &[u8],
    upstream: &str,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(head).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// Reads the rest of the startup message that `head` begins, and answers it with the FATAL
/// error a server gives when `pg_hba.conf` has no line for the connection.
async fn refuse(
    mut client: impl AsyncRead + AsyncWrite + Unpin,
    head: &[u8; 8],
) -> std::io::Result<()> {
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let mut rest = vec![0u8; len.saturating_sub(8)];
    client.read_exact(&mut rest).await?;
    let mut fields = Vec::new();
    for (code, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28000"),
        (
            b'M',
            "no pg_hba.conf entry for this connection (test proxy)",
        ),
    ] {
        fields.push(code);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(u32::try_from(fields.len() + 4).unwrap()).to_be_bytes());
    message.extend_from_slice(&fields);
    client.write_all(&message).await?;
    client.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// URLs and checks

/// `DATABASE_URL` with a password, pointed at `at` (the proxy) when given, and with its TLS
/// parameters replaced by `params`.
fn url(base: &str, at: Option<SocketAddr>, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(base).expect("DATABASE_URL is a URL");
    if let Some(at) = at {
        url.set_host(Some(&at.ip().to_string())).expect("host");
        url.set_port(Some(at.port())).expect("port");
    }
    url.set_password(Some(PASSWORD)).expect("password");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("ssl"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .extend_pairs(params);
    url.to_string()
}

/// The server `DATABASE_URL` names, as the proxy's upstream.
fn upstream(base: &str) -> String {
    let url = url::Url::parse(base).expect("DATABASE_URL is a URL");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}

/// Whether the store's connection to the server is encrypted (as the server sees it).
async fn server_sees_tls(store: &SqlStore) -> bool {
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pg_pool().expect("a Postgres store"))
            .await
            .expect("read pg_stat_ssl");
    ssl
}

/// The store answers a query.
async fn answers(store: &SqlStore) {
    let (one,): (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(store.pg_pool().expect("a Postgres store"))
        .await
        .expect("a query through the connection");
    assert_eq!(one, 1);
}

/// The error and all its sources, as text.
fn full_text(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(" / ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Connecting to `url` fails with an `Unavailable` whose message contains each of `parts`
/// and never the password; answers the message.
async fn refused(url: &str, parts: &[&str]) -> String {
    let e = SqlStore::connect(url)
        .await
        .expect_err("the connection must be refused");
    let text = full_text(&e);
    assert!(
        matches!(e, Error::Unavailable { .. }),
        "Unavailable: {text}"
    );
    for part in parts {
        assert!(text.contains(part), "the error says {part:?}: {text}");
    }
    assert!(!text.contains(PASSWORD), "no password in errors: {text}");
    text
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn require_encrypts_the_connection_to_the_local_server() {
    let Some(base) = postgres_url() else { return };
    let store = SqlStore::connect(&url(&base, None, &[("sslmode", "require")]))
        .await
        .expect("sslmode=require connects to a server with TLS on, unverified");
    assert!(server_sees_tls(&store).await, "the session is encrypted");
    store.close().await;
}

#[tokio::test]
async fn disable_connects_in_plain_text() {
    let Some(base) = postgres_url() else { return };
    let store = SqlStore::connect(&url(&base, None, &[("sslmode", "disable")]))
        .await
        .expect("sslmode=disable connects");
    assert!(
        !server_sees_tls(&store).await,
        "the session is not encrypted"
    );
    store.close().await;
}

#[tokio::test]
async fn verify_full_trusts_the_public_roots_only_without_a_root_certificate() {
    let Some(base) = postgres_url() else { return };
    // The local server's certificate is self-signed: no public CA vouches for it.
    refused(
        &url(&base, None, &[("sslmode", "verify-full")]),
        &[
            "TLS verification failed",
            "unknown issuer",
            "sslmode=verify-full",
            "sslrootcert",
        ],
    )
    .await;
}

#[tokio::test]
async fn verify_full_accepts_a_server_certificate_of_a_private_ca() {
    let Some(base) = postgres_url() else { return };
    let ca = Ca::new("WorkOS test CA");
    let proxy = Proxy::start(
        Mode::Serve,
        ca.server(&["127.0.0.1", "localhost"]),
        upstream(&base),
    )
    .await;
    let ca_file = ca.file();
    let store = SqlStore::connect(&url(
        &base,
        Some(proxy.addr),
        &[("sslmode", "verify-full"), ("sslrootcert", &ca_file.path())],
    ))
    .await
    .expect("the certificate is signed by the CA in sslrootcert, for the host connected to");
    answers(&store).await;
    assert_eq!(proxy.handshakes(), 1, "the session went through TLS");
    store.close().await;
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_of_another_ca() {
    let Some(base) = postgres_url() else { return };
    let (ca, other) = (Ca::new("WorkOS test CA"), Ca::new("Somebody else's CA"));
    let proxy = Proxy::start(Mode::Serve, other.server(&["127.0.0.1"]), upstream(&base)).await;
    let ca_file = ca.file();
    for mode in ["verify-full", "verify-ca", "require"] {
        // libpq: require with a root certificate verifies the CA, as verify-ca does.
        let message = refused(
            &url(
                &base,
                Some(proxy.addr),
                &[("sslmode", mode), ("sslrootcert", &ca_file.path())],
            ),
            &["TLS verification failed", "unknown issuer", &ca_file.path()],
        )
        .await;
        assert!(
            message.contains(&format!("sslmode={mode}")),
            "names the mode: {message}"
        );
    }
    assert_eq!(proxy.handshakes(), 0, "no handshake completed");
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_host() {
    let Some(base) = postgres_url() else { return };
    let ca = Ca::new("WorkOS test CA");
    let proxy = Proxy::start(
        Mode::Serve,
        ca.server(&["db.internal.test"]),
        upstream(&base),
    )
    .await;
    let ca_file = ca.file();
    refused(
        &url(
            &base,
            Some(proxy.addr),
            &[("sslmode", "verify-full"), ("sslrootcert", &ca_file.path())],
        ),
        &[
            "TLS verification failed",
            "name mismatch",
            "127.0.0.1",
            "db.internal.test",
        ],
    )
    .await;
    // verify-ca checks the chain, not the name, as in libpq (sqlx 0.9; 0.8 checked the name).
    let store = SqlStore::connect(&url(
        &base,
        Some(proxy.addr),
        &[("sslmode", "verify-ca"), ("sslrootcert", &ca_file.path())],
    ))
    .await
    .expect("verify-ca accepts the CA's certificate for another name");
    answers(&store).await;
    store.close().await;
    // require without a root certificate verifies nothing, as in libpq.
    let store = SqlStore::connect(&url(&base, Some(proxy.addr), &[("sslmode", "require")]))
        .await
        .expect("require alone does not verify");
    answers(&store).await;
    store.close().await;
}

#[tokio::test]
async fn hostaddr_is_where_to_connect_and_the_host_name_what_is_verified() {
    let Some(base) = postgres_url() else { return };
    let ca = Ca::new("WorkOS test CA");
    let proxy = Proxy::start(
        Mode::Serve,
        ca.server(&["db.internal.test"]),
        upstream(&base),
    )
    .await;
    let ca_file = ca.file();
    // A name no resolver knows, reached at the proxy's address: libpq's meaning (sqlx 0.9;
    // 0.8 connected to hostaddr and checked the certificate against it).
    let mut by_name = url::Url::parse(&url(
        &base,
        Some(proxy.addr),
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", &ca_file.path()),
            ("hostaddr", &proxy.addr.ip().to_string()),
        ],
    ))
    .expect("a URL");
    by_name.set_host(Some("db.internal.test")).expect("host");
    let store = SqlStore::connect(by_name.as_str())
        .await
        .expect("verify-full checks the host name, connecting to hostaddr");
    answers(&store).await;
    assert_eq!(
        proxy.handshakes(),
        1,
        "the session went through the proxy's TLS"
    );
    store.close().await;
}

#[tokio::test]
async fn require_refuses_a_server_without_tls() {
    let Some(base) = postgres_url() else { return };
    let proxy = Proxy::start(
        Mode::NoTls,
        Ca::new("unused").server(&["127.0.0.1"]),
        upstream(&base),
    )
    .await;
    refused(
        &url(&base, Some(proxy.addr), &[("sslmode", "require")]),
        &[
            "TLS to the Postgres server at 127.0.0.1",
            "sslmode=require",
            "does not support TLS",
        ],
    )
    .await;
    // prefer settles for plain text.
    let store = SqlStore::connect(&url(&base, Some(proxy.addr), &[("sslmode", "prefer")]))
        .await
        .expect("prefer connects without TLS");
    answers(&store).await;
    store.close().await;
}

#[tokio::test]
async fn allow_and_prefer_try_the_other_way_when_the_server_refuses() {
    let Some(base) = postgres_url() else { return };
    let ca = Ca::new("WorkOS test CA");
    // allow: plain first; refused, so TLS.
    let proxy = Proxy::start(
        Mode::RefusePlain,
        ca.server(&["127.0.0.1"]),
        upstream(&base),
    )
    .await;
    let store = SqlStore::connect(&url(&base, Some(proxy.addr), &[("sslmode", "allow")]))
        .await
        .expect("allow falls back to TLS");
    answers(&store).await;
    assert!(proxy.handshakes() >= 1, "the session went through TLS");
    store.close().await;
    refused(
        &url(&base, Some(proxy.addr), &[("sslmode", "disable")]),
        &[
            "cannot connect to Postgres at 127.0.0.1",
            "no pg_hba.conf entry",
        ],
    )
    .await;

    // prefer: TLS first; refused, so plain.
    let proxy = Proxy::start(Mode::RefuseTls, ca.server(&["127.0.0.1"]), upstream(&base)).await;
    let store = SqlStore::connect(&url(&base, Some(proxy.addr), &[("sslmode", "prefer")]))
        .await
        .expect("prefer falls back to plain text");
    answers(&store).await;
    assert_eq!(proxy.handshakes(), 1, "TLS was tried first");
    store.close().await;
}

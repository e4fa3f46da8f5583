//! Configuration from the environment. The variable names are a public interface: scripts and
//! deployments set them as written here and in `docs/server.md`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use workos_core::crypto::{ApiKeyHasher, SecretKey};

/// How long a stopping process waits for in-flight work by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything the server reads from its environment.
pub struct Config {
    /// `WORKOS_BIND`, default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `WORKOS_ADMIN_BIND`, default unset: when set, `/metrics` is served there and not on
    /// `WORKOS_BIND`.
    pub admin_bind: Option<SocketAddr>,
    /// `DATABASE_URL`, `WORKOS_MIGRATION_DATABASE_URL`, `WORKOS_MIGRATE`.
    pub database: DatabaseConfig,
    /// `WORKOS_PUBLIC_URL`: the URL clients and providers reach the server at.
    pub public_url: String,
    /// `WORKOS_ENCRYPTION_KEY`: base64 of 32 bytes, for secrets at rest.
    pub encryption_key: SecretKey,
    /// `WORKOS_ENCRYPTION_KEY_PREVIOUS`: the key before a rotation (base64 of 32 bytes). It
    /// still opens what it sealed until `workos-server admin reencrypt` has re-sealed every
    /// secret with `WORKOS_ENCRYPTION_KEY`; then it can be removed.
    pub previous_encryption_key: Option<SecretKey>,
    /// `WORKOS_API_KEY_PEPPER`: the HMAC key API keys are hashed with.
    pub api_key_pepper: Vec<u8>,
    /// `WORKOS_JWT_SECRET` (at least 32 bytes), `WORKOS_JWT_AUDIENCE`, `WORKOS_JWT_ISSUER`:
    /// how user JWTs are checked; JWT auth is off without the secret.
    pub jwt: Option<JwtConfig>,
    /// `WORKOS_RATE_LIMIT_PER_MINUTE`, default 60: requests a minute per API key or user.
    pub rate_limit_per_minute: u32,
    /// `WORKOS_ORG_RATE_LIMIT_PER_MINUTE`, default unset (no org quota): requests a minute
    /// per org, across all of its keys and users.
    pub org_rate_limit_per_minute: Option<u32>,
    /// `WORKOS_REDIS_URL`, default unset: where the limits of a deployment of several
    /// processes are kept (without it each process limits on its own).
    pub redis_url: Option<String>,
    /// `WORKOS_AUTH_FAILURES_PER_MINUTE`, default 30: failed authentications (401) a minute
    /// per client address (IPv6 by /64) before the address is answered 429 without its
    /// credentials being looked up.
    pub auth_failures_per_minute: u32,
    /// `WORKOS_API_KEY_CACHE_SECS`, default 5: how long an API key read from the database
    /// authenticates requests before it is read again (0: read on every request). A key revoked
    /// through another server process stops working here within this time.
    pub api_key_cache_ttl: std::time::Duration,
    /// `WORKOS_TRUSTED_PROXIES`: the proxies (CIDRs or addresses, comma-separated) whose
    /// `X-Forwarded-For` is believed; default none (the client is the TCP peer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `WORKOS_SHUTDOWN_TIMEOUT_SECS`, default 10: how long a stopping process (SIGTERM,
    /// ctrl-c) has to finish in-flight requests and stop its workers (which hand back the
    /// deliveries they claimed) before it exits anyway.
    pub shutdown_timeout: std::time::Duration,
    /// `WORKOS_HEADER_READ_TIMEOUT_SECS` (default 10) and `WORKOS_BODY_READ_TIMEOUT_SECS`
    /// (default 30): how long a client may take to send a request's headers, then its body.
    pub read_timeouts: crate::ReadTimeouts,
    /// `WORKOS_LOG`, default `info`.
    pub log: String,
    /// `WORKOS_ENV=production` requires real secrets instead of generating dev ones.
    pub production: bool,
    /// `TWILIO_*`, `WORKOS_TWILIO_*`: the platform Twilio account and the inbound policies.
    #[cfg(feature = "twilio")]
    pub twilio: workos_twilio::TwilioConfig,
    /// `WORKOS_WEBHOOK_RETRY_SCHEDULE`, `WORKOS_WEBHOOK_TIMEOUT_SECS`,
    /// `WORKOS_WEBHOOK_ALLOWED_SUBNETS`.
    #[cfg(any(feature = "webhooks", feature = "leads"))]
    pub webhooks: workos_webhooks::worker::WebhookConfig,
    /// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URL` (and endpoint overrides):
    /// Gmail, when set.
    #[cfg(feature = "gmail")]
    pub gmail: Option<workos_gmail::GmailConfig>,
    /// `GMAIL_PUBSUB_TOPIC`, `GMAIL_PUBSUB_AUDIENCE`, `GMAIL_PUBSUB_SERVICE_ACCOUNT`,
    /// `GOOGLE_OIDC_JWKS_URL`: Gmail push, when the topic is set (and Gmail is configured).
    #[cfg(feature = "gmail")]
    pub gmail_push: Option<workos_gmail::PushConfig>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("admin_bind", &self.admin_bind)
            .field("public_url", &self.public_url)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("org_rate_limit_per_minute", &self.org_rate_limit_per_minute)
            .field("redis", &self.redis_url.is_some())
            .field("production", &self.production)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

pub use workos_axum::auth::{JwtConfig, MIN_JWT_SECRET_BYTES};

/// `DATABASE_URL`, `WORKOS_MIGRATION_DATABASE_URL`, `WORKOS_MIGRATE` and `WORKOS_DB_*`, read
/// and applied by the store ([`workos_store::deploy`]).
pub use workos_store::deploy::{DatabaseConfig, MigrateMode};

/// The command that applies migrations, as the messages name it.
pub const MIGRATE_COMMAND: &str = "workos-server migrate";

/// The dev-mode secrets file, created next to the working directory on first run.
const DEV_KEY_FILE: &str = "workos.key";

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A message naming the variable that is missing or malformed.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    ///
    /// # Errors
    /// A message naming the variable that is missing or malformed.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let production = get("WORKOS_ENV").is_some_and(|v| v == "production");
        let bind = get("WORKOS_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind
            .parse()
            .with_context(|| format!("WORKOS_BIND: not an address: {bind}"))?;
        let admin_bind = get("WORKOS_ADMIN_BIND")
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse::<SocketAddr>()
                    .with_context(|| format!("WORKOS_ADMIN_BIND: not an address: {v}"))
            })
            .transpose()?;
        let rate_limit_per_minute = match get("WORKOS_RATE_LIMIT_PER_MINUTE") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .context("WORKOS_RATE_LIMIT_PER_MINUTE: not a positive integer")?,
            None => 60,
        };
        let org_rate_limit_per_minute =
            match get("WORKOS_ORG_RATE_LIMIT_PER_MINUTE").filter(|v| !v.trim().is_empty()) {
                Some(v) => Some(
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .context("WORKOS_ORG_RATE_LIMIT_PER_MINUTE: not a positive integer")?,
                ),
                None => None,
            };
        let redis_url = get("WORKOS_REDIS_URL").filter(|v| !v.trim().is_empty());
        if let Some(url) = &redis_url {
            workos_limits::RedisLimiter::check_url(url.trim())
                .map_err(|e| anyhow::anyhow!("WORKOS_REDIS_URL: {e}"))?;
        }
        let auth_failures_per_minute = match get("WORKOS_AUTH_FAILURES_PER_MINUTE") {
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .context("WORKOS_AUTH_FAILURES_PER_MINUTE: not a positive integer")?,
            None => 30,
        };
        let api_key_cache_ttl = match get("WORKOS_API_KEY_CACHE_SECS") {
            Some(v) => v
                .trim()
                .parse()
                .map(std::time::Duration::from_secs)
                .ok()
                .context("WORKOS_API_KEY_CACHE_SECS: not a whole number of seconds")?,
            None => workos_core::auth::DEFAULT_TTL,
        };
        let (encryption_key, api_key_pepper) = match (
            get("WORKOS_ENCRYPTION_KEY"),
            get("WORKOS_API_KEY_PEPPER"),
        ) {
            (Some(key), Some(pepper)) => (
                SecretKey::from_base64(&key)
                    .context("WORKOS_ENCRYPTION_KEY: must be base64 of 32 bytes")?,
                decode_pepper(&pepper)?,
            ),
            _ if production => bail!(
                "WORKOS_ENCRYPTION_KEY and WORKOS_API_KEY_PEPPER are required when WORKOS_ENV=production"
            ),
            (key, pepper) => {
                let (dev_key, dev_pepper) = dev_secrets(Path::new(DEV_KEY_FILE))?;
                let key = key
                    .map(|k| SecretKey::from_base64(&k))
                    .transpose()
                    .context("WORKOS_ENCRYPTION_KEY")?;
                let pepper = pepper.map(|p| decode_pepper(&p)).transpose()?;
                (key.unwrap_or(dev_key), pepper.unwrap_or(dev_pepper))
            }
        };
        let previous_encryption_key = get("WORKOS_ENCRYPTION_KEY_PREVIOUS")
            .map(|k| SecretKey::from_base64(&k))
            .transpose()
            .context("WORKOS_ENCRYPTION_KEY_PREVIOUS: must be base64 of 32 bytes")?;
        let defaults = crate::ReadTimeouts::default();
        let read_timeouts = crate::ReadTimeouts {
            headers: secs(&get, "WORKOS_HEADER_READ_TIMEOUT_SECS")?.unwrap_or(defaults.headers),
            body: secs(&get, "WORKOS_BODY_READ_TIMEOUT_SECS")?.unwrap_or(defaults.body),
        };
        let shutdown_timeout = match get("WORKOS_SHUTDOWN_TIMEOUT_SECS") {
            Some(v) => v
                .trim()
                .parse()
                .map(std::time::Duration::from_secs)
                .ok()
                .context("WORKOS_SHUTDOWN_TIMEOUT_SECS: not a whole number of seconds")?,
            None => DEFAULT_SHUTDOWN_TIMEOUT,
        };
        Ok(Self {
            bind,
            previous_encryption_key,
            admin_bind,
            shutdown_timeout,
            read_timeouts,
            trusted_proxies: workos_axum::client_ip::trusted_from_lookup(&get)?,
            database: DatabaseConfig::from_lookup(&get)?,
            public_url: get("WORKOS_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}")),
            encryption_key,
            api_key_pepper,
            jwt: JwtConfig::from_lookup(&get)?,
            rate_limit_per_minute,
            org_rate_limit_per_minute,
            redis_url,
            api_key_cache_ttl,
            auth_failures_per_minute,
            log: get("WORKOS_LOG").unwrap_or_else(|| "info".into()),
            production,
            #[cfg(feature = "twilio")]
            twilio: workos_twilio::TwilioConfig::from_lookup(&get)
                .map_err(|e| anyhow::anyhow!("Twilio configuration: {e}"))?,
            #[cfg(any(feature = "webhooks", feature = "leads"))]
            webhooks: workos_webhooks::worker::WebhookConfig::from_lookup(&get)?,
            #[cfg(feature = "gmail")]
            gmail: workos_gmail::GmailConfig::from_lookup(&get)
                .map_err(|e| anyhow::anyhow!("Gmail configuration (GOOGLE_*): {e}"))?,
            #[cfg(feature = "gmail")]
            gmail_push: workos_gmail::PushConfig::from_lookup(&get)
                .map_err(|e| anyhow::anyhow!("Gmail push configuration (GMAIL_PUBSUB_*): {e}"))?,
        })
    }
}

fn decode_pepper(s: &str) -> anyhow::Result<Vec<u8>> {
    ApiKeyHasher::pepper_from_base64(s).map_err(|e| anyhow::anyhow!("WORKOS_API_KEY_PEPPER: {e}"))
}

/// Loads or creates the dev-mode secrets file (two base64 lines: encryption key, pepper).
fn dev_secrets(path: &Path) -> anyhow::Result<(SecretKey, Vec<u8>)> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let mut lines = text.lines();
        let key = SecretKey::from_base64(lines.next().unwrap_or_default())
            .with_context(|| format!("{}: bad encryption key line", path.display()))?;
        let pepper = decode_pepper(lines.next().unwrap_or_default())?;
        return Ok((key, pepper));
    }
    let key = SecretKey::generate();
    let pepper = SecretKey::generate();
    let text = format!("{}\n{}\n", key.to_base64(), pepper.to_base64());
    write_private(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "\n  WARNING: development mode. Generated an encryption key and API key pepper into ./{}.\n  \
         Keep that file with the database; set WORKOS_ENCRYPTION_KEY and WORKOS_API_KEY_PEPPER \
         (and WORKOS_ENV=production) in production.\n",
        path.display()
    );
    let pepper = STANDARD.decode(pepper.to_base64())?;
    Ok((key, pepper))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// `name` as a whole, positive number of seconds, when set.
fn secs(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> anyhow::Result<Option<std::time::Duration>> {
    get(name)
        .map(|v| match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n)),
            _ => Err(anyhow::anyhow!(
                "{name}: not a positive whole number of seconds"
            )),
        })
        .transpose()
}

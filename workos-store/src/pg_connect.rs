//! Connecting to Postgres: `DATABASE_URL` with libpq's `sslmode` meanings, over sqlx 0.9's
//! rustls (ring, with the webpki roots, so public CAs are trusted), and connection errors that
//! say what failed (a refused certificate and why) without ever repeating the URL.
//!
//! What sqlx 0.9 does for each mode, and what this module changes so that the mode means what
//! it means to libpq:
//!
//! | `sslmode` | sqlx 0.9 alone | here |
//! |---|---|---|
//! | `disable` | no TLS | same |
//! | `allow` | no TLS, ever (sqlx has no `allow`) | libpq's: plain first; if the server refuses the plain connection, TLS (unverified) |
//! | `prefer` (default) | TLS if the server offers it (unverified), else plain | also libpq's retry: if the server refuses the TLS connection or the handshake fails, plain |
//! | `require` | TLS, never verified, even with a root certificate | libpq's: verified like `verify-ca` when a root certificate is configured |
//! | `verify-ca` | chain checked, not the host name | same |
//! | `verify-full` | chain and host name checked | same |
//!
//! The root certificate comes, as in libpq, from `sslrootcert=` in the URL, else `PGSSLROOTCERT`,
//! else `~/.postgresql/root.crt` when that file exists. It is checked to hold PEM certificates
//! before the first connection (a clear error naming the setting instead of a handshake
//! failure). `sslrootcert=system` means the public roots and, as in libpq, needs `verify-full`
//! (its default then). Without a root certificate, `verify-ca` and `verify-full` trust the
//! public roots (libpq would refuse to connect); that is what a managed service whose
//! certificate chains to a public CA needs.
//!
//! Where sqlx 0.9 still differs from libpq: a root certificate is trusted *in addition to* the
//! public roots, not instead of them (stricter libpq behaviour would need a verifier of our
//! own); and the root certificate file is read once, for the pool's first TLS connection
//! (sqlx keeps the TLS configuration it built), so a rotated CA file takes a restart.
//!
//! `hostaddr=` (or `PGHOSTADDR`) is where to connect, while the host name is what
//! `verify-full` checks, as in libpq (sqlx 0.9; 0.8 replaced the host with it).
//!
//! Over a Unix socket TLS is never used, whatever the mode (libpq ignores `sslmode` there; the
//! server would refuse the upgrade). `allow` and `prefer` decide once, on the pool's first
//! connection, rather than for every connection as libpq does.

use std::str::FromStr as _;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use workos_core::{Error, Result};

/// Where the certificates a verifying mode trusts come from, for the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// The webpki (Mozilla) roots alone.
    Public,
    /// A root certificate from `setting` (`sslrootcert`, `PGSSLROOTCERT` or the default file),
    /// with the public roots.
    Configured {
        setting: &'static str,
        shown: String,
    },
}

/// How to connect: libpq's first try, its second for `allow` and `prefer`, and what to name in
/// an error.
#[derive(Debug)]
pub(crate) struct ConnectPlan {
    first: PgConnectOptions,
    /// `allow`: TLS after a refused plain connection; `prefer`: plain after a failed TLS one.
    second: Option<PgConnectOptions>,
    /// `host:port` or the socket directory.
    place: String,
    /// The mode as the user wrote it (`prefer` when unset).
    mode: &'static str,
    /// The sqlx mode of the first try.
    effective: PgSslMode,
    roots: Roots,
}

/// Connects a pool built by `pool` to `url`, as the [module docs](self) describe.
///
/// # Errors
/// [`Error::Validation`] for a URL or TLS setting that cannot be used; [`Error::Unavailable`]
/// when the server cannot be reached, refuses the connection, or its certificate is refused.
pub(crate) async fn connect(url: &str, pool: impl Fn() -> PgPoolOptions) -> Result<PgPool> {
    let plan = ConnectPlan::new(url, |name| std::env::var(name).ok())?;
    let first = match pool().connect_with(plan.first.clone()).await {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let Some(second) = plan.second.clone().filter(|_| worth_another_try(&first)) else {
        return Err(plan.error(first));
    };
    match pool().connect_with(second).await {
        Ok(p) => {
            tracing::info!(
                sslmode = plan.mode,
                error = %first,
                "the first Postgres connection attempt was refused; connected by libpq's second"
            );
            Ok(p)
        }
        // The first refusal explains the mode's choice; the second is what finally failed.
        Err(e) => Err(plan.error(e)),
    }
}

/// libpq tries again (with or without TLS) when the server answered but refused, or the TLS
/// handshake failed; not when the server is unreachable.
fn worth_another_try(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(_) | sqlx::Error::Tls(_)) || rustls_error(e).is_some()
}

/// The rustls error inside a failed handshake (sqlx returns it as an I/O error).
fn rustls_error(e: &sqlx::Error) -> Option<&rustls::Error> {
    match e {
        sqlx::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

impl ConnectPlan {
    /// Reads `url` and the libpq variables (through `env`) into the options to connect with.
    pub(crate) fn new(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        // Parse errors name the part that is wrong, never the URL's text.
        let invalid_url = |e: &dyn std::fmt::Display| {
            Error::invalid("database_url", format!("not a valid Postgres URL: {e}"))
        };
        let query: Vec<(String, String)> = url::Url::parse(url)
            .map_err(|e| invalid_url(&e))?
            .query_pairs()
            .into_owned()
            .collect();
        let param = |names: &[&str]| {
            query
                .iter()
                .rev()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        };

        let explicit_mode = match param(&["sslmode", "ssl-mode"]) {
            Some(v) => Some(("sslmode", v)),
            None => env("PGSSLMODE").map(|v| ("PGSSLMODE", v)),
        };
        let mut mode = match &explicit_mode {
            Some((field, v)) => parse_mode(field, v)?,
            None => PgSslMode::Prefer,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| invalid_url(&e))?;
        let root = match param(&["sslrootcert", "ssl-root-cert", "ssl-ca"]) {
            Some(v) => Some(("sslrootcert", v)),
            None => env("PGSSLROOTCERT")
                .filter(|v| !v.is_empty())
                .map(|v| ("PGSSLROOTCERT", v))
                .or_else(|| default_root_file(&env).map(|p| ("~/.postgresql/root.crt", p))),
        };

        // The options' root certificate is always set here: sqlx also reads PGSSLROOTCERT from
        // the process environment, and an empty PEM list means "the public roots only".
        let (options, roots) = match root {
            Some((_, v)) if v == "system" => {
                match explicit_mode {
                    None => mode = PgSslMode::VerifyFull,
                    Some(_) if matches!(mode, PgSslMode::VerifyFull) => {}
                    Some((field, v)) => {
                        return Err(Error::invalid(
                            field,
                            format!(
                                "{v} cannot be used with sslrootcert=system (the public roots): \
                                 use verify-full, as libpq requires"
                            ),
                        ));
                    }
                }
                (options.ssl_root_cert_from_pem(Vec::new()), Roots::Public)
            }
            Some((setting, v)) => {
                let pem = v.trim_start().starts_with("-----BEGIN");
                let bytes = if pem {
                    v.clone().into_bytes()
                } else {
                    std::fs::read(&v).map_err(|e| {
                        Error::invalid(
                            setting,
                            format!("cannot read the root certificate {v}: {e}"),
                        )
                    })?
                };
                let shown = if pem {
                    "(inline PEM)".to_owned()
                } else {
                    v.clone()
                };
                if count_certificates(&bytes) == 0 {
                    return Err(Error::invalid(
                        setting,
                        format!("{shown} holds no PEM certificate"),
                    ));
                }
                // sqlx 0.9 reads a file once, for the first TLS connection, and keeps the
                // configuration it built from it (see the module docs).
                let options = if pem {
                    options.ssl_root_cert_from_pem(bytes)
                } else {
                    options.ssl_root_cert(&v)
                };
                (options, Roots::Configured { setting, shown })
            }
            None => (options.ssl_root_cert_from_pem(Vec::new()), Roots::Public),
        };

        let unix_socket = options.get_socket().is_some() || options.get_host().starts_with('/');
        // The address sqlx connects to when one is given (the URL's, else PGHOSTADDR, which
        // sqlx reads and ignores unless it is an IP address), beside the name it verifies.
        let hostaddr = param(&["hostaddr"])
            .or_else(|| env("PGHOSTADDR"))
            .filter(|a| a.parse::<std::net::IpAddr>().is_ok());
        let place = match (options.get_socket(), hostaddr) {
            (Some(dir), _) => dir.display().to_string(),
            (None, Some(addr)) => {
                format!("{} ({addr}):{}", options.get_host(), options.get_port())
            }
            (None, None) => format!("{}:{}", options.get_host(), options.get_port()),
        };
        let label = mode_name(mode);
        if unix_socket {
            mode = PgSslMode::Disable;
        }
        let (first, second) = match mode {
            PgSslMode::Disable => (PgSslMode::Disable, None),
            PgSslMode::Allow => (PgSslMode::Disable, Some(PgSslMode::Require)),
            PgSslMode::Prefer => (PgSslMode::Prefer, Some(PgSslMode::Disable)),
            PgSslMode::Require if matches!(roots, Roots::Configured { .. }) => {
                (PgSslMode::VerifyCa, None)
            }
            other => (other, None),
        };
        Ok(Self {
            first: options.clone().ssl_mode(first),
            second: second.map(|m| options.ssl_mode(m)),
            place,
            mode: label,
            effective: first,
            roots,
        })
    }

    /// The error for a failed connection: what failed and why, naming the server, the mode and
    /// where trusted certificates come from, never the URL (it may hold a password).
    fn error(&self, e: sqlx::Error) -> Error {
        let place = &self.place;
        let mode = if self.mode == "require" && matches!(self.effective, PgSslMode::VerifyCa) {
            "require, verified as verify-ca since a root certificate is set"
        } else {
            self.mode
        };
        if let Some(tls) = rustls_error(&e) {
            let message = match tls {
                rustls::Error::InvalidCertificate(why) => format!(
                    "TLS verification failed for the Postgres server at {place} \
                     (sslmode={mode}): {}",
                    self.refusal(why)
                ),
                other => format!(
                    "TLS handshake with the Postgres server at {place} failed \
                     (sslmode={mode}): {other}"
                ),
            };
            return Error::unavailable(message, e);
        }
        match &e {
            sqlx::Error::Tls(why) => Error::unavailable(
                format!("TLS to the Postgres server at {place} failed (sslmode={mode}): {why}"),
                e,
            ),
            _ => Error::unavailable(format!("cannot connect to Postgres at {place}"), e),
        }
    }

    /// Why a certificate was refused, in words an operator can act on.
    fn refusal(&self, why: &rustls::CertificateError) -> String {
        use rustls::CertificateError as C;
        match why {
            C::UnknownIssuer => match &self.roots {
                Roots::Public => "unknown issuer: the server's certificate is not signed by a \
                                  public CA; set sslrootcert= (or PGSSLROOTCERT) to your CA's \
                                  certificate"
                    .to_owned(),
                Roots::Configured { setting, shown } => format!(
                    "unknown issuer: the server's certificate is signed neither by the CA in \
                     {setting} ({shown}) nor by a public CA"
                ),
            },
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("name mismatch: {why}")
            }
            other => other.to_string(),
        }
    }
}

fn parse_mode(field: &'static str, value: &str) -> Result<PgSslMode> {
    value.parse().map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{value:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
        )
    })
}

const fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// libpq's default root certificate file, when it exists.
fn default_root_file(env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let path = std::path::Path::new(&env("HOME")?).join(".postgresql/root.crt");
    path.is_file().then(|| path.display().to_string())
}

fn count_certificates(pem: &[u8]) -> usize {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem)
        .take_while(std::result::Result::is_ok)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(url: &str, env: &[(&str, &str)]) -> Result<ConnectPlan> {
        ConnectPlan::new(url, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn modes(p: &ConnectPlan) -> (&'static str, Option<&'static str>) {
        (
            mode_name(p.first.get_ssl_mode()),
            p.second.as_ref().map(|o| mode_name(o.get_ssl_mode())),
        )
    }

    /// A directory of the test's own, removed with the value.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("workos-tls-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// A CA certificate in PEM, in a file named `name`.
        fn ca_file(&self, name: &str) -> String {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let path = self.0.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, params.self_signed(&key).unwrap().pem()).unwrap();
            path.display().to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const URL: &str = "postgres://u:secret-pw@db.example:5433/app";

    #[test]
    fn each_mode_maps_to_libpqs_tries() {
        let cases = [
            ("disable", ("disable", None)),
            ("allow", ("disable", Some("require"))),
            ("prefer", ("prefer", Some("disable"))),
            ("require", ("require", None)),
            ("verify-ca", ("verify-ca", None)),
            ("verify-full", ("verify-full", None)),
        ];
        for (mode, expected) in cases {
            let p = plan(&format!("{URL}?sslmode={mode}"), &[]).unwrap();
            assert_eq!(modes(&p), expected, "sslmode={mode}");
            assert_eq!(p.roots, Roots::Public);
        }
        // Unset: libpq's default, prefer; PGSSLMODE when the URL says nothing.
        assert_eq!(modes(&plan(URL, &[]).unwrap()), ("prefer", Some("disable")));
        let p = plan(URL, &[("PGSSLMODE", "verify-full")]).unwrap();
        assert_eq!(modes(&p), ("verify-full", None));
        let p = plan(
            &format!("{URL}?sslmode=disable"),
            &[("PGSSLMODE", "require")],
        )
        .unwrap();
        assert_eq!(modes(&p), ("disable", None), "the URL wins");
    }

    #[test]
    fn require_with_a_root_certificate_verifies_the_ca() {
        let scratch = Scratch::new();
        let ca = scratch.ca_file("ca.pem");
        let p = plan(&format!("{URL}?sslmode=require&sslrootcert={ca}"), &[]).unwrap();
        assert_eq!(modes(&p), ("verify-ca", None));
        let p = plan(&format!("{URL}?sslmode=require"), &[("PGSSLROOTCERT", &ca)]).unwrap();
        assert_eq!(modes(&p), ("verify-ca", None));
        assert!(
            matches!(&p.roots, Roots::Configured { setting: "PGSSLROOTCERT", shown } if *shown == ca)
        );
        // The default file of libpq, under $HOME.
        let root = scratch.ca_file("home/.postgresql/root.crt");
        let home = scratch.0.join("home").display().to_string();
        let p = plan(&format!("{URL}?sslmode=require"), &[("HOME", &home)]).unwrap();
        assert_eq!(modes(&p), ("verify-ca", None));
        assert!(matches!(&p.roots, Roots::Configured { shown, .. } if *shown == root));
        // prefer never verifies (an attacker can force plain text anyway).
        let p = plan(&format!("{URL}?sslrootcert={ca}"), &[]).unwrap();
        assert_eq!(modes(&p), ("prefer", Some("disable")));
    }

    #[test]
    fn sslrootcert_system_means_the_public_roots_and_verify_full() {
        let p = plan(&format!("{URL}?sslrootcert=system"), &[]).unwrap();
        assert_eq!(modes(&p), ("verify-full", None));
        assert_eq!(p.roots, Roots::Public);
        let p = plan(
            URL,
            &[("PGSSLROOTCERT", "system"), ("PGSSLMODE", "verify-full")],
        )
        .unwrap();
        assert_eq!(modes(&p), ("verify-full", None));
        let e = plan(&format!("{URL}?sslmode=require&sslrootcert=system"), &[]).unwrap_err();
        assert!(
            e.to_string().contains("sslmode") && e.to_string().contains("verify-full"),
            "{e}"
        );
    }

    #[test]
    fn bad_settings_name_the_setting_and_never_the_password() {
        let cases = [
            (format!("{URL}?sslmode=sometimes"), "sslmode"),
            (
                format!("{URL}?sslrootcert=/nonexistent/ca.pem"),
                "sslrootcert",
            ),
            (
                "postgres://u:secret-pw@db.example:notaport/app".to_owned(),
                "database_url",
            ),
        ];
        for (url, field) in cases {
            let e = plan(&url, &[]).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(text.contains(field), "{field}: {text}");
            assert!(!text.contains("secret-pw"), "no password in {text}");
        }
        let e = plan(URL, &[("PGSSLMODE", "on")]).unwrap_err();
        assert!(e.to_string().contains("PGSSLMODE"), "{e}");
        // A file that holds no certificate.
        let scratch = Scratch::new();
        let empty = scratch.0.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = plan(URL, &[("PGSSLROOTCERT", &empty.display().to_string())]).unwrap_err();
        assert!(
            e.to_string().contains("PGSSLROOTCERT") && e.to_string().contains("no PEM"),
            "{e}"
        );
    }

    #[test]
    fn a_hostaddr_is_named_beside_the_host() {
        let p = plan(&format!("{URL}?hostaddr=10.0.0.5"), &[]).unwrap();
        assert_eq!(p.place, "db.example (10.0.0.5):5433");
        let p = plan(URL, &[("PGHOSTADDR", "10.0.0.6")]).unwrap();
        assert_eq!(p.place, "db.example (10.0.0.6):5433");
        let p = plan(URL, &[("PGHOSTADDR", "not-an-address")]).unwrap();
        assert_eq!(
            p.place, "db.example:5433",
            "sqlx ignores it, so the message does"
        );
    }

    #[test]
    fn a_unix_socket_never_uses_tls() {
        let p = plan(
            "postgres:///app?host=/var/run/postgresql&sslmode=require",
            &[],
        )
        .unwrap();
        assert_eq!(modes(&p), ("disable", None));
        assert_eq!(p.place, "/var/run/postgresql");
    }
}

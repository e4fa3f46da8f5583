//! SSRF guard: blocked ranges, allow-list, URL checks. No network beyond resolving localhost.

use std::net::{IpAddr, SocketAddr};

use url::Url;
use workos_webhooks::ssrf::{IpNet, SsrfError, SsrfGuard};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// Asserts `guard` blocks `addr` naming `range`.
fn assert_blocked(guard: &SsrfGuard, addr: &str, range: &str) {
    match guard.check_ip(ip(addr)) {
        Err(SsrfError::Blocked { ip: got, range: r }) => {
            assert_eq!(got, ip(addr), "{addr}");
            assert_eq!(r, range, "{addr}");
        }
        other => panic!("{addr}: expected Blocked({range}), got {other:?}"),
    }
}

/// One sample per blocked range, with the expected range name.
const BLOCKED: &[(&str, &str)] = &[
    // IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("100.127.255.254", "shared address space (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "broadcast"),
    // IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::7f00:1", "IPv4-compatible (deprecated)"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fec0::1", "site-local (deprecated)"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("2001::1", "Teredo"),
    ("100::1", "discard-only"),
    ("64:ff9b:1::1", "local-use NAT64"),
    // IPv4-mapped IPv6: the embedded IPv4 address decides.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:0.0.0.0", "unspecified"),
    // NAT64 64:ff9b::/96, embedded IPv4 in the last 32 bits.
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("64:ff9b::c0a8:101", "private"),
    // 6to4 2002::/16, embedded IPv4 in bits 16..48.
    ("2002:7f00:1::1", "loopback"),
    ("2002:a00:1::", "private"),
    ("2002:6440:1::1", "shared address space (CGNAT)"),
];

#[test]
fn every_blocked_range_is_refused() {
    let guard = SsrfGuard::default();
    for &(addr, range) in BLOCKED {
        assert_blocked(&guard, addr, range);
    }
}

#[test]
fn public_addresses_are_allowed() {
    let guard = SsrfGuard::default();
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.255.255.255",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert!(guard.check_ip(ip(addr)).is_ok(), "{addr}");
    }
}

#[test]
fn allow_list_lets_loopback_through() {
    let guard = SsrfGuard::from_env_value("127.0.0.0/8,::1/128").unwrap();
    assert_eq!(
        guard.allowed(),
        &[
            "127.0.0.0/8".parse::<IpNet>().unwrap(),
            "::1/128".parse().unwrap()
        ]
    );
    for addr in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
        assert!(guard.check_ip(ip(addr)).is_ok(), "{addr}");
    }
    // Only the allowed subnets: everything else stays blocked.
    assert_blocked(&guard, "10.0.0.1", "private");
    assert_blocked(&guard, "169.254.169.254", "link-local");
    assert_blocked(&guard, "fe80::1", "link-local");
}

#[test]
fn new_takes_subnets_and_normalises_host_bits() {
    let guard = SsrfGuard::new(&["10.1.2.3/16".parse().unwrap()]);
    assert_eq!(guard.allowed(), &["10.1.0.0/16".parse::<IpNet>().unwrap()]);
    assert!(guard.check_ip(ip("10.1.255.1")).is_ok());
    assert_blocked(&guard, "10.2.0.1", "private");
}

#[test]
fn from_env_value_accepts_bare_ips_whitespace_and_empty_entries() {
    let guard = SsrfGuard::from_env_value(" 10.0.0.5 , ,fd00::/8,").unwrap();
    assert_eq!(
        guard.allowed(),
        &[
            "10.0.0.5/32".parse::<IpNet>().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
    assert!(guard.check_ip(ip("10.0.0.5")).is_ok());
    assert_blocked(&guard, "10.0.0.6", "private");

    assert_eq!(SsrfGuard::from_env_value("").unwrap(), SsrfGuard::default());
    assert_eq!(
        SsrfGuard::from_env_value(" , ").unwrap(),
        SsrfGuard::default()
    );
}

#[test]
fn bad_allow_list_entry_is_named() {
    for (value, bad) in [
        ("127.0.0.0/8,localhost", "localhost"),
        ("127.0.0.0/33", "127.0.0.0/33"),
        ("::1/128, 10.0.0.0/8/8 ,::1", "10.0.0.0/8/8"),
    ] {
        let err = SsrfGuard::from_env_value(value).unwrap_err();
        match &err {
            SsrfError::InvalidAllowList { entry, .. } => assert_eq!(entry, bad),
            other => panic!("{value}: expected InvalidAllowList, got {other:?}"),
        }
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn check_url_refuses_loopback_literal() {
    let guard = SsrfGuard::default();
    let err = guard
        .check_url(&url("http://127.0.0.1:9/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SsrfError::Blocked {
                range: "loopback",
                ..
            }
        ),
        "{err:?}"
    );
    let err = guard.check_url(&url("https://[::1]/x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            SsrfError::Blocked {
                range: "loopback",
                ..
            }
        ),
        "{err:?}"
    );
    // Numeric host spellings are normalised by the URL parser before the check.
    for s in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:7f00:1]/",
    ] {
        let err = guard.check_url(&url(s)).await.unwrap_err();
        assert!(
            matches!(
                err,
                SsrfError::Blocked {
                    range: "loopback",
                    ..
                }
            ),
            "{s}: {err:?}"
        );
    }
}

#[tokio::test]
async fn check_url_allows_literal_with_allow_list() {
    let guard = SsrfGuard::from_env_value("127.0.0.0/8,::1/128").unwrap();
    assert_eq!(
        guard.check_url(&url("http://127.0.0.1:9/x")).await.unwrap(),
        vec!["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        guard.check_url(&url("https://[::1]/hook")).await.unwrap(),
        vec!["[::1]:443".parse::<SocketAddr>().unwrap()]
    );
}

#[tokio::test]
async fn check_url_returns_public_literal_with_default_port() {
    let guard = SsrfGuard::default();
    assert_eq!(
        guard.check_url(&url("https://8.8.8.8/hook")).await.unwrap(),
        vec!["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        guard
            .check_url(&url("http://[2606:4700::1111]/hook"))
            .await
            .unwrap(),
        vec!["[2606:4700::1111]:80".parse::<SocketAddr>().unwrap()]
    );
}

#[tokio::test]
async fn check_url_refuses_localhost_by_resolution() {
    let guard = SsrfGuard::default();
    let err = guard
        .check_url(&url("http://localhost/"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SsrfError::Blocked {
                range: "loopback",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn check_url_resolves_localhost_with_allow_list() {
    let guard = SsrfGuard::from_env_value("127.0.0.0/8,::1/128").unwrap();
    let addrs = guard
        .check_url(&url("http://localhost:8080/"))
        .await
        .unwrap();
    assert!(!addrs.is_empty());
    for addr in addrs {
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 8080);
    }
}

#[tokio::test]
async fn check_url_refuses_non_http_schemes() {
    let guard = SsrfGuard::from_env_value("0.0.0.0/0,::/0").unwrap();
    for s in [
        "ftp://8.8.8.8/",
        "file:///etc/passwd",
        "gopher://8.8.8.8/",
        "ws://8.8.8.8/",
    ] {
        let err = guard.check_url(&url(s)).await.unwrap_err();
        assert!(
            matches!(err, SsrfError::UnsupportedScheme { .. }),
            "{s}: {err:?}"
        );
    }
}

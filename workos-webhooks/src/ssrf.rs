//! Server-side request forgery guard for webhook subscriber URLs.
//!
//! Subscribers choose the URLs we POST to, so without a guard they could aim deliveries at
//! loopback services, cloud metadata endpoints (`169.254.169.254`) or the private network.
//! [`SsrfGuard`] refuses every address in a non-public range unless an operator explicitly
//! allows its subnet (for local development or an internal receiver).
//!
//! DNS answers can change between registration and delivery (DNS rebinding), so call
//! [`SsrfGuard::check_url`] at registration *and* before each delivery, and connect only to the
//! socket addresses it returns.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use ipnet::IpNet;
use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// IPv4 ranges that are never public, most specific first: the first match names the range.
const BLOCKED_V4: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 32), "unspecified"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(0, 0, 0, 0, 8), "this network"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "shared address space (CGNAT)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// IPv6 ranges that are never public, most specific first. The IPv4-mapped, NAT64 and 6to4
/// prefixes are absent: their embedded IPv4 address is checked instead.
const BLOCKED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible (deprecated)",
    ),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use NAT64"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "Teredo"),
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), "benchmarking"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// NAT64 well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// 6to4 (RFC 3056): the IPv4 address is bits 16..48.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        prefix,
    )
}

/// Refuses webhook destinations in non-public address ranges, except allowed subnets.
///
/// Blocked: unspecified (`0.0.0.0`, `::`), `0.0.0.0/8`, loopback, RFC 1918 private, CGNAT
/// `100.64.0.0/10`, link-local (`169.254.0.0/16`, `fe80::/10`), IETF `192.0.0.0/24`,
/// documentation (`192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
/// `3fff::/20`), benchmarking (`198.18.0.0/15`, `2001:2::/48`), multicast, broadcast, reserved
/// `240.0.0.0/4`, unique-local `fc00::/7`, site-local `fec0::/10`, IPv4-compatible `::/96`,
/// discard-only `100::/64`, Teredo `2001::/32`, local-use NAT64 `64:ff9b:1::/48`; and
/// IPv4-mapped (`::ffff:0:0/96`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses
/// whose embedded IPv4 address is blocked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfGuard {
    allowed: Vec<IpNet>,
}

impl SsrfGuard {
    /// A guard that additionally allows every address inside `allowed_subnets`.
    #[must_use]
    pub fn new(allowed_subnets: &[IpNet]) -> Self {
        Self {
            allowed: allowed_subnets.iter().map(IpNet::trunc).collect(),
        }
    }

    /// Parses an allow-list such as `"127.0.0.0/8,::1/128"` (e.g. from an environment
    /// variable): comma-separated CIDR subnets or bare IP addresses (taken as single-host
    /// subnets). Whitespace around entries and empty entries are ignored, so `""` allows
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`SsrfError::InvalidAllowList`], naming the first entry that is neither a subnet nor an
    /// address.
    pub fn from_env_value(value: &str) -> Result<Self, SsrfError> {
        let mut allowed = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(source) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(SsrfError::InvalidAllowList {
                            entry: entry.to_owned(),
                            source,
                        });
                    }
                },
            };
            allowed.push(net);
        }
        Ok(Self::new(&allowed))
    }

    /// This guard allowing `extra` subnets too (e.g. an org's own allowance, see
    /// [`workos_core::repo::SubnetAllowanceRepo`]).
    #[must_use]
    pub fn with_allowed(&self, extra: &[IpNet]) -> Self {
        let mut allowed = self.allowed.clone();
        allowed.extend(extra.iter().map(IpNet::trunc));
        Self { allowed }
    }

    /// The allowed subnets.
    #[must_use]
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Checks one address.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is treated exactly as its IPv4 address,
    /// allow-list included.
    ///
    /// # Errors
    ///
    /// [`SsrfError::Blocked`] when `ip` is in a blocked range and in no allowed subnet. For
    /// NAT64 and 6to4 addresses the range named is that of the embedded IPv4 address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        let canonical = ip.to_canonical();
        if self.is_allowed(ip) || self.is_allowed(canonical) {
            return Ok(());
        }
        match blocked_range(canonical) {
            Some(range) => Err(SsrfError::Blocked { ip, range }),
            None => Ok(()),
        }
    }

    /// Checks a webhook URL and returns the socket addresses it may be delivered to.
    ///
    /// The scheme must be `http` or `https` and a host is required. An IP-literal host is
    /// checked directly; a domain is resolved with the system resolver and refused if *any* of
    /// its addresses is blocked. Connect only to the returned addresses (in order), so a DNS
    /// answer that changes after the check cannot redirect the delivery. Resolution has no
    /// timeout of its own; wrap the call in one.
    ///
    /// # Errors
    ///
    /// [`SsrfError::UnsupportedScheme`], [`SsrfError::MissingHost`], [`SsrfError::Resolve`] when
    /// the lookup fails, [`SsrfError::NoAddresses`] when it returns nothing, and
    /// [`SsrfError::Blocked`] for the first blocked address.
    pub async fn check_url(&self, url: &Url) -> Result<Vec<SocketAddr>, SsrfError> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(SsrfError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        let host = url.host().ok_or(SsrfError::MissingHost)?;
        // http and https always have a known default port.
        let port = url
            .port_or_known_default()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let domain = match host {
            Host::Ipv4(ip) => return self.check_literal(IpAddr::V4(ip), port),
            Host::Ipv6(ip) => return self.check_literal(IpAddr::V6(ip), port),
            Host::Domain("") => return Err(SsrfError::MissingHost),
            Host::Domain(domain) => domain,
        };
        let resolved = tokio::net::lookup_host((domain, port))
            .await
            .map_err(|source| SsrfError::Resolve {
                host: domain.to_owned(),
                source,
            })?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in resolved {
            self.check_ip(addr.ip())?;
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(SsrfError::NoAddresses {
                host: domain.to_owned(),
            });
        }
        Ok(addrs)
    }

    fn check_literal(&self, ip: IpAddr, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        self.check_ip(ip)?;
        Ok(vec![SocketAddr::new(ip, port)])
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// The name of the blocked range holding `ip` (already canonical), if any.
fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => blocked_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(embedded) = embedded_v4(ip) {
                return blocked_v4(embedded);
            }
            BLOCKED_V6
                .iter()
                .find(|(net, _)| net.contains(&ip))
                .map(|&(_, range)| range)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    BLOCKED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, range)| range)
}

/// The IPv4 address embedded in a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if NAT64.contains(&ip) {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if SIX_TO_FOUR.contains(&ip) {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// Why a webhook destination was refused, or an allow-list could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsrfError {
    /// The address is in a non-public range and in no allowed subnet.
    #[error("address {ip} is in a blocked range ({range})")]
    Blocked {
        /// The refused address, as given or resolved.
        ip: IpAddr,
        /// The blocked range, e.g. `"loopback"` or `"private"`.
        range: &'static str,
    },
    /// The URL scheme is neither `http` nor `https`.
    #[error("unsupported URL scheme {scheme:?}; expected http or https")]
    UnsupportedScheme {
        /// The offending scheme.
        scheme: String,
    },
    /// The URL has no host.
    #[error("URL has no host")]
    MissingHost,
    /// Resolving the host failed.
    #[error("could not resolve host {host:?}")]
    Resolve {
        /// The host that failed to resolve.
        host: String,
        /// The resolver error.
        #[source]
        source: std::io::Error,
    },
    /// The host resolved to no address.
    #[error("host {host:?} resolved to no address")]
    NoAddresses {
        /// The host that resolved to nothing.
        host: String,
    },
    /// An allow-list entry is neither a CIDR subnet nor an IP address.
    #[error("invalid allowed subnet {entry:?}; expected CIDR such as 127.0.0.0/8 or ::1/128")]
    InvalidAllowList {
        /// The offending entry, trimmed.
        entry: String,
        /// The CIDR parse error.
        #[source]
        source: ipnet::AddrParseError,
    },
}

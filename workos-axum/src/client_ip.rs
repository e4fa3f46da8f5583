//! The client's address, for the limits that key on it (failed authentication, the public
//! form) and for the consent record of a form submission, and the trusted proxies it is read
//! behind ([`trusted_from_lookup`]).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// The client's address for the per-IP limits and the consent record: the TCP peer, unless
/// the peer is a trusted proxy (`WORKOS_TRUSTED_PROXIES`); then the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries left of it are the client's to
/// forge). An entry may carry a port (`203.0.113.7:51234`, `[2001:db8::1]:443`), as some
/// proxies write them. When every entry is trusted, the left-most; when an entry does not
/// parse, the trusted hop just right of it. `None` without a peer (served without connect
/// info): every such client then shares one budget.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?.ip().to_canonical();
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for hop in hops.rsplit(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The request's client address ([`client_ip`]) from its headers and extensions (the peer
/// is in `ConnectInfo`).
pub fn of_request(
    headers: &HeaderMap,
    extensions: &Extensions,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    client_ip(headers, peer, trusted)
}

/// `WORKOS_TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` is believed.
pub const ENV_TRUSTED_PROXIES: &str = "WORKOS_TRUSTED_PROXIES";

/// Reads [`ENV_TRUSTED_PROXIES`] through `get` (e.g. `|name| std::env::var(name).ok()`):
/// CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses, comma-separated; blank or unset is
/// none (the client is the TCP peer).
///
/// # Errors
/// [`workos_core::Error::Validation`] on [`ENV_TRUSTED_PROXIES`], naming the entry that is
/// neither a CIDR nor an address.
pub fn trusted_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> workos_core::Result<Vec<ipnet::IpNet>> {
    get(ENV_TRUSTED_PROXIES)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    workos_core::Error::invalid(
                        ENV_TRUSTED_PROXIES,
                        format!("{s} is not a CIDR (10.0.0.0/8) or an address"),
                    )
                })
        })
        .collect()
}

/// The key a per-client limit counts on: an IPv4 address whole, an IPv6 address by its /64
/// (one subscriber's allocation: rotating addresses inside it does not make a new client);
/// `unknown` without an address.
#[must_use]
pub fn limit_key(ip: Option<IpAddr>) -> String {
    match ip {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let untrusted_peer = Some("198.51.100.1:5000".parse().unwrap());
        let proxy_peer = Some("10.0.0.5:5000".parse().unwrap());
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &[]),
            Some(ip("198.51.100.1"))
        );
        // Behind a trusted proxy: the right-most untrusted entry.
        assert_eq!(
            client_ip(&xff("6.6.6.6, 1.2.3.4, 10.9.9.9"), proxy_peer, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Every entry trusted: the left-most; no header: the proxy itself.
        assert_eq!(
            client_ip(&xff("10.1.1.1, 10.2.2.2"), proxy_peer, &trusted),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), proxy_peer, &trusted),
            Some(ip("10.0.0.5"))
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(&xff("1.2.3.4, junk, 10.3.3.3"), proxy_peer, &trusted),
            Some(ip("10.3.3.3"))
        );
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        let mapped = Some("[::ffff:10.0.0.5]:5000".parse().unwrap());
        assert_eq!(
            client_ip(&xff("1.2.3.4"), mapped, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Without connect info there is no client address.
        assert_eq!(client_ip(&xff("1.2.3.4"), None, &trusted), None);
    }

    #[test]
    fn hops_with_ports_are_their_addresses() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy_peer = Some("10.0.0.5:5000".parse().unwrap());
        assert_eq!(
            client_ip(&xff("203.0.113.7:51234"), proxy_peer, &trusted),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_ip(&xff("[2001:db8::1]:443, 10.0.0.9:80"), proxy_peer, &trusted),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let read = |value: &'static str| {
            trusted_from_lookup(move |name| (name == ENV_TRUSTED_PROXIES).then(|| value.into()))
        };
        let nets = read(" 10.1.2.3/8, 192.0.2.7 ,, fd00::/8").unwrap();
        let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
        assert!(read("").unwrap().is_empty());
        assert!(trusted_from_lookup(|_| None).unwrap().is_empty());
        let err = read("10.0.0.0/8, proxy.internal").unwrap_err().to_string();
        assert!(
            err.contains(ENV_TRUSTED_PROXIES) && err.contains("proxy.internal"),
            "{err}"
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            limit_key(Some(ip("2001:db8:1:2:aaaa::1"))),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            limit_key(Some(ip("2001:db8:1:2:ffff:1:2:3"))),
            limit_key(Some(ip("2001:db8:1:2::9")))
        );
        assert_ne!(
            limit_key(Some(ip("2001:db8:1:3::1"))),
            limit_key(Some(ip("2001:db8:1:2::1")))
        );
        assert_eq!(limit_key(Some(ip("198.51.100.7"))), "198.51.100.7");
        assert_eq!(limit_key(None), "unknown");
    }
}

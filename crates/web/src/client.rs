//! Who the client is, for rate limits and anonymous idempotency keys: the peer address, or,
//! behind proxies the operator trusts (`--trusted-proxies`), the right-most address of
//! `X-Forwarded-For` that is not one of them (docs/accounts.md, "Behind a proxy"). Every use
//! of the client address goes through [`client_address`].

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The networks whose `X-Forwarded-For` is believed. Empty (the default): none, and the
/// header is ignored.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(Arc::new(nets))
    }

    /// A comma-separated list of CIDRs or bare addresses (`10.0.0.0/8,127.0.0.1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_net).collect::<Result<Vec<_>, _>>().map(Self::new)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// One CIDR (`10.0.0.0/8`) or address (`127.0.0.1`, a network of one).
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("`{s}` is not a CIDR (10.0.0.0/8) nor an IP address"))
}

/// The client behind a request from `peer`: walking from the peer leftwards through
/// `X-Forwarded-For` (every such header, in order), the first address that is not a trusted
/// proxy. A peer that is not trusted is the client whatever the header says; an entry that
/// is not an address ends the walk at the last trusted hop (a proxy that cannot name its
/// client is held responsible). IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if trusted.is_empty() || !trusted.trusts(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted.trusts(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

/// The client of a request, from its parts (the peer address axum's `ConnectInfo` recorded).
pub(crate) fn client_of(parts: &Parts, trusted: &TrustedProxies) -> String {
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(c) => client_address(c.0.ip(), &parts.headers, trusted).to_string(),
        None => "unknown".into(),
    }
}

/// The client's address, for rate limits (see [`client_address`]).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_of(parts, &state.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client_address(ip("192.0.2.1"), &xff(&["203.0.113.7"]), &none), ip("192.0.2.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(client_address(ip("192.0.2.1"), &xff(&["203.0.113.7"]), &t), ip("192.0.2.1"));
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        // The client put a forged address first; the proxies appended what they saw.
        let h = xff(&["198.51.100.66, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(client_address(ip("127.0.0.1"), &h, &t), ip("203.0.113.7"));
        assert_eq!(client_address(ip("10.9.9.9"), &xff(&["203.0.113.7:4711"]), &t), ip("203.0.113.7"));
        assert_eq!(client_address(ip("10.9.9.9"), &xff(&["[2001:db8::1]:443"]), &t), ip("2001:db8::1"));
    }

    #[test]
    fn only_proxies_or_no_header_leave_the_last_trusted_hop() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(client_address(ip("10.0.0.1"), &xff(&[]), &t), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), &xff(&["10.0.0.2"]), &t), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.1"), &xff(&["203.0.113.7, garbage, 10.0.0.2"]), &t), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_addresses_count_as_ipv4() {
        let t = TrustedProxies::parse("127.0.0.1/32").unwrap();
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), &xff(&["::ffff:203.0.113.7"]), &t), ip("203.0.113.7"));
    }

    #[test]
    fn lists_parse_or_say_what_is_wrong() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(TrustedProxies::parse("10.0.0.0/8,::1, 192.168.1.7/24").unwrap().0.len(), 3);
        assert!(TrustedProxies::parse("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse("proxy.example").is_err());
    }
}

//! Where webhooks may go (SSRF): `https://` to public addresses only, unless the operator set
//! `--webhook-allow-insecure`. Checked at registration (the URL, and the addresses its name
//! resolves to then) and again at every connection: the HTTP client resolves names through
//! [`PublicResolver`], which drops every address that is not public, so a name re-pointed at
//! 127.0.0.1 later (DNS rebinding) is refused when the worker connects. An IP literal is not
//! resolved by the client: [`blocked_literal`] checks it before each send. Redirects are not
//! followed and no proxy from the environment is used.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How long registration waits for the name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Is `ip` an address of the public internet (not loopback, private, link-local, shared,
/// documentation, benchmarking, multicast, reserved or unspecified)?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
                || (s[0] == 0x2002) // 6to4 embeds an IPv4 address
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || s[0] == 0 // ::/8 (IPv4-compatible and other reserved)
                || s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only 100::/64
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0 // this network
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved 240/4
}

/// Why the URL may not be an endpoint, if it may not; the URL as it will be stored otherwise.
pub async fn check_url(raw: &str, allow_insecure: bool) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.chars().count() > crate::webhooks::MAX_URL_CHARS {
        return Err(format!("must be a URL of 1 to {} characters", crate::webhooks::MAX_URL_CHARS));
    }
    let url = Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err("must be https:// (http:// only when the server runs with --webhook-allow-insecure)".into()),
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    let Some(host) = url.host() else { return Err("must name a host".into()) };
    if !allow_insecure {
        match host {
            url::Host::Ipv4(ip) if !is_public(IpAddr::V4(ip)) => return Err(not_public()),
            url::Host::Ipv6(ip) if !is_public(IpAddr::V6(ip)) => return Err(not_public()),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") || !name.contains('.') {
                    return Err(not_public());
                }
                let port = url.port_or_known_default().unwrap_or(443);
                let addrs = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.as_str(), port)))
                    .await
                    .map_err(|_| "its host name did not resolve in time".to_owned())?
                    .map_err(|_| "its host name does not resolve".to_owned())?
                    .collect::<Vec<_>>();
                if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                    return Err(not_public());
                }
            }
            _ => {}
        }
    }
    Ok(url.to_string())
}

fn not_public() -> String {
    "must reach a public address (private, loopback and link-local addresses only when the server runs with --webhook-allow-insecure)"
        .into()
}

/// A literal address in `url` that may not be reached, if any.
pub fn blocked_literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)).filter(|ip| !is_public(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)).filter(|ip| !is_public(*ip)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves names to their public addresses only; a name with none fails to connect.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let shown = found.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                return Err(format!("refused: {host} resolves to no public address ({shown})").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))), "{ip}");
        }
    }

    #[tokio::test]
    async fn registration_refuses_http_and_private_hosts_unless_insecure_is_allowed() {
        for bad in [
            "http://1.1.1.1/",
            "https://127.0.0.1/",
            "https://10.0.0.1/x",
            "https://localhost/",
            "https://[::1]/",
            "ftp://x.example/",
            "https://u:p@1.1.1.1/",
        ] {
            assert!(check_url(bad, false).await.is_err(), "{bad}");
        }
        assert!(check_url("https://1.1.1.1/hook", false).await.is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
    }
}

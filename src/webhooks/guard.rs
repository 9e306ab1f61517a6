//! The SSRF guard for addresses an operator typed (webhook URLs): http(s) only, no user
//! info, and at connection time every resolved address is checked — loopback, private,
//! link-local, CGNAT, multicast, unspecified and documentation ranges are refused unless
//! they are inside `outbound_allow_networks` (tests and on-premise receivers). The check
//! runs in the HTTP client's resolver, on the addresses it then connects to, so DNS
//! rebinding cannot slip past it. Plain `http://` is only allowed to an IP literal inside
//! those networks; everything else must be `https://`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use actix_tls::connect::Resolve;
use futures_util::future::LocalBoxFuture;
use ipnet::IpNet;

/// The networks exempt from the guard.
#[derive(Debug, Clone, Default)]
pub struct Allow(pub Arc<Vec<IpNet>>);

impl Allow {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(Arc::new(nets))
    }

    /// Whether idgate may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }

    fn allowed_literal(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Checks a URL an operator typed; the message says what is wrong.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let url = url.trim();
        if url.len() > 2048 {
            return Err("the URL is longer than 2048 characters".into());
        }
        let uri: actix_web::http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err("the URL must not carry a user name or password".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let literal: Option<IpAddr> = host.parse().ok();
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if literal.is_some_and(|ip| self.allowed_literal(ip)) => {}
            Some("http") => {
                return Err(
                    "the URL must use https:// (plain http:// only to an address listed in \
                     outbound_allow_networks)"
                        .into(),
                );
            }
            _ => return Err(format!("{url:?} must start with https://")),
        }
        if let Some(ip) = literal
            && !self.permits(ip)
        {
            return Err(format!(
                "{ip} is a private, loopback or reserved address; idgate does not send there \
                 unless it is listed in outbound_allow_networks"
            ));
        }
        Ok(())
    }
}

/// Not loopback, private, link-local, CGNAT, multicast, unspecified, broadcast or reserved
/// for documentation / benchmarking.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b)
}

/// The HTTP client's resolver: resolves, then keeps only the addresses `allow` permits.
pub struct Guarded(pub Allow);

impl Resolve for Guarded {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let (ok, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| self.0.permits(a.ip()));
            if ok.is_empty() {
                let which = refused
                    .first()
                    .map_or("no address".to_string(), |a| a.ip().to_string());
                return Err(format!(
                    "refused: {host} resolves to {which}, a private, loopback or reserved \
                     address (outbound_allow_networks lists the exceptions)"
                )
                .into());
            }
            Ok(ok)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_table() {
        let none = Allow::default();
        for (ip, public) in [
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("192.0.2.1", false),
            ("::1", false),
            ("::", false),
            ("fc00::1", false),
            ("fe80::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("2606:4700::1111", true),
        ] {
            assert_eq!(none.permits(ip.parse().unwrap()), public, "{ip}");
        }
        let local = Allow::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(local.permits("127.0.0.1".parse().unwrap()));
        assert!(local.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.permits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn urls_table() {
        let none = Allow::default();
        let local = Allow::new(vec!["127.0.0.1/32".parse().unwrap()]);
        for (allow, url, ok) in [
            (&none, "https://hooks.example.com/idgate", true),
            (&none, "https://8.8.8.8/x", true),
            (&none, "http://hooks.example.com/idgate", false),
            (&none, "https://127.0.0.1/x", false),
            (&none, "https://[::1]/x", false),
            (&none, "https://169.254.169.254/latest", false),
            (&none, "ftp://example.com/", false),
            (&none, "https://user:pw@example.com/", false),
            (&none, "not a url", false),
            (&none, "/relative", false),
            (&local, "http://127.0.0.1:9999/hook", true),
            (&local, "http://localhost:9999/hook", false),
            (&local, "http://127.0.0.2:9999/hook", false),
            (&local, "https://127.0.0.1:9999/hook", true),
        ] {
            assert_eq!(
                allow.check_url(url).is_ok(),
                ok,
                "{url}: {:?}",
                allow.check_url(url)
            );
        }
    }
}

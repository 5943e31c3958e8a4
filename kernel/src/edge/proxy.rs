//! Which address a request comes from when Pifa runs behind reverse proxies
//! (`PIFA_TRUSTED_PROXIES`).
//!
//! The socket peer is the client unless it is a trusted proxy. When it is, `X-Forwarded-For`
//! is read from the right: each proxy appends the address that connected to it, so walking
//! leftwards past the trusted hops, the first address that is not a trusted proxy is the
//! client. Everything to its left was written by the client itself and is never believed,
//! and a peer that is not trusted has its header ignored altogether: anyone can send one.
//! Only `X-Forwarded-For` is read, so a `Forwarded` or `X-Real-IP` header that the proxy
//! passes through untouched cannot speak for the client.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: addresses and CIDR blocks. Empty (the
/// default) trusts no one, and the socket peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `PIFA_TRUSTED_PROXIES` that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is neither an IP address nor a CIDR block (e.g. 10.0.0.2, 10.0.0.0/8, fd00::/8)")]
pub struct InvalidProxy(pub String);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR blocks; blank entries are skipped,
    /// so an empty list trusts no one.
    pub fn parse(list: &str) -> Result<TrustedProxies, InvalidProxy> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    // `10.1.2.3/8` means the block, as most proxy configurations read it.
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether any proxy is trusted at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; the address people
        // configure, read in logs and are counted under is the IPv4 one.
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Several header lines are one list, in order (RFC 9110 §5.3). A line that is not
        // text ends the walk there: nothing to its left can be believed either.
        let lines: Vec<Option<&str>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.to_str().ok())
            .collect();
        for line in lines.into_iter().rev() {
            let Some(line) = line else {
                return client;
            };
            for entry in line.rsplit(',') {
                let Some(hop) = parse_hop(entry) else {
                    return client;
                };
                client = hop;
                if !self.trusts(hop) {
                    return client;
                }
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some load balancers
/// write `203.0.113.7:51234` or `[2001:db8::7]:443`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_blocks_and_names_a_bad_entry() {
        let proxies = TrustedProxies::parse(" 10.0.0.2, 172.16.0.0/12,,fd00::/8 ").unwrap();
        assert!(proxies.trusts(ip("10.0.0.2")));
        assert!(!proxies.trusts(ip("10.0.0.3")));
        assert!(proxies.trusts(ip("172.20.1.1")));
        assert!(proxies.trusts(ip("fd12::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(
            TrustedProxies::parse("10.0.0.1, nginx"),
            Err(InvalidProxy("nginx".to_owned()))
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(
            TrustedProxies::parse("10.1.2.3/8")
                .unwrap()
                .trusts(ip("10.200.0.1"))
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(
            none.client(ip("198.51.100.1"), &spoofed),
            ip("198.51.100.1")
        );
        let other = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            other.client(ip("198.51.100.1"), &spoofed),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn walks_right_to_left_past_trusted_hops() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.2");
        // The client wrote 1.1.1.1 itself; the edge proxy appended who really connected.
        let chain = headers(&["1.1.1.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(proxies.client(peer, &chain), ip("203.0.113.9"));
        // The same list split over two header lines.
        let split = headers(&["1.1.1.1", "203.0.113.9, 10.0.0.7"]);
        assert_eq!(proxies.client(peer, &split), ip("203.0.113.9"));
        // No header: the proxy itself is all we know.
        assert_eq!(proxies.client(peer, &HeaderMap::new()), peer);
        // Only trusted hops: the leftmost is as far as we can see.
        assert_eq!(
            proxies.client(peer, &headers(&["10.0.0.9, 10.0.0.7"])),
            ip("10.0.0.9")
        );
        // Ports and IPv4-mapped peers.
        assert_eq!(
            proxies.client(peer, &headers(&["203.0.113.9:51234"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &headers(&["[2001:db8::7]:443"])),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn a_garbled_entry_ends_the_walk_at_the_last_trusted_hop() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.2");
        assert_eq!(
            proxies.client(peer, &headers(&["203.0.113.9, unknown, 10.0.0.7"])),
            ip("10.0.0.7")
        );
        assert_eq!(proxies.client(peer, &headers(&["garbage"])), peer);
    }
}

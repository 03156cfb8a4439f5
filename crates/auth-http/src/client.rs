//! Who is calling: the client's address (believing `X-Forwarded-For` only from trusted
//! proxies) and user agent, for logs and throttling.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use crate::{ApiError, AuthState};

/// A set of CIDR blocks whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs or addresses (`10.0.0.0/8, ::1`).
    /// IPv4-mapped IPv6 ranges (`::ffff:10.0.0.0/104`) are taken as the IPv4 range they
    /// map (`10.0.0.0/8`), as peers are compared in their IPv4 form.
    ///
    /// # Errors
    /// A message naming the first entry that is not an address or CIDR, or that mixes
    /// IPv4-mapped addresses with others (an IPv4-mapped prefix shorter than /96).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, len) = entry
                .split_once('/')
                .map_or((entry, None), |(a, l)| (a, Some(l)));
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("not an IP address or CIDR: {entry}"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("bad prefix length in {entry}"))?,
            };
            blocks.push(match canonical(addr) {
                IpAddr::V4(v4) if addr.is_ipv6() => {
                    let len = len.checked_sub(96).ok_or_else(|| {
                        format!(
                            "{entry} mixes IPv4-mapped and other IPv6 addresses: \
                             use an IPv4 range, or a prefix of /96 or longer"
                        )
                    })?;
                    (IpAddr::V4(v4), len)
                }
                _ => (addr, len),
            });
        }
        Ok(Self(blocks))
    }

    /// Whether `addr` lies in one of the blocks.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|(net, len)| match (*net, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *len),
            _ => false,
        })
    }

    /// The client address of a request that arrived from `peer` with these
    /// `X-Forwarded-For` values: walking from the nearest hop, the first address that is
    /// not a trusted proxy. Headers from untrusted peers are ignored, so a client cannot
    /// choose its own address.
    #[must_use]
    pub fn client_addr<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.parse::<IpAddr>() else {
                return client;
            };
            client = addr;
            if !self.contains(addr) {
                return addr;
            }
        }
        client
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let full = usize::from(len / 8);
    let rest = len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// The caller of a request, as far as authd can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address, when known.
    pub addr: Option<IpAddr>,
    /// The `User-Agent` header, shortened to 200 characters.
    pub user_agent: Option<String>,
    /// The request's id (see [`crate::RequestId`]).
    pub request_id: Option<String>,
    /// What the per-address limit decided for this request, when its route is limited.
    pub(crate) limit: Option<crate::rate_limit::Decision>,
}

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientInfo::of(req)))
    }
}

impl ClientInfo {
    /// Where a session this client starts comes from, for its owner's list of sessions.
    #[must_use]
    pub fn origin(&self) -> auth_core::SessionOrigin {
        auth_core::SessionOrigin::new(self.user_agent.as_deref(), self.addr)
    }

    /// The caller of `req`.
    #[must_use]
    pub fn of(req: &HttpRequest) -> Self {
        // Already worked out by a limited route's middleware.
        if let Some(client) = req.extensions().get::<ClientInfo>() {
            return client.clone();
        }
        let trusted = req
            .app_data::<actix_web::web::Data<AuthState>>()
            .map(|s| s.trusted_proxies.clone())
            .unwrap_or_default();
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        // One client, one address: `::ffff:192.0.2.1` is `192.0.2.1`.
        let addr = req
            .peer_addr()
            .map(|peer| canonical(trusted.client_addr(peer.ip(), forwarded)));
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect());
        let request_id = req
            .extensions()
            .get::<crate::RequestId>()
            .map(|r| r.0.clone());
        ClientInfo {
            addr,
            user_agent,
            request_id,
            limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_match_by_prefix() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7, fd00::/8").unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::ffff:10.1.1.1")));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
    }

    #[test]
    fn ipv4_mapped_ranges_are_their_ipv4_range() {
        let t = TrustedProxies::parse("::ffff:127.0.0.0/104, ::ffff:192.0.2.9").unwrap();
        assert_eq!(t, TrustedProxies::parse("127.0.0.0/8, 192.0.2.9").unwrap());
        assert!(t.contains(ip("127.0.0.1")));
        assert!(t.contains(ip("::ffff:127.3.2.1")));
        assert!(!t.contains(ip("128.0.0.1")));
        assert!(t.contains(ip("192.0.2.9")));
        let err = TrustedProxies::parse("::ffff:0:0/80").unwrap_err();
        assert!(err.contains("::ffff:0:0/80"), "{err}");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // An untrusted client cannot pick its address.
        assert_eq!(
            t.client_addr(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        // Behind a trusted proxy the nearest untrusted hop is the client, whatever the
        // client itself prepended.
        assert_eq!(
            t.client_addr(
                ip("10.0.0.2"),
                ["6.6.6.6, 198.51.100.7, 10.0.0.5"].into_iter()
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_addr(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
        assert_eq!(
            t.client_addr(ip("10.0.0.2"), ["garbage"].into_iter()),
            ip("10.0.0.2")
        );
        // Nobody is trusted by default.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_addr(ip("10.0.0.2"), ["1.2.3.4"].into_iter()),
            ip("10.0.0.2")
        );
    }
}

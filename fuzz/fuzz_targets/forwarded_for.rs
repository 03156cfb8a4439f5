//! AUTHD_TRUSTED_PROXIES and X-Forwarded-For: the first line of the input is a CIDR list,
//! the rest the header values. Parsing refuses or accepts, and the client address found
//! is the peer or one of the hops, never a panic.
#![no_main]

use std::net::IpAddr;

use auth_http::TrustedProxies;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (cidrs, header) = text.split_once('\n').unwrap_or((text, ""));
    let proxies = TrustedProxies::parse(cidrs).unwrap_or_default();
    let hops: Vec<&str> = header.lines().collect();
    let forwarded: Vec<IpAddr> = hops
        .iter()
        .flat_map(|h| h.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    for peer in ["10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "127.0.0.1"] {
        let peer: IpAddr = peer.parse().expect("an address");
        let client = proxies.client_addr(peer, hops.iter().copied());
        let _ = proxies.contains(client);
        let _ = auth_core::client_network(Some(client));
        assert!(
            client == peer || forwarded.contains(&client),
            "{client} came from nowhere"
        );
    }
});

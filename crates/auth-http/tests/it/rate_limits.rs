use auth_http::TrustedProxies;
use serde_json::json;

use crate::*;

fn login_attempt() -> actix_web::test::TestRequest {
    post(
        "/api/auth/login",
        json!({"email": "alice@example.com", "password": "wrong password"}),
    )
}

#[actix_web::test]
async fn an_address_gets_a_burst_then_waits_for_its_bucket_to_refill() {
    let ctx = Ctx::limited(3, TrustedProxies::default());
    let app = ctx.app().await;
    for _ in 0..3 {
        send_from(&app, login_attempt(), "203.0.113.9")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let limited = send_from(&app, login_attempt(), "203.0.113.9").await;
    limited.assert_error(429, "RATE_LIMITED");
    assert_eq!(limited.header("retry-after"), Some("20"));
    // Other addresses and other route families have buckets of their own.
    send_from(&app, login_attempt(), "198.51.100.7")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let device = post(
        "/api/auth/device",
        json!({"deviceId": "device-0001", "platform": "IOS"}),
    );
    assert_eq!(send_from(&app, device, "203.0.113.9").await.status, 200);
    ctx.clock.advance(20);
    send_from(&app, login_attempt(), "203.0.113.9")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[actix_web::test]
async fn every_unauthenticated_family_is_limited() {
    let ctx = Ctx::limited(1, TrustedProxies::default());
    let app = ctx.app().await;
    let requests = [
        || {
            post(
                "/api/auth/register",
                json!({"email": "a@example.com", "password": PASSWORD, "username": "alice"}),
            )
        },
        || {
            post(
                "/api/auth/device",
                json!({"deviceId": "device-0001", "platform": "IOS"}),
            )
        },
        || post("/api/auth/refresh", json!({"refreshToken": "nonsense"})),
        || {
            post(
                "/v2/auth/wallet/login",
                json!({"username": "sensor01@app_x1", "password": "whatever1"}),
            )
        },
    ];
    for request in requests {
        let first = send_from(&app, request(), "203.0.113.9").await;
        assert_ne!(first.status, 429, "{first:?}");
        send_from(&app, request(), "203.0.113.9")
            .await
            .assert_error(429, "RATE_LIMITED");
    }
}

#[actix_web::test]
async fn forwarding_headers_from_untrusted_peers_do_not_reset_a_bucket() {
    let ctx = Ctx::limited(2, TrustedProxies::default());
    let app = ctx.app().await;
    for spoof in ["1.1.1.1", "2.2.2.2"] {
        let req = login_attempt().insert_header(("x-forwarded-for", spoof));
        send_from(&app, req, "203.0.113.9")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let req = login_attempt().insert_header(("x-forwarded-for", "3.3.3.3"));
    send_from(&app, req, "203.0.113.9")
        .await
        .assert_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let ctx = Ctx::limited(1, TrustedProxies::parse("10.0.0.0/8").unwrap());
    let app = ctx.app().await;
    let from = |client: &str| login_attempt().insert_header(("x-forwarded-for", client.to_owned()));
    send_from(&app, from("198.51.100.1"), "10.0.0.2")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    send_from(&app, from("198.51.100.2"), "10.0.0.2")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // The same client cannot escape by prepending a fake hop: the proxy appends the real one.
    send_from(&app, from("6.6.6.6, 198.51.100.1"), "10.0.0.2")
        .await
        .assert_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn an_ipv4_mapped_proxy_range_trusts_its_ipv4_peers() {
    let ctx = Ctx::limited(1, TrustedProxies::parse("::ffff:10.0.0.0/104").unwrap());
    let app = ctx.app().await;
    let from = |client: &str| login_attempt().insert_header(("x-forwarded-for", client.to_owned()));
    // Each forwarded client has its own bucket of one, through either form of the peer.
    for (client, peer) in [
        ("198.51.100.1", "10.0.0.2"),
        ("198.51.100.2", "::ffff:10.9.9.9"),
    ] {
        send_from(&app, from(client), peer)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    send_from(&app, from("198.51.100.1"), "::ffff:10.9.9.9")
        .await
        .assert_error(429, "RATE_LIMITED");
    // An untrusted peer is its own client.
    send_from(&app, from("198.51.100.3"), "11.0.0.1")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    send_from(&app, from("198.51.100.4"), "11.0.0.1")
        .await
        .assert_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn limited_routes_say_where_the_client_stands() {
    let ctx = Ctx::limited(3, TrustedProxies::default());
    let app = ctx.app().await;
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let answered = send_from(&app, login_attempt(), "203.0.113.9").await;
        answered.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(
            answered.header("ratelimit-policy"),
            Some("\"login\";q=3;w=60")
        );
        let standing = format!("\"login\";r={remaining};t={reset}");
        assert_eq!(answered.header("ratelimit"), Some(standing.as_str()));
    }
    let refused = send_from(&app, login_attempt(), "203.0.113.9").await;
    refused.assert_error(429, "RATE_LIMITED");
    assert_eq!(refused.header("retry-after"), Some("20"));
    assert_eq!(refused.header("ratelimit"), Some("\"login\";r=0;t=20"));
    // Twenty seconds on, one attempt has come back.
    ctx.clock.advance(20);
    let answered = send_from(&app, login_attempt(), "203.0.113.9").await;
    assert_eq!(answered.header("ratelimit"), Some("\"login\";r=0;t=60"));
    // Another family has its own quota; a route that is not limited says nothing.
    let device = post(
        "/api/auth/device",
        json!({"deviceId": "device-0001", "platform": "IOS"}),
    );
    let device = send_from(&app, device, "203.0.113.9").await;
    assert_eq!(device.header("ratelimit"), Some("\"device\";r=2;t=20"));
    let health = send_from(
        &app,
        actix_web::test::TestRequest::get().uri("/healthz"),
        "203.0.113.9",
    )
    .await;
    assert_eq!(health.header("ratelimit"), None);
    assert_eq!(health.header("ratelimit-policy"), None);
}

#[actix_web::test]
async fn without_a_limit_no_ratelimit_headers_are_sent() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let answered = send_from(&app, login_attempt(), "203.0.113.9").await;
    answered.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(answered.header("ratelimit"), None);
}

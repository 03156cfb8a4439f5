//! How the verifier fetches authd's keys: once for many, again for a rotation but never
//! for forged kids, and for a bounded time while authd is down. Time is a manual clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use auth_core::{ManualClock, TokenVerifier};
use auth_resource::AccessVerifier;
use serde_json::json;

use crate::{PublishedKeys, T0, get, resource, signer, user_token, verifier_at};

#[actix_web::test]
async fn a_rotated_key_is_fetched_but_forged_kids_cannot_make_it_hammer_authd() {
    let keys = Arc::new(PublishedKeys::default());
    let old = signer();
    keys.publish(&[&old]);
    let url = keys.serve();
    let clock = Arc::new(ManualClock::new(T0));
    let service =
        resource(verifier_at(&url, &clock).min_refetch_interval(Duration::from_secs(1))).await;

    let status = get(&service, "/whoami", &user_token(&old, &["USER"]))
        .await
        .status;
    assert_eq!(status, 200);
    assert_eq!(keys.fetches(), 1);
    for _ in 0..50 {
        get(&service, "/whoami", &user_token(&signer(), &["USER"]))
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    assert_eq!(
        keys.fetches(),
        1,
        "50 forged kids within the interval fetch nothing"
    );

    // authd rotates: the new key is published beside the old one.
    let rotated = signer();
    keys.publish(&[&rotated, &old]);
    clock.advance(1);
    let status = get(&service, "/whoami", &user_token(&rotated, &["USER"]))
        .await
        .status;
    assert_eq!(status, 200);
    assert_eq!(keys.fetches(), 2);
    for token in [user_token(&rotated, &["USER"]), user_token(&old, &["USER"])] {
        assert_eq!(get(&service, "/whoami", &token).await.status, 200);
    }
    assert_eq!(keys.fetches(), 2, "known kids need no fetch");
}

#[actix_web::test]
async fn a_key_authd_stopped_publishing_stops_being_accepted() {
    let keys = Arc::new(PublishedKeys::default());
    let retired = signer();
    keys.publish(&[&retired]);
    let url = keys.serve();
    let clock = Arc::new(ManualClock::new(T0));
    let service = resource(
        verifier_at(&url, &clock)
            .max_age(Duration::from_secs(3))
            .min_refetch_interval(Duration::from_secs(1)),
    )
    .await;
    let token = user_token(&retired, &["USER"]);
    // Verified once, and from then on answered from the verifier's memory.
    assert_eq!(get(&service, "/whoami", &token).await.status, 200);

    keys.publish(&[&signer()]);
    clock.advance(2);
    assert_eq!(
        get(&service, "/whoami", &token).await.status,
        200,
        "within max_age the keys held are used"
    );
    clock.advance(2);
    get(&service, "/whoami", &token)
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn many_first_requests_share_one_fetch() {
    let keys = Arc::new(PublishedKeys::default());
    let authd = signer();
    keys.publish(&[&authd]);
    let url = keys.serve();
    let clock = Arc::new(ManualClock::new(T0));
    let verifier = Arc::new(verifier_at(&url, &clock));
    let token = user_token(&authd, &["USER"]);
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let token = token.clone();
            actix_web::rt::spawn(async move { verifier.verify(&token).await.map(|c| c.sub) })
        })
        .collect();
    for task in waiting {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(keys.fetches(), 1);
}

#[actix_web::test]
async fn without_keys_it_answers_503_and_a_configured_key_needs_no_authd() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let clock = Arc::new(ManualClock::new(T0));
    let unreachable = resource(verifier_at(
        &format!("http://{closed}/.well-known/jwks.json"),
        &clock,
    ))
    .await;
    // A malformed token is refused as such, before any key is needed.
    get(&unreachable, "/whoami", "not-a-jwt")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let authd = signer();
    let reply = get(&unreachable, "/whoami", &user_token(&authd, &["USER"])).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(reply.headers.get("retry-after").is_some());

    let jwks = serde_json::to_vec(authd.keys().jwks()).unwrap();
    let configured = resource(
        AccessVerifier::new(TokenVerifier::from_jwks(&jwks, "authd").unwrap())
            .with_clock(clock.clone()),
    )
    .await;
    let reply = get(&configured, "/whoami", &user_token(&authd, &["USER"])).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["roles"], json!(["USER"]));
}

#[actix_web::test]
async fn while_authd_is_down_the_keys_held_work_for_a_bounded_time() {
    let keys = Arc::new(PublishedKeys::default());
    let authd = signer();
    keys.publish(&[&authd]);
    let url = keys.serve();
    let clock = Arc::new(ManualClock::new(T0));
    let service = resource(
        verifier_at(&url, &clock)
            .max_age(Duration::from_secs(10))
            .min_refetch_interval(Duration::from_secs(5)),
    )
    .await;
    let token = user_token(&authd, &["USER"]);
    assert_eq!(get(&service, "/whoami", &token).await.status, 200);

    keys.down.store(true, Ordering::SeqCst);
    clock.advance(11);
    assert_eq!(
        get(&service, "/whoami", &token).await.status,
        200,
        "stale keys still serve while authd is down"
    );
    assert_eq!(keys.fetches(), 2, "and a refetch was tried");

    // Twelve times max_age after the last good fetch, the keys are no longer trusted.
    clock.advance(110);
    get(&service, "/whoami", &token)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");

    keys.down.store(false, Ordering::SeqCst);
    clock.advance(6);
    assert_eq!(get(&service, "/whoami", &token).await.status, 200);
}

use serde_json::json;

use crate::admin::{WALLET_PASSWORD, app_and_wallet};
use crate::*;

#[actix_web::test]
async fn five_failures_lock_the_account_with_retry_after_even_for_the_right_password() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    // Case variants of the email are the same account.
    for email in [
        "alice@example.com",
        "ALICE@example.com",
        "Alice@Example.COM",
        "alice@EXAMPLE.com",
        " alice@example.com ",
    ] {
        login(&app, email, "wrong password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let locked = login(&app, "alice@example.com", PASSWORD).await;
    locked.assert_error(429, "RATE_LIMITED");
    assert_eq!(locked.header("retry-after"), Some("1"));
    ctx.clock.advance(1);
    assert_eq!(
        login(&app, "alice@example.com", PASSWORD).await.status,
        200,
        "the lock is not permanent"
    );
}

#[actix_web::test]
async fn delays_grow_with_further_failures() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    for _ in 0..5 {
        login(&app, "alice@example.com", "wrong password").await;
    }
    ctx.clock.advance(1);
    login(&app, "alice@example.com", "wrong password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let locked = login(&app, "alice@example.com", PASSWORD).await;
    assert_eq!(locked.header("retry-after"), Some("2"));
}

#[actix_web::test]
async fn unknown_accounts_lock_the_same_way() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for _ in 0..5 {
        login(&app, "nobody@example.com", "some password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login(&app, "nobody@example.com", "some password")
        .await
        .assert_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn wallet_logins_lock_per_wallet() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, _) = app_and_wallet(&app, "sensor01", "device").await;
    let attempt = |name: String, pw: &'static str| {
        post(
            "/v2/auth/wallet/login",
            json!({"username": name, "password": pw}),
        )
    };
    for _ in 0..5 {
        send(&app, attempt(format!("sensor01@{app_id}"), "bad password"))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let locked = send(&app, attempt(format!("SENSOR01@{app_id}"), WALLET_PASSWORD)).await;
    locked.assert_error(429, "RATE_LIMITED");
    assert!(locked.header("retry-after").is_some());
}

fn login_from(email: &str, password: &str) -> TestRequest {
    post(
        "/api/auth/login",
        json!({"email": email, "password": password}),
    )
}

#[actix_web::test]
async fn the_owner_logs_in_from_another_address_while_the_attackers_is_locked() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    for _ in 0..5 {
        send_from(
            &app,
            login_from("alice@example.com", "wrong password"),
            "203.0.113.66",
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    send_from(
        &app,
        login_from("alice@example.com", PASSWORD),
        "203.0.113.66",
    )
    .await
    .assert_error(429, "RATE_LIMITED");
    let owner = send_from(
        &app,
        login_from("alice@example.com", PASSWORD),
        "198.51.100.7",
    )
    .await;
    assert_session_body(&owner, 200, "alice@example.com", "alice");
    // An IPv6 attacker is one client across its /64.
    for n in 1..=5 {
        let from = format!("2001:db8:1:2::{n}");
        send_from(
            &app,
            login_from("alice@example.com", "wrong password"),
            &from,
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    send_from(
        &app,
        login_from("alice@example.com", PASSWORD),
        "2001:db8:1:2:ffff::9",
    )
    .await
    .assert_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn concurrent_guesses_cannot_outrun_the_count() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let guesses = (0..24).map(|n| {
        send_from(
            &app,
            login_from("alice@example.com", &format!("guess number {n}")),
            "203.0.113.66",
        )
    });
    let replies = futures_util::future::join_all(guesses).await;
    let judged = replies.iter().filter(|r| r.status == 401).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert!(judged <= 5, "{judged} guesses were judged");
    assert_eq!(
        judged + refused + replies.iter().filter(|r| r.status == 503).count(),
        24
    );
    assert!(refused >= 19 - replies.iter().filter(|r| r.status == 503).count());
}

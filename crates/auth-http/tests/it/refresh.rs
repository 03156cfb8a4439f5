use serde_json::json;

use crate::*;

#[actix_web::test]
async fn refresh_returns_a_new_pair_and_the_new_access_token_works() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    ctx.clock.advance(60);
    let rotated = refresh(&app, &reg.str("refreshToken")).await;
    assert_session_body(&rotated, 200, "alice@example.com", "alice");
    assert_ne!(rotated.str("refreshToken"), reg.str("refreshToken"));
    assert_ne!(rotated.str("accessToken"), reg.str("accessToken"));
    assert_eq!(me(&app, &rotated.str("accessToken")).await.status, 200);
    // And the chain goes on.
    assert_eq!(
        refresh(&app, &rotated.str("refreshToken")).await.status,
        200
    );
}

#[actix_web::test]
async fn a_retry_within_the_grace_gets_the_same_refresh_token() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let first = refresh(&app, &reg.str("refreshToken")).await;
    ctx.clock.advance(9);
    let retry = refresh(&app, &reg.str("refreshToken")).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.str("refreshToken"), first.str("refreshToken"));
}

#[actix_web::test]
async fn reuse_after_the_grace_revokes_the_session_and_every_token_of_it() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let rotated = refresh(&app, &reg.str("refreshToken")).await;
    ctx.clock.advance(10);
    refresh(&app, &reg.str("refreshToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    refresh(&app, &rotated.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    me(&app, &rotated.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    me(&app, &reg.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn an_expired_refresh_token_is_token_expired() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    ctx.clock.advance(7 * 24 * 3600);
    refresh(&app, &reg.str("refreshToken"))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn no_refresh_extends_a_session_past_its_absolute_lifetime() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let mut token = register(&app, "alice@example.com", "alice")
        .await
        .str("refreshToken");
    // Refresh every 6 days: each token lives 7 days, but the session only 30.
    for _ in 0..4 {
        ctx.clock.advance(6 * 24 * 3600);
        let r = refresh(&app, &token).await;
        assert_eq!(r.status, 200, "{r:?}");
        token = r.str("refreshToken");
    }
    ctx.clock.advance(6 * 24 * 3600);
    refresh(&app, &token)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn unknown_malformed_or_access_tokens_are_invalid_tokens() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let unknown = format!("authd_rt_{}", "A".repeat(43));
    for bad in [unknown.as_str(), "garbage", "", &reg.str("accessToken")] {
        refresh(&app, bad).await.assert_error(401, "INVALID_TOKEN");
    }
    // None of that disturbed the real token.
    assert_eq!(refresh(&app, &reg.str("refreshToken")).await.status, 200);
}

#[actix_web::test]
async fn a_refresh_without_a_token_is_refused() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    // No token at all (nor a browser's cookie): a missing token.
    send(&app, post("/api/auth/refresh", json!({})))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // A token that is not even text: a malformed request.
    send(&app, post("/api/auth/refresh", json!({"refreshToken": 42})))
        .await
        .assert_error(400, "INVALID_REQUEST");
}

use actix_web::test::TestRequest;
use serde_json::json;

use crate::*;

fn logout_request(access_token: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/auth/logout")
        .insert_header(("authorization", format!("Bearer {access_token}")))
}

#[actix_web::test]
async fn logout_is_204_and_ends_the_session_for_both_tokens() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let reply = send(&app, logout_request(&reg.str("accessToken"))).await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.body, serde_json::Value::Null);
    me(&app, &reg.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    refresh(&app, &reg.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn logout_leaves_the_users_other_sessions_alone() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let phone = register(&app, "alice@example.com", "alice").await;
    let laptop = login(&app, "alice@example.com", PASSWORD).await;
    send(&app, logout_request(&phone.str("accessToken"))).await;
    assert_eq!(me(&app, &laptop.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn a_refresh_token_in_the_body_is_revoked_too_when_it_is_the_users() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let phone = register(&app, "alice@example.com", "alice").await;
    let laptop = login(&app, "alice@example.com", PASSWORD).await;
    let req = logout_request(&phone.str("accessToken"))
        .set_json(json!({"refreshToken": laptop.str("refreshToken")}));
    assert_eq!(send(&app, req).await.status, 204);
    refresh(&app, &laptop.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn logout_without_a_valid_access_token_is_401() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    send(&app, TestRequest::post().uri("/api/auth/logout"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // A refresh token is not an access token.
    send(&app, logout_request(&reg.str("refreshToken")))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(me(&app, &reg.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn a_malformed_logout_body_is_an_invalid_request_and_logs_nobody_out() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let req = logout_request(&reg.str("accessToken"))
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json");
    send(&app, req).await.assert_error(400, "INVALID_REQUEST");
    assert_eq!(me(&app, &reg.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn logging_out_twice_is_refused_the_second_time() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    assert_eq!(
        send(&app, logout_request(&reg.str("accessToken")))
            .await
            .status,
        204
    );
    send(&app, logout_request(&reg.str("accessToken")))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn an_oversized_logout_body_is_a_json_413_and_logs_nobody_out() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let req = logout_request(&reg.str("accessToken"))
        .set_json(json!({"refreshToken": "x".repeat(20_000)}));
    send(&app, req).await.assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(me(&app, &reg.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn a_logout_body_that_is_not_json_is_refused_and_logs_nobody_out() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let req = logout_request(&reg.str("accessToken"))
        .insert_header(("content-type", "text/plain"))
        .set_payload(format!(
            "{{\"refreshToken\":\"{}\"}}",
            reg.str("refreshToken")
        ));
    send(&app, req).await.assert_error(400, "INVALID_REQUEST");
    assert_eq!(me(&app, &reg.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn a_logout_body_is_json_whatever_case_or_charset_its_content_type_has() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let req = logout_request(&reg.str("accessToken"))
        .insert_header(("content-type", "Application/JSON; charset=utf-8"))
        .set_payload(json!({"refreshToken": reg.str("refreshToken")}).to_string());
    assert_eq!(send(&app, req).await.status, 204);
    me(&app, &reg.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

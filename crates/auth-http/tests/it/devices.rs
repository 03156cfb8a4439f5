use actix_web::test::TestRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::*;

async fn device<S>(app: &S, device_id: &str, platform: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post(
            "/api/auth/device",
            json!({"deviceId": device_id, "platform": platform}),
        ),
    )
    .await
}

async fn device_refresh<S>(app: &S, refresh_token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post(
            "/api/auth/device/refresh",
            json!({"refreshToken": refresh_token}),
        ),
    )
    .await
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[track_caller]
fn assert_device_session(reply: &Reply, device_id: &str, platform: &str, new_device: bool) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let b = &reply.body;
    assert_eq!(b["tokenType"], "Bearer");
    assert_eq!(b["expiresIn"], 3_600_000);
    assert!(b["refreshToken"].as_str().unwrap().starts_with("authd_rt_"));
    assert_eq!(b["device"]["deviceId"], device_id);
    assert_eq!(b["device"]["platform"], platform);
    assert!(uuid::Uuid::parse_str(b["device"]["id"].as_str().unwrap()).is_ok());
    assert!(b["device"]["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b["newDevice"], new_device);
    assert!(b.get("user").is_none());
}

#[actix_web::test]
async fn the_first_call_registers_the_device_and_later_calls_find_it() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let first = device(&app, "ABCD-1234-EFGH", "IOS").await;
    assert_device_session(&first, "ABCD-1234-EFGH", "IOS", true);
    ctx.clock.advance(3_600);
    let again = device(&app, "ABCD-1234-EFGH", "IOS").await;
    assert_device_session(&again, "ABCD-1234-EFGH", "IOS", false);
    assert_eq!(
        again.body["device"], first.body["device"],
        "the same device record"
    );
    assert_ne!(
        again.str("refreshToken"),
        first.str("refreshToken"),
        "a new session each time"
    );
}

#[actix_web::test]
async fn device_tokens_carry_the_kind_and_platform() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = device(&app, "android-device-01", "ANDROID").await;
    let c = claims(&reply.str("accessToken"));
    assert_eq!(c["kind"], "device");
    assert_eq!(c["platform"], "ANDROID");
    assert_eq!(c["sub"], reply.body["device"]["id"]);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3_600
    );
}

#[actix_web::test]
async fn anything_but_the_three_platforms_is_refused_and_stores_nothing() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for platform in [
        json!("ios"),
        json!("Android"),
        json!("WINDOWS"),
        json!(""),
        json!(1),
        Value::Null,
    ] {
        let body = json!({"deviceId": "device-0001", "platform": platform});
        send(&app, post("/api/auth/device", body))
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
    assert_eq!(
        device(&app, "device-0001", "WEB").await.body["newDevice"],
        true
    );
}

#[actix_web::test]
async fn device_ids_outside_the_contract_are_refused_and_store_nothing() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let too_long = "x".repeat(129);
    for id in [
        json!("short"),
        json!(too_long),
        json!("has spaces 123"),
        json!("semi;colon"),
        json!("ünïcöde-id"),
        json!(12345678),
    ] {
        send(
            &app,
            post(
                "/api/auth/device",
                json!({"deviceId": id, "platform": "IOS"}),
            ),
        )
        .await
        .assert_error(400, "INVALID_REQUEST");
    }
    send(&app, post("/api/auth/device", json!({"platform": "IOS"})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    assert_eq!(device(&app, "exactly8", "IOS").await.status, 200);
    assert_eq!(
        device(&app, &"x".repeat(128), "IOS").await.body["newDevice"],
        true
    );
}

#[actix_web::test]
async fn the_same_id_on_another_platform_is_another_device() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let ios = device(&app, "shared-id-01", "IOS").await;
    let web = device(&app, "shared-id-01", "WEB").await;
    assert_eq!(web.body["newDevice"], true);
    assert_ne!(ios.body["device"]["id"], web.body["device"]["id"]);
}

#[actix_web::test]
async fn me_describes_the_device() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = device(&app, "device-0001", "ANDROID").await;
    let me = me(&app, &reply.str("accessToken")).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["type"], "device");
    assert_eq!(me.body["id"], reply.body["device"]["id"]);
    assert_eq!(me.body["deviceId"], "device-0001");
    assert_eq!(me.body["platform"], "ANDROID");
    assert!(me.body.get("email").is_none());
}

#[actix_web::test]
async fn device_sessions_rotate_once_with_a_retry_grace() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let start = device(&app, "device-0001", "IOS").await;
    ctx.clock.advance(60);
    let rotated = device_refresh(&app, &start.str("refreshToken")).await;
    assert_device_session(&rotated, "device-0001", "IOS", false);
    assert_ne!(rotated.str("refreshToken"), start.str("refreshToken"));
    assert_eq!(me(&app, &rotated.str("accessToken")).await.status, 200);
    ctx.clock.advance(5);
    let retry = device_refresh(&app, &start.str("refreshToken")).await;
    assert_eq!(retry.str("refreshToken"), rotated.str("refreshToken"));
}

#[actix_web::test]
async fn reusing_a_device_refresh_token_revokes_the_device_session() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let start = device(&app, "device-0001", "IOS").await;
    let rotated = device_refresh(&app, &start.str("refreshToken")).await;
    ctx.clock.advance(10);
    device_refresh(&app, &start.str("refreshToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    device_refresh(&app, &rotated.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    me(&app, &rotated.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn expired_unknown_and_malformed_device_refreshes_are_refused() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let start = device(&app, "device-0001", "IOS").await;
    device_refresh(&app, &format!("authd_rt_{}", "B".repeat(43)))
        .await
        .assert_error(401, "INVALID_TOKEN");
    device_refresh(&app, "nonsense")
        .await
        .assert_error(401, "INVALID_TOKEN");
    device_refresh(&app, &start.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&app, post("/api/auth/device/refresh", json!({})))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(
        &app,
        post("/api/auth/device/refresh", json!({"refreshToken": 7})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    ctx.clock.advance(7 * 24 * 3600);
    device_refresh(&app, &start.str("refreshToken"))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn user_and_device_refresh_tokens_never_cross() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let d = device(&app, "device-0001", "IOS").await;
    let u = register(&app, "alice@example.com", "alice").await;
    refresh(&app, &d.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    device_refresh(&app, &u.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // The refusals consumed nothing.
    assert_eq!(
        device_refresh(&app, &d.str("refreshToken")).await.status,
        200
    );
    assert_eq!(refresh(&app, &u.str("refreshToken")).await.status, 200);
}

#[actix_web::test]
async fn logout_ends_a_device_session() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let d = device(&app, "device-0001", "IOS").await;
    let logout = TestRequest::post()
        .uri("/api/auth/logout")
        .insert_header(("authorization", format!("Bearer {}", d.str("accessToken"))));
    assert_eq!(send(&app, logout).await.status, 204);
    me(&app, &d.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    device_refresh(&app, &d.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // The device itself remains known.
    assert_eq!(
        device(&app, "device-0001", "IOS").await.body["newDevice"],
        false
    );
}

#[actix_web::test]
async fn wrong_methods_and_bodies_get_contract_errors() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    send(&app, TestRequest::get().uri("/api/auth/device"))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    send(&app, TestRequest::get().uri("/api/auth/device/refresh"))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    let huge = json!({"deviceId": "x".repeat(20_000), "platform": "IOS"});
    send(&app, post("/api/auth/device", huge))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let broken = TestRequest::post()
        .uri("/api/auth/device")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"deviceId\":");
    send(&app, broken)
        .await
        .assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn the_device_flow_works_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let first = device(&app, "pg-device-01", "ANDROID").await;
    assert_device_session(&first, "pg-device-01", "ANDROID", true);
    assert_eq!(
        device(&app, "pg-device-01", "ANDROID").await.body["newDevice"],
        false
    );
    let rotated = device_refresh(&app, &first.str("refreshToken")).await;
    assert_eq!(rotated.status, 200);
    refresh(&app, &rotated.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    ctx.clock.advance(11);
    device_refresh(&app, &first.str("refreshToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    me(&app, &rotated.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

use actix_web::test::TestRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::admin::{WALLET_PASSWORD, app_and_wallet, as_admin};
use crate::*;

async fn wallet_login<S>(app: &S, username: &str, password: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post(
            "/v2/auth/wallet/login",
            json!({"username": username, "password": password}),
        ),
    )
    .await
}

async fn wallet_refresh<S>(app: &S, access_token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = TestRequest::post()
        .uri("/v2/auth/wallet/refresh")
        .insert_header(("authorization", format!("Bearer {access_token}")));
    send(app, req).await
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[track_caller]
fn assert_wallet_token(reply: &Reply) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let keys: Vec<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        3,
        "exactly accessToken, expiresIn, tokenType: {keys:?}"
    );
    assert_eq!(reply.body["expiresIn"], 3_600);
    assert_eq!(reply.body["tokenType"], "Bearer");
}

#[actix_web::test]
async fn a_wallet_logs_in_and_its_claims_say_who_it_is() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let reply = wallet_login(&app, &format!("sensor01@{app_id}"), WALLET_PASSWORD).await;
    assert_wallet_token(&reply);
    let c = claims(&reply.str("accessToken"));
    assert_eq!(c["sub"], wallet["id"]);
    assert!(c["sub"].as_str().unwrap().starts_with("wal_"));
    assert_eq!(c["username"], "sensor01");
    assert_eq!(c["appId"], app_id.as_str());
    assert_eq!(c["role"], "device");
    assert_eq!(c["iss"], "authd");
    assert_eq!(c["kind"], "wallet");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3_600
    );
    for claim in ["jti", "sid"] {
        assert!(c[claim].is_string(), "{claim}");
    }
    let me = me(&app, &reply.str("accessToken")).await;
    assert_eq!(
        me.body,
        json!({"type": "wallet", "id": wallet["id"], "username": "sensor01", "appId": app_id, "role": "device"})
    );
}

#[actix_web::test]
async fn the_username_is_split_at_the_last_at_sign_and_must_have_one() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, _) = app_and_wallet(&app, "sensor01", "device").await;
    wallet_login(&app, "sensor01", WALLET_PASSWORD)
        .await
        .assert_error(400, "INVALID_REQUEST");
    wallet_login(&app, &format!("sensor01@x@{app_id}"), WALLET_PASSWORD)
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(
        &app,
        post(
            "/v2/auth/wallet/login",
            json!({"username": format!("sensor01@{app_id}")}),
        ),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn unknown_app_unknown_wallet_and_wrong_password_get_one_answer() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, _) = app_and_wallet(&app, "sensor01", "device").await;
    let replies = [
        wallet_login(&app, "sensor01@app_doesnotexist", WALLET_PASSWORD).await,
        wallet_login(&app, &format!("sensor99@{app_id}"), WALLET_PASSWORD).await,
        wallet_login(&app, &format!("sensor01@{app_id}"), "not the password").await,
    ];
    for r in &replies {
        r.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(r.body["error"], replies[0].body["error"]);
    }
}

#[actix_web::test]
async fn a_suspended_wallet_or_app_is_told_only_after_the_right_password() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let name = format!("sensor01@{app_id}");
    let session = wallet_login(&app, &name, WALLET_PASSWORD).await;
    let wallet_path = format!(
        "/v2/apps/{app_id}/wallets/{}",
        wallet["id"].as_str().unwrap()
    );
    let set = |path: &str, status: &str| {
        as_admin(
            TestRequest::patch()
                .uri(path)
                .set_json(json!({"status": status})),
        )
    };

    send(&app, set(&wallet_path, "suspended")).await;
    wallet_login(&app, &name, "not the password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    wallet_login(&app, &name, WALLET_PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    wallet_refresh(&app, &session.str("accessToken"))
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    me(&app, &session.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&app, set(&wallet_path, "active")).await;

    let session = wallet_login(&app, &name, WALLET_PASSWORD).await;
    send(&app, set(&format!("/v2/apps/{app_id}"), "suspended")).await;
    wallet_login(&app, &name, WALLET_PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    wallet_refresh(&app, &session.str("accessToken"))
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    send(&app, set(&format!("/v2/apps/{app_id}"), "active")).await;
    assert_eq!(wallet_login(&app, &name, WALLET_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn each_wallet_token_is_exchanged_once() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, _) = app_and_wallet(&app, "sensor01", "device").await;
    let first = wallet_login(&app, &format!("sensor01@{app_id}"), WALLET_PASSWORD).await;
    ctx.clock.advance(60);
    let second = wallet_refresh(&app, &first.str("accessToken")).await;
    assert_wallet_token(&second);
    assert_eq!(
        claims(&second.str("accessToken"))["sid"],
        claims(&first.str("accessToken"))["sid"]
    );
    assert_eq!(me(&app, &second.str("accessToken")).await.status, 200);
    ctx.clock.advance(5);
    let retry = wallet_refresh(&app, &first.str("accessToken")).await;
    assert_eq!(
        claims(&retry.str("accessToken"))["jti"],
        claims(&second.str("accessToken"))["jti"],
        "a retry within the grace gets the same link"
    );
    ctx.clock.advance(10);
    wallet_refresh(&app, &first.str("accessToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    wallet_refresh(&app, &second.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn expired_missing_and_foreign_tokens_cannot_be_exchanged() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, _) = app_and_wallet(&app, "sensor01", "device").await;
    let session = wallet_login(&app, &format!("sensor01@{app_id}"), WALLET_PASSWORD).await;
    send(&app, TestRequest::post().uri("/v2/auth/wallet/refresh"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let user = register(&app, "alice@example.com", "alice").await;
    wallet_refresh(&app, &user.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let device = send(
        &app,
        post(
            "/api/auth/device",
            json!({"deviceId": "device-0001", "platform": "IOS"}),
        ),
    )
    .await;
    wallet_refresh(&app, &device.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    wallet_refresh(&app, &user.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // Wallet tokens are refused where users or devices refresh.
    refresh(&app, &session.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(
        &app,
        post(
            "/api/auth/device/refresh",
            json!({"refreshToken": session.str("accessToken")}),
        ),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
    ctx.clock.advance(3_600 + 5);
    wallet_refresh(&app, &session.str("accessToken"))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn rotating_a_password_ends_every_session_and_says_how_many() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let name = format!("sensor01@{app_id}");
    let a = wallet_login(&app, &name, WALLET_PASSWORD).await;
    let b = wallet_login(&app, &name, WALLET_PASSWORD).await;
    let path = format!(
        "/v2/apps/{app_id}/wallets/{}/password",
        wallet["id"].as_str().unwrap()
    );
    let rotate = |pw: &str| {
        as_admin(
            TestRequest::put()
                .uri(&path)
                .set_json(json!({"password": pw})),
        )
    };
    send(&app, rotate("tiny"))
        .await
        .assert_error(400, "WEAK_PASSWORD");
    assert_eq!(
        me(&app, &a.str("accessToken")).await.status,
        200,
        "a refused rotation changes nothing"
    );
    let rotated = send(&app, rotate("sensor password 2")).await;
    assert_eq!(rotated.status, 200);
    assert_eq!(rotated.body, json!({"revokedSessions": 2}));
    for s in [&a, &b] {
        wallet_refresh(&app, &s.str("accessToken"))
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    wallet_login(&app, &name, WALLET_PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        wallet_login(&app, &name, "sensor password 2").await.status,
        200
    );
}

#[actix_web::test]
async fn a_new_role_shows_at_the_next_exchange_and_deletion_ends_everything() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let path = format!(
        "/v2/apps/{app_id}/wallets/{}",
        wallet["id"].as_str().unwrap()
    );
    let session = wallet_login(&app, &format!("sensor01@{app_id}"), WALLET_PASSWORD).await;
    send(
        &app,
        as_admin(
            TestRequest::patch()
                .uri(&path)
                .set_json(json!({"metadata": {"role": "gateway"}})),
        ),
    )
    .await;
    let next = wallet_refresh(&app, &session.str("accessToken")).await;
    assert_eq!(claims(&next.str("accessToken"))["role"], "gateway");
    assert_eq!(
        send(&app, as_admin(TestRequest::delete().uri(&path)))
            .await
            .status,
        204
    );
    me(&app, &next.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    wallet_refresh(&app, &next.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    wallet_login(&app, &format!("sensor01@{app_id}"), WALLET_PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[actix_web::test]
async fn the_wallet_flow_works_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let name = format!("SENSOR01@{app_id}");
    let session = wallet_login(&app, &name, WALLET_PASSWORD).await;
    assert_wallet_token(&session);
    let next = wallet_refresh(&app, &session.str("accessToken")).await;
    assert_wallet_token(&next);
    ctx.clock.advance(11);
    wallet_refresh(&app, &session.str("accessToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    let path = format!(
        "/v2/apps/{app_id}/wallets/{}/password",
        wallet["id"].as_str().unwrap()
    );
    let fresh = wallet_login(&app, &name, WALLET_PASSWORD).await;
    let rotated = send(
        &app,
        as_admin(
            TestRequest::put()
                .uri(&path)
                .set_json(json!({"password": "sensor password 2"})),
        ),
    )
    .await;
    assert_eq!(
        rotated.body["revokedSessions"], 1,
        "the reused session was already revoked"
    );
    me(&app, &fresh.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let listed = send(
        &app,
        as_admin(TestRequest::get().uri(&format!("/v2/apps/{app_id}/wallets?limit=1"))),
    )
    .await;
    assert_eq!(listed.body["total"], 1);
}

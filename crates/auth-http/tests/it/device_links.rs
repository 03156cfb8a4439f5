//! A user links the device their app started with, lists and unlinks it.

use actix_web::test::TestRequest;
use auth_store::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::*;

async fn device<S>(app: &S, id: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let body = json!({"deviceId": id, "platform": "IOS"});
    send(app, post("/api/auth/device", body)).await
}

async fn link<S>(app: &S, user_access: &str, device_access: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = post(
        "/api/auth/device/link",
        json!({"deviceToken": device_access}),
    )
    .insert_header(("authorization", format!("Bearer {user_access}")));
    send(app, req).await
}

async fn unlink<S>(app: &S, user_access: &str, id: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = TestRequest::delete()
        .uri(&format!("/api/auth/devices/{id}"))
        .insert_header(("authorization", format!("Bearer {user_access}")));
    send(app, req).await
}

/// The claims of an access token, read without checking it (the test trusts authd).
fn claims(access: &str) -> Value {
    use base64::Engine;
    let payload = access.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn linking_story(ctx: Ctx) {
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let bob = register(&app, "bob@example.com", "bob").await;
    let phone = device(&app, "phone-of-alice-01").await;
    let alice_id = alice.body["user"]["id"].clone();

    let linked = link(&app, &alice.str("accessToken"), &phone.str("accessToken")).await;
    assert_eq!(linked.status, 200, "{linked:?}");
    assert_eq!(linked.body["device"]["userId"], alice_id);
    assert_eq!(linked.body["device"]["deviceId"], "phone-of-alice-01");
    let device_id = linked.body["device"]["id"].as_str().unwrap().to_owned();

    // From then on the device's tokens and `me` name its user.
    let refreshed = send(
        &app,
        post(
            "/api/auth/device/refresh",
            json!({"refreshToken": phone.str("refreshToken")}),
        ),
    )
    .await;
    assert_eq!(claims(&refreshed.str("accessToken"))["userId"], alice_id);
    assert_eq!(refreshed.body["device"]["userId"], alice_id);
    let described = me(&app, &refreshed.str("accessToken")).await;
    assert_eq!(described.body["type"], "device");
    assert_eq!(described.body["userId"], alice_id);

    link(&app, &bob.str("accessToken"), &refreshed.str("accessToken"))
        .await
        .assert_error(409, "DEVICE_LINKED");
    let listed = send(
        &app,
        get_with("/api/auth/devices", &alice.str("accessToken")),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let bobs = send(&app, get_with("/api/auth/devices", &bob.str("accessToken"))).await;
    assert_eq!(bobs.body, json!({"items": []}));

    unlink(&app, &bob.str("accessToken"), &device_id)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(me(&app, &refreshed.str("accessToken")).await.status, 200);
    let unlinked = unlink(&app, &alice.str("accessToken"), &device_id).await;
    assert_eq!(unlinked.status, 204, "{unlinked:?}");
    me(&app, &refreshed.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let again = device(&app, "phone-of-alice-01").await;
    assert!(claims(&again.str("accessToken")).get("userId").is_none());
    assert!(again.body["device"].get("userId").is_none());
}

#[actix_web::test]
async fn a_user_links_lists_and_unlinks_a_device() {
    linking_story(Ctx::new()).await;
}

#[actix_web::test]
async fn devices_are_linked_on_postgres() {
    if let Some(db) = TestDatabase::postgres() {
        linking_story(Ctx::on(db)).await;
    }
}

#[actix_web::test]
async fn only_a_user_links_and_only_a_device_token_is_linked() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let phone = device(&app, "phone-of-alice-01").await;
    link(&app, &phone.str("accessToken"), &phone.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    link(&app, &alice.str("accessToken"), &alice.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    link(&app, &alice.str("accessToken"), "garbage")
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(
        &app,
        get_with("/api/auth/devices", &phone.str("accessToken")),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

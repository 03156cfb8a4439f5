use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::*;

/// A request with the bootstrap admin token.
pub(crate) fn as_admin(req: TestRequest) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {ADMIN_TOKEN}")))
}

/// Creates an app and a wallet in it through the admin API; returns (appId, wallet body).
pub(crate) async fn app_and_wallet<S>(app: &S, username: &str, role: &str) -> (String, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let created = send(app, as_admin(post("/v2/apps", json!({"name": "Sensors"})))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let app_id = created.str("appId");
    let body =
        json!({"username": username, "password": WALLET_PASSWORD, "metadata": {"role": role}});
    let wallet = send(
        app,
        as_admin(post(&format!("/v2/apps/{app_id}/wallets"), body)),
    )
    .await;
    assert_eq!(wallet.status, 201, "{wallet:?}");
    (app_id, wallet.body)
}

pub(crate) const WALLET_PASSWORD: &str = "sensor password 1";

#[actix_web::test]
async fn admin_routes_need_the_bootstrap_token_or_an_admin_user() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let list = || TestRequest::get().uri("/v2/apps");
    send(&app, list()).await.assert_error(401, "INVALID_TOKEN");
    send(
        &app,
        list().insert_header(("authorization", "Bearer not-the-admin-token")),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
    assert_eq!(send(&app, as_admin(list())).await.status, 200);

    let user = register(&app, "alice@example.com", "alice").await;
    let with_user = || {
        list().insert_header((
            "authorization",
            format!("Bearer {}", user.str("accessToken")),
        ))
    };
    send(&app, with_user()).await.assert_error(403, "FORBIDDEN");

    // Granting ADMIN takes effect at once: the role is read from the database.
    let id = user.body["user"]["id"].as_str().unwrap().to_owned();
    let grant = as_admin(
        TestRequest::patch()
            .uri(&format!("/api/admin/users/{id}"))
            .set_json(json!({"roles": ["USER", "ADMIN"]})),
    );
    let granted = send(&app, grant).await;
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(granted.body["roles"], json!(["USER", "ADMIN"]));
    assert_eq!(send(&app, with_user()).await.status, 200);

    // Device and wallet tokens are the wrong kind for administration.
    let device = send(
        &app,
        post(
            "/api/auth/device",
            json!({"deviceId": "device-0001", "platform": "IOS"}),
        ),
    )
    .await;
    send(
        &app,
        list().insert_header((
            "authorization",
            format!("Bearer {}", device.str("accessToken")),
        )),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn apps_are_created_listed_in_pages_read_and_suspended() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let created = send(&app, as_admin(post("/v2/apps", json!({"name": "Sensors"})))).await;
    assert_eq!(created.status, 201);
    let id = created.str("appId");
    assert!(id.starts_with("app_") && id.len() > 20, "unguessable: {id}");
    assert_eq!(created.body["name"], "Sensors");
    assert_eq!(created.body["status"], "active");
    assert!(created.body["createdAt"].as_str().unwrap().ends_with('Z'));
    for i in 0..3 {
        ctx.clock.advance(1);
        send(
            &app,
            as_admin(post("/v2/apps", json!({"name": format!("app {i}")}))),
        )
        .await;
    }
    let page = send(
        &app,
        as_admin(TestRequest::get().uri("/v2/apps?limit=2&offset=1")),
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["total"], 4);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["items"][0]["name"], "app 0");
    send(&app, as_admin(TestRequest::get().uri("/v2/apps?limit=0")))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, as_admin(TestRequest::get().uri("/v2/apps?limit=abc")))
        .await
        .assert_error(400, "INVALID_REQUEST");

    let one = send(
        &app,
        as_admin(TestRequest::get().uri(&format!("/v2/apps/{id}"))),
    )
    .await;
    assert_eq!(one.body, created.body);
    send(
        &app,
        as_admin(TestRequest::get().uri("/v2/apps/app_unknown")),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    send(&app, as_admin(TestRequest::get().uri("/v2/apps/nonsense")))
        .await
        .assert_error(404, "NOT_FOUND");

    let patch = |body: Value| {
        as_admin(
            TestRequest::patch()
                .uri(&format!("/v2/apps/{id}"))
                .set_json(body),
        )
    };
    let suspended = send(&app, patch(json!({"status": "suspended"}))).await;
    assert_eq!(
        (suspended.status.as_u16(), suspended.body["status"].clone()),
        (200, json!("suspended"))
    );
    send(&app, patch(json!({"status": "paused"})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    let unknown = send(&app, patch(json!({"status": "active", "color": "red"}))).await;
    unknown.assert_error(400, "INVALID_REQUEST");
    assert!(unknown.body["error"].as_str().unwrap().contains("color"));
    let still = send(
        &app,
        as_admin(TestRequest::get().uri(&format!("/v2/apps/{id}"))),
    )
    .await;
    assert_eq!(
        still.body["status"], "suspended",
        "a refused patch changes nothing"
    );
    send(&app, as_admin(post("/v2/apps", json!({"name": ""}))))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, as_admin(post("/v2/apps", json!({}))))
        .await
        .assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn wallets_are_created_listed_read_updated_and_deleted() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let wid = wallet["id"].as_str().unwrap().to_owned();
    assert!(wid.starts_with("wal_"));
    assert_eq!(wallet["username"], "sensor01");
    assert_eq!(wallet["appId"], app_id.as_str());
    assert_eq!(wallet["role"], "device");
    assert_eq!(wallet["status"], "active");
    assert!(wallet.get("password").is_none() && !wallet.to_string().contains(WALLET_PASSWORD));

    let wallets = format!("/v2/apps/{app_id}/wallets");
    let create = |body: Value| as_admin(post(&wallets, body));
    send(&app, create(json!({"username": "SENSOR01", "password": WALLET_PASSWORD, "metadata": {"role": "device"}}))).await.assert_error(409, "ACCOUNT_EXISTS");
    send(
        &app,
        create(
            json!({"username": "sensor02", "password": "short", "metadata": {"role": "device"}}),
        ),
    )
    .await
    .assert_error(400, "WEAK_PASSWORD");
    send(&app, create(json!({"username": "sensor02", "password": WALLET_PASSWORD, "metadata": {"role": "has space"}}))).await.assert_error(400, "INVALID_REQUEST");
    send(
        &app,
        create(
            json!({"username": "s@x", "password": WALLET_PASSWORD, "metadata": {"role": "device"}}),
        ),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    send(
        &app,
        create(json!({"username": "sensor02", "password": WALLET_PASSWORD})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    let elsewhere = json!({"username": "sensor02", "password": WALLET_PASSWORD, "metadata": {"role": "device"}});
    send(
        &app,
        as_admin(post("/v2/apps/app_unknown/wallets", elsewhere)),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    let listed = send(&app, as_admin(TestRequest::get().uri(&wallets))).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["items"][0], wallet);
    let one = format!("{wallets}/{wid}");
    assert_eq!(
        send(&app, as_admin(TestRequest::get().uri(&one)))
            .await
            .body,
        wallet
    );
    send(
        &app,
        as_admin(TestRequest::get().uri(&format!("{wallets}/wal_unknown"))),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    let patch = |body: Value| as_admin(TestRequest::patch().uri(&one).set_json(body));
    let updated = send(&app, patch(json!({"metadata": {"role": "gateway"}}))).await;
    assert_eq!(
        (updated.status.as_u16(), updated.body["role"].clone()),
        (200, json!("gateway"))
    );
    send(&app, patch(json!({"status": "gone"})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, patch(json!({"role": "gateway"})))
        .await
        .assert_error(400, "INVALID_REQUEST");

    assert_eq!(
        send(&app, as_admin(TestRequest::delete().uri(&one)))
            .await
            .status,
        204
    );
    send(&app, as_admin(TestRequest::get().uri(&one)))
        .await
        .assert_error(404, "NOT_FOUND");
    send(&app, as_admin(TestRequest::delete().uri(&one)))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[actix_web::test]
async fn a_wallet_is_not_reachable_through_another_app() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (_, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let (other, _) = app_and_wallet(&app, "sensor09", "device").await;
    let wid = wallet["id"].as_str().unwrap();
    let path = format!("/v2/apps/{other}/wallets/{wid}");
    send(&app, as_admin(TestRequest::get().uri(&path)))
        .await
        .assert_error(404, "NOT_FOUND");
    send(&app, as_admin(TestRequest::delete().uri(&path)))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[actix_web::test]
async fn users_can_be_suspended_and_given_roles_by_an_admin() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let user = register(&app, "alice@example.com", "alice").await;
    let id = user.body["user"]["id"].as_str().unwrap().to_owned();
    let patch = |body: Value| {
        as_admin(
            TestRequest::patch()
                .uri(&format!("/api/admin/users/{id}"))
                .set_json(body),
        )
    };
    let suspended = send(&app, patch(json!({"status": "suspended"}))).await;
    assert_eq!(suspended.body["status"], "suspended");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    send(&app, patch(json!({"status": "active"}))).await;
    assert_eq!(login(&app, "alice@example.com", PASSWORD).await.status, 200);
    send(&app, patch(json!({"roles": ["admin"]})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, patch(json!({"status": "banned"})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, patch(json!({"email": "x@y.zz"})))
        .await
        .assert_error(400, "INVALID_REQUEST");
    let nobody = as_admin(
        TestRequest::patch()
            .uri("/api/admin/users/no-such-user")
            .set_json(json!({"status": "active"})),
    );
    send(&app, nobody).await.assert_error(404, "NOT_FOUND");
}

#[actix_web::test]
async fn admin_paths_answer_405_for_other_methods() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = send(&app, as_admin(TestRequest::delete().uri("/v2/apps"))).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    send(
        &app,
        as_admin(TestRequest::get().uri("/v2/apps/app_x/wallets/wal_x/password")),
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[actix_web::test]
async fn a_caller_who_is_not_an_admin_is_refused_whatever_body_it_sends() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let user = register(&app, "alice@example.com", "alice").await;
    let bearer = format!("Bearer {}", user.str("accessToken"));
    let create = |payload: String| {
        TestRequest::post()
            .uri("/v2/apps")
            .insert_header(("content-type", "application/json"))
            .set_payload(payload)
    };
    let broken = || create("{not json".into());
    let oversized = || create(format!("{{\"name\": \"{}\"}}", "x".repeat(20 * 1024)));

    send(&app, broken())
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&app, oversized())
        .await
        .assert_error(401, "INVALID_TOKEN");
    let not_admin = |req: TestRequest| req.insert_header(("authorization", bearer.clone()));
    send(&app, not_admin(broken()))
        .await
        .assert_error(403, "FORBIDDEN");
    send(&app, not_admin(oversized()))
        .await
        .assert_error(403, "FORBIDDEN");
    let unknown = |req: TestRequest| req.insert_header(("authorization", "Bearer eyJ.x.y"));
    send(&app, unknown(broken()))
        .await
        .assert_error(401, "INVALID_TOKEN");

    // An administrator is told what is wrong with the body.
    send(&app, as_admin(broken()))
        .await
        .assert_error(400, "INVALID_REQUEST");
    send(&app, as_admin(oversized()))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[actix_web::test]
async fn text_that_is_no_id_is_not_found_on_sqlite() {
    text_that_is_no_id_is_not_found(Ctx::new()).await;
}

#[actix_web::test]
async fn text_that_is_no_id_is_not_found_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    text_that_is_no_id_is_not_found(Ctx::on(db)).await;
}

/// PostgreSQL refuses text with a NUL in it; an admin who sends one (`%00`) in a path or a
/// filter gets the contract's 404 or 400, not a 500, and nothing changes.
async fn text_that_is_no_id_is_not_found(ctx: Ctx) {
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let user = register(&app, "alice@example.com", "alice").await;
    for id in ["%00", "wal_%00", "sensor01"] {
        let path = format!("/v2/apps/{app_id}/wallets/{id}");
        send(&app, as_admin(TestRequest::get().uri(&path)))
            .await
            .assert_error(404, "NOT_FOUND");
        let suspend = TestRequest::patch()
            .uri(&path)
            .set_json(json!({"status": "suspended"}));
        send(&app, as_admin(suspend))
            .await
            .assert_error(404, "NOT_FOUND");
        let password = TestRequest::put()
            .uri(&format!("{path}/password"))
            .set_json(json!({"password": "another sensor password"}));
        send(&app, as_admin(password))
            .await
            .assert_error(404, "NOT_FOUND");
        send(&app, as_admin(TestRequest::delete().uri(&path)))
            .await
            .assert_error(404, "NOT_FOUND");
    }
    let suspend_user = TestRequest::patch()
        .uri("/api/admin/users/%00")
        .set_json(json!({"status": "suspended"}));
    send(&app, as_admin(suspend_user))
        .await
        .assert_error(404, "NOT_FOUND");
    for filter in ["principal=%00", "event=login%00"] {
        send(
            &app,
            as_admin(TestRequest::get().uri(&format!("/v2/audit?{filter}"))),
        )
        .await
        .assert_error(400, "INVALID_REQUEST");
    }

    let wid = wallet["id"].as_str().unwrap();
    let kept = send(
        &app,
        as_admin(TestRequest::get().uri(&format!("/v2/apps/{app_id}/wallets/{wid}"))),
    )
    .await;
    assert_eq!(kept.body["status"], "active", "{kept:?}");
    assert_eq!(
        login(&app, "alice@example.com", PASSWORD).await.status,
        200,
        "{user:?}"
    );
}

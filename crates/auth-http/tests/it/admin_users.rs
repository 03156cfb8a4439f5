//! Operators list and search users, look at one, delete one, and list and end a user's
//! sessions.

use actix_web::test::TestRequest;
use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::admin::as_admin;
use crate::*;

async fn admin_get<S>(app: &S, uri: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(app, as_admin(TestRequest::get().uri(uri))).await
}

async fn admin_delete<S>(app: &S, uri: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(app, as_admin(TestRequest::delete().uri(uri))).await
}

async fn operators_story(ctx: Ctx) {
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    register(&app, "bob@example.org", "bob").await;
    register(&app, "carol@example.com", "carol").await;
    let second = login(&app, "alice@example.com", PASSWORD).await;
    let id = alice.body["user"]["id"].as_str().unwrap().to_owned();

    let all = admin_get(&app, "/api/admin/users?limit=2").await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let found = admin_get(&app, "/api/admin/users?email=EXAMPLE.COM").await;
    assert_eq!(found.body["total"], 2);
    let one = admin_get(&app, "/api/admin/users?email=bob%40").await;
    assert_eq!(one.body["items"][0]["username"], "bob");

    let shown = admin_get(&app, &format!("/api/admin/users/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["email"], "alice@example.com");
    assert_eq!(shown.body["emailVerified"], false);
    assert_eq!(shown.body["status"], "active");
    assert!(shown.body["createdAt"].is_string());

    let sessions = admin_get(&app, &format!("/api/admin/users/{id}/sessions")).await;
    assert_eq!(sessions.body["total"], 2, "{sessions:?}");
    assert_eq!(sessions.body["items"][0]["current"], false);
    let ended = admin_delete(&app, &format!("/api/admin/users/{id}/sessions")).await;
    assert_eq!(ended.body, json!({"revokedSessions": 2}));
    me(&app, &second.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");

    let deleted = admin_delete(&app, &format!("/api/admin/users/{id}")).await;
    assert_eq!(deleted.status, 204);
    admin_get(&app, &format!("/api/admin/users/{id}"))
        .await
        .assert_error(404, "NOT_FOUND");
    admin_delete(&app, &format!("/api/admin/users/{id}"))
        .await
        .assert_error(404, "NOT_FOUND");
    admin_get(&app, &format!("/api/admin/users/{id}/sessions"))
        .await
        .assert_error(404, "NOT_FOUND");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    let trail = crate::audit::trail(&app, "event=admin.delete_user", 1).await;
    assert_eq!(trail[0]["principal"], id);
}

#[actix_web::test]
async fn an_operator_finds_inspects_signs_out_and_deletes_a_user() {
    operators_story(Ctx::new()).await;
}

#[actix_web::test]
async fn operators_manage_users_on_postgres() {
    if let Some(db) = TestDatabase::postgres() {
        operators_story(Ctx::on(db)).await;
    }
}

#[actix_web::test]
async fn only_administrators_see_users() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let access = alice.str("accessToken");
    send(&app, get_with("/api/admin/users", &access))
        .await
        .assert_error(403, "FORBIDDEN");
    send(&app, TestRequest::get().uri("/api/admin/users"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    admin_get(&app, "/api/admin/users?email=%07")
        .await
        .assert_error(400, "INVALID_REQUEST");
    admin_get(&app, "/api/admin/users?limit=201")
        .await
        .assert_error(400, "INVALID_REQUEST");
}

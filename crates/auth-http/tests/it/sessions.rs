//! A user or a device sees its live sessions, ends one, or signs out everywhere.

use actix_web::test::TestRequest;
use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::*;

async fn sessions<S>(app: &S, access: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(app, get_with("/api/auth/sessions", access)).await
}

async fn end<S>(app: &S, access: &str, id: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = TestRequest::delete()
        .uri(&format!("/api/auth/sessions/{id}"))
        .insert_header(("authorization", format!("Bearer {access}")));
    send(app, req).await
}

async fn end_all<S>(app: &S, access: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = TestRequest::delete()
        .uri("/api/auth/sessions")
        .insert_header(("authorization", format!("Bearer {access}")));
    send(app, req).await
}

async fn login_from<S>(app: &S, agent: &str, peer: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = post(
        "/api/auth/login",
        json!({"email": "alice@example.com", "password": PASSWORD}),
    )
    .insert_header(("user-agent", agent));
    send_from(app, req, peer).await
}

#[actix_web::test]
async fn a_user_sees_where_each_live_session_was_started() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    ctx.clock.advance(60);
    let phone = login_from(&app, "MyApp/2.1 (iPhone; iOS 18.1)", "198.51.100.7").await;
    ctx.clock.advance(60);
    let laptop = login_from(&app, "Mozilla/5.0 (X11; Linux x86_64)", "2001:db8::1").await;
    let ended = login(&app, "alice@example.com", PASSWORD).await;
    send(
        &app,
        TestRequest::post().uri("/api/auth/logout").insert_header((
            "authorization",
            format!("Bearer {}", ended.str("accessToken")),
        )),
    )
    .await;
    ctx.clock.advance(60);
    refresh(&app, &phone.str("refreshToken")).await;

    let listed = sessions(&app, &laptop.str("accessToken")).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    assert_eq!(listed.body["total"], 3);
    assert_eq!(
        (listed.body["limit"].clone(), listed.body["offset"].clone()),
        (json!(50), json!(0))
    );
    let items = listed.body["items"].as_array().unwrap();
    let newest = &items[0];
    assert_eq!(newest["current"], true);
    assert_eq!(newest["userAgent"], "Mozilla/5.0 (X11; Linux x86_64)");
    assert_eq!(newest["ipAddress"], "2001:db8::1");
    assert!(newest.get("platform").is_none());
    let on_phone = &items[1];
    assert_eq!(on_phone["current"], false);
    assert_eq!(on_phone["ipAddress"], "198.51.100.7");
    assert_ne!(
        on_phone["lastUsedAt"], on_phone["createdAt"],
        "the refresh counts as a use"
    );
    for key in ["id", "createdAt", "lastUsedAt", "expiresAt"] {
        assert!(on_phone[key].is_string(), "{key}: {on_phone}");
    }
    let paged = send(
        &app,
        get_with(
            "/api/auth/sessions?limit=1&offset=2",
            &laptop.str("accessToken"),
        ),
    )
    .await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    send(
        &app,
        get_with("/api/auth/sessions?limit=0", &laptop.str("accessToken")),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn a_user_ends_one_session_and_cannot_end_anothers() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let other = login(&app, "alice@example.com", PASSWORD).await;
    let bob = register(&app, "bob@example.com", "bob").await;
    let bobs_session = sessions(&app, &bob.str("accessToken")).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let others_session = sessions(&app, &other.str("accessToken")).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = alice.str("accessToken");

    end(&app, &access, &bobs_session)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(me(&app, &bob.str("accessToken")).await.status, 200);
    end(&app, &access, &"x".repeat(65))
        .await
        .assert_error(404, "NOT_FOUND");

    let ended = end(&app, &access, &others_session).await;
    assert_eq!(ended.status, 204, "{ended:?}");
    me(&app, &other.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    end(&app, &access, &others_session)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(sessions(&app, &access).await.body["total"], 1);
}

#[actix_web::test]
async fn signing_out_everywhere_ends_the_current_session_too() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let other = login(&app, "alice@example.com", PASSWORD).await;
    let bob = register(&app, "bob@example.com", "bob").await;
    let access = alice.str("accessToken");

    let out = end_all(&app, &access).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.body, json!({"revokedSessions": 2}));
    me(&app, &access).await.assert_error(401, "INVALID_TOKEN");
    refresh(&app, &other.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(me(&app, &bob.str("accessToken")).await.status, 200);
    sessions(&app, &access)
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn a_device_sees_and_ends_its_own_sessions_with_its_platform() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let device = |id: &str| {
        post(
            "/api/auth/device",
            json!({"deviceId": id, "platform": "ANDROID"}),
        )
    };
    let first = send(&app, device("device-0001")).await;
    let second = send(&app, device("device-0001")).await;
    let stranger = send(&app, device("device-0002")).await;

    let listed = sessions(&app, &first.str("accessToken")).await;
    assert_eq!(listed.body["total"], 2, "{listed:?}");
    assert_eq!(listed.body["items"][0]["platform"], "ANDROID");
    let strangers = sessions(&app, &stranger.str("accessToken")).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    end(&app, &first.str("accessToken"), &strangers)
        .await
        .assert_error(404, "NOT_FOUND");
    let out = end_all(&app, &second.str("accessToken")).await;
    assert_eq!(out.body, json!({"revokedSessions": 2}));
    assert_eq!(me(&app, &stranger.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn sessions_are_listed_and_ended_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    ctx.clock.advance(1);
    let other = login_from(&app, "curl/8.5", "203.0.113.5").await;
    let bob = register(&app, "bob@example.com", "bob").await;
    let access = alice.str("accessToken");
    let listed = sessions(&app, &access).await;
    assert_eq!(listed.body["total"], 2);
    let other_id = listed.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed.body["items"][0]["userAgent"], "curl/8.5");
    let bobs = sessions(&app, &bob.str("accessToken")).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    end(&app, &access, &bobs)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(end(&app, &access, &other_id).await.status, 204);
    me(&app, &other.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        end_all(&app, &access).await.body,
        json!({"revokedSessions": 1})
    );
}

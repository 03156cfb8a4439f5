use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::admin::{WALLET_PASSWORD, app_and_wallet, as_admin};
use crate::*;

/// Reads the trail (as the bootstrap admin) until `query` matches at least `at_least`
/// events; the writer is asynchronous.
pub(crate) async fn trail<S>(app: &S, query: &str, at_least: usize) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut items = Vec::new();
    for _ in 0..100 {
        let reply = send(
            app,
            as_admin(TestRequest::get().uri(&format!("/v2/audit?limit=200&{query}"))),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        items = reply.body["items"].as_array().unwrap().clone();
        if items.len() >= at_least {
            return items;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("only {} audit events for {query}: {items:?}", items.len());
}

fn has(events: &[Value], event: &str, outcome: &str, code: Option<&str>) -> bool {
    events
        .iter()
        .any(|e| e["event"] == event && e["outcome"] == outcome && e["code"] == json!(code))
}

#[actix_web::test]
async fn every_authentication_event_lands_in_the_trail_without_secrets() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    login(&app, "alice@example.com", "wrong password").await;
    let session = login(&app, "alice@example.com", PASSWORD).await;
    let rotated = refresh(&app, &session.str("refreshToken")).await;
    ctx.clock.advance(11);
    refresh(&app, &session.str("refreshToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    let logout = TestRequest::post().uri("/api/auth/logout").insert_header((
        "authorization",
        format!("Bearer {}", reg.str("accessToken")),
    ));
    assert_eq!(send(&app, logout).await.status, 204);
    for _ in 0..5 {
        login(&app, "bob@example.com", "wrong password").await;
    }
    login(&app, "bob@example.com", "wrong password")
        .await
        .assert_error(429, "RATE_LIMITED");

    // register, 2 logins, 2 refreshes, logout, 5 failed logins and 1 throttled: 12 events,
    // of which bob's 5 identical failures are one row counting 5.
    let events = trail(&app, "", 8).await;
    assert_eq!(events.len(), 8, "{events:?}");
    let counted: u64 = events.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 12);
    assert!(has(&events, "register", "success", None));
    assert!(has(
        &events,
        "login",
        "failure",
        Some("INVALID_CREDENTIALS")
    ));
    assert!(has(&events, "login", "success", None));
    assert!(has(&events, "refresh", "success", None));
    assert!(has(
        &events,
        "refresh",
        "failure",
        Some("REFRESH_TOKEN_REUSED")
    ));
    assert!(has(&events, "logout", "success", None));
    assert!(has(&events, "login", "failure", Some("RATE_LIMITED")));
    let user_id = reg.body["user"]["id"].as_str().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["principal"] == user_id && e["clientAddr"] == "127.0.0.1")
    );
    // Newest first.
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["at"].as_str() >= w[1]["at"].as_str())
    );

    let text = serde_json::to_string(&events).unwrap();
    for secret in [
        PASSWORD,
        "wrong password",
        &session.str("refreshToken"),
        &rotated.str("refreshToken"),
        &session.str("accessToken"),
    ] {
        assert!(!text.contains(secret), "the trail leaks a secret");
    }
}

#[actix_web::test]
async fn administrative_changes_name_their_actor_and_filters_narrow_the_trail() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let (app_id, wallet) = app_and_wallet(&app, "sensor01", "device").await;
    let wid = wallet["id"].as_str().unwrap();
    let path = format!("/v2/apps/{app_id}/wallets/{wid}");
    send(
        &app,
        as_admin(
            TestRequest::patch()
                .uri(&path)
                .set_json(json!({"status": "suspended"})),
        ),
    )
    .await;
    let login = post(
        "/v2/auth/wallet/login",
        json!({"username": format!("sensor01@{app_id}"), "password": WALLET_PASSWORD}),
    );
    send(&app, login)
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");

    let changes = trail(&app, "event=admin.update_wallet", 1).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["principal"], wid);
    assert_eq!(changes[0]["actor"], "bootstrap-admin");
    let refused = trail(&app, &format!("principal=sensor01@{app_id}"), 1).await;
    assert!(has(
        &refused,
        "wallet_login",
        "failure",
        Some("ACCOUNT_INACTIVE")
    ));

    let password = format!("{path}/password");
    send(
        &app,
        as_admin(
            TestRequest::put()
                .uri(&password)
                .set_json(json!({"password": "sensor password 2"})),
        ),
    )
    .await;
    send(
        &app,
        as_admin(
            TestRequest::patch()
                .uri(&format!("/v2/apps/{app_id}"))
                .set_json(json!({"status": "suspended"})),
        ),
    )
    .await;
    let rotated = trail(&app, "event=admin.rotate_wallet_password", 1).await;
    assert_eq!(rotated[0]["principal"], wid);
    let suspended = trail(&app, "event=admin.suspend_app", 1).await;
    assert_eq!(suspended[0]["principal"], app_id.as_str());

    let future = send(
        &app,
        as_admin(TestRequest::get().uri("/v2/audit?since=2100-01-01T00:00:00Z")),
    )
    .await;
    assert_eq!(future.body["total"], 0);
    send(
        &app,
        as_admin(TestRequest::get().uri("/v2/audit?since=yesterday")),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    send(&app, TestRequest::get().uri("/v2/audit"))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn a_flood_of_failed_bearer_checks_from_one_address_is_one_counted_row() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for n in 0..400 {
        let req = TestRequest::get()
            .uri("/api/auth/me")
            .insert_header(("authorization", format!("Bearer not-a-token-{n}")));
        send_from(&app, req, "203.0.113.9")
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    assert!(ctx.state.audit().flush(std::time::Duration::from_secs(5)));
    let events = trail(&app, "event=bearer", 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["count"], 400);
    assert_eq!(events[0]["clientAddr"], "203.0.113.9");
    // A minute on, the same failure starts a new row.
    ctx.clock.advance(60);
    let req = TestRequest::get()
        .uri("/api/auth/me")
        .insert_header(("authorization", "Bearer not-a-token"));
    send_from(&app, req, "203.0.113.9").await;
    assert_eq!(trail(&app, "event=bearer", 2).await.len(), 2);
}

//! A web app on an allowed origin: CORS, the refresh token in an HttpOnly cookie, and the
//! CSRF checks on every request the cookie authenticates.

use actix_web::test::TestRequest;
use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::*;

const APP: &str = "https://app.example.com";
const ELSEWHERE: &str = "https://evil.example";

fn browser_ctx() -> Ctx {
    Ctx::for_browsers(
        TestDatabase::sqlite(),
        &format!("{APP}, http://127.0.0.1:5173"),
    )
}

/// A request as the app's page sends it: its origin and the session header.
fn from_page(req: TestRequest, origin: &str) -> TestRequest {
    req.insert_header(("origin", origin))
        .insert_header(("x-authd-session", "cookie"))
}

/// The `authd_rt` cookie a response sets, whole (`authd_rt=…; Max-Age=…; …`).
fn set_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("authd_rt="))
        .map(str::to_owned)
}

/// The value of the cookie a response sets.
fn cookie_value(reply: &Reply) -> String {
    let cookie = set_cookie(reply).expect("a refresh cookie");
    cookie["authd_rt=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn cookie_login<S>(app: &S) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = post(
        "/api/auth/login",
        json!({"email": "alice@example.com", "password": PASSWORD}),
    );
    send(app, from_page(req, APP)).await
}

fn refresh_with_cookie(cookie: &str) -> TestRequest {
    post("/api/auth/refresh", json!({})).insert_header(("cookie", format!("authd_rt={cookie}")))
}

#[actix_web::test]
async fn a_cookie_session_keeps_the_refresh_token_out_of_page_scripts() {
    let ctx = browser_ctx();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;

    let login = cookie_login(&app).await;
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.get("refreshToken").is_none(), "{:?}", login.body);
    assert!(login.body["accessToken"].is_string());
    let cookie = set_cookie(&login).unwrap();
    assert!(
        cookie.ends_with("; Max-Age=604800; Path=/api/auth; HttpOnly; Secure; SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(
        login.header("access-control-allow-origin"),
        Some(APP),
        "CORS for the app's origin"
    );
    assert_eq!(
        login.header("access-control-allow-credentials"),
        Some("true")
    );

    // The page refreshes with the cookie alone and gets the next one.
    let refreshed = send(
        &app,
        from_page(refresh_with_cookie(&cookie_value(&login)), APP),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert!(refreshed.body.get("refreshToken").is_none());
    let next = cookie_value(&refreshed);
    assert_ne!(next, cookie_value(&login));

    // A response that was lost is retried within the grace: the same successor cookie.
    let retried = send(
        &app,
        from_page(refresh_with_cookie(&cookie_value(&login)), APP),
    )
    .await;
    assert_eq!(retried.status, 200);
    assert_eq!(cookie_value(&retried), next);

    // Logout ends the session and clears the cookie.
    let access = refreshed.str("accessToken");
    let logout = from_page(
        TestRequest::post()
            .uri("/api/auth/logout")
            .insert_header(("authorization", format!("Bearer {access}")))
            .insert_header(("cookie", format!("authd_rt={next}"))),
        APP,
    );
    let out = send(&app, logout).await;
    assert_eq!(out.status, 204);
    assert!(
        set_cookie(&out)
            .unwrap()
            .starts_with("authd_rt=; Max-Age=0; Path=/api/auth")
    );
    send(&app, from_page(refresh_with_cookie(&next), APP))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn a_cookie_without_the_header_or_from_another_origin_is_forbidden() {
    let ctx = browser_ctx();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let cookie = cookie_value(&cookie_login(&app).await);

    // A form or a script on another site: the browser sends the cookie (were it not
    // SameSite), but not the header, or not from an allowed origin.
    let no_header = refresh_with_cookie(&cookie).insert_header(("origin", APP));
    send(&app, no_header).await.assert_error(403, "FORBIDDEN");
    let foreign = from_page(refresh_with_cookie(&cookie), ELSEWHERE);
    let refused = send(&app, foreign).await;
    refused.assert_error(403, "FORBIDDEN");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    // No Origin at all: only a same-site fetch is believed.
    let same_site = refresh_with_cookie(&cookie)
        .insert_header(("x-authd-session", "cookie"))
        .insert_header(("sec-fetch-site", "cross-site"));
    send(&app, same_site).await.assert_error(403, "FORBIDDEN");
    let same_origin = refresh_with_cookie(&cookie)
        .insert_header(("x-authd-session", "cookie"))
        .insert_header(("sec-fetch-site", "same-origin"));
    assert_eq!(
        send(&app, same_origin).await.status,
        200,
        "the cookie was not spent by the refusals"
    );
}

#[actix_web::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let ctx = browser_ctx();
    let app = ctx.app().await;
    let preflight = |origin: &str| {
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api/auth/refresh")
            .insert_header(("origin", origin.to_owned()))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header((
                "access-control-request-headers",
                "content-type, x-authd-session",
            ))
    };
    let allowed = send(&app, preflight("http://127.0.0.1:5173")).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("x-authd-session"), "{headers}");

    let foreign = send(&app, preflight(ELSEWHERE)).await;
    foreign.assert_error(403, "FORBIDDEN");
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    // What a client must be able to read is exposed.
    let answer = send(
        &app,
        post("/api/auth/refresh", json!({"refreshToken": "nope"})).insert_header(("origin", APP)),
    )
    .await;
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[actix_web::test]
async fn signing_out_everywhere_clears_the_cookie_and_devices_get_cookies_too() {
    let ctx = browser_ctx();
    let app = ctx.app().await;
    let device = send(
        &app,
        from_page(
            post(
                "/api/auth/device",
                json!({"deviceId": "browser-install-1", "platform": "WEB"}),
            ),
            APP,
        ),
    )
    .await;
    assert!(device.body.get("refreshToken").is_none());
    let cookie = cookie_value(&device);
    let refreshed = send(
        &app,
        from_page(
            post("/api/auth/device/refresh", json!({}))
                .insert_header(("cookie", format!("authd_rt={cookie}"))),
            APP,
        ),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let everywhere = TestRequest::delete()
        .uri("/api/auth/sessions")
        .insert_header((
            "authorization",
            format!("Bearer {}", refreshed.str("accessToken")),
        ));
    let out = send(&app, from_page(everywhere, APP)).await;
    assert_eq!(out.body, json!({"revokedSessions": 1}));
    assert!(set_cookie(&out).unwrap().contains("Max-Age=0"));
}

#[actix_web::test]
async fn without_allowed_origins_there_are_no_cookies_and_no_cors() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let login = cookie_login(&app).await;
    assert!(
        login.body["refreshToken"].is_string(),
        "tokens stay in the body"
    );
    assert!(set_cookie(&login).is_none());
    assert_eq!(login.header("access-control-allow-origin"), None);
    // A cookie is not read at all: the refresh has no token.
    let cookie_only = from_page(refresh_with_cookie("authd_rt_anything"), APP);
    send(&app, cookie_only)
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn cookie_sessions_work_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::for_browsers(db, APP);
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let login = cookie_login(&app).await;
    let refreshed = send(
        &app,
        from_page(refresh_with_cookie(&cookie_value(&login)), APP),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert!(set_cookie(&refreshed).is_some());
}

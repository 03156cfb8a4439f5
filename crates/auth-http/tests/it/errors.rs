use actix_web::test::TestRequest;
use serde_json::json;

use crate::*;

#[actix_web::test]
async fn unknown_paths_are_json_404s() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    send(&app, TestRequest::get().uri("/nope"))
        .await
        .assert_error(404, "NOT_FOUND");
    send(&app, TestRequest::post().uri("/api/auth/nope"))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[actix_web::test]
async fn wrong_methods_are_json_405s_that_say_what_is_allowed() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for (method, path, allow) in [
        ("GET", "/api/auth/login", "POST"),
        ("PUT", "/api/auth/register", "POST"),
        ("DELETE", "/api/auth/refresh", "POST"),
        ("GET", "/api/auth/logout", "POST"),
        ("POST", "/api/auth/me", "GET, DELETE"),
        ("PUT", "/api/auth/sessions", "GET, DELETE"),
        ("POST", "/.well-known/jwks.json", "GET"),
    ] {
        let req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path);
        let reply = send(&app, req).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), Some(allow));
    }
}

#[actix_web::test]
async fn bodies_over_16_kib_are_413() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let huge = json!({"email": "alice@example.com", "password": "x".repeat(17 * 1024), "username": "alice"});
    send(&app, post("/api/auth/register", huge))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Just under the limit is parsed (and refused for its content instead).
    let fits = json!({"email": "alice@example.com", "password": "x".repeat(15 * 1024), "username": "alice"});
    send(&app, post("/api/auth/register", fits))
        .await
        .assert_error(400, "WEAK_PASSWORD");
}

#[actix_web::test]
async fn malformed_json_and_wrong_content_types_are_400() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let broken = TestRequest::post()
        .uri("/api/auth/login")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"email\": ");
    send(&app, broken)
        .await
        .assert_error(400, "INVALID_REQUEST");
    let form = TestRequest::post()
        .uri("/api/auth/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload("email=a%40b.co&password=xxxxxxxx");
    send(&app, form).await.assert_error(400, "INVALID_REQUEST");
    let none = TestRequest::post().uri("/api/auth/login");
    send(&app, none).await.assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn bodies_must_be_json_objects_not_arrays_of_the_same_fields() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let as_array = post(
        "/api/auth/register",
        json!(["alice@example.com", PASSWORD, "alice"]),
    );
    let reply = send(&app, as_array).await;
    reply.assert_error(400, "INVALID_REQUEST");
    assert_eq!(reply.body["error"], "Request body must be a JSON object");
    // Nothing was registered: the same account can still be created properly.
    assert_eq!(
        register(&app, "alice@example.com", "alice").await.status,
        201
    );

    let (app_id, wallet) = crate::admin::app_and_wallet(&app, "sensor01", "device").await;
    let path = format!(
        "/v2/apps/{app_id}/wallets/{}",
        wallet["id"].as_str().unwrap()
    );
    let suspend_as_array = crate::admin::as_admin(
        TestRequest::patch()
            .uri(&path)
            .set_json(json!(["suspended", null])),
    );
    send(&app, suspend_as_array)
        .await
        .assert_error(400, "INVALID_REQUEST");
    let unchanged = send(&app, crate::admin::as_admin(TestRequest::get().uri(&path))).await;
    assert_eq!(unchanged.body["status"], "active");

    let json_suffix = TestRequest::post()
        .uri("/api/auth/login")
        .insert_header(("content-type", "application/vnd.api+json; charset=utf-8"))
        .set_payload(json!({"email": "alice@example.com", "password": PASSWORD}).to_string());
    assert_eq!(send(&app, json_suffix).await.status, 200);
}

#[actix_web::test]
async fn the_jwks_verifies_issued_tokens_with_a_standard_library() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let token = register(&app, "alice@example.com", "alice")
        .await
        .str("accessToken");
    let jwks = send(&app, TestRequest::get().uri("/.well-known/jwks.json")).await;
    assert_eq!(jwks.status, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body).unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false; // the test clock is in the future
    validation.set_issuer(&["authd"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    for claim in ["iss", "sub", "sid", "jti", "iat", "exp", "kind"] {
        assert!(claims.get(claim).is_some(), "missing {claim} in {claims}");
    }
    assert_eq!(claims["kind"], "user");
}

#[actix_web::test]
async fn healthz_answers_ok() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = send(&app, TestRequest::get().uri("/healthz")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
    let ready = send(&app, TestRequest::get().uri("/readyz")).await;
    assert_eq!(
        (ready.status.as_u16(), ready.body["status"].clone()),
        (200, json!("ready"))
    );
}

#[actix_web::test]
async fn a_database_that_goes_away_answers_503_with_retry_after() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    ctx.db.vanish();
    for reply in [
        login(&app, "alice@example.com", PASSWORD).await,
        refresh(&app, &reg.str("refreshToken")).await,
        me(&app, &reg.str("accessToken")).await,
    ] {
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(reply.header("retry-after").is_some(), "{reply:?}");
    }
    send(&app, TestRequest::get().uri("/readyz"))
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
}

#[actix_web::test]
async fn a_locked_sqlite_file_answers_503_not_a_hang_or_a_500() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let lock = ctx.db.lock_sqlite();
    // Writes wait out the busy timeout, then give up with 503.
    let reply = refresh(&app, &reg.str("refreshToken")).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    drop(lock);
    assert_eq!(
        refresh(&app, &reg.str("refreshToken")).await.status,
        200,
        "nothing was consumed"
    );
}

#[actix_web::test]
async fn every_response_carries_a_request_id_echoing_a_well_formed_one() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let generated = send(&app, TestRequest::get().uri("/healthz")).await;
    let id = generated.header("x-request-id").unwrap().to_owned();
    assert!(!id.is_empty() && id.len() <= 64);
    let other = send(&app, TestRequest::get().uri("/healthz")).await;
    assert_ne!(
        other.header("x-request-id"),
        Some(id.as_str()),
        "a fresh id per request"
    );
    let echoed = send(
        &app,
        TestRequest::get()
            .uri("/nope")
            .insert_header(("x-request-id", "trace-42.a_b")),
    )
    .await;
    assert_eq!(
        echoed.header("x-request-id"),
        Some("trace-42.a_b"),
        "errors carry it too"
    );
    let hostile = send(
        &app,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "bad id; drop")),
    )
    .await;
    assert_ne!(hostile.header("x-request-id"), Some("bad id; drop"));
}

/// The value of the metric line starting with `series` (labels included), if any.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[actix_web::test]
async fn metrics_count_requests_outcomes_and_sessions() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let scrape = || async {
        let resp =
            actix_web::test::call_service(&app, TestRequest::get().uri("/metrics").to_request())
                .await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        String::from_utf8(actix_web::test::read_body(resp).await.to_vec()).unwrap()
    };
    let before = scrape().await;
    assert_eq!(metric(&before, "authd_active_sessions"), Some(0.0));

    register(&app, "alice@example.com", "alice").await;
    login(&app, "alice@example.com", "wrong password").await;
    send(&app, TestRequest::get().uri("/no/such/path")).await;
    // Live sessions are counted at most once a minute (a scan of every one of them).
    let within_the_minute = scrape().await;
    assert_eq!(
        metric(&within_the_minute, "authd_active_sessions"),
        Some(0.0)
    );
    ctx.clock.advance(60);
    let after = scrape().await;

    let login_401 =
        r#"authd_http_requests_total{route="/api/auth/login",method="POST",status="401"}"#;
    assert_eq!(metric(&after, login_401), Some(1.0), "{after}");
    assert_eq!(
        metric(
            &after,
            r#"authd_http_request_duration_seconds_count{route="/api/auth/login",method="POST",status="401"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"authd_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"authd_auth_events_total{event="login",outcome="failure",code="INVALID_CREDENTIALS"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"authd_auth_events_total{event="register",outcome="success",code=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(metric(&after, "authd_active_sessions"), Some(1.0));
    assert_eq!(metric(&after, "authd_hashing_queue_depth"), Some(0.0));
    assert!(metric(&after, r#"authd_db_connections{state="idle"}"#).is_some());
    // The registration's hash and the failed login's verification, each timed.
    assert_eq!(
        metric(&before, "authd_password_hash_seconds_count"),
        Some(0.0)
    );
    assert_eq!(
        metric(&after, "authd_password_hash_seconds_count"),
        Some(2.0)
    );
    assert_eq!(
        metric(&after, r#"authd_password_hash_seconds_bucket{le="+Inf"}"#),
        Some(2.0)
    );
    assert!(metric(&after, "authd_password_hash_seconds_sum").is_some_and(|s| s > 0.0));
}

/// The series of a scrape, without their values.
fn series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect()
}

#[actix_web::test]
async fn made_up_methods_add_no_series_to_the_metrics() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let scrape = || async {
        let resp =
            actix_web::test::call_service(&app, TestRequest::get().uri("/metrics").to_request())
                .await;
        String::from_utf8(actix_web::test::read_body(resp).await.to_vec()).unwrap()
    };
    let made_up = |n: usize| {
        TestRequest::default()
            .method(actix_web::http::Method::from_bytes(format!("M{n}X").as_bytes()).unwrap())
            .uri("/api/auth/login")
    };
    send(&app, made_up(0)).await;
    scrape().await;
    let before = scrape().await;
    for n in 1..=200 {
        let reply = send(&app, made_up(n)).await;
        assert_eq!(reply.status, 405);
    }
    let after = scrape().await;
    assert_eq!(series(&before), series(&after));
    assert!(
        after.len().abs_diff(before.len()) < 200,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
    assert!(after.contains(r#"method="other",status="405""#), "{after}");
}

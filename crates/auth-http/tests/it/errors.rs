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
        ("POST", "/api/auth/me", "GET"),
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

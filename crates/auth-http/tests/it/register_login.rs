use serde_json::json;

use crate::*;

#[actix_web::test]
async fn registering_returns_201_with_a_session_and_the_new_user() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = register(&app, "  Alice@Example.com ", "alice").await;
    assert_session_body(&reply, 201, "Alice@Example.com", "alice");
    assert_eq!(me(&app, &reply.str("accessToken")).await.status, 200);
}

#[actix_web::test]
async fn an_email_or_username_taken_in_any_ascii_case_is_409() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    register(&app, "ALICE@EXAMPLE.COM", "other")
        .await
        .assert_error(409, "ACCOUNT_EXISTS");
    register(&app, "bob@example.com", "Alice")
        .await
        .assert_error(409, "ACCOUNT_EXISTS");
}

#[actix_web::test]
async fn passwords_outside_the_policy_are_weak_and_store_nothing() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    // The last five are from the usual top-10,000 lists.
    for password in [
        "short",
        &"x".repeat(129),
        "password123",
        "12345678",
        "liverpool",
        "chocolate",
        "basketball",
        "Michelle1",
        "starwars1",
    ] {
        let body = json!({"email": "alice@example.com", "password": password, "username": "alice"});
        let reply = send(&app, post("/api/auth/register", body)).await;
        reply.assert_error(400, "WEAK_PASSWORD");
        assert!(
            !reply.body.to_string().contains(password),
            "the password is never echoed"
        );
    }
    // Nothing was stored: the email is still free.
    assert_eq!(
        register(&app, "alice@example.com", "alice").await.status,
        201
    );
}

#[actix_web::test]
async fn malformed_registrations_are_invalid_requests() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let cases = [
        json!({"email": "not-an-email", "password": PASSWORD, "username": "alice"}),
        json!({"email": "alice@example.com", "password": PASSWORD, "username": "al"}),
        json!({"email": "alice@example.com", "password": PASSWORD, "username": "al ice"}),
        json!({"email": "alice@example.com", "password": PASSWORD}),
        json!({"email": "alice@example.com", "password": 12345678, "username": "alice"}),
        json!({"email": "alice\u{0}@example.com", "password": PASSWORD, "username": "alice"}),
        // Invisible and bidirectional characters make look-alike accounts.
        json!({"email": "ali\u{200b}ce@example.com", "password": PASSWORD, "username": "alice"}),
        json!({"email": "alice@exam\u{202e}elp.com", "password": PASSWORD, "username": "alice"}),
        json!({"email": "\u{2067}alice@example.com", "password": PASSWORD, "username": "alice"}),
        json!(["alice@example.com"]),
    ];
    for body in cases {
        send(&app, post("/api/auth/register", body.clone()))
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
    assert_eq!(
        register(&app, "alice@example.com", "alice").await.status,
        201
    );
}

#[actix_web::test]
async fn login_returns_a_session_for_the_right_password() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "Alice@Example.com", "alice").await;
    let reply = login(&app, "alice@EXAMPLE.com", PASSWORD).await;
    assert_session_body(&reply, 200, "Alice@Example.com", "alice");
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_account_look_the_same() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let wrong = login(&app, "alice@example.com", "Correct horse battery").await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body["error"], unknown.body["error"]);
    assert_eq!(
        wrong.header("www-authenticate"),
        unknown.header("www-authenticate")
    );
}

#[actix_web::test]
async fn passwords_are_compared_exactly() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    login(&app, "alice@example.com", &format!(" {PASSWORD}"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    login(&app, "alice@example.com", &PASSWORD.to_uppercase())
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[actix_web::test]
async fn a_password_typed_in_another_unicode_form_is_the_same_password() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    // "café crème" typed with precomposed letters, then with combining accents (NFD).
    let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";
    let body = json!({"email": "alice@example.com", "password": composed, "username": "alice"});
    assert_eq!(
        send(&app, post("/api/auth/register", body)).await.status,
        201
    );
    let reply = login(&app, "alice@example.com", decomposed).await;
    assert_session_body(&reply, 200, "alice@example.com", "alice");
    let body = json!({"email": "bob@example.com", "password": decomposed, "username": "bob"});
    assert_eq!(
        send(&app, post("/api/auth/register", body)).await.status,
        201
    );
    let reply = login(&app, "bob@example.com", composed).await;
    assert_session_body(&reply, 200, "bob@example.com", "bob");
}

#[actix_web::test]
async fn an_overlong_password_is_refused_without_hashing() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    login(&app, "alice@example.com", &"x".repeat(129))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[actix_web::test]
async fn malformed_logins_are_invalid_requests() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    send(
        &app,
        post("/api/auth/login", json!({"email": "alice@example.com"})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    send(
        &app,
        post(
            "/api/auth/login",
            json!({"email": "nope", "password": PASSWORD}),
        ),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn the_same_flow_works_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    assert_session_body(&reg, 201, "alice@example.com", "alice");
    register(&app, "ALICE@example.com", "alice2")
        .await
        .assert_error(409, "ACCOUNT_EXISTS");
    let session = login(&app, "alice@example.com", PASSWORD).await;
    assert_eq!(session.status, 200);
    let rotated = refresh(&app, &session.str("refreshToken")).await;
    assert_eq!(rotated.status, 200);
    ctx.clock.advance(11);
    refresh(&app, &session.str("refreshToken"))
        .await
        .assert_error(401, "REFRESH_TOKEN_REUSED");
    me(&app, &rotated.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        me(&app, &reg.str("accessToken")).await.status,
        200,
        "other sessions live on"
    );
}

#[actix_web::test]
async fn a_suspended_user_hears_so_only_after_the_right_password() {
    use auth_core::{UserId, UserStatus, UserStore};
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    let id = UserId::from_stored(reg.body["user"]["id"].as_str().unwrap().to_owned());
    ctx.store
        .set_status(&id, UserStatus::Suspended, T0)
        .unwrap();

    login(&app, "alice@example.com", "not the password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    refresh(&app, &reg.str("refreshToken"))
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");
    me(&app, &reg.str("accessToken"))
        .await
        .assert_error(403, "ACCOUNT_INACTIVE");

    ctx.store.set_status(&id, UserStatus::Active, T0).unwrap();
    assert_eq!(login(&app, "alice@example.com", PASSWORD).await.status, 200);
    // The refused refresh consumed nothing.
    ctx.clock.advance(60);
    assert_eq!(refresh(&app, &reg.str("refreshToken")).await.status, 200);
}

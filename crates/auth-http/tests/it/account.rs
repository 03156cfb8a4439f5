//! A logged-in person changes their password, their address, or deletes their account.

use actix_web::test::TestRequest;
use auth_core::{Clock, MailContent, MailKind, MailOutbox, OneTimePolicy, OneTimeToken, compose};
use auth_store::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::*;

fn with_bearer(req: TestRequest, access_token: &str) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {access_token}")))
}

async fn change_password<S>(app: &S, access: &str, current: &str, new: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let body = json!({"currentPassword": current, "newPassword": new});
    send(
        app,
        with_bearer(post("/api/auth/password/change", body), access),
    )
    .await
}

async fn change_email<S>(app: &S, access: &str, new_email: &str, password: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let body = json!({"newEmail": new_email, "password": password});
    send(
        app,
        with_bearer(post("/api/auth/email/change", body), access),
    )
    .await
}

async fn delete_me<S>(app: &S, access: &str, password: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = TestRequest::delete()
        .uri("/api/auth/me")
        .set_json(json!({"password": password}));
    send(app, with_bearer(req, access)).await
}

/// The mails queued so far: (kind, recipient, token of its link if it has one).
fn mails(ctx: &Ctx) -> Vec<(MailKind, String, Option<OneTimeToken>)> {
    let content = MailContent::new("https://app.example.com", OneTimePolicy::default());
    ctx.store
        .claim_mail(ctx.clock.now(), 60, 100)
        .unwrap()
        .into_iter()
        .map(|mail| {
            let token = compose(&mail, &ctx.store, &content, ctx.clock.now())
                .unwrap()
                .and_then(|sent| {
                    let token = sent
                        .text
                        .split("#token=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?;
                    OneTimeToken::parse(token).ok()
                });
            (mail.kind, mail.recipient, token)
        })
        .collect()
}

#[actix_web::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let here = register(&app, "alice@example.com", "alice").await;
    let elsewhere = login(&app, "alice@example.com", PASSWORD).await;
    let access = here.str("accessToken");

    let weak = change_password(&app, &access, PASSWORD, "short").await;
    weak.assert_error(400, "WEAK_PASSWORD");
    let changed = change_password(&app, &access, PASSWORD, "a brand new passphrase").await;

    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body, json!({"revokedSessions": 1}));
    assert_eq!(me(&app, &access).await.status, 200);
    refresh(&app, &elsewhere.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        login(&app, "alice@example.com", "a brand new passphrase")
            .await
            .status,
        200
    );
    assert!(
        mails(&ctx)
            .iter()
            .any(|(kind, to, _)| *kind == MailKind::PasswordChanged && to == "alice@example.com")
    );
}

#[actix_web::test]
async fn a_wrong_current_password_is_refused_and_counted_like_a_login() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let access = alice.str("accessToken");
    for _ in 0..5 {
        change_password(&app, &access, "not my password", "a brand new passphrase")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    change_password(&app, &access, PASSWORD, "a brand new passphrase")
        .await
        .assert_error(429, "RATE_LIMITED");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(429, "RATE_LIMITED");
    // Without a token nothing is checked at all.
    let anonymous = post(
        "/api/auth/password/change",
        json!({"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}),
    );
    send(&app, anonymous)
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn an_email_change_is_confirmed_from_the_new_address() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let access = alice.str("accessToken");
    mails(&ctx);

    change_email(&app, &access, "alice@new.example", "not my password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    change_email(&app, &access, "not-an-address", PASSWORD)
        .await
        .assert_error(400, "INVALID_REQUEST");
    let asked = change_email(&app, &access, "alice@new.example", PASSWORD).await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    assert_eq!(me(&app, &access).await.body["email"], "alice@example.com");

    let sent = mails(&ctx);
    assert!(sent.iter().any(|(kind, to, _)| {
        *kind == MailKind::EmailChangeRequested && to == "alice@example.com"
    }));
    let (_, _, token) = sent
        .into_iter()
        .find(|(kind, to, _)| *kind == MailKind::ConfirmEmailChange && to == "alice@new.example")
        .expect("a confirmation to the new address");
    let token = token.expect("a link");

    let confirm = |token: String| post("/api/auth/email/change/confirm", json!({"token": token}));
    let moved = send(&app, confirm(token.expose().to_owned())).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["user"]["email"], "alice@new.example");
    assert_eq!(moved.body["user"]["emailVerified"], true);
    send(&app, confirm(token.expose().to_owned()))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(login(&app, "alice@new.example", PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn an_address_taken_meanwhile_cannot_be_confirmed() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    change_email(
        &app,
        &alice.str("accessToken"),
        "wanted@example.com",
        PASSWORD,
    )
    .await;
    let token = mails(&ctx)
        .into_iter()
        .find_map(|(kind, _, token)| (kind == MailKind::ConfirmEmailChange).then_some(token))
        .flatten()
        .unwrap();
    register(&app, "wanted@example.com", "bob").await;
    let refused = send(
        &app,
        post(
            "/api/auth/email/change/confirm",
            json!({"token": token.expose()}),
        ),
    )
    .await;
    refused.assert_error(409, "ACCOUNT_EXISTS");
}

#[actix_web::test]
async fn a_deleted_account_cannot_log_in_or_use_its_tokens() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let alice = register(&app, "alice@example.com", "alice").await;
    let access = alice.str("accessToken");

    delete_me(&app, &access, "not my password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let deleted = delete_me(&app, &access, PASSWORD).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);

    me(&app, &access).await.assert_error(401, "INVALID_TOKEN");
    refresh(&app, &alice.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        register(&app, "alice@example.com", "alice").await.status,
        201,
        "the address and the name are free again"
    );
    // The trail keeps the deletion under the id, and not the address.
    let events = crate::audit::trail(&app, "event=account_delete", 1).await;
    assert_eq!(events[0]["principal"], alice.body["user"]["id"]);
    assert!(!events[0].to_string().contains("alice@example.com"));
}

#[actix_web::test]
async fn the_account_routes_work_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let ctx = Ctx::on(db);
    let app = ctx.app().await;
    let here = register(&app, "alice@example.com", "alice").await;
    let elsewhere = login(&app, "alice@example.com", PASSWORD).await;
    let access = here.str("accessToken");
    let changed = change_password(&app, &access, PASSWORD, "a brand new passphrase").await;
    assert_eq!(changed.body, json!({"revokedSessions": 1}));
    me(&app, &elsewhere.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        change_email(&app, &access, "alice@new.example", "a brand new passphrase")
            .await
            .status,
        202
    );
    let deleted = delete_me(&app, &access, "a brand new passphrase").await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    me(&app, &access).await.assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn with_verified_addresses_required_registration_reveals_nothing() {
    for db in [Some(TestDatabase::sqlite()), TestDatabase::postgres()]
        .into_iter()
        .flatten()
    {
        let ctx = Ctx::requiring_verified_email(db);
        let app = ctx.app().await;

        let new = register(&app, "alice@example.com", "alice").await;
        let taken = register(&app, "ALICE@example.com", "mallory").await;
        assert_eq!(new.status, 202, "{new:?}");
        assert_eq!(new.body, json!({"verificationSent": true}));
        assert_eq!(
            (taken.status, &taken.body, taken.header("content-length")),
            (new.status, &new.body, new.header("content-length")),
            "a taken address is answered like a new one"
        );
        assert!(new.body.get("accessToken").is_none());

        let sent = mails(&ctx);
        assert_eq!(
            sent.len(),
            2,
            "{:?}",
            sent.iter().map(|m| m.0).collect::<Vec<_>>()
        );
        assert!(sent.iter().all(|(_, to, _)| to == "alice@example.com"));
        let verify = sent
            .iter()
            .find(|(kind, _, _)| *kind == MailKind::VerifyEmail)
            .and_then(|(_, _, token)| token.clone())
            .expect("a verification link");
        assert!(
            sent.iter()
                .any(|(kind, _, _)| *kind == MailKind::AccountExists)
        );

        // Public names are still unique: a taken username is refused, whatever the address.
        register(&app, "bob@example.com", "ALICE")
            .await
            .assert_error(409, "ACCOUNT_EXISTS");

        login(&app, "alice@example.com", PASSWORD)
            .await
            .assert_error(403, "EMAIL_NOT_VERIFIED");
        login(&app, "alice@example.com", "not my password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
        let verified = send(
            &app,
            post("/api/auth/email/verify", json!({"token": verify.expose()})),
        )
        .await;
        assert_eq!(verified.status, 200);
        assert_session_body(
            &login(&app, "alice@example.com", PASSWORD).await,
            200,
            "alice@example.com",
            "alice",
        );
    }
}

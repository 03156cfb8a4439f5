use auth_core::{Clock, MailContent, MailKind, MailOutbox, OneTimePolicy, OneTimeToken, compose};
use serde_json::json;

use crate::*;

/// The token of the link the mail worker sends for the newest queued mail of `kind`.
fn mailed_token(ctx: &Ctx, kind: MailKind) -> OneTimeToken {
    let mail = ctx
        .store
        .claim_mail(ctx.clock.now(), 60, 100)
        .unwrap()
        .into_iter()
        .rfind(|m| m.kind == kind)
        .expect("a queued mail of that kind");
    let content = MailContent::new("https://app.example.com", OneTimePolicy::default());
    let composed = compose(&mail, &ctx.store, &content, ctx.clock.now())
        .unwrap()
        .expect("a mail to send");
    let token = composed.text.split("#token=").nth(1).unwrap();
    OneTimeToken::parse(token.split_whitespace().next().unwrap()).unwrap()
}

async fn forgot<S>(app: &S, email: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post("/api/auth/password/forgot", json!({"email": email})),
    )
    .await
}

async fn reset_with<S>(app: &S, token: &str, password: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let body = json!({"token": token, "password": password});
    send(app, post("/api/auth/password/reset", body)).await
}

async fn send_verification<S>(app: &S, email: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post("/api/auth/email/verify/send", json!({"email": email})),
    )
    .await
}

async fn verify_with<S>(app: &S, token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(app, post("/api/auth/email/verify", json!({"token": token}))).await
}

#[actix_web::test]
async fn forgot_password_answers_alike_for_known_and_unknown_addresses() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;

    let known = forgot(&app, "alice@example.com").await;
    let unknown = forgot(&app, "nobody@example.com").await;
    assert_eq!(known.status, 202);
    assert_eq!(
        (
            unknown.status,
            &unknown.body,
            unknown.header("content-length")
        ),
        (known.status, &known.body, known.header("content-length")),
        "nothing tells the two apart"
    );
    assert_eq!(known.header("cache-control"), Some("no-store"));
    assert_eq!(
        ctx.store.outbox_depth().unwrap(),
        (3, 0),
        "registration's verification mail, and both requests queued alike"
    );

    let bad = forgot(&app, "not-an-email").await;
    bad.assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn one_address_cannot_be_sent_more_than_five_reset_mails_an_hour() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for _ in 0..5 {
        let ok = forgot(&app, "alice@example.com").await;
        assert_eq!(ok.status, 202);
    }
    let sixth = forgot(&app, "ALICE@example.com").await;
    sixth.assert_error(429, "RATE_LIMITED");
    assert_eq!(sixth.header("retry-after"), Some("720"));
    let other = forgot(&app, "bob@example.com").await;
    assert_eq!(other.status, 202, "another address is not affected");
}

#[actix_web::test]
async fn a_reset_link_sets_the_password_and_ends_every_session() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    forgot(&app, "alice@example.com").await;
    let token = mailed_token(&ctx, MailKind::ResetPassword);

    let weak = reset_with(&app, token.expose(), "short").await;
    weak.assert_error(400, "WEAK_PASSWORD");
    let reset = reset_with(&app, token.expose(), "a brand new passphrase").await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);

    refresh(&app, &reg.str("refreshToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    me(&app, &reg.str("accessToken"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    login(&app, "alice@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let again = login(&app, "alice@example.com", "a brand new passphrase").await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["user"]["emailVerified"], true,
        "the mail proved the address"
    );

    let reused = reset_with(&app, token.expose(), "yet another passphrase").await;
    reused.assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn reset_tokens_that_cannot_be_used_are_refused_with_the_contract_s_codes() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    for token in [
        "",
        "authd_ot_short",
        "authd_rt_0123456789012345678901234567890123456789012",
    ] {
        let reply = reset_with(&app, token, "a brand new passphrase").await;
        reply.assert_error(401, "INVALID_TOKEN");
    }
    forgot(&app, "alice@example.com").await;
    let token = mailed_token(&ctx, MailKind::ResetPassword);
    ctx.clock.advance(3_600);
    let late = reset_with(&app, token.expose(), "a brand new passphrase").await;
    late.assert_error(401, "TOKEN_EXPIRED");
    let missing = send(
        &app,
        post(
            "/api/auth/password/reset",
            json!({"password": "a brand new passphrase"}),
        ),
    )
    .await;
    missing.assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn the_link_mailed_at_registration_verifies_the_email_once() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    assert_eq!(reg.body["user"]["emailVerified"], false);
    let token = mailed_token(&ctx, MailKind::VerifyEmail);

    let verified = verify_with(&app, token.expose()).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["user"]["email"], "alice@example.com");
    assert_eq!(verified.body["user"]["emailVerified"], true);
    assert_eq!(
        me(&app, &reg.str("accessToken")).await.body["emailVerified"],
        true
    );

    let again = verify_with(&app, token.expose()).await;
    again.assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn a_reset_token_cannot_verify_an_email_nor_a_verification_token_reset_a_password() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    forgot(&app, "alice@example.com").await;
    let verify = mailed_token(&ctx, MailKind::VerifyEmail);
    let reset = mailed_token_after_lease(&ctx, MailKind::ResetPassword);

    let crossed = verify_with(&app, reset.expose()).await;
    crossed.assert_error(401, "INVALID_TOKEN");
    let crossed = reset_with(&app, verify.expose(), "a brand new passphrase").await;
    crossed.assert_error(401, "INVALID_TOKEN");
    // Both still work for their own purpose.
    assert_eq!(verify_with(&app, verify.expose()).await.status, 200);
    assert_eq!(
        reset_with(&app, reset.expose(), "a brand new passphrase")
            .await
            .status,
        204
    );
}

#[actix_web::test]
async fn asking_for_a_verification_mail_answers_alike_for_any_address() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;
    let known = send_verification(&app, "alice@example.com").await;
    let unknown = send_verification(&app, "nobody@example.com").await;
    assert_eq!(known.status, 202);
    assert_eq!(
        (
            unknown.status,
            &unknown.body,
            unknown.header("content-length")
        ),
        (known.status, &known.body, known.header("content-length")),
    );
    let forgot = forgot(&app, "alice@example.com").await;
    assert_eq!(forgot.body, known.body, "every mail route answers the same");
}

/// [`mailed_token`] once the mails claimed before are due again.
fn mailed_token_after_lease(ctx: &Ctx, kind: MailKind) -> OneTimeToken {
    ctx.clock.advance(61);
    mailed_token(ctx, kind)
}

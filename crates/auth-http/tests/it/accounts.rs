use auth_core::{MailContent, MailOutbox, OneTimePolicy, OneTimeToken, compose};
use serde_json::json;

use crate::*;

/// The reset link the mail worker would send for the oldest queued mail, its token.
fn mailed_token(ctx: &Ctx) -> OneTimeToken {
    let mail = ctx
        .store
        .claim_mail(T0, 60, 1)
        .unwrap()
        .pop()
        .expect("a queued mail");
    let content = MailContent::new("https://app.example.com", OneTimePolicy::default());
    let composed = compose(&mail, &ctx.store, &content, T0)
        .unwrap()
        .expect("a mail to send");
    let token = composed.text.split("#token=").nth(1).unwrap();
    OneTimeToken::parse(token.split_whitespace().next().unwrap()).unwrap()
}

#[actix_web::test]
async fn forgot_password_answers_alike_for_known_and_unknown_addresses() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    register(&app, "alice@example.com", "alice").await;

    let known = send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "alice@example.com"}),
        ),
    )
    .await;
    let unknown = send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "nobody@example.com"}),
        ),
    )
    .await;
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
        (2, 0),
        "both queued alike"
    );

    let bad = send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "not-an-email"}),
        ),
    )
    .await;
    bad.assert_error(400, "INVALID_REQUEST");
}

#[actix_web::test]
async fn one_address_cannot_be_sent_more_than_five_reset_mails_an_hour() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for _ in 0..5 {
        let ok = send(
            &app,
            post(
                "/api/auth/password/forgot",
                json!({"email": "alice@example.com"}),
            ),
        )
        .await;
        assert_eq!(ok.status, 202);
    }
    let sixth = send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "ALICE@example.com"}),
        ),
    )
    .await;
    sixth.assert_error(429, "RATE_LIMITED");
    assert_eq!(sixth.header("retry-after"), Some("720"));
    let other = send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "bob@example.com"}),
        ),
    )
    .await;
    assert_eq!(other.status, 202, "another address is not affected");
}

#[actix_web::test]
async fn a_reset_link_sets_the_password_and_ends_every_session() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "alice@example.com", "alice").await;
    send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "alice@example.com"}),
        ),
    )
    .await;
    let token = mailed_token(&ctx);

    let weak = send(
        &app,
        post(
            "/api/auth/password/reset",
            json!({"token": token.expose(), "password": "short"}),
        ),
    )
    .await;
    weak.assert_error(400, "WEAK_PASSWORD");
    let reset = send(
        &app,
        post(
            "/api/auth/password/reset",
            json!({"token": token.expose(), "password": "a brand new passphrase"}),
        ),
    )
    .await;
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

    let reused = send(
        &app,
        post(
            "/api/auth/password/reset",
            json!({"token": token.expose(), "password": "yet another passphrase"}),
        ),
    )
    .await;
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
        let reply = send(
            &app,
            post(
                "/api/auth/password/reset",
                json!({"token": token, "password": "a brand new passphrase"}),
            ),
        )
        .await;
        reply.assert_error(401, "INVALID_TOKEN");
    }
    send(
        &app,
        post(
            "/api/auth/password/forgot",
            json!({"email": "alice@example.com"}),
        ),
    )
    .await;
    let token = mailed_token(&ctx);
    ctx.clock.advance(3_600);
    let late = send(
        &app,
        post(
            "/api/auth/password/reset",
            json!({"token": token.expose(), "password": "a brand new passphrase"}),
        ),
    )
    .await;
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

//! What a handler learns of a request's principal, and who the role guards let through.

use std::sync::Arc;

use auth_core::{Attributes, ManualClock, Platform, PrincipalKind, TokenSigner};
use serde_json::json;

use crate::{PublishedKeys, T0, get, resource, signer, token, user_token, verifier_at};

fn device_token(authd: &TokenSigner) -> String {
    token(
        authd,
        PrincipalKind::Device,
        Attributes {
            platform: Some(Platform::Android),
            ..Attributes::default()
        },
    )
}

fn wallet_token(authd: &TokenSigner, role: &str) -> String {
    token(
        authd,
        PrincipalKind::Wallet,
        Attributes {
            username: Some("sensor01".into()),
            app_id: Some("app_1a2b3c4d".into()),
            role: Some(role.into()),
            ..Attributes::default()
        },
    )
}

#[actix_web::test]
async fn every_kind_of_principal_reaches_the_handler_with_what_its_token_says() {
    let authd = signer();
    let keys = Arc::new(PublishedKeys::default());
    keys.publish(&[&authd]);
    let clock = Arc::new(ManualClock::new(T0));
    let service = resource(verifier_at(&keys.serve(), &clock)).await;

    let me = get(&service, "/whoami", &user_token(&authd, &["USER"])).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["id"], "b7c5e1f4-0000-4000-8000-000000000001");
    assert_eq!(me.body["sid"], "ses_1");
    assert_eq!(me.body["roles"], json!(["USER"]));

    let me = get(&service, "/whoami", &device_token(&authd)).await;
    assert_eq!(me.body["kind"], "device");
    assert_eq!(me.body["id"], "dev_0001");
    assert_eq!(me.body["platform"], "ANDROID");

    let me = get(&service, "/whoami", &wallet_token(&authd, "device")).await;
    assert_eq!(me.body["kind"], "wallet");
    assert_eq!(me.body["id"], "wal_0001");
    assert_eq!(me.body["username"], "sensor01");
    assert_eq!(me.body["appId"], "app_1a2b3c4d");
    assert_eq!(me.body["role"], "device");
}

#[actix_web::test]
async fn a_request_without_a_good_token_gets_the_contract_error() {
    let authd = signer();
    let keys = Arc::new(PublishedKeys::default());
    keys.publish(&[&authd]);
    let clock = Arc::new(ManualClock::new(T0));
    let service = resource(verifier_at(&keys.serve(), &clock)).await;
    let access = user_token(&authd, &["USER"]);

    get(&service, "/whoami", "")
        .await
        .assert_error(401, "INVALID_TOKEN");
    get(&service, "/whoami", "not-a-jwt")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let (head, rest) = access.split_once('.').unwrap();
    get(&service, "/whoami", &format!("{head}.e{rest}"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    get(&service, "/whoami", &user_token(&signer(), &["USER"]))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let refused = get(&service, "/whoami", "not-a-jwt").await;
    assert_eq!(
        refused.headers.get("www-authenticate").unwrap(),
        "Bearer error=\"invalid_token\""
    );

    clock.advance(3_600 + TokenSigner::LEEWAY_SECS);
    get(&service, "/whoami", &access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn role_guards_admit_only_the_role_and_never_call_the_handler_otherwise() {
    let authd = signer();
    let keys = Arc::new(PublishedKeys::default());
    keys.publish(&[&authd]);
    let clock = Arc::new(ManualClock::new(T0));
    let service = resource(verifier_at(&keys.serve(), &clock)).await;

    let user = user_token(&authd, &["USER"]);
    get(&service, "/admin", "")
        .await
        .assert_error(401, "INVALID_TOKEN");
    get(&service, "/admin", &user)
        .await
        .assert_error(403, "FORBIDDEN");
    get(&service, "/v2/objects", &user)
        .await
        .assert_error(403, "FORBIDDEN");

    let admin = get(&service, "/admin", &user_token(&authd, &["USER", "ADMIN"])).await;
    assert_eq!(admin.status, 200, "{admin:?}");
    assert_eq!(admin.body["roles"], json!(["USER", "ADMIN"]));

    let sensor = wallet_token(&authd, "device");
    assert_eq!(get(&service, "/v2/objects", &sensor).await.status, 200);
    get(&service, "/admin", &sensor)
        .await
        .assert_error(403, "FORBIDDEN");
    get(&service, "/v2/objects", &wallet_token(&authd, "gateway"))
        .await
        .assert_error(403, "FORBIDDEN");
    get(&service, "/v2/objects", &device_token(&authd))
        .await
        .assert_error(403, "FORBIDDEN");
}

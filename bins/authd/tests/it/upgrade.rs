//! Upgrading to the release that types access tokens `at+jwt` (RFC 9068).

use auth_store::test_support::TestDatabase;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde_json::Value;

use crate::{Authd, field};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

/// The token as the previous release signed it: the same claims and key, typed `JWT`.
fn as_the_previous_release_signed_it(token: &str) -> String {
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let current = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    assert_eq!(current.header.typ.as_deref(), Some("at+jwt"));
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    header.kid = current.header.kid;
    jsonwebtoken::encode(
        &header,
        &current.claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[test]
fn the_previous_releases_tokens_work_only_while_the_upgrade_setting_is_on() {
    let db = TestDatabase::sqlite();
    let hs256 = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_JWT_ALG", "HS256"),
        ("AUTHD_JWT_SECRET", SECRET),
    ];
    let strict = Authd::start(&hs256);
    let session = strict.register("alice@example.com", "alice");
    let old = as_the_previous_release_signed_it(&field(&session, "accessToken"));
    let (status, body) = strict.get("/api/auth/me", Some(&old));
    assert_eq!(status, 401, "refused by default: {body}");
    assert_eq!(body["code"], "INVALID_TOKEN");
    assert!(strict.stop().success());

    let mut upgrading = hs256.to_vec();
    upgrading.push(("AUTHD_ACCEPT_LEGACY_TOKEN_TYPE", "true"));
    let upgrading = Authd::start(&upgrading);
    let (status, me) = upgrading.get("/api/auth/me", Some(&old));
    assert_eq!(status, 200, "accepted during the upgrade: {me}");
    assert_eq!(me["email"], "alice@example.com");
}

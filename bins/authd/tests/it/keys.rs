//! Signing-key rotation without downtime, across processes.

use std::process::Command;

use auth_store::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::{Authd, PASSWORD, field};

fn keys(url: &str, args: &[&str], extra_env: &[(&str, &str)]) -> (bool, Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("keys")
        .args(args)
        .env("AUTHD_DATABASE_URL", url)
        .env_remove("AUTHD_JWT_ALG")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run authd keys");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let report = format!(
        "{}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), lines, report)
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Whether `server`'s JWKS holds the key `kid`.
fn publishes(server: &Authd, kid: &str) -> bool {
    let (_, jwks) = server.get("/.well-known/jwks.json", None);
    jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid))
}

#[test]
fn a_rotation_reaches_every_process_and_old_tokens_stay_valid() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_KEY_RELOAD_SECS", "1"),
    ];
    let a = Authd::start(&env);
    let b = Authd::start(&env);
    let before = field(&a.register("alice@example.com", "alice"), "accessToken");
    let old_kid = kid(&before);

    let (ok, rotated, err) = keys(db.url(), &["rotate"], &[]);
    assert!(ok, "{err}");
    let new_kid = field(&rotated[0], "kid");
    assert_ne!(new_kid, old_kid);
    // Each process picks the rotation up at its next reload (every second here): wait for
    // it to publish the new key, no longer.
    for server in [&a, &b] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !publishes(server, &new_kid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the rotation never reached {}",
                server.base
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    for server in [&a, &b] {
        let (_, session) = server.post(
            "/api/auth/login",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD}),
        );
        let after = field(&session, "accessToken");
        assert_eq!(
            kid(&after),
            new_kid,
            "new tokens are signed with the new key"
        );
        for verifier in [&a, &b] {
            assert_eq!(verifier.get("/api/auth/me", Some(&after)).0, 200);
            assert_eq!(
                verifier.get("/api/auth/me", Some(&before)).0,
                200,
                "tokens signed before the rotation stay valid"
            );
        }
        let (_, jwks) = server.get("/.well-known/jwks.json", None);
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert!(
            kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
            "{kids:?}"
        );
    }

    let (ok, listed, _) = keys(db.url(), &["list"], &[]);
    assert!(ok);
    assert_eq!(
        (listed[0]["kid"].as_str(), listed[0]["status"].as_str()),
        (Some(new_kid.as_str()), Some("active"))
    );
    assert_eq!(listed[1]["status"], "published");
}

#[test]
fn hmac_keys_are_not_rotated_by_authd() {
    let db = TestDatabase::sqlite();
    let (ok, _, err) = keys(db.url(), &["rotate"], &[("AUTHD_JWT_ALG", "HS256")]);
    assert!(!ok && err.contains("AUTHD_JWT_SECRET"), "{err}");
}

#[test]
fn private_keys_are_stored_encrypted_when_a_key_encryption_key_is_set() {
    let db = TestDatabase::sqlite();
    let kek = "an operator's key encryption key, 32+ bytes";
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_KEY_ENCRYPTION_KEY", kek),
    ];
    let first = Authd::start(&env);
    let token = field(&first.register("alice@example.com", "alice"), "accessToken");
    assert!(first.stop().success());

    let stored = auth_core::KeyStore::signing_keys(&db.open()).unwrap();
    assert!(
        stored.iter().all(|k| k.private_key.starts_with("enc:v1:")),
        "no plaintext private key in the database"
    );

    // The same secret reads them back after a restart; rotation keeps sealing.
    let again = Authd::start(&env);
    assert_eq!(again.get("/api/auth/me", Some(&token)).0, 200);
    let (ok, _, err) = keys(db.url(), &["rotate"], &[("AUTHD_KEY_ENCRYPTION_KEY", kek)]);
    assert!(ok, "{err}");
    assert!(
        auth_core::KeyStore::signing_keys(&db.open())
            .unwrap()
            .iter()
            .all(|k| k.private_key.starts_with("enc:v1:"))
    );
    drop(again);

    // Without it, authd refuses to start rather than sign with nothing, and a rotation
    // is refused rather than store a plaintext key that servers would then sign with.
    let refused = Authd::try_start(&[("AUTHD_DATABASE_URL", db.url())])
        .err()
        .unwrap();
    assert!(refused.contains("AUTHD_KEY_ENCRYPTION_KEY"), "{refused}");
    let before = auth_core::KeyStore::signing_keys(&db.open()).unwrap().len();
    let (ok, _, err) = keys(db.url(), &["rotate"], &[]);
    assert!(!ok && err.contains("AUTHD_KEY_ENCRYPTION_KEY"), "{err}");
    assert_eq!(
        auth_core::KeyStore::signing_keys(&db.open()).unwrap().len(),
        before
    );
}

#[test]
fn setting_a_key_encryption_key_seals_what_was_stored_before_and_keys_refresh_chains() {
    let db = TestDatabase::sqlite();
    let plain = Authd::start(&[("AUTHD_DATABASE_URL", db.url())]);
    let before = plain.register("alice@example.com", "alice");
    assert!(plain.stop().success());
    assert!(
        auth_core::KeyStore::signing_keys(&db.open())
            .unwrap()
            .iter()
            .all(|k| !k.private_key.starts_with("enc:v1:"))
    );

    let kek = "an operator's key encryption key, 32+ bytes";
    let sealed = Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_KEY_ENCRYPTION_KEY", kek),
    ]);
    assert!(
        auth_core::KeyStore::signing_keys(&db.open())
            .unwrap()
            .iter()
            .all(|k| k.private_key.starts_with("enc:v1:")),
        "the key stored in plaintext was sealed at start"
    );
    // Tokens issued before still work, and a session from before still refreshes.
    assert_eq!(
        sealed
            .get("/api/auth/me", Some(&field(&before, "accessToken")))
            .0,
        200
    );
    let (status, _) = sealed.post(
        "/api/auth/refresh",
        None,
        serde_json::json!({"refreshToken": field(&before, "refreshToken")}),
    );
    assert_eq!(status, 200);
    // A new session's refresh chain is keyed with the secret too.
    let after = sealed.register("bob@example.com", "bob");
    let sid = serde_json::from_slice::<serde_json::Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            field(&after, "accessToken").split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored =
        auth_core::SessionStore::session(&db.open(), &auth_core::SessionId::from_stored(sid))
            .unwrap()
            .unwrap();
    assert!(stored.rotation_key.as_str().starts_with("k1:"));
    let (status, _) = sealed.post(
        "/api/auth/refresh",
        None,
        serde_json::json!({"refreshToken": field(&after, "refreshToken")}),
    );
    assert_eq!(status, 200);
}

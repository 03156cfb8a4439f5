use auth_core::RefreshToken;
use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, PASSWORD, field};

#[test]
fn first_start_creates_the_database_and_tokens_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("authd-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("authd.db").display());

    let first = Authd::start(&[("AUTHD_DATABASE_URL", &url)]);
    assert!(dir.join("authd.db").exists());
    let session = first.register("alice@example.com", "alice");
    // It holds password hashes and signing keys: only its owner may read it.
    for file in ["authd.db", "authd.db-wal", "authd.db-shm"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is {:o}", mode & 0o777);
    }
    let (_, jwks_before) = first.get("/.well-known/jwks.json", None);
    assert!(first.stop().success(), "SIGTERM ends authd cleanly");

    let second = Authd::start(&[("AUTHD_DATABASE_URL", &url)]);
    let (status, me) = second.get("/api/auth/me", Some(&field(&session, "accessToken")));
    assert_eq!(
        status, 200,
        "a token issued before the restart is still accepted: {me}"
    );
    assert_eq!(me["email"], "alice@example.com");
    let (_, jwks_after) = second.get("/.well-known/jwks.json", None);
    assert_eq!(jwks_before, jwks_after, "the signing key is kept");
    let (status, _) = second.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&session, "refreshToken")}),
    );
    assert_eq!(status, 200);
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stopped_authd_closes_its_postgresql_sessions_rather_than_abandoning_them() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let authd = std::sync::Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
    ]));
    // Requests at once, so that the pool holds several connections.
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let authd = authd.clone();
            std::thread::spawn(move || authd.get("/readyz", None).0)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 200);
    }
    assert!(db.connections() >= 1);
    let authd = std::sync::Arc::into_inner(authd).expect("every request has finished");
    assert!(authd.stop().success());

    // PostgreSQL counts a session whose client went away without closing it (and logs
    // "could not receive data from client") once the backend has noticed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.connections() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(db.connections(), 0, "no session outlives authd");
    assert_eq!(
        db.abandoned_sessions(),
        0,
        "every session was closed by authd"
    );
}

#[test]
fn logs_tell_what_happened_but_never_a_secret() {
    let db = TestDatabase::sqlite();
    let authd = Authd::start(&[("AUTHD_DATABASE_URL", db.url())]);
    let session = authd.register("alice@example.com", "alice");
    let (status, _) = authd.post(
        "/api/auth/login",
        None,
        json!({"email": "alice@example.com", "password": "wrong password!"}),
    );
    assert_eq!(status, 401);
    let refresh = field(&session, "refreshToken");
    let (_, rotated) = authd.post("/api/auth/refresh", None, json!({"refreshToken": refresh}));
    let access = field(&rotated, "accessToken");
    let (status, _) = authd.post("/api/auth/logout", Some(&access), json!({}));
    assert_eq!(status, 204);
    let (status, _) = authd.get("/api/auth/me", Some(&access));
    assert_eq!(status, 401);

    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = authd.log();
    for event in [
        "event=register outcome=success",
        "event=login outcome=failure code=INVALID_CREDENTIALS",
        "event=refresh outcome=success",
        "event=logout outcome=success",
        "event=bearer outcome=failure code=INVALID_TOKEN",
        "request_id=",
    ] {
        assert!(log.contains(event), "missing {event:?} in\n{log}");
    }
    assert!(
        !log.contains("request_id=- "),
        "every auth line names its request:\n{log}"
    );
    let hash = RefreshToken::parse(&refresh).unwrap().hash();
    for secret in [
        PASSWORD,
        "wrong password!",
        &refresh,
        &field(&rotated, "refreshToken"),
        &access,
        hash.as_str(),
    ] {
        assert!(!log.contains(secret), "the log leaks a secret:\n{log}");
    }
}

#[test]
fn hmac_signing_needs_a_long_secret_and_then_signs_with_it() {
    let db = TestDatabase::sqlite();
    let missing = Authd::try_start(&[("AUTHD_DATABASE_URL", db.url()), ("AUTHD_JWT_ALG", "HS256")])
        .err()
        .unwrap();
    assert!(missing.contains("AUTHD_JWT_SECRET"), "{missing}");
    let short = Authd::try_start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_JWT_ALG", "HS256"),
        ("AUTHD_JWT_SECRET", "too-short"),
    ])
    .err()
    .unwrap();
    assert!(short.contains("32 bytes"), "{short}");

    let secret = "an-hs512-secret-of-at-least-32-bytes!";
    let authd = Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_JWT_ALG", "HS512"),
        ("AUTHD_JWT_SECRET", secret),
        ("AUTHD_ISSUER", "https://auth.example.com"),
    ]);
    let token = field(&authd.register("alice@example.com", "alice"), "accessToken");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS512);
    validation.set_issuer(&["https://auth.example.com"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    );
    assert!(claims.is_ok(), "{claims:?}");
    let (_, jwks) = authd.get("/.well-known/jwks.json", None);
    assert_eq!(
        jwks,
        json!({"keys": []}),
        "a shared secret is never published"
    );
}

#[test]
fn an_unsupported_database_url_is_refused_with_a_clear_message() {
    let err = Authd::try_start(&[("AUTHD_DATABASE_URL", "host=localhost dbname=authd")])
        .err()
        .unwrap();
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[test]
fn absurd_settings_stop_authd_at_start_naming_the_setting() {
    let db = TestDatabase::sqlite();
    for (name, value) in [
        ("AUTHD_ACCESS_TTL_SECS", "99999999999999999"),
        ("AUTHD_REFRESH_TTL_SECS", "0"),
        ("AUTHD_LOGIN_MAX_FAILURES", "0"),
        ("AUTHD_AUDIT_RETENTION_DAYS", "100000"),
    ] {
        let log = Authd::try_start(&[("AUTHD_DATABASE_URL", db.url()), (name, value)])
            .err()
            .unwrap_or_else(|| panic!("authd started with {name}={value}"));
        assert!(log.contains(name), "{name}={value}: {log}");
    }
}

//! Several authd processes on one PostgreSQL database.

use std::sync::{Arc, Barrier};

use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, field};

#[test]
fn two_processes_rotate_one_refresh_token_exactly_once() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_REFRESH_REUSE_GRACE_SECS", "3"),
    ];
    let a = Arc::new(Authd::start(&env));
    let b = Arc::new(Authd::start(&env));
    let session = a.register("alice@example.com", "alice");
    let token = field(&session, "refreshToken");

    let clients = 16;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (barrier, token) = (barrier.clone(), token.clone());
            std::thread::spawn(move || {
                barrier.wait();
                server.post("/api/auth/refresh", None, json!({"refreshToken": token}))
            })
        })
        .collect();
    let replies: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let successors: Vec<String> = replies
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            field(body, "refreshToken")
        })
        .collect();
    assert!(
        successors.iter().all(|s| s == &successors[0]),
        "one successor for all: {successors:?}"
    );

    // Both processes see the same chain: the successor works on either.
    let (status, rotated) = b.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": successors[0]}),
    );
    assert_eq!(status, 200);

    // The chain has moved two generations past the original token: presenting it now is
    // reuse on either process, grace or not, and it kills the session everywhere.
    let (status, body) = b.post("/api/auth/refresh", None, json!({"refreshToken": token}));
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("REFRESH_TOKEN_REUSED"))
    );
    let (status, _) = a.get("/api/auth/me", Some(&field(&rotated, "accessToken")));
    assert_eq!(status, 401);
}

#[test]
fn concurrent_first_calls_from_two_processes_register_one_device() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [("AUTHD_DATABASE_URL", db.url())];
    let a = Arc::new(Authd::start(&env));
    let b = Arc::new(Authd::start(&env));
    let clients = 12;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                server.post(
                    "/api/auth/device",
                    None,
                    json!({"deviceId": "brand-new-device", "platform": "ANDROID"}),
                )
            })
        })
        .collect();
    let replies: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (status, body) in &replies {
        assert_eq!(*status, 200, "{body}");
    }
    let registered = replies
        .iter()
        .filter(|(_, b)| b["newDevice"] == true)
        .count();
    assert_eq!(registered, 1, "exactly one call registered the device");
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|(_, b)| b["device"]["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "every call got the same device");
}

#[test]
fn login_throttling_is_shared_by_processes_on_one_database() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [("AUTHD_DATABASE_URL", db.url())];
    let a = Authd::start(&env);
    let b = Authd::start(&env);
    a.register("alice@example.com", "alice");
    for server in [&a, &b, &a, &b, &a] {
        let (status, _) = server.post(
            "/api/auth/login",
            None,
            json!({"email": "alice@example.com", "password": "wrong password"}),
        );
        assert_eq!(status, 401);
    }
    let (status, body) = b.post(
        "/api/auth/login",
        None,
        json!({"email": "alice@example.com", "password": crate::PASSWORD}),
    );
    assert_eq!((status, body["code"].clone()), (429, json!("RATE_LIMITED")));
}

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

#[test]
fn an_address_gets_its_quota_once_across_two_processes() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_IP_RATE_PER_MIN", "4"),
    ];
    let (a, b) = (Authd::start(&env), Authd::start(&env));
    let attempt = |server: &Authd| {
        server.post_with_headers(
            "/api/auth/login",
            json!({"email": "alice@example.com", "password": "not the password"}),
        )
    };
    // Two attempts on each process: the second process's answers count the first's.
    let mut left = Vec::new();
    for server in [&a, &a, &b, &b] {
        let (status, headers, body) = attempt(server);
        assert_eq!(status, 401, "{body}");
        assert_eq!(headers["ratelimit-policy"], "\"login\";q=4;w=60");
        left.push(remaining(&headers["ratelimit"]));
    }
    assert_eq!(left, [3, 2, 1, 0]);
    // Either process now refuses, although neither has seen four attempts itself.
    for server in [&a, &b] {
        let (status, headers, body) = attempt(server);
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["code"], "RATE_LIMITED");
        assert!(
            (1..=15).contains(&headers["retry-after"].parse::<u32>().unwrap()),
            "{headers:?}"
        );
    }
    // Refresh stays per process: each has a bucket of its own.
    for server in [&a, &b] {
        let (status, headers, _) =
            server.post_with_headers("/api/auth/refresh", json!({"refreshToken": "not a token"}));
        assert_eq!(status, 401);
        assert_eq!(remaining(&headers["ratelimit"]), 3);
    }
}

/// The `r` of a `RateLimit` header: attempts left.
fn remaining(header: &str) -> u32 {
    let r = header.split(';').find_map(|p| p.strip_prefix("r="));
    r.and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no r= in {header}"))
}

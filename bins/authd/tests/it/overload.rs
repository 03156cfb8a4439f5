//! A login flood far beyond the hashing capacity.

use std::sync::{Arc, Barrier};

use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, PASSWORD, field};

/// Runs `client(authd, i)` for `n` clients on threads that start together; their results
/// in order.
fn at_once<T: Send + 'static>(
    authd: &Arc<Authd>,
    n: usize,
    client: impl Fn(&Authd, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let (barrier, client) = (Arc::new(Barrier::new(n)), Arc::new(client));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (authd, barrier, client) = (authd.clone(), barrier.clone(), client.clone());
            std::thread::spawn(move || {
                barrier.wait();
                client(&authd, i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// authd on `db` without the per-address limit: every client here is 127.0.0.1.
fn unlimited(db: &TestDatabase) -> Arc<Authd> {
    Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
    ]))
}

#[test]
fn a_login_flood_is_shed_with_503_while_refresh_and_health_keep_answering() {
    let db = TestDatabase::sqlite();
    let authd = unlimited(&db);
    let session = authd.register("alice@example.com", "alice");

    let flood = 150;
    let barrier = Arc::new(Barrier::new(flood + 1));
    let handles: Vec<_> = (0..flood)
        .map(|i| {
            let (authd, barrier) = (authd.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Distinct unknown accounts: each attempt costs a full Argon2 verification.
                authd.post_with_headers(
                    "/api/auth/login",
                    json!({"email": format!("user{i}@example.com"), "password": "some password"}),
                )
            })
        })
        .collect();
    barrier.wait();
    // While the flood is on, the cheap routes still work.
    let (status, _) = authd.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&session, "refreshToken")}),
    );
    assert_eq!(status, 200, "refresh during the flood");
    let (status, _) = authd.get("/healthz", None);
    assert_eq!(status, 200, "healthz during the flood");

    let replies: Vec<(
        u16,
        std::collections::BTreeMap<String, String>,
        serde_json::Value,
    )> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let shed: Vec<_> = replies.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(
        replies.iter().all(|(s, _, _)| *s == 401 || *s == 503),
        "only refusals or shedding: {:?}",
        replies.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(!shed.is_empty(), "the excess was shed");
    for (_, headers, body) in shed {
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
        assert!(
            headers.contains_key("retry-after"),
            "503 carries Retry-After"
        );
    }
    assert!(
        replies.iter().any(|(s, _, _)| *s == 401),
        "admitted logins were answered"
    );
}

#[test]
fn clients_that_retry_shed_logins_at_once_still_get_through() {
    let db = TestDatabase::sqlite();
    let authd = unlimited(&db);
    // More clients than the hashing gate admits at once (nine per core), each with its
    // own account, each retrying a 503 at once and ignoring its Retry-After.
    let clients = 9 * std::thread::available_parallelism().map_or(1, usize::from) + 24;
    for i in 0..clients {
        authd.register(&format!("storm{i}@example.com"), &format!("storm{i}"));
    }
    let answers = at_once(&authd, clients, |authd, i| {
        let body = json!({"email": format!("storm{i}@example.com"), "password": PASSWORD});
        let mut answers: Vec<u16> = Vec::new();
        // Two logins each, within an attempt budget.
        while answers.iter().filter(|s| **s == 200).count() < 2 && answers.len() < 40 {
            let (status, headers, _) = authd.post_with_headers("/api/auth/login", body.clone());
            if status == 503 {
                assert!(
                    headers.contains_key("retry-after"),
                    "503 carries Retry-After"
                );
            }
            answers.push(status);
        }
        answers
    });
    for (i, statuses) in answers.iter().enumerate() {
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 503),
            "client {i}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            2,
            "client {i} got through twice within 40 attempts: {statuses:?}"
        );
    }
    assert!(
        answers.iter().flatten().any(|s| *s == 503),
        "the storm was beyond what the gate admits"
    );
}

#[test]
fn authd_never_opens_more_database_connections_than_its_pool_size() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let authd = Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_DATABASE_POOL_SIZE", "3"),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
    ]));
    let db = Arc::new(db);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(db.connections());
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            most
        })
    };

    // 24 devices at once, each registering and then rotating its refresh chain.
    let clients = 24;
    let statuses: Vec<u16> = at_once(&authd, clients, |authd, i| {
        let (status, body) = authd.post(
            "/api/auth/device",
            None,
            json!({"deviceId": format!("pool-device-{i:04}"), "platform": "IOS"}),
        );
        let mut statuses = vec![status];
        let mut refresh = field(&body, "refreshToken");
        for _ in 0..5 {
            let (status, body) = authd.post(
                "/api/auth/device/refresh",
                None,
                json!({ "refreshToken": refresh }),
            );
            statuses.push(status);
            refresh = field(&body, "refreshToken");
        }
        statuses
    })
    .into_iter()
    .flatten()
    .collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = sampler.join().unwrap();

    assert_eq!(statuses.len(), clients * 6);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every request was served: {statuses:?}"
    );
    assert!(most >= 1, "the sampler saw authd's connections");
    assert!(
        most <= 3,
        "PostgreSQL saw {most} connections from authd with a pool of 3"
    );
}

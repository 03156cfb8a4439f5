//! Attacks on login, tried against running authd processes: concurrent guesses, and
//! logins that race a credential rotation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, field};

const ADMIN: &str = "guessing-test-admin-token-0123456789abcdef";

/// 24 wrong passwords for one account sent at once, spread over `servers`; returns how
/// many were judged (401) and the statuses of the rest.
fn guess_at_once(servers: &[Arc<Authd>]) -> (usize, Vec<u16>) {
    servers[0].register("alice@example.com", "alice");
    let guesses = 24;
    let barrier = Arc::new(Barrier::new(guesses));
    let handles: Vec<_> = (0..guesses)
        .map(|n| {
            let server = servers[n % servers.len()].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let body = json!({"email": "alice@example.com", "password": format!("guess {n}")});
                server.post("/api/auth/login", None, body).0
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let judged = statuses.iter().filter(|s| **s == 401).count();
    (judged, statuses)
}

#[test]
fn concurrent_guesses_get_at_most_five_verdicts_on_sqlite() {
    let db = TestDatabase::sqlite();
    let authd = Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
    ]));
    let (judged, statuses) = guess_at_once(&[authd]);
    assert!(judged <= 5, "{judged} judged: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
}

#[test]
fn concurrent_guesses_through_two_processes_get_at_most_five_verdicts() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
    ];
    let servers = [Arc::new(Authd::start(&env)), Arc::new(Authd::start(&env))];
    let (judged, statuses) = guess_at_once(&servers);
    assert!(judged <= 5, "{judged} judged: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
}

/// Wallets log in with their password from several clients while an administrator
/// rotates it; afterwards no session opened with the old password may still work.
fn logins_racing_a_rotation_leave_no_live_old_session(url: &str) {
    let authd = Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", url),
        ("AUTHD_IP_RATE_PER_MIN", "0"),
        ("AUTHD_ADMIN_TOKEN", ADMIN),
        // Failures after the rotation must not delay the clients' last attempts.
        ("AUTHD_LOGIN_MAX_FAILURES", "1000"),
    ]));
    let (status, app) = authd.post("/v2/apps", Some(ADMIN), json!({"name": "Sensors"}));
    assert_eq!(status, 201, "{app}");
    let app_id = field(&app, "appId");
    let (status, wallet) = authd.post(
        &format!("/v2/apps/{app_id}/wallets"),
        Some(ADMIN),
        json!({"username": "sensor01", "password": "old wallet password", "metadata": {"role": "device"}}),
    );
    assert_eq!(status, 201, "{wallet}");
    let wallet_id = field(&wallet, "id");

    let clients = 8;
    let logins_each = 12;
    let successes = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (authd, successes) = (authd.clone(), successes.clone());
            let username = format!("sensor01@{app_id}");
            std::thread::spawn(move || {
                let mut tokens = Vec::new();
                for _ in 0..logins_each {
                    let (status, body) = authd.post(
                        "/v2/auth/wallet/login",
                        None,
                        json!({"username": username, "password": "old wallet password"}),
                    );
                    if status == 200 {
                        successes.fetch_add(1, Ordering::SeqCst);
                        tokens.push(field(&body, "accessToken"));
                    }
                }
                tokens
            })
        })
        .collect();
    // Rotate while the clients are in the middle of their logins.
    while successes.load(Ordering::SeqCst) < clients {
        std::thread::yield_now();
    }
    let status = agent_put(
        &authd,
        &format!("/v2/apps/{app_id}/wallets/{wallet_id}/password"),
        json!({"password": "new wallet password"}),
    );
    assert!((200..300).contains(&status), "rotation answered {status}");
    let tokens: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(tokens.len() >= clients, "{} logins succeeded", tokens.len());
    for token in &tokens {
        let (status, body) = authd.post("/v2/auth/wallet/refresh", Some(token), json!({}));
        assert_ne!(
            status, 200,
            "a session opened with the old password lives on: {body}"
        );
    }
    let (status, _) = authd.post(
        "/v2/auth/wallet/login",
        None,
        json!({"username": format!("sensor01@{app_id}"), "password": "new wallet password"}),
    );
    assert_eq!(status, 200);
}

fn agent_put(authd: &Authd, path: &str, body: serde_json::Value) -> u16 {
    match ureq::put(&format!("{}{path}", authd.base))
        .set("authorization", &format!("Bearer {ADMIN}"))
        .send_json(body)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(e) => panic!("transport error: {e}"),
    }
}

#[test]
fn logins_racing_a_password_rotation_leave_no_live_old_session_on_sqlite() {
    let db = TestDatabase::sqlite();
    logins_racing_a_rotation_leave_no_live_old_session(db.url());
}

#[test]
fn logins_racing_a_password_rotation_leave_no_live_old_session_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    logins_racing_a_rotation_leave_no_live_old_session(db.url());
}

use std::sync::{Arc, Barrier};

use auth_core::{ThrottleKeys, ThrottlePolicy, ThrottleStore};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    concurrent_attempts_from_separate_pools_are_admitted_up_to_the_limit,
    failures_count_for_the_account_and_a_success_makes_the_network_known,
    a_released_attempt_is_given_back,
    stale_records_are_purged_and_known_networks_kept,
);

fn keys() -> ThrottleKeys {
    ThrottleKeys::new([9; 32])
}

fn from(addr: &str) -> Option<std::net::IpAddr> {
    Some(addr.parse().unwrap())
}

fn concurrent_attempts_from_separate_pools_are_admitted_up_to_the_limit(db: &TestDatabase) {
    // Each thread has a pool of its own, as separate authd processes would.
    let threads = 12;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (db.open(), barrier.clone());
            std::thread::spawn(move || {
                let key = keys().attempt("user:alice@example.com", from("203.0.113.9"));
                let policy = ThrottlePolicy::default();
                barrier.wait();
                store
                    .reserve_attempt(&key, &|state| policy.admit(state, T0))
                    .unwrap()
                    .is_ok()
            })
        })
        .collect();
    let admitted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 5, "no more attempts judged than the limit");
}

fn failures_count_for_the_account_and_a_success_makes_the_network_known(db: &TestDatabase) {
    let store = db.open();
    let policy = ThrottlePolicy {
        account_max_failures_per_hour: 2,
        ..ThrottlePolicy::default()
    };
    let attacker = keys().attempt("wallet:app_x:sensor01", from("203.0.113.9"));
    let owner = keys().attempt("wallet:app_x:sensor01", from("198.51.100.7"));
    let stranger = keys().attempt("wallet:app_x:sensor01", from("192.0.2.1"));
    store
        .record_success(&owner, &policy.after_success(T0))
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            store
                .reserve_attempt(&attacker, &|s| policy.admit(s, T0))
                .unwrap(),
            Ok(())
        );
        store
            .record_failure(&attacker, &|r| policy.after_failure(r, T0), &|a| {
                policy.account_after_failure(a, T0)
            })
            .unwrap();
    }
    let later = T0.plus_secs(60);
    assert_eq!(
        store
            .reserve_attempt(&stranger, &|s| policy.admit(s, later))
            .unwrap(),
        Err(3_540),
        "past the hourly ceiling, unknown networks wait for the hour to end"
    );
    assert_eq!(
        store
            .reserve_attempt(&owner, &|s| policy.admit(s, later))
            .unwrap(),
        Ok(())
    );
}

fn a_released_attempt_is_given_back(db: &TestDatabase) {
    let store = db.open();
    let policy = ThrottlePolicy {
        max_failures: 1,
        ..ThrottlePolicy::default()
    };
    let key = keys().attempt("user:bob@example.com", None);
    assert_eq!(
        store
            .reserve_attempt(&key, &|s| policy.admit(s, T0))
            .unwrap(),
        Ok(())
    );
    assert!(
        store
            .reserve_attempt(&key, &|s| policy.admit(s, T0))
            .unwrap()
            .is_err(),
        "the one allowed attempt is in flight"
    );
    store
        .release_attempt(&key, &|r| policy.after_release(r))
        .unwrap();
    assert_eq!(
        store
            .reserve_attempt(&key, &|s| policy.admit(s, T0))
            .unwrap(),
        Ok(())
    );
}

fn stale_records_are_purged_and_known_networks_kept(db: &TestDatabase) {
    let store = db.open();
    let policy = ThrottlePolicy::default();
    let failed = keys().attempt("user:carol@example.com", from("203.0.113.9"));
    let known = keys().attempt("user:carol@example.com", from("198.51.100.7"));
    store
        .reserve_attempt(&failed, &|s| policy.admit(s, T0))
        .unwrap()
        .unwrap();
    store
        .record_failure(&failed, &|r| policy.after_failure(r, T0), &|a| {
            policy.account_after_failure(a, T0)
        })
        .unwrap();
    store
        .record_success(&known, &policy.after_success(T0))
        .unwrap();
    // Two days on: the failure streak and the hourly count are gone, the known network stays.
    let later = T0.plus_secs(2 * 86_400);
    let deleted = store
        .purge_attempts(
            later.plus_secs(-86_400),
            later.plus_secs(-30 * 86_400),
            later.plus_secs(-3_600),
            100,
        )
        .unwrap();
    assert_eq!(deleted, 2);
    // What was kept still counts: the known network passes the hourly ceiling.
    let strict = ThrottlePolicy {
        account_max_failures_per_hour: 1,
        ..policy
    };
    store
        .reserve_attempt(&failed, &|s| strict.admit(s, later))
        .unwrap()
        .unwrap();
    store
        .record_failure(&failed, &|r| strict.after_failure(r, later), &|a| {
            strict.account_after_failure(a, later)
        })
        .unwrap();
    assert_eq!(
        store
            .reserve_attempt(&known, &|s| strict.admit(s, later))
            .unwrap(),
        Ok(())
    );
}

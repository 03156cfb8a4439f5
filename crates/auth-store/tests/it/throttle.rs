use std::sync::{Arc, Barrier};

use auth_core::{ThrottlePolicy, ThrottleStore};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    concurrent_failures_of_one_account_are_all_counted,
    a_success_clears_the_streak,
);

fn concurrent_failures_of_one_account_are_all_counted(db: &TestDatabase) {
    let threads = 10;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (db.open(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let policy = ThrottlePolicy::default();
                store
                    .record_failure("user:alice@example.com", &|r| policy.after_failure(r, T0))
                    .unwrap();
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let record = db
        .open()
        .failures("user:alice@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 10, "no failure lost to a race");
    assert!(record.locked_until.is_some());
}

fn a_success_clears_the_streak(db: &TestDatabase) {
    let store = db.open();
    let policy = ThrottlePolicy::default();
    store
        .record_failure("wallet:app_x:sensor01", &|r| policy.after_failure(r, T0))
        .unwrap();
    assert_eq!(
        store
            .failures("wallet:app_x:sensor01")
            .unwrap()
            .unwrap()
            .failures,
        1
    );
    store.clear_failures("wallet:app_x:sensor01").unwrap();
    assert_eq!(store.failures("wallet:app_x:sensor01").unwrap(), None);
    assert_eq!(store.failures("user:someone-else").unwrap(), None);
}

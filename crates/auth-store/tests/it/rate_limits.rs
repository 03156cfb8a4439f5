use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};

use auth_core::{RateLimitStore, RateQuota, RateTake};
use auth_store::test_support::TestDatabase;

crate::on_both_backends!(
    processes_racing_for_one_bucket_are_admitted_exactly_the_quota,
    a_refused_attempt_changes_nothing_and_says_how_long_to_wait,
    buckets_full_again_are_purged_and_others_kept,
);

const NOW: i64 = 1_800_000_000_000_000;

fn quota(n: u32) -> RateQuota {
    RateQuota::per_minute(NonZeroU32::new(n).unwrap())
}

fn processes_racing_for_one_bucket_are_admitted_exactly_the_quota(db: &TestDatabase) {
    // Each thread has a pool of its own, as separate authd processes would; 12 threads
    // try 3 attempts each at one instant on a bucket of 10.
    let threads = 12;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (db.open(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..3)
                    .filter(|_| {
                        matches!(
                            store.take_rate("login:net", quota(10), NOW).unwrap(),
                            RateTake::Taken(_)
                        )
                    })
                    .count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(admitted, 10);
    let store = db.open();
    assert_eq!(
        store.take_rate("register:net", quota(10), NOW).unwrap(),
        RateTake::Taken(NOW + 6_000_000),
        "another key is another bucket"
    );
}

fn a_refused_attempt_changes_nothing_and_says_how_long_to_wait(db: &TestDatabase) {
    let store = db.open();
    let q = quota(2);
    assert_eq!(
        store.take_rate("k", q, NOW).unwrap(),
        RateTake::Taken(NOW + 30_000_000)
    );
    assert_eq!(
        store.take_rate("k", q, NOW).unwrap(),
        RateTake::Taken(NOW + 60_000_000)
    );
    for _ in 0..3 {
        let refused = store.take_rate("k", q, NOW + 1_000_000).unwrap();
        assert_eq!(refused, RateTake::Refused(Some(NOW + 60_000_000)));
        let standing = q.standing(refused, NOW + 1_000_000);
        assert_eq!((standing.admitted, standing.reset_secs), (false, 29));
    }
    assert_eq!(
        store.take_rate("k", q, NOW + 30_000_000).unwrap(),
        RateTake::Taken(NOW + 90_000_000),
        "one attempt back half a minute later, as if the refusals never happened"
    );
}

fn buckets_full_again_are_purged_and_others_kept(db: &TestDatabase) {
    let store = db.open();
    let q = quota(60);
    for key in ["a", "b", "c"] {
        store.take_rate(key, q, NOW).unwrap();
    }
    store.take_rate("c", q, NOW + 5_000_000).unwrap();
    // a and b are full again 1 s after NOW, c 6 s after.
    assert_eq!(store.purge_rates(NOW + 2_000_000, 1).unwrap(), 1);
    assert_eq!(store.purge_rates(NOW + 2_000_000, 10).unwrap(), 1);
    assert_eq!(store.purge_rates(NOW + 2_000_000, 10).unwrap(), 0);
    assert_eq!(
        store.take_rate("c", q, NOW + 5_000_000).unwrap(),
        RateTake::Taken(NOW + 7_000_000),
        "c kept its count"
    );
}

//! How long the hashing threads take per hash, as a histogram for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the hash-time buckets, in seconds: Argon2id at authd's parameters takes
/// 10–40 ms on a current server core, longer when cores are shared.
pub(crate) const HASH_BUCKETS: [f64; 10] =
    [0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0];

/// How long the hashing threads took per hash: what a login costs on this machine, and
/// how far that drifts under load. Atomics only, so that a hashing thread preempted while
/// recording never holds up the thread rendering `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct HashTimes {
    sum_nanos: AtomicU64,
    /// Hashes per bucket of [`HASH_BUCKETS`], each counted in the one bucket it falls in
    /// (the last counts those above every bound), so that a snapshot taken while a hash is
    /// recorded is still a consistent histogram.
    buckets: [AtomicU64; HASH_BUCKETS.len() + 1],
}

impl HashTimes {
    pub(super) fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = HASH_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(HASH_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The cumulative bucket counts (as Prometheus counts them), the total in seconds and
    /// the number of hashes.
    pub(crate) fn snapshot(&self) -> ([u64; HASH_BUCKETS.len()], f64, u64) {
        let mut total = 0;
        let mut cumulative = [0; HASH_BUCKETS.len()];
        for (i, bucket) in self.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            if let Some(c) = cumulative.get_mut(i) {
                *c = total;
            }
        }
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        (cumulative, sum, total)
    }
}

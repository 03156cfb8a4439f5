//! Per-account login throttling: after a few consecutive failures an account's next
//! attempts are refused for a delay that doubles with each further failure, up to a cap.
//!
//! ```text
//!   failures < max_failures      → attempts allowed
//!   failure number max_failures+k → locked for min(2^k s, max_delay)
//!   attempt while locked         → refused (429), counter unchanged, even with the right
//!                                  password: a lock cannot be extended by knocking on it
//!   success                      → counter reset
//!   no failure for 24 h          → counter forgotten
//! ```
//!
//! The lock is never permanent: an attacker who keeps failing can keep an account slowed
//! down, but each lock lasts at most `max_delay` and only attempts made *after* it expires
//! can renew it. Accounts are keyed by their normalised login name whether or not they
//! exist, so throttling reveals nothing about which accounts are real.

use crate::{StoreError, UnixTime};

/// The throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Consecutive failures allowed before delays start (`AUTHD_LOGIN_MAX_FAILURES`).
    pub max_failures: u32,
    /// Longest delay in seconds (`AUTHD_LOGIN_MAX_DELAY_SECS`).
    pub max_delay_secs: i64,
}

impl Default for ThrottlePolicy {
    /// 5 failures, then delays of 1 s, 2 s, 4 s … up to 15 minutes.
    fn default() -> Self {
        Self {
            max_failures: 5,
            max_delay_secs: 900,
        }
    }
}

/// A failure streak older than this is forgotten.
pub(crate) const FORGET_AFTER_SECS: i64 = 86_400;

/// What is remembered of an account's recent failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecord {
    /// Consecutive failures.
    pub failures: u32,
    /// The latest failure.
    pub last_failure_at: UnixTime,
    /// Until when attempts are refused.
    pub locked_until: Option<UnixTime>,
}

impl ThrottlePolicy {
    /// Whether an attempt at `now` may proceed.
    ///
    /// # Errors
    /// The seconds to wait, while the account is locked.
    pub fn check(&self, record: Option<&FailureRecord>, now: UnixTime) -> Result<(), i64> {
        match record.and_then(|r| r.locked_until) {
            Some(until) if now < until => Err(until.secs() - now.secs()),
            _ => Ok(()),
        }
    }

    /// The record after a failed attempt at `now`.
    #[must_use]
    pub fn after_failure(&self, record: Option<&FailureRecord>, now: UnixTime) -> FailureRecord {
        let previous = record
            .filter(|r| now.secs() - r.last_failure_at.secs() < FORGET_AFTER_SECS)
            .map_or(0, |r| r.failures);
        let failures = previous.saturating_add(1);
        let locked_until = (failures >= self.max_failures).then(|| {
            let step = failures - self.max_failures;
            let delay = if step >= 30 {
                self.max_delay_secs
            } else {
                (1_i64 << step).min(self.max_delay_secs)
            };
            now.plus_secs(delay)
        });
        FailureRecord {
            failures,
            last_failure_at: now,
            locked_until,
        }
    }
}

/// Persistence of failure streaks, shared by every process on the database.
pub trait ThrottleStore: Send + Sync {
    /// The record for `account`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn failures(&self, account: &str) -> Result<Option<FailureRecord>, StoreError>;

    /// Records a failure: reads the current record and writes `next(current)`, atomically
    /// with respect to other failures of the same account (also across processes).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn record_failure(
        &self,
        account: &str,
        next: &dyn Fn(Option<&FailureRecord>) -> FailureRecord,
    ) -> Result<FailureRecord, StoreError>;

    /// Deletes up to `limit` failure streaks whose last failure was before `before`.
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_failures(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError>;

    /// Forgets an account's failures (after a success).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn clear_failures(&self, account: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixTime = UnixTime(1_800_000_000);

    fn fail_times(policy: &ThrottlePolicy, n: u32, mut now: UnixTime) -> FailureRecord {
        let mut record = None;
        for _ in 0..n {
            let next = policy.after_failure(record.as_ref(), now);
            now = next.locked_until.unwrap_or(now).plus_secs(1);
            record = Some(next);
        }
        record.unwrap()
    }

    #[test]
    fn the_first_failures_are_free_then_delays_double_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        for (failures, delay) in [
            (4, None),
            (5, Some(1)),
            (6, Some(2)),
            (7, Some(4)),
            (14, Some(512)),
            (15, Some(900)),
            (60, Some(900)),
        ] {
            let r = fail_times(&p, failures, T);
            let got = r.locked_until.map(|u| u.secs() - r.last_failure_at.secs());
            assert_eq!(got, delay, "after {failures} failures");
        }
    }

    #[test]
    fn a_lock_refuses_until_it_expires_and_says_how_long() {
        let p = ThrottlePolicy::default();
        let r = fail_times(&p, 7, T);
        let until = r.locked_until.unwrap();
        assert_eq!(p.check(Some(&r), until.plus_secs(-3)), Err(3));
        assert_eq!(p.check(Some(&r), until), Ok(()));
        assert_eq!(p.check(None, T), Ok(()));
    }

    #[test]
    fn an_old_streak_is_forgotten() {
        let p = ThrottlePolicy::default();
        let r = fail_times(&p, 4, T);
        let next = p.after_failure(Some(&r), r.last_failure_at.plus_secs(FORGET_AFTER_SECS));
        assert_eq!(next.failures, 1);
        assert_eq!(next.locked_until, None);
    }
}

//! Per-network rate limits that every process on one database shares: one generic cell
//! rate algorithm (GCRA) bucket per (route family, client network), kept as a single
//! number in the store and advanced by one atomic write per attempt.
//!
//! A bucket is its theoretical arrival time (TAT): the instant at which it would be full
//! again. An attempt at `now` pushes it to `max(TAT, now) + interval` and is admitted when
//! that is at most a `window` (one minute) ahead of `now`; a refused attempt changes
//! nothing. So a network gets `per_minute` attempts in a burst, refilled one every
//! `interval`, however many processes its attempts land on. Keys are keyed hashes
//! ([`crate::ThrottleKeys::rate`]): a database reader learns no address.

use std::net::IpAddr;
use std::num::NonZeroU32;

use crate::{StoreError, UnixTime};

/// How many attempts a key (a network on one route family, an email address) may make per
/// window: a minute for networks, an hour for mail to one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    limit: NonZeroU32,
    window_micros: i64,
}

/// What the store did with one attempt on a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateTake {
    /// Admitted; the bucket's TAT is now this (microseconds since the epoch).
    Taken(i64),
    /// Refused, the bucket unchanged; its TAT as last read, if it could be read.
    Refused(Option<i64>),
}

/// Where a network stands with a quota after an attempt: what the `RateLimit` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStanding {
    /// Attempts per window, and the burst.
    pub limit: u32,
    /// Attempts left now.
    pub remaining: u32,
    /// Seconds until the bucket is full again; when refused, until the next attempt.
    pub reset_secs: u64,
    /// Whether this attempt was admitted.
    pub admitted: bool,
}

impl RateQuota {
    /// `per_minute` attempts per minute, in a burst or spread out.
    #[must_use]
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            limit: per_minute,
            window_micros: 60_000_000,
        }
    }

    /// `per_hour` attempts per hour, in a burst or spread out.
    #[must_use]
    pub fn per_hour(per_hour: NonZeroU32) -> Self {
        Self {
            limit: per_hour,
            window_micros: 3_600_000_000,
        }
    }

    /// Microseconds between two attempts of a steady client (at least one).
    #[must_use]
    pub fn interval_micros(self) -> i64 {
        (self.window_micros / i64::from(self.limit.get())).max(1)
    }

    /// How far ahead of now a bucket's TAT may be pushed by an admitted attempt.
    #[must_use]
    pub fn window_micros(self) -> i64 {
        self.window_micros
    }

    /// The rule every store applies to one attempt at `now` on a bucket whose TAT is
    /// `tat` (`None`: never seen, or purged): the new TAT, or `None` when refused.
    #[must_use]
    pub fn advance(self, tat: Option<i64>, now: i64) -> Option<i64> {
        let next = tat.map_or(now, |tat| tat.max(now)) + self.interval_micros();
        (next - now <= self.window_micros()).then_some(next)
    }

    /// Where a network stands after `take` at `now` (microseconds).
    #[must_use]
    pub fn standing(self, take: RateTake, now: i64) -> RateStanding {
        let limit = self.limit.get();
        let interval = self.interval_micros();
        match take {
            RateTake::Taken(tat) => {
                let ahead = (tat - now).max(0);
                let left = (self.window_micros() - ahead) / interval;
                RateStanding {
                    limit,
                    remaining: u32::try_from(left.max(0)).unwrap_or(0).min(limit),
                    reset_secs: secs_ceil(ahead),
                    admitted: true,
                }
            }
            RateTake::Refused(tat) => {
                // The next attempt is admitted once the bucket has room for one interval.
                let wait = tat.map_or(interval, |tat| tat.max(now) + interval - now)
                    - self.window_micros();
                RateStanding {
                    limit,
                    remaining: 0,
                    reset_secs: secs_ceil(wait).clamp(1, secs_ceil(self.window_micros)),
                    admitted: false,
                }
            }
        }
    }
}

fn secs_ceil(micros: i64) -> u64 {
    u64::try_from(micros.max(0))
        .unwrap_or(0)
        .div_ceil(1_000_000)
}

/// Microseconds since the epoch of `now`.
#[must_use]
pub(crate) fn rate_instant(now: UnixTime) -> i64 {
    now.secs().saturating_mul(1_000_000)
}

/// The buckets of shared rate limits.
pub trait RateLimitStore: Send + Sync {
    /// Applies [`RateQuota::advance`] to the bucket `key` at `now` (microseconds) in one
    /// atomic step: two processes taking the last attempt at once admit exactly one.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn take_rate(&self, key: &str, quota: RateQuota, now: i64) -> Result<RateTake, StoreError>;

    /// Deletes up to `limit` buckets that were full again before `before` (microseconds):
    /// a missing bucket is a full one. Returns how many were deleted.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_rates(&self, before: i64, limit: usize) -> Result<usize, StoreError>;
}

/// Takes one attempt of `family` from `client`'s network, counted in `store` under the
/// key `keys` give it, at `now`.
///
/// # Errors
/// [`StoreError`] when storage fails.
pub(crate) fn take_shared_rate(
    store: &dyn RateLimitStore,
    keys: &crate::ThrottleKeys,
    family: &str,
    client: Option<IpAddr>,
    quota: RateQuota,
    now: UnixTime,
) -> Result<RateStanding, StoreError> {
    let now = rate_instant(now);
    let take = store.take_rate(&keys.rate(family, client), quota, now)?;
    Ok(quota.standing(take, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(n: u32) -> RateQuota {
        RateQuota::per_minute(NonZeroU32::new(n).unwrap())
    }

    const NOW: i64 = 1_800_000_000_000_000;

    #[test]
    fn a_burst_of_the_quota_is_admitted_then_one_per_interval() {
        let q = quota(3);
        let mut tat = None;
        for left in [2, 1, 0] {
            let next = q.advance(tat, NOW).unwrap();
            assert_eq!(q.standing(RateTake::Taken(next), NOW).remaining, left);
            tat = Some(next);
        }
        assert_eq!(q.advance(tat, NOW), None, "a fourth attempt in the burst");
        let refused = q.standing(RateTake::Refused(tat), NOW);
        assert_eq!((refused.admitted, refused.reset_secs), (false, 20));
        assert_eq!(q.advance(tat, NOW + 19_999_999), None);
        assert!(q.advance(tat, NOW + 20_000_000).is_some());
    }

    #[test]
    fn an_admitted_attempt_says_when_the_bucket_is_full_again() {
        let q = quota(60);
        let first = q.advance(None, NOW).unwrap();
        let s = q.standing(RateTake::Taken(first), NOW);
        assert_eq!((s.limit, s.remaining, s.reset_secs), (60, 59, 1));
        let idle = q.advance(Some(first), NOW + 3_600_000_000).unwrap();
        assert_eq!(
            idle,
            NOW + 3_600_000_000 + 1_000_000,
            "an idle bucket is full"
        );
    }

    #[test]
    fn a_refusal_without_a_readable_bucket_waits_one_interval_at_least_a_second() {
        let s = quota(600).standing(RateTake::Refused(None), NOW);
        assert_eq!((s.remaining, s.reset_secs, s.admitted), (0, 1, false));
    }
}

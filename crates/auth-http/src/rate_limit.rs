//! Per-client-address rate limits on the unauthenticated route families, as token buckets
//! kept in this process's memory.
//!
//! Each (family, address) pair has a bucket of `per_minute` tokens that refills evenly over
//! a minute; an attempt takes one token, and an empty bucket answers `429 RATE_LIMITED` with
//! the seconds until the next token. The address is the one [`crate::ClientInfo`] believes:
//! forwarding headers count only from trusted proxies, so a client cannot pick a fresh
//! bucket by sending a new header. Buckets are per process: behind a load balancer with N
//! processes, an address gets up to N times the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use auth_core::{AuthError, UnixTime};

/// The route families that are limited separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteFamily {
    /// User and wallet login.
    Login,
    /// User registration.
    Register,
    /// Device authentication (and so device auto-registration).
    Device,
    /// Refresh of user, device and wallet sessions.
    Refresh,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: UnixTime,
}

/// Most buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE: usize = 100_000;

/// Token buckets per (route family, client address).
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<(RouteFamily, IpAddr), Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` attempts per minute per address and family
    /// (bursts up to that many); `0` turns limiting off.
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt from the bucket of `family` and `addr` at `now`.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] with the seconds until the next attempt is allowed.
    pub fn admit(
        &self,
        family: RouteFamily,
        addr: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        let (Some(addr), true) = (addr, self.per_minute > 0) else {
            return Ok(());
        };
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refilled(b, now, per_second, capacity) < capacity);
        }
        let bucket = buckets.entry((family, addr)).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = refilled(bucket, now, per_second, capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / per_second).ceil();
            Err(AuthError::RateLimited {
                // At most 60 s: an empty bucket refills one token within a minute.
                retry_after_secs: (wait as i64).clamp(1, 60),
            })
        }
    }
}

fn refilled(bucket: &Bucket, now: UnixTime, per_second: f64, capacity: f64) -> f64 {
    let elapsed = (now.secs() - bucket.updated.secs()).max(0) as f64;
    (bucket.tokens + elapsed * per_second).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixTime = UnixTime(1_800_000_000);

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_burst_up_to_the_limit_passes_then_waits_for_refill() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4"), T).is_ok());
        }
        assert!(matches!(
            limiter.admit(RouteFamily::Login, ip("1.2.3.4"), T),
            Err(AuthError::RateLimited {
                retry_after_secs: 20
            })
        ));
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("1.2.3.4"), T.plus_secs(20))
                .is_ok()
        );
    }

    #[test]
    fn families_addresses_and_zero_are_independent() {
        let limiter = RateLimiter::new(1);
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4"), T).is_ok());
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4"), T).is_err());
        assert!(
            limiter
                .admit(RouteFamily::Register, ip("1.2.3.4"), T)
                .is_ok()
        );
        assert!(limiter.admit(RouteFamily::Login, ip("5.6.7.8"), T).is_ok());
        let off = RateLimiter::new(0);
        for _ in 0..100 {
            assert!(off.admit(RouteFamily::Login, ip("1.2.3.4"), T).is_ok());
        }
    }
}

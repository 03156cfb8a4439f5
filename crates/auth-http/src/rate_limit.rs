//! Per-client-network rate limits on the unauthenticated route families, kept in this
//! process's memory by governor's keyed GCRA limiter.
//!
//! Each (family, network) pair may make `per_minute` attempts in a burst, refilled evenly
//! over a minute; past that, `429 RATE_LIMITED` with the seconds until the next attempt.
//! A network is an IPv4 address or an IPv6 /64: one subscriber's allocation, so a client
//! cannot pick a fresh bucket by rotating through the 2^64 addresses of its prefix. The
//! address is the one [`crate::ClientInfo`] believes: forwarding headers count only from
//! trusted proxies. Limits are per process: behind a load balancer with N processes, a
//! network gets up to N times the limit.
//!
//! Work per request is a lookup in a sharded map. Memory is bounded by the networks seen
//! in the last minute: at most every ten seconds, one request sweeps out the networks whose
//! bucket is full again (as if never seen).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use auth_core::{AuthError, Clock};
use governor::clock::Clock as GovernorClock;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

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

/// A client network: an IPv4 address or the first 64 bits of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Network {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Network {
    fn from(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => Network::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Network::V4(v4.into()),
                None => Network::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// authd's clock as governor reads it.
#[derive(Clone)]
struct LimiterClock(Arc<dyn Clock>);

impl GovernorClock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let secs = u64::try_from(self.0.now().secs()).unwrap_or(0);
        Nanos::from(Duration::from_secs(secs))
    }
}

type Limiter = Gcra<
    (RouteFamily, Network),
    DashMapStateStore<(RouteFamily, Network)>,
    LimiterClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

/// How often idle networks are swept out, at most.
const SWEEP_EVERY_SECS: i64 = 10;

/// Rate limits per (route family, client network).
pub struct RateLimiter {
    limiter: Option<Limiter>,
    clock: Arc<dyn Clock>,
    last_sweep: AtomicI64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter allowing `per_minute` attempts per minute per network and family
    /// (bursts up to that many) by `clock`; `0` turns limiting off.
    #[must_use]
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| Gcra::dashmap_with_clock(Quota::per_minute(n), LimiterClock(clock.clone())));
        Self {
            limiter,
            last_sweep: AtomicI64::new(clock.now().secs()),
            clock,
        }
    }

    /// Takes one attempt of `family` from the network of `addr`.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] with the seconds until the next attempt is allowed.
    pub fn admit(&self, family: RouteFamily, addr: Option<IpAddr>) -> Result<(), AuthError> {
        let (Some(limiter), Some(addr)) = (&self.limiter, addr) else {
            return Ok(());
        };
        self.sweep_now_and_then(limiter);
        limiter
            .check_key(&(family, Network::from(addr)))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(LimiterClock(self.clock.clone()).now());
                AuthError::RateLimited {
                    // At most 60 s: an empty bucket refills one attempt within a minute.
                    retry_after_secs: i64::try_from(wait.as_secs()).unwrap_or(60).clamp(1, 60),
                }
            })
    }

    /// Networks currently remembered (for tests and gauges).
    #[must_use]
    pub fn networks(&self) -> usize {
        self.limiter.as_ref().map_or(0, Limiter::len)
    }

    fn sweep_now_and_then(&self, limiter: &Limiter) {
        let now = self.clock.now().secs();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last >= SWEEP_EVERY_SECS
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use auth_core::{ManualClock, UnixTime};

    use super::*;

    const T: UnixTime = UnixTime(1_800_000_000);

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn limited(per_minute: u32) -> (RateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T));
        (RateLimiter::new(per_minute, clock.clone()), clock)
    }

    #[test]
    fn a_burst_up_to_the_limit_passes_then_waits_for_refill() {
        let (limiter, clock) = limited(3);
        for _ in 0..3 {
            assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_ok());
        }
        assert!(matches!(
            limiter.admit(RouteFamily::Login, ip("1.2.3.4")),
            Err(AuthError::RateLimited {
                retry_after_secs: 20
            })
        ));
        clock.advance(20);
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_ok());
    }

    #[test]
    fn families_networks_and_zero_are_independent() {
        let (limiter, _) = limited(1);
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_ok());
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_err());
        assert!(limiter.admit(RouteFamily::Register, ip("1.2.3.4")).is_ok());
        assert!(limiter.admit(RouteFamily::Login, ip("5.6.7.8")).is_ok());
        let (off, _) = limited(0);
        for _ in 0..100 {
            assert!(off.admit(RouteFamily::Login, ip("1.2.3.4")).is_ok());
        }
    }

    #[test]
    fn an_ipv6_client_is_one_network_across_its_64() {
        let (limiter, _) = limited(2);
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("2001:db8:1:2::1"))
                .is_ok()
        );
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("2001:db8:1:2::2"))
                .is_ok()
        );
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
                .is_err()
        );
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("2001:db8:1:3::1"))
                .is_ok()
        );
        // An IPv4-mapped address is its IPv4 address.
        assert!(
            limiter
                .admit(RouteFamily::Login, ip("::ffff:1.2.3.4"))
                .is_ok()
        );
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_ok());
        assert!(limiter.admit(RouteFamily::Login, ip("1.2.3.4")).is_err());
    }

    #[test]
    fn networks_not_seen_for_a_minute_are_forgotten() {
        let (limiter, clock) = limited(30);
        for n in 0..1_000_u32 {
            let addr = IpAddr::V4(n.into());
            assert!(limiter.admit(RouteFamily::Refresh, Some(addr)).is_ok());
        }
        assert_eq!(limiter.networks(), 1_000);
        clock.advance(61);
        assert!(limiter.admit(RouteFamily::Refresh, ip("9.9.9.9")).is_ok());
        assert_eq!(limiter.networks(), 1, "only the network seen just now");
    }
}

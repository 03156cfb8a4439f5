//! Per-client-network rate limits on the unauthenticated route families.
//!
//! Each (family, network) pair may make `per_minute` attempts in a burst, refilled evenly
//! over a minute; past that, `429 RATE_LIMITED` with the seconds until the next attempt.
//! A network is an IPv4 address or an IPv6 /64: one subscriber's allocation, so a client
//! cannot pick a fresh bucket by rotating through the 2^64 addresses of its prefix. The
//! address is the one [`crate::ClientInfo`] believes: forwarding headers count only from
//! trusted proxies.
//!
//! Every process counts in its own memory with governor's keyed GCRA limiter: a lookup
//! in a sharded map, bounded by the networks seen in the last minute (at most every ten
//! seconds, one request sweeps out the networks whose bucket is full again). With
//! [`LimitScope::Database`], the families that already go to the database (register,
//! login, device) are counted once more in a bucket that every process on the database
//! shares ([`auth_core::RateQuota`]), so that N processes behind a load balancer still
//! give a network its quota once. A process refuses on its own count first, without a
//! round trip: its count never exceeds the shared one, so a flood from one network costs
//! the database nothing. Refresh stays per process: it is the hot path, and a guessed
//! refresh token is hopeless anyway, so its limit only caps the work one network makes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use auth_core::{AuthError, Clock, RateQuota, RateStanding};
use governor::clock::Clock as GovernorClock;
use governor::middleware::StateInformationMiddleware;
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
    StateInformationMiddleware,
>;

impl RouteFamily {
    /// The family's name in the `RateLimit` headers and in shared bucket keys.
    fn name(self) -> &'static str {
        match self {
            RouteFamily::Login => "login",
            RouteFamily::Register => "register",
            RouteFamily::Device => "device",
            RouteFamily::Refresh => "refresh",
        }
    }

    /// Whether the family's shared bucket is kept in the database under
    /// [`LimitScope::Database`]: every family but refresh, whose requests make no other
    /// round trip that the limit could ride along with.
    fn shared(self) -> bool {
        self != RouteFamily::Refresh
    }
}

/// Where a network's attempts are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// In this process's memory alone (SQLite: one process owns the file).
    Process,
    /// Also in the database, once for every process on it (PostgreSQL), for register,
    /// login and device; refresh per process.
    Database,
}

/// What the limit decided for a request, handed by [`limited`] to the handler in its
/// `ClientInfo`, so that an attempt is counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) family: RouteFamily,
    pub(crate) standing: RateStanding,
}

/// How often idle networks are swept out, at most.
const SWEEP_EVERY_SECS: i64 = 10;

/// Rate limits per (route family, client network).
pub struct RateLimiter {
    limiter: Option<Limiter>,
    /// The quota of the shared buckets, when they are kept in the database.
    shared: Option<RateQuota>,
    clock: Arc<dyn Clock>,
    last_sweep: AtomicI64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.limiter.is_some())
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter allowing `per_minute` attempts per minute per network and family
    /// (bursts up to that many) by `clock`, counted in `scope`; `0` turns limiting off.
    #[must_use]
    pub fn new(per_minute: u32, scope: LimitScope, clock: Arc<dyn Clock>) -> Self {
        let per_minute = NonZeroU32::new(per_minute);
        let limiter = per_minute.map(|n| {
            Gcra::dashmap_with_clock(Quota::per_minute(n), LimiterClock(clock.clone()))
                .with_middleware::<StateInformationMiddleware>()
        });
        Self {
            limiter,
            shared: per_minute
                .filter(|_| scope == LimitScope::Database)
                .map(RateQuota::per_minute),
            last_sweep: AtomicI64::new(clock.now().secs()),
            clock,
        }
    }

    /// Takes one attempt of `family` from the network of `addr`.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] with the seconds until the next attempt is allowed.
    pub fn admit(&self, family: RouteFamily, addr: Option<IpAddr>) -> Result<(), AuthError> {
        match self.decide(family, addr) {
            Some(decision) if !decision.standing.admitted => Err(decision.refusal()),
            _ => Ok(()),
        }
    }

    /// Takes one attempt of `family` from the network of `addr` in this process's count,
    /// and says where the network stands; `None` when nothing is limited (limits off, or
    /// no address).
    pub(crate) fn decide(&self, family: RouteFamily, addr: Option<IpAddr>) -> Option<Decision> {
        let (Some(limiter), Some(addr)) = (&self.limiter, addr) else {
            return None;
        };
        self.sweep_now_and_then(limiter);
        let standing = match limiter.check_key(&(family, Network::from(addr))) {
            Ok(state) => {
                let limit = state.quota().burst_size().get();
                let remaining = state.remaining_burst_capacity();
                // The bucket refills one attempt every 60 s / limit.
                let missing = u64::from(limit.saturating_sub(remaining));
                RateStanding {
                    limit,
                    remaining,
                    reset_secs: (missing * 60).div_ceil(u64::from(limit)),
                    admitted: true,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(LimiterClock(self.clock.clone()).now());
                RateStanding {
                    limit: not_until.quota().burst_size().get(),
                    remaining: 0,
                    // At most 60 s: an empty bucket refills one attempt within a minute.
                    reset_secs: wait.as_secs().clamp(1, 60),
                    admitted: false,
                }
            }
        };
        Some(Decision { family, standing })
    }

    /// Takes one attempt of `family` from the network of `addr`, in this process's count
    /// and, for a shared family admitted here, in the database's; `None` when nothing is
    /// limited. When the database cannot be asked, this process's count decides.
    async fn decide_everywhere(
        &self,
        state: &crate::AuthState,
        family: RouteFamily,
        addr: Option<IpAddr>,
    ) -> Option<Decision> {
        let local = self.decide(family, addr)?;
        let Some(quota) = self
            .shared
            .filter(|_| family.shared() && local.standing.admitted)
        else {
            return Some(local);
        };
        let (authority, now) = (state.authority.clone(), self.clock.now());
        let shared = crate::blocking::blocking(move || {
            authority.take_shared_rate(family.name(), addr, quota, now)
        })
        .await;
        match shared {
            Ok(standing) => Some(Decision { family, standing }),
            Err(e) => {
                log::warn!("shared rate limit unavailable, counting in this process: {e}");
                Some(local)
            }
        }
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

impl Decision {
    /// The refusal of an attempt that was not admitted.
    pub(crate) fn refusal(&self) -> AuthError {
        AuthError::RateLimited {
            retry_after_secs: i64::try_from(self.standing.reset_secs).unwrap_or(60),
        }
    }

    /// The `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers):
    /// the family's quota per 60 s window, and what is left and when it is whole again.
    fn headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let name = self.family.name();
        let s = self.standing;
        let value = |text: String| {
            HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
        };
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                value(format!("\"{name}\";q={};w=60", s.limit)),
            ),
            (
                HeaderName::from_static("ratelimit"),
                value(format!("\"{name}\";r={};t={}", s.remaining, s.reset_secs)),
            ),
        ]
    }
}

/// Middleware of a limited route: takes the attempt of `family` from the client's network
/// before the handler runs (the handler finds the decision in the request and answers a
/// refusal 429, recorded like any failure), and says on the response, whatever it is,
/// where the network stands.
pub(crate) async fn limited(
    family: RouteFamily,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut decision = None;
    if let Some(state) = req
        .app_data::<web::Data<crate::AuthState>>()
        .filter(|state| state.rate_limiter.limiter.is_some())
    {
        // The handler's `ClientInfo` is this one, with the decision: worked out once.
        let mut client = crate::ClientInfo::of(req.request());
        decision = state
            .rate_limiter
            .decide_everywhere(state, family, client.addr)
            .await;
        client.limit = decision;
        req.extensions_mut().insert(client);
    }
    let mut response = next.call(req).await?;
    if let Some(decision) = decision {
        for (name, value) in decision.headers() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// [`limited`] for requests of `method` only, on a resource whose other methods are not
/// limited (`GET /api/auth/me` is not; `DELETE /api/auth/me` checks a password).
pub(crate) async fn limited_on<B: MessageBody + 'static>(
    method: actix_web::http::Method,
    family: RouteFamily,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if *req.method() == method {
        Ok(limited(family, req, next).await?.map_into_boxed_body())
    } else {
        Ok(next.call(req).await?.map_into_boxed_body())
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
        (
            RateLimiter::new(per_minute, LimitScope::Process, clock.clone()),
            clock,
        )
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

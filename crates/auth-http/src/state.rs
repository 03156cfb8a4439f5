//! What every handler shares: the domain operations, the clock, and who to believe about
//! client addresses.

use std::sync::Arc;

use auth_core::{Authority, Clock};

use crate::{
    ApiError, AuditTrail, ClientInfo, HashingGate, LimitScope, Metrics, RateLimiter, RouteFamily,
    TrustedProxies,
};

/// Application state, registered once with `App::app_data(web::Data::new(state))`.
/// Built with [`AuthState::new`] and the `with_*` settings, the same way by the binary
/// and by every test.
#[derive(Clone)]
pub struct AuthState {
    /// The domain operations.
    pub(crate) authority: Authority,
    /// The time source; tests pass a manual clock.
    pub(crate) clock: Arc<dyn Clock>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: TrustedProxies,
    /// The bootstrap admin token (`AUTHD_ADMIN_TOKEN`), if configured.
    pub(crate) admin_token: Option<String>,
    /// Per-address limits on the unauthenticated route families.
    pub(crate) rate_limiter: Arc<RateLimiter>,
    /// Admission control for password hashing.
    pub(crate) hashing: Arc<HashingGate>,
    /// Where authentication events are recorded.
    pub(crate) audit: AuditTrail,
    /// This process's counters and histograms.
    pub(crate) metrics: Arc<Metrics>,
    /// The origins whose pages may call authd from a browser (`AUTHD_ALLOWED_ORIGINS`).
    pub(crate) allowed_origins: crate::AllowedOrigins,
}

impl AuthState {
    /// The state of an authd answering with `authority`, reading time from `clock` and
    /// recording events in `audit`: no admin token, no trusted proxies, no per-address
    /// limit, a hashing gate sized to this machine and fresh metrics until the `with_*`
    /// methods say otherwise.
    #[must_use]
    pub fn new(authority: Authority, clock: Arc<dyn Clock>, audit: AuditTrail) -> Self {
        Self {
            authority,
            rate_limiter: Arc::new(RateLimiter::new(0, LimitScope::Process, clock.clone())),
            clock,
            trusted_proxies: TrustedProxies::default(),
            admin_token: None,
            hashing: Arc::new(HashingGate::for_this_machine()),
            audit,
            metrics: Arc::default(),
            allowed_origins: crate::AllowedOrigins::default(),
        }
    }

    /// The origins whose pages may call authd from a browser, with CORS and cookie
    /// sessions (`AUTHD_ALLOWED_ORIGINS`; empty: neither).
    #[must_use]
    pub fn with_allowed_origins(mut self, origins: crate::AllowedOrigins) -> Self {
        self.allowed_origins = origins;
        self
    }

    /// The bootstrap admin token (`AUTHD_ADMIN_TOKEN`).
    #[must_use]
    pub fn with_admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token;
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed (`AUTHD_TRUSTED_PROXIES`).
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Attempts per minute per client network on each route family
    /// (`AUTHD_IP_RATE_PER_MIN`; 0 turns the limit off), counted in `scope`.
    #[must_use]
    pub fn with_rate_limit(mut self, per_minute: u32, scope: LimitScope) -> Self {
        self.rate_limiter = Arc::new(RateLimiter::new(per_minute, scope, self.clock.clone()));
        self
    }

    /// Another hashing gate (tests size it to hold it busy).
    #[must_use]
    pub fn with_hashing(mut self, hashing: Arc<HashingGate>) -> Self {
        self.hashing = hashing;
        self
    }

    /// Metrics shared with something else in the process (the purge thread).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The audit trail (tests flush it before reading the table).
    #[must_use]
    pub fn audit(&self) -> &AuditTrail {
        &self.audit
    }

    /// Takes one attempt of `family` for `client`.
    ///
    /// # Errors
    /// [`ApiError`] carrying `RATE_LIMITED` when the client's bucket is empty.
    pub(crate) fn admit(&self, family: RouteFamily, client: &ClientInfo) -> Result<(), ApiError> {
        // Decided once, by the route's middleware, where there is one.
        match client.limit {
            Some(decision) if decision.family == family => {
                if decision.standing.admitted {
                    Ok(())
                } else {
                    Err(decision.refusal().into())
                }
            }
            _ => Ok(self.rate_limiter.admit(family, client.addr)?),
        }
    }
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("authority", &self.authority)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

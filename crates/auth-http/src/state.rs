//! What every handler shares: the domain operations, the clock, and who to believe about
//! client addresses.

use std::sync::Arc;

use auth_core::{Authority, Clock};

use crate::{
    ApiError, AuditTrail, ClientInfo, HashingGate, Metrics, RateLimiter, RouteFamily,
    TrustedProxies,
};

/// Application state, registered once with `App::app_data(web::Data::new(state))`.
#[derive(Clone)]
pub struct AuthState {
    /// The domain operations.
    pub authority: Authority,
    /// The time source; tests pass a manual clock.
    pub clock: Arc<dyn Clock>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The bootstrap admin token (`AUTHD_ADMIN_TOKEN`), if configured.
    pub admin_token: Option<String>,
    /// Per-address limits on the unauthenticated route families.
    pub rate_limiter: Arc<RateLimiter>,
    /// Admission control for password hashing.
    pub hashing: Arc<HashingGate>,
    /// Where authentication events are recorded.
    pub audit: AuditTrail,
    /// This process's counters and histograms.
    pub metrics: Arc<Metrics>,
}

impl AuthState {
    /// Takes one attempt of `family` for `client`.
    ///
    /// # Errors
    /// [`ApiError`] carrying `RATE_LIMITED` when the client's bucket is empty.
    pub(crate) fn admit(&self, family: RouteFamily, client: &ClientInfo) -> Result<(), ApiError> {
        Ok(self.rate_limiter.admit(family, client.addr)?)
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

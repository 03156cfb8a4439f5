//! What every handler shares: the domain operations, the clock, and who to believe about
//! client addresses.

use std::sync::Arc;

use auth_core::{Authority, Clock};

use crate::TrustedProxies;

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
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("authority", &self.authority)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

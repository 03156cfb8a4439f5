//! [`AccessVerifier`]: checks authd access tokens against a configured key or authd's
//! JWKS, fetched and cached.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use auth_core::{AccessClaims, Clock, SigningAlgorithm, SystemClock, TokenVerifier, UnixTime};

use crate::ResourceError;

/// Checks authd access tokens for a resource server. Register it once with
/// `App::app_data(web::Data::new(verifier))`; [`Principal`] and [`RequireRole`] find it
/// there.
///
/// [`Principal`]: crate::Principal
/// [`RequireRole`]: crate::RequireRole
pub struct AccessVerifier {
    keys: Keys,
    clock: Arc<dyn Clock>,
}

enum Keys {
    Configured(TokenVerifier),
    Fetched(JwksCache),
}

impl std::fmt::Debug for AccessVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("AccessVerifier");
        match &self.keys {
            Keys::Configured(v) => d.field("keys", v),
            Keys::Fetched(cache) => d.field("jwks_url", &cache.url),
        };
        d.finish_non_exhaustive()
    }
}

impl AccessVerifier {
    /// Verifies with keys the service was configured with: authd's JWKS read from a file
    /// ([`TokenVerifier::from_jwks`]) or its HMAC secret ([`TokenVerifier::hmac`]). Nothing
    /// is fetched.
    #[must_use]
    pub fn new(keys: TokenVerifier) -> Self {
        Self {
            keys: Keys::Configured(keys),
            clock: Arc::new(SystemClock),
        }
    }

    /// Verifies EdDSA tokens of `issuer` with the keys published at `jwks_url` (authd's
    /// `/.well-known/jwks.json`).
    ///
    /// The set is fetched on first use and cached. When it is older than
    /// [`AccessVerifier::max_age`] (5 min) one request fetches it again while the others
    /// go on with the keys held; a token naming an unknown `kid` (authd rotated its keys)
    /// waits for a fetch. Fetches happen at most once per
    /// [`AccessVerifier::min_refetch_interval`] (10 s) and one at a time, so forged kids
    /// cannot make this service hammer authd, and a malformed token is refused before any
    /// fetch. While authd cannot be reached the keys held keep working, for at most twelve
    /// times `max_age` (1 h, the default access-token lifetime) after their last
    /// successful fetch; after that requests are answered 503 until authd is back.
    ///
    /// `https://` URLs need this crate's `rustls` feature.
    #[must_use]
    pub fn jwks(jwks_url: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            keys: Keys::Fetched(JwksCache {
                url: jwks_url.into(),
                issuer: issuer.into(),
                current: RwLock::new(None),
                fetch: tokio::sync::Mutex::new(Fetches::default()),
                min_interval: Duration::from_secs(10),
                max_age: Duration::from_secs(300),
                timeout: Duration::from_secs(3),
                legacy_type: false,
            }),
            clock: Arc::new(SystemClock),
        }
    }

    /// Also accepts tokens typed `JWT`, as authd signed them before it typed its access
    /// tokens `at+jwt` (RFC 9068). Turn it on while authd is upgraded to that release and
    /// off once the previous release's tokens have expired (one access-token lifetime):
    /// see `docs/upgrading.md`.
    #[must_use]
    pub fn accept_legacy_token_type(mut self) -> Self {
        match &mut self.keys {
            Keys::Configured(keys) => *keys = keys.clone().accepting_legacy_type(),
            Keys::Fetched(cache) => cache.legacy_type = true,
        }
        self
    }

    /// The shortest time between two fetches of the JWKS (default 10 s; whole seconds).
    #[must_use]
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        if let Keys::Fetched(cache) = &mut self.keys {
            cache.min_interval = interval;
        }
        self
    }

    /// How long a fetched JWKS is used before it is fetched again (default 5 min), so
    /// that a key authd stopped publishing stops being accepted. Keys are never used
    /// longer than twelve times this without a successful fetch.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        if let Keys::Fetched(cache) = &mut self.keys {
            cache.max_age = age;
        }
        self
    }

    /// The clock tokens' `exp`, `iat` and `nbf` are checked against, and the age of the
    /// fetched keys measured by, in whole seconds (default: the system's).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies an access token and returns its claims.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` or `TOKEN_EXPIRED` for a token that fails the rules, and 503
    /// `SERVICE_UNAVAILABLE` when no keys are held (the JWKS could not be fetched since
    /// start, or not for twelve times `max_age`).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, ResourceError> {
        let now = self.clock.now();
        match &self.keys {
            Keys::Configured(keys) => Ok(keys.verify(token, now)?),
            Keys::Fetched(cache) => {
                TokenVerifier::header_kid(token, SigningAlgorithm::EdDSA, cache.legacy_type)?;
                let keys = match cache.current(now) {
                    Some((held, fetched)) if cache.is_stale(fetched, now) => {
                        cache.refresh_unless_under_way(now).await.unwrap_or(held)
                    }
                    Some((held, _)) => held,
                    None => cache
                        .refresh(now)
                        .await
                        .ok_or(ResourceError::KeysUnavailable)?,
                };
                if keys.lacks_key_for(token)
                    && let Some(refreshed) = cache.refresh(now).await
                {
                    return Ok(refreshed.verify(token, now)?);
                }
                Ok(keys.verify(token, now)?)
            }
        }
    }
}

/// The JWKS of one authd, as last fetched.
struct JwksCache {
    url: String,
    issuer: String,
    current: RwLock<Option<(Arc<TokenVerifier>, UnixTime)>>,
    /// Held while fetching: the single flight.
    fetch: tokio::sync::Mutex<Fetches>,
    min_interval: Duration,
    max_age: Duration,
    timeout: Duration,
    legacy_type: bool,
}

#[derive(Default)]
struct Fetches {
    last_attempt: Option<UnixTime>,
}

/// The time from `then` to `now`, as read from the verifier's clock.
fn elapsed(then: UnixTime, now: UnixTime) -> Duration {
    Duration::from_secs(u64::try_from(now.secs().saturating_sub(then.secs())).unwrap_or(0))
}

/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl JwksCache {
    /// The keys held and when they were fetched, unless at `now` they are too old to trust.
    fn current(&self, now: UnixTime) -> Option<(Arc<TokenVerifier>, UnixTime)> {
        let held = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        held.filter(|(_, fetched)| elapsed(*fetched, now) < self.max_age.saturating_mul(12))
    }

    fn is_stale(&self, fetched: UnixTime, now: UnixTime) -> bool {
        elapsed(fetched, now) >= self.max_age
    }

    /// Fetches the set again unless a fetch started within the minimum interval (another
    /// caller's, possibly the one just waited for); returns the keys held afterwards.
    async fn refresh(&self, now: UnixTime) -> Option<Arc<TokenVerifier>> {
        let fetches = self.fetch.lock().await;
        self.refresh_holding(fetches, now).await
    }

    /// As [`JwksCache::refresh`], but returns `None` at once when a fetch is under way:
    /// while stale keys still work, no request waits for another's fetch.
    async fn refresh_unless_under_way(&self, now: UnixTime) -> Option<Arc<TokenVerifier>> {
        let fetches = self.fetch.try_lock().ok()?;
        self.refresh_holding(fetches, now).await
    }

    async fn refresh_holding(
        &self,
        mut fetches: tokio::sync::MutexGuard<'_, Fetches>,
        now: UnixTime,
    ) -> Option<Arc<TokenVerifier>> {
        if fetches
            .last_attempt
            .is_some_and(|at| elapsed(at, now) < self.min_interval)
        {
            return self.current(now).map(|(keys, _)| keys);
        }
        fetches.last_attempt = Some(now);
        match self.fetch().await {
            Ok(verifier) => {
                log::info!(
                    "fetched {} signing keys from {}",
                    verifier.key_ids().count(),
                    self.url
                );
                let keys = Arc::new(verifier);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((Arc::clone(&keys), now));
                Some(keys)
            }
            Err(e) => {
                log::warn!("fetching the JWKS from {} failed: {e}", self.url);
                self.current(now).map(|(keys, _)| keys)
            }
        }
    }

    async fn fetch(&self) -> Result<TokenVerifier, String> {
        let client = awc::Client::builder().timeout(self.timeout).finish();
        let mut response = client
            .get(self.url.as_str())
            .insert_header(("accept", "application/json"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response
            .body()
            .limit(MAX_JWKS_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        let keys =
            TokenVerifier::from_jwks(&body, self.issuer.as_str()).map_err(|e| e.to_string())?;
        Ok(if self.legacy_type {
            keys.accepting_legacy_type()
        } else {
            keys
        })
    }
}

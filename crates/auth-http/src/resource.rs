//! For resource servers: other actix-web services that accept authd access tokens.
//!
//! A service registers one [`AccessVerifier`] and takes a [`Principal`] in its handlers;
//! [`RequireRole`] guards whole scopes. Tokens are checked with the same strict rules as
//! authd's own ([`auth_core::TokenVerifier`]), against a configured key or authd's JWKS,
//! and every refusal answers with the contract's error shape.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use auth_http::{AccessVerifier, Principal, RequireRole};
//!
//! async fn objects(principal: Principal) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({
//!         "owner": principal.id(),
//!         "appId": principal.app_id(),
//!     }))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let verifier = web::Data::new(AccessVerifier::jwks(
//!         "http://127.0.0.1:8080/.well-known/jwks.json",
//!         "authd",
//!     ));
//!     HttpServer::new(move || {
//!         App::new().app_data(verifier.clone()).service(
//!             web::scope("/v2")
//!                 .wrap(RequireRole::wallet("device"))
//!                 .route("/objects", web::get().to(objects)),
//!         )
//!     })
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! A verifier cannot see revocation: a token of a session that logged out stays valid here
//! until it expires (one hour by default). Services that must refuse it at once ask
//! authd's `GET /api/auth/me` instead.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use auth_core::{
    AccessClaims, AuthError, Clock, Platform, PrincipalKind, SigningAlgorithm, SystemClock,
    TokenVerifier,
};

use crate::{ApiError, BearerToken};

/// Checks authd access tokens for a resource server. Register it once with
/// `App::app_data(web::Data::new(verifier))`; [`Principal`] and [`RequireRole`] find it
/// there.
pub struct AccessVerifier {
    keys: Keys,
    clock: Arc<dyn Clock>,
    legacy_type: bool,
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
            legacy_type: false,
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
            legacy_type: false,
        }
    }

    /// Also accepts tokens typed `JWT`, as authd signed them before it typed its access
    /// tokens `at+jwt` (RFC 9068). Turn it on while authd is upgraded to that release and
    /// off once the previous release's tokens have expired (one access-token lifetime):
    /// see `docs/upgrading.md`.
    #[must_use]
    pub fn accept_legacy_token_type(mut self) -> Self {
        self.legacy_type = true;
        match &mut self.keys {
            Keys::Configured(keys) => *keys = keys.clone().accepting_legacy_type(),
            Keys::Fetched(cache) => cache.legacy_type = true,
        }
        self
    }

    /// The shortest time between two fetches of the JWKS (default 10 s).
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

    /// The clock tokens' `exp`, `iat` and `nbf` are checked against (default: the
    /// system's).
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
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let now = self.clock.now();
        match &self.keys {
            Keys::Configured(keys) => Ok(keys.verify(token, now)?),
            Keys::Fetched(cache) => {
                TokenVerifier::header_kid(token, SigningAlgorithm::EdDSA, self.legacy_type)?;
                let keys = match cache.current() {
                    Some((held, fetched)) if cache.is_stale(fetched) => {
                        cache.refresh_unless_under_way().await.unwrap_or(held)
                    }
                    Some((held, _)) => held,
                    None => cache.refresh().await.ok_or(ApiError::KeysUnavailable)?,
                };
                if keys.lacks_key_for(token)
                    && let Some(refreshed) = cache.refresh().await
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
    current: RwLock<Option<(Arc<TokenVerifier>, Instant)>>,
    /// Held while fetching: the single flight.
    fetch: tokio::sync::Mutex<Fetches>,
    min_interval: Duration,
    max_age: Duration,
    timeout: Duration,
    legacy_type: bool,
}

#[derive(Default)]
struct Fetches {
    last_attempt: Option<Instant>,
}

/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl JwksCache {
    /// The keys held and when they were fetched, unless they are too old to trust.
    fn current(&self) -> Option<(Arc<TokenVerifier>, Instant)> {
        let held = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        held.filter(|(_, fetched)| fetched.elapsed() < self.max_age.saturating_mul(12))
    }

    fn is_stale(&self, fetched: Instant) -> bool {
        fetched.elapsed() >= self.max_age
    }

    /// Fetches the set again unless a fetch started within the minimum interval (another
    /// caller's, possibly the one just waited for); returns the keys held afterwards.
    async fn refresh(&self) -> Option<Arc<TokenVerifier>> {
        let fetches = self.fetch.lock().await;
        self.refresh_holding(fetches).await
    }

    /// As [`JwksCache::refresh`], but returns `None` at once when a fetch is under way:
    /// while stale keys still work, no request waits for another's fetch.
    async fn refresh_unless_under_way(&self) -> Option<Arc<TokenVerifier>> {
        let fetches = self.fetch.try_lock().ok()?;
        self.refresh_holding(fetches).await
    }

    async fn refresh_holding(
        &self,
        mut fetches: tokio::sync::MutexGuard<'_, Fetches>,
    ) -> Option<Arc<TokenVerifier>> {
        if fetches
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_interval)
        {
            return self.current().map(|(keys, _)| keys);
        }
        fetches.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(verifier) => {
                log::info!(
                    "fetched {} signing keys from {}",
                    verifier.key_ids().count(),
                    self.url
                );
                let keys = Arc::new(verifier);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((Arc::clone(&keys), Instant::now()));
                Some(keys)
            }
            Err(e) => {
                log::warn!("fetching the JWKS from {} failed: {e}", self.url);
                self.current().map(|(keys, _)| keys)
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

/// The principal of a verified authd access token. As a handler argument it requires a
/// valid `Authorization: Bearer` token (else 401 in the contract's shape); it needs an
/// [`AccessVerifier`] in the app data.
#[derive(Debug, Clone)]
pub struct Principal(AccessClaims);

impl Principal {
    /// What kind of principal this is.
    #[must_use]
    pub fn kind(&self) -> PrincipalKind {
        self.0.kind
    }

    /// Its id: a user's UUID, a device's id, or a wallet's `wal_…` id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.0.sub
    }

    /// The session the token belongs to.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.0.sid
    }

    /// A user's roles (`USER`, `ADMIN`, …); empty for devices and wallets.
    #[must_use]
    pub fn roles(&self) -> &[String] {
        &self.0.attributes.roles
    }

    /// A device's platform.
    #[must_use]
    pub fn platform(&self) -> Option<Platform> {
        self.0.attributes.platform
    }

    /// A wallet's username within its app.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.0.attributes.username.as_deref()
    }

    /// A wallet's app.
    #[must_use]
    pub fn app_id(&self) -> Option<&str> {
        self.0.attributes.app_id.as_deref()
    }

    /// A wallet's role, from its metadata.
    #[must_use]
    pub fn wallet_role(&self) -> Option<&str> {
        self.0.attributes.role.as_deref()
    }

    /// All the token's claims.
    #[must_use]
    pub fn claims(&self) -> &AccessClaims {
        &self.0
    }

    /// Requires a user holding `role`.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` for anyone else.
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        self.satisfies(&Rule::UserRole(role.into()))
    }

    /// Requires a wallet whose role is `role`.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` for anyone else.
    pub fn require_wallet_role(&self, role: &str) -> Result<(), ApiError> {
        self.satisfies(&Rule::WalletRole(role.into()))
    }

    /// Requires a principal of `kind`, as authd's own routes do.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` for a token of another kind.
    pub fn require_kind(&self, kind: PrincipalKind) -> Result<(), ApiError> {
        Ok(self.0.require_kind(kind)?)
    }

    fn satisfies(&self, rule: &Rule) -> Result<(), ApiError> {
        let allowed = match rule {
            Rule::UserRole(role) => self.kind() == PrincipalKind::User && self.0.has_role(role),
            Rule::WalletRole(role) => {
                self.kind() == PrincipalKind::Wallet && self.wallet_role() == Some(role.as_str())
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden.into())
        }
    }

    /// Verifies the request's bearer token once; later extractions reuse the result.
    async fn of(req: HttpRequest) -> Result<Self, ApiError> {
        if let Some(principal) = req.extensions().get::<Principal>() {
            return Ok(principal.clone());
        }
        let verifier = req
            .app_data::<web::Data<AccessVerifier>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("AccessVerifier is not registered".into()))?;
        let token = BearerToken::from_request_headers(&req)?;
        let principal = Principal(verifier.verify(token.expose()).await?);
        req.extensions_mut().insert(principal.clone());
        Ok(principal)
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::of(req.clone()))
    }
}

#[derive(Debug, Clone)]
enum Rule {
    UserRole(String),
    WalletRole(String),
}

/// Middleware that admits only principals holding a role, for a whole scope:
/// `web::scope("/admin").wrap(RequireRole::user("ADMIN"))`. A request without a valid
/// token is answered 401, one whose principal lacks the role 403 `FORBIDDEN`; the handler
/// is not called. Handlers inside may still take a [`Principal`] (verified only once).
#[derive(Debug, Clone)]
pub struct RequireRole(Rule);

impl RequireRole {
    /// Users holding `role` (for example `ADMIN`).
    #[must_use]
    pub fn user(role: impl Into<String>) -> Self {
        Self(Rule::UserRole(role.into()))
    }

    /// Wallets whose metadata role is `role` (for example `device`).
    #[must_use]
    pub fn wallet(role: impl Into<String>) -> Self {
        Self(Rule::WalletRole(role.into()))
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireRole
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RoleGuard<S>;
    type InitError = ();
    type Future = Ready<Result<RoleGuard<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RoleGuard {
            service: Rc::new(service),
            rule: Rc::new(self.0.clone()),
        }))
    }
}

/// The service [`RequireRole`] wraps around a scope.
pub struct RoleGuard<S> {
    service: Rc<S>,
    rule: Rc<Rule>,
}

impl<S, B> Service<ServiceRequest> for RoleGuard<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let rule = Rc::clone(&self.rule);
        Box::pin(async move {
            let admitted = Principal::of(req.request().clone())
                .await
                .and_then(|principal| principal.satisfies(&rule));
            match admitted {
                Ok(()) => Ok(service.call(req).await?.map_into_left_body()),
                Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
            }
        })
    }
}

//! The client: a session with authd that stays valid for as long as the program runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    ClientError, Clock, Credentials, Kind, MemoryTokenStore, SystemClock, TokenStore, Tokens,
};

/// How calls to authd that failed on the network, or were answered 429, 502, 503 or 504,
/// are retried: up to `attempts` tries in all, waiting `initial`, then twice as long each time
/// (with jitter), never longer than `max`. A `Retry-After` longer than `max` is not waited
/// for: the refusal is returned.
///
/// Each try waits at most [`TRY_TIMEOUT`] for authd's answer. Refresh calls are safe to
/// retry because authd answers a retried refresh token with the same successor within its
/// retry grace (10 s by default); so that a retry never lands after the grace (which
/// authd would take for reuse and revoke the session), a refresh is not retried once
/// [`REFRESH_RETRY_WINDOW`] has passed since its first try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in all, at least 1.
    pub attempts: u32,
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

/// The longest a single call to authd waits for its answer.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(4);

/// How long after its first try a refresh may still be retried: inside authd's default
/// 10 s retry grace, with room for one more try.
pub const REFRESH_RETRY_WINDOW: Duration = Duration::from_secs(5);

impl Default for Backoff {
    /// 5 tries, waiting about 0.2, 0.4, 0.8 and 1.6 s in between, at most 10 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before try `retry` (1 for the first retry): half to all of the doubled
    /// delay, so that many clients failing together do not retry together.
    fn delay(&self, retry: u32) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(self.max);
        let jitter = f64::from(getrandom::u32().unwrap_or(u32::MAX)) / f64::from(u32::MAX);
        doubled.mul_f64(0.5 + jitter / 2.0)
    }
}

/// Configures an [`AuthClient`].
#[derive(Debug)]
pub struct AuthClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    store: Option<Arc<dyn TokenStore>>,
    refresh_ahead: Duration,
    backoff: Backoff,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for dyn TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenStore")
    }
}

impl AuthClientBuilder {
    /// What the client logs in with, at first use and whenever its session ends. Without
    /// credentials the client only uses the tokens in its store, and reports
    /// [`ClientError::SessionEnded`] when they can no longer be renewed.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Where tokens are kept (default: [`MemoryTokenStore`]).
    #[must_use]
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// How long before its expiry an access token is renewed (default 60 s; never in the
    /// first half of a token's life).
    #[must_use]
    pub fn refresh_ahead(mut self, ahead: Duration) -> Self {
        self.refresh_ahead = ahead;
        self
    }

    /// How calls to authd are retried (default [`Backoff::default`]).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Where the time is read (default: [`SystemClock`]); tests pass a clock they move.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client to use, for its timeouts, proxy or TLS settings (default: a client
    /// with a 10 s connect timeout and a 30 s request timeout).
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ClientError::Network`] when the default HTTP client cannot be built.
    pub fn build(self) -> Result<AuthClient, ClientError> {
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(ClientError::Network)?,
        };
        Ok(AuthClient {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url.trim_end_matches('/').to_owned(),
                credentials: self.credentials,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryTokenStore::default())),
                refresh_ahead: self.refresh_ahead,
                backoff: Backoff {
                    attempts: self.backoff.attempts.max(1),
                    ..self.backoff
                },
                renewal: tokio::sync::Mutex::new(()),
                logged_out: AtomicBool::new(false),
                spent_until: std::sync::Mutex::default(),
                clock: self.clock,
            }),
        })
    }
}

/// A session with authd for one principal, shared by every task of a program (clones
/// share it).
///
/// [`AuthClient::access_token`] always answers with a token that is good for a while: it
/// renews the token `refresh_ahead` before it expires, with exactly one renewal in flight
/// however many tasks ask at once (the others wait for its result). When the session can
/// no longer be refreshed (logged out, revoked, past its lifetime) the client logs in
/// again with its credentials, or reports [`ClientError::SessionEnded`] if it has none.
#[derive(Debug, Clone)]
pub struct AuthClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: String,
    credentials: Option<Credentials>,
    store: Arc<dyn TokenStore>,
    refresh_ahead: Duration,
    backoff: Backoff,
    /// Held while renewing: the single flight.
    renewal: tokio::sync::Mutex<()>,
    /// Set by `logout`: no automatic login until `login` is called.
    logged_out: AtomicBool,
    clock: Arc<dyn Clock>,
    /// Per path, when authd's `RateLimit` header said the quota is spent until: the next
    /// call there waits for it instead of being refused.
    spent_until: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
}

/// A renewal that authd refused because the session is over, as opposed to a failure that
/// a later attempt could get past.
fn session_over(e: &ClientError) -> Option<&str> {
    match e {
        ClientError::Refused {
            status: 401, code, ..
        } => Some(code),
        _ => None,
    }
}

impl AuthClient {
    /// Starts configuring a client for the authd at `base_url` (such as
    /// `https://auth.example.com`).
    #[must_use]
    pub fn builder(base_url: impl Into<String>) -> AuthClientBuilder {
        AuthClientBuilder {
            base_url: base_url.into(),
            credentials: None,
            store: None,
            refresh_ahead: Duration::from_secs(60),
            backoff: Backoff::default(),
            http: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The HTTP client this client sends with.
    #[must_use]
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Logs in with the credentials now, replacing any session the store held. This is
    /// also how a client resumes after [`AuthClient::logout`].
    ///
    /// # Errors
    /// [`ClientError::NotLoggedIn`] without credentials; [`ClientError::Refused`] when
    /// authd refuses them (`INVALID_CREDENTIALS`, `ACCOUNT_INACTIVE`, `RATE_LIMITED`);
    /// [`ClientError::Network`] when authd cannot be reached.
    pub async fn login(&self) -> Result<(), ClientError> {
        let _turn = self.inner.renewal.lock().await;
        self.inner.logged_out.store(false, Ordering::SeqCst);
        self.authenticate().await.map(drop)
    }

    /// A current access token, renewed first when it is due.
    ///
    /// # Errors
    /// [`ClientError::SessionEnded`] or [`ClientError::NotLoggedIn`] when there is no
    /// session and no credentials; otherwise as [`AuthClient::login`].
    pub async fn access_token(&self) -> Result<String, ClientError> {
        if let Some(tokens) = self.stored()?
            && !self.due(&tokens)
        {
            return Ok(tokens.access_token);
        }
        let _turn = self.inner.renewal.lock().await;
        // Another task may have renewed while this one waited for its turn.
        match self.stored()? {
            Some(tokens) if !self.due(&tokens) => Ok(tokens.access_token),
            current => Ok(self.renew(current).await?.access_token),
        }
    }

    /// Sends the request `build` makes, with the current access token. If authd's token
    /// is refused (401), the session is renewed once and the request built and sent again;
    /// any other answer is returned as it is. `build` is called once per try.
    ///
    /// ```no_run
    /// # async fn run(client: auth_client::AuthClient) -> Result<(), auth_client::ClientError> {
    /// let objects = client
    ///     .send(|http| http.get("https://objects.example.com/v2/objects"))
    ///     .await?;
    /// println!("{}", objects.status());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`AuthClient::access_token`], and [`ClientError::Network`] when the request
    /// cannot be sent (it is not retried: it may not be safe to repeat).
    pub async fn send<F>(&self, build: F) -> Result<reqwest::Response, ClientError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let token = self.access_token().await?;
        let response = build(&self.inner.http)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(ClientError::Network)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let token = self.renew_refused(&token).await?;
        build(&self.inner.http)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(ClientError::Network)
    }

    /// Ends the session at authd and forgets its tokens; the client does not log in again
    /// by itself until [`AuthClient::login`] is called. The tokens are forgotten even when
    /// authd cannot be reached.
    ///
    /// # Errors
    /// [`ClientError::Network`] or [`ClientError::Refused`] when authd did not confirm;
    /// a session that had already ended is not an error.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let _turn = self.inner.renewal.lock().await;
        self.inner.logged_out.store(true, Ordering::SeqCst);
        let Some(mut tokens) = self.stored()? else {
            return Ok(());
        };
        self.inner.store.clear().map_err(ClientError::Store)?;
        // authd's logout needs a live access token: an expired one would be refused while
        // the refresh token went on working for days.
        if self.due(&tokens) {
            match self.refresh(&tokens).await {
                Ok(fresh) => tokens = fresh,
                Err(e) if session_over(&e).is_some() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let body = tokens
            .refresh_token
            .as_ref()
            .map(|refresh| json!({ "refreshToken": refresh }));
        match self
            .call("/api/auth/logout", Some(&tokens.access_token), body)
            .await
        {
            Err(e) if session_over(&e).is_some() => Ok(()),
            other => other.map(drop),
        }
    }

    fn stored(&self) -> Result<Option<Tokens>, ClientError> {
        self.inner.store.load().map_err(ClientError::Store)
    }

    fn due(&self, tokens: &Tokens) -> bool {
        tokens.due_for_renewal(self.inner.clock.now(), self.inner.refresh_ahead)
    }

    /// After authd refused `refused`: renews, unless another task already did.
    async fn renew_refused(&self, refused: &str) -> Result<String, ClientError> {
        let _turn = self.inner.renewal.lock().await;
        match self.stored()? {
            Some(tokens) if tokens.access_token != refused => Ok(tokens.access_token),
            current => Ok(self.renew(current).await?.access_token),
        }
    }

    /// With the renewal turn held: refreshes the session, or logs in again when it is over.
    async fn renew(&self, current: Option<Tokens>) -> Result<Tokens, ClientError> {
        let Some(tokens) = current else {
            return self.authenticate().await;
        };
        match self.refresh(&tokens).await {
            Ok(fresh) => {
                self.inner.store.save(&fresh).map_err(ClientError::Store)?;
                Ok(fresh)
            }
            Err(e) => {
                let Some(code) = session_over(&e) else {
                    return Err(e);
                };
                log::info!(
                    "the {:?} session ended ({code}); logging in again",
                    tokens.kind
                );
                let code = code.to_owned();
                self.inner.store.clear().map_err(ClientError::Store)?;
                if self.inner.credentials.is_some() && !self.inner.logged_out.load(Ordering::SeqCst)
                {
                    self.authenticate().await
                } else {
                    Err(ClientError::SessionEnded { code })
                }
            }
        }
    }

    /// Logs in with the credentials and saves the new session.
    async fn authenticate(&self) -> Result<Tokens, ClientError> {
        if self.inner.logged_out.load(Ordering::SeqCst) {
            return Err(ClientError::NotLoggedIn);
        }
        let credentials = self
            .inner
            .credentials
            .as_ref()
            .ok_or(ClientError::NotLoggedIn)?;
        let (path, body) = match credentials {
            Credentials::User { email, password } => (
                "/api/auth/login",
                json!({"email": email, "password": password}),
            ),
            Credentials::Device {
                device_id,
                platform,
            } => (
                "/api/auth/device",
                json!({"deviceId": device_id, "platform": platform.as_str()}),
            ),
            Credentials::Wallet { login, password } => (
                "/v2/auth/wallet/login",
                json!({"username": login, "password": password}),
            ),
        };
        let sent = self.inner.clock.now();
        let answer = self.call(path, None, Some(body)).await?;
        let tokens = issued(credentials.kind(), &answer, sent)?;
        self.inner.store.save(&tokens).map_err(ClientError::Store)?;
        Ok(tokens)
    }

    /// Exchanges the session's tokens for new ones.
    async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, ClientError> {
        let ended = |code: &str| ClientError::Refused {
            status: 401,
            code: code.to_owned(),
            message: "the session cannot be renewed".into(),
        };
        let sent = self.inner.clock.now();
        let answer = match tokens.kind {
            Kind::User | Kind::Device => {
                let path = if tokens.kind == Kind::User {
                    "/api/auth/refresh"
                } else {
                    "/api/auth/device/refresh"
                };
                let refresh = tokens
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| ended("INVALID_TOKEN"))?;
                self.call(path, None, Some(json!({ "refreshToken": refresh })))
                    .await?
            }
            // A wallet exchanges its access token, which must still be valid.
            Kind::Wallet if tokens.expired(sent) => return Err(ended("TOKEN_EXPIRED")),
            Kind::Wallet => {
                self.call("/v2/auth/wallet/refresh", Some(&tokens.access_token), None)
                    .await?
            }
        };
        issued(tokens.kind, &answer, sent)
    }

    /// POSTs to authd, retrying network failures and shed requests as [`Backoff`] says.
    /// Returns the JSON body of a 2xx answer (`null` when empty).
    async fn call(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.inner.base_url);
        let backoff = self.inner.backoff;
        let window = path.ends_with("/refresh").then_some(REFRESH_RETRY_WINDOW);
        let first_try = Instant::now();
        let mut retry = 0;
        loop {
            self.wait_for_quota(path).await;
            let mut request = self.inner.http.post(&url).timeout(TRY_TIMEOUT);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (answered, spent_for) = answer(request).await;
            if let Some(spent_for) = spent_for {
                self.quota_spent(path, spent_for);
            }
            let wait = match answered {
                Ok(value) => return Ok(value),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient(e, retry_after)) => {
                    retry += 1;
                    let wait = backoff.delay(retry).max(retry_after.unwrap_or_default());
                    let too_late = window.is_some_and(|w| first_try.elapsed() + wait > w);
                    if retry >= backoff.attempts || wait > backoff.max || too_late {
                        return Err(e);
                    }
                    log::warn!("{path}: {e}; retrying in {} ms", wait.as_millis());
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

impl AuthClient {
    /// Waits until the quota authd said was spent for `path` is back.
    async fn wait_for_quota(&self, path: &str) {
        let until = self
            .inner
            .spent_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
            .copied();
        if let Some(until) = until.filter(|u| *u > tokio::time::Instant::now()) {
            log::info!("{path}: authd's rate limit is spent; waiting for it");
            tokio::time::sleep_until(until).await;
        }
    }

    /// Notes that authd said `path`'s quota is spent for `spent_for`.
    fn quota_spent(&self, path: &str, spent_for: Duration) {
        self.inner
            .spent_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), tokio::time::Instant::now() + spent_for);
    }
}

/// How long a `RateLimit` header value (draft-ietf-httpapi-ratelimit-headers:
/// `"name";r=REMAINING;t=SECONDS`) says the quota is spent: `t` when `r` is 0.
fn spent_for(ratelimit: &str) -> Option<Duration> {
    let mut remaining = None;
    let mut reset = None;
    for param in ratelimit.split(';').skip(1) {
        match param.trim().split_once('=') {
            Some(("r", v)) => remaining = v.parse::<u64>().ok(),
            Some(("t", v)) => reset = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    (remaining? == 0).then(|| Duration::from_secs(reset.unwrap_or(1).min(60)))
}

/// A failed call, and whether trying again could help.
enum Failure {
    Final(ClientError),
    Transient(ClientError, Option<Duration>),
}

/// Sends one request and reads authd's answer, and for how long its `RateLimit` header
/// says the route's quota is now spent.
async fn answer(request: reqwest::RequestBuilder) -> (Result<Value, Failure>, Option<Duration>) {
    let mut spent = None;
    let answered = read_answer(request, &mut spent).await;
    (answered, spent)
}

async fn read_answer(
    request: reqwest::RequestBuilder,
    spent: &mut Option<Duration>,
) -> Result<Value, Failure> {
    let transient = |e: reqwest::Error| {
        if e.is_builder() {
            Failure::Final(ClientError::Network(e))
        } else {
            Failure::Transient(ClientError::Network(e), None)
        }
    };
    let response = request.send().await.map_err(transient)?;
    let status = response.status();
    *spent = response
        .headers()
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .and_then(spent_for);
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.bytes().await.map_err(transient)?;
    if status.is_success() {
        return if bytes.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                Failure::Final(ClientError::Protocol(format!(
                    "a {status} answer that is not JSON"
                )))
            })
        };
    }
    // A contract error, or a proxy's page in front of authd.
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let refused = ClientError::Refused {
        status: status.as_u16(),
        code: field("code"),
        message: field("error"),
    };
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    ) {
        Err(Failure::Transient(refused, retry_after))
    } else {
        Err(Failure::Final(refused))
    }
}

/// The tokens of a login or refresh answer. `/api/auth` states lifetimes in milliseconds,
/// `/v2/auth/wallet` in seconds.
fn issued(kind: Kind, answer: &Value, sent: SystemTime) -> Result<Tokens, ClientError> {
    let malformed =
        || ClientError::Protocol("a token answer without accessToken or expiresIn".into());
    let access_token = answer["accessToken"]
        .as_str()
        .ok_or_else(malformed)?
        .to_owned();
    let expires_in = answer["expiresIn"].as_u64().ok_or_else(malformed)?;
    let lifetime = match kind {
        Kind::User | Kind::Device => Duration::from_millis(expires_in),
        Kind::Wallet => Duration::from_secs(expires_in),
    };
    let refresh_token = match kind {
        Kind::User | Kind::Device => Some(
            answer["refreshToken"]
                .as_str()
                .ok_or_else(malformed)?
                .to_owned(),
        ),
        Kind::Wallet => None,
    };
    Ok(Tokens {
        kind,
        access_token,
        refresh_token,
        issued_at: sent,
        expires_at: sent + lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_waits_until_a_spent_quota_is_back() {
        let client = AuthClient::builder("http://127.0.0.1:9").build().unwrap();
        let start = tokio::time::Instant::now();
        client.wait_for_quota("/api/auth/login").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "nothing spent yet");
        client.quota_spent("/api/auth/login", Duration::from_secs(20));
        client.wait_for_quota("/api/auth/refresh").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "another route's quota");
        client.wait_for_quota("/api/auth/login").await;
        assert!(
            start.elapsed() >= Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_spent_quota_is_read_from_authds_ratelimit_header() {
        assert_eq!(
            spent_for("\"login\";r=0;t=20"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(spent_for("\"login\";r=2;t=20"), None, "attempts left");
        assert_eq!(
            spent_for("\"refresh\"; r=0; t=7"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(spent_for("\"login\";r=0"), Some(Duration::from_secs(1)));
        assert_eq!(
            spent_for("\"login\";t=5000;r=0"),
            Some(Duration::from_secs(60)),
            "capped"
        );
        assert_eq!(spent_for("nonsense"), None);
    }

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        let backoff = Backoff {
            attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for (retry, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (9, 1_000),
        ] {
            let wait = backoff.delay(retry);
            let full = Duration::from_millis(full);
            assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
        }
    }

    #[test]
    fn lifetimes_are_milliseconds_for_people_and_seconds_for_wallets() {
        let sent = SystemTime::UNIX_EPOCH;
        let user = issued(
            Kind::User,
            &json!({"accessToken": "a", "refreshToken": "r", "expiresIn": 3_600_000}),
            sent,
        )
        .unwrap();
        assert_eq!(user.expires_at, sent + Duration::from_secs(3_600));
        let wallet = issued(
            Kind::Wallet,
            &json!({"accessToken": "a", "expiresIn": 3_600}),
            sent,
        )
        .unwrap();
        assert_eq!(wallet.expires_at, sent + Duration::from_secs(3_600));
        assert!(
            issued(
                Kind::User,
                &json!({"accessToken": "a", "expiresIn": 1}),
                sent
            )
            .is_err()
        );
    }
}

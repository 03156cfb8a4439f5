//! HTTP tests: the shipped route table, driven as a client would, on a fresh database each.

// Test code: a failing unwrap is a failing test. (clippy.toml's test allowances cover
// #[test] functions only, not the shared behaviour functions they call.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod accounts;
mod admin;
mod admin_users;
mod audit;
mod browsers;
mod device_links;
mod devices;
mod errors;
mod handoff_model;
mod logout;
mod me;
mod openapi;
mod rate_limits;
mod refresh;
mod register_login;
mod sessions;
mod throttling;
mod wallets;

use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use auth_core::{
    Authority, KeyRing, KeyStore, ManualClock, PasswordHasher, StoredSigningKey, TokenPolicy,
    TokenSigner, UnixTime,
};
use auth_http::{AuthState, LimitScope, TrustedProxies};
use auth_store::test_support::TestDatabase;
use serde_json::{Value, json};

/// The bootstrap admin token every test server is configured with.
pub(crate) const ADMIN_TOKEN: &str = "test-bootstrap-admin-token-0123456789";

/// The instant every test starts at.
pub(crate) const T0: UnixTime = UnixTime(1_800_000_000);

/// A running authd (its state and database) and the clock it reads.
pub(crate) struct Ctx {
    pub(crate) state: web::Data<AuthState>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) key: StoredSigningKey,
    pub(crate) store: auth_store::Database,
    pub(crate) db: TestDatabase,
}

impl Ctx {
    /// authd on a fresh SQLite database.
    pub(crate) fn new() -> Self {
        Self::on(TestDatabase::sqlite())
    }

    /// authd on the given database, with the default token policy and no per-address
    /// limit.
    pub(crate) fn on(db: TestDatabase) -> Self {
        Self::configured(db, 0, TrustedProxies::default())
    }

    /// authd on the given database requiring verified addresses
    /// (`AUTHD_REQUIRE_VERIFIED_EMAIL=true`).
    pub(crate) fn requiring_verified_email(db: TestDatabase) -> Self {
        Self::built(db, 0, TrustedProxies::default(), true)
    }

    /// authd on the given database offering browser sessions to pages of `origins`
    /// (`AUTHD_ALLOWED_ORIGINS`).
    pub(crate) fn for_browsers(db: TestDatabase, origins: &str) -> Self {
        Self::built(db, 0, TrustedProxies::default(), false)
            .with_origins(auth_http::AllowedOrigins::parse(origins).unwrap())
    }

    fn with_origins(self, origins: auth_http::AllowedOrigins) -> Self {
        let state = AuthState::clone(&self.state).with_allowed_origins(origins);
        Self {
            state: web::Data::new(state),
            ..self
        }
    }

    /// authd on a fresh SQLite database with a per-address limit and trusted proxies.
    pub(crate) fn limited(per_minute: u32, trusted_proxies: TrustedProxies) -> Self {
        Self::configured(TestDatabase::sqlite(), per_minute, trusted_proxies)
    }

    fn configured(db: TestDatabase, per_minute: u32, trusted_proxies: TrustedProxies) -> Self {
        Self::built(db, per_minute, trusted_proxies, false)
    }

    fn built(
        db: TestDatabase,
        per_minute: u32,
        trusted_proxies: TrustedProxies,
        require_verified_email: bool,
    ) -> Self {
        let store = auth_store::Database::open_with(
            db.url(),
            auth_store::PoolOptions {
                max_connections: 4,
                acquire_timeout: std::time::Duration::from_secs(1),
            },
        )
        .unwrap();
        let key = StoredSigningKey::generate_ed25519(T0).unwrap();
        store.insert_signing_key(&key).unwrap();
        let keys = KeyRing::load_or_create(&store, T0).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let authority = Authority::new(
            Arc::new(store.clone()),
            TokenSigner::new(keys, "authd"),
            // Cheap parameters keep the suite fast; production parameters are tested in core.
            PasswordHasher::with_params(1024, 1, 1).unwrap(),
            TokenPolicy::default(),
        )
        .requiring_verified_email(require_verified_email);
        let state = web::Data::new(
            AuthState::new(
                authority,
                clock.clone(),
                auth_http::AuditTrail::start(Arc::new(store.clone())).unwrap(),
            )
            .with_admin_token(Some(ADMIN_TOKEN.into()))
            .with_trusted_proxies(trusted_proxies)
            .with_rate_limit(per_minute, LimitScope::Process),
        );
        Self {
            state,
            clock,
            key,
            store,
            db,
        }
    }

    /// The shipped application over this context.
    pub(crate) async fn app(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        test::init_service(auth_http::app(self.state.clone())).await
    }
}

/// What a client sees of a response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {}", self.body))
            .to_owned()
    }

    /// Asserts the contract's error shape with `status` and `code`.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert!(
            self.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
        let ts = self.body["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{ts}"
        );
        assert!(ts.ends_with('Z'), "{ts}");
        if status == 401 {
            assert!(
                self.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")),
                "{self:?}"
            );
        }
    }
}

pub(crate) async fn send<S>(app: &S, req: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send_from(app, req, "127.0.0.1").await
}

/// Sends a request that arrives from `peer`.
pub(crate) async fn send_from<S>(app: &S, req: TestRequest, peer: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40000);
    let resp = test::call_service(app, req.peer_addr(peer).to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) fn post(path: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(path).set_json(body)
}

pub(crate) fn get_with(path: &str, access_token: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {access_token}")))
}

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn register<S>(app: &S, email: &str, username: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD, "username": username}),
        ),
    )
    .await
}

pub(crate) async fn login<S>(app: &S, email: &str, password: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        ),
    )
    .await
}

pub(crate) async fn refresh<S>(app: &S, refresh_token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(
        app,
        post("/api/auth/refresh", json!({"refreshToken": refresh_token})),
    )
    .await
}

pub(crate) async fn me<S>(app: &S, access_token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    send(app, get_with("/api/auth/me", access_token)).await
}

/// Asserts a session body as the contract describes it.
#[track_caller]
pub(crate) fn assert_session_body(reply: &Reply, status: u16, email: &str, username: &str) {
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let b = &reply.body;
    assert_eq!(b["tokenType"], "Bearer");
    assert_eq!(b["expiresIn"], 3_600_000);
    assert_eq!(b["accessToken"].as_str().unwrap().split('.').count(), 3);
    assert!(b["refreshToken"].as_str().unwrap().starts_with("authd_rt_"));
    assert_eq!(b["user"]["email"], email);
    assert_eq!(b["user"]["username"], username);
    assert_eq!(b["user"]["roles"], json!(["USER"]));
    assert!(b["user"]["emailVerified"].is_boolean(), "{b}");
    assert!(uuid::Uuid::parse_str(b["user"]["id"].as_str().unwrap()).is_ok());
}

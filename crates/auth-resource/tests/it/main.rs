//! A resource server (an actix-web service) built on `auth-resource`, against a JWKS
//! served on a real socket, with a manual clock: nothing here sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fetching;
mod principals;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_core::{
    AccessClaims, Attributes, KeyRing, ManualClock, PrincipalKind, SessionId, StoredSigningKey,
    TokenSigner, UnixTime,
};
use auth_resource::{AccessVerifier, Principal, RequireRole};
use serde_json::{Value, json};

pub(crate) const T0: UnixTime = UnixTime(1_800_000_000);

/// What the handlers see of a principal.
async fn whoami(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "kind": principal.kind().as_str(),
        "id": principal.id(),
        "sid": principal.session_id(),
        "roles": principal.roles(),
        "platform": principal.platform(),
        "username": principal.username(),
        "appId": principal.app_id(),
        "role": principal.wallet_role(),
    }))
}

/// A resource server: `/whoami` for anyone with a token, `/admin` for ADMIN users,
/// `/v2/objects` for wallets whose role is `device`.
pub(crate) async fn resource(
    verifier: AccessVerifier,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/whoami", web::get().to(whoami))
            .service(
                web::scope("/admin")
                    .wrap(RequireRole::user("ADMIN"))
                    .route("", web::get().to(whoami)),
            )
            .service(
                web::scope("/v2")
                    .wrap(RequireRole::wallet("device"))
                    .route("/objects", web::get().to(whoami)),
            ),
    )
    .await
}

/// A JWKS endpoint on a real socket whose keys the test changes, counting how often it is
/// fetched.
#[derive(Default)]
pub(crate) struct PublishedKeys {
    body: Mutex<Vec<u8>>,
    fetches: AtomicUsize,
    /// Answer 503, as an authd that is down behind its load balancer.
    pub(crate) down: AtomicBool,
}

impl PublishedKeys {
    pub(crate) fn publish(&self, signers: &[&TokenSigner]) {
        let keys: Vec<_> = signers
            .iter()
            .flat_map(|s| s.keys().jwks().keys.clone())
            .collect();
        *self.body.lock().unwrap() = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Serves the keys on an ephemeral port; returns the JWKS URL.
    pub(crate) fn serve(self: &Arc<Self>) -> String {
        let keys = Arc::clone(self);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            let keys = Arc::clone(&keys);
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    let keys = Arc::clone(&keys);
                    async move {
                        keys.fetches.fetch_add(1, Ordering::SeqCst);
                        if keys.down.load(Ordering::SeqCst) {
                            return HttpResponse::ServiceUnavailable().finish();
                        }
                        let body = keys.body.lock().unwrap().clone();
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        format!("http://{addr}/jwks.json")
    }
}

/// An issuer of tokens with its own Ed25519 key, as authd is.
pub(crate) fn signer() -> TokenSigner {
    let key = StoredSigningKey::generate_ed25519(T0).unwrap();
    TokenSigner::new(KeyRing::ed25519(&[key]).unwrap(), "authd")
}

/// A token as authd signs it for a principal of `kind`, issued at `T0` for an hour.
pub(crate) fn token(signer: &TokenSigner, kind: PrincipalKind, attributes: Attributes) -> String {
    let id = match kind {
        PrincipalKind::User => "b7c5e1f4-0000-4000-8000-000000000001",
        PrincipalKind::Device => "dev_0001",
        PrincipalKind::Wallet => "wal_0001",
    };
    let claims: AccessClaims = signer.claims(
        kind,
        id,
        &SessionId::from_stored("ses_1".into()),
        attributes,
        T0,
        3_600,
    );
    signer.sign(&claims).unwrap()
}

/// A user's token with the roles given.
pub(crate) fn user_token(signer: &TokenSigner, roles: &[&str]) -> String {
    let roles = roles.iter().map(|r| (*r).to_owned()).collect();
    token(
        signer,
        PrincipalKind::User,
        Attributes {
            roles,
            ..Attributes::default()
        },
    )
}

/// A verifier of the keys at `url`, on `clock`.
pub(crate) fn verifier_at(url: &str, clock: &Arc<ManualClock>) -> AccessVerifier {
    AccessVerifier::jwks(url, "authd").with_clock(clock.clone())
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// Asserts the contract's error shape with `status` and `code`.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        assert!(
            self.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
        let ts = self.body["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{ts}"
        );
    }
}

/// A GET of `path` with `token` as its bearer (none when empty).
pub(crate) async fn get<S>(service: &S, path: &str, token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut req = TestRequest::get().uri(path);
    if !token.is_empty() {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    let resp = test::call_service(service, req.to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        body,
    }
}

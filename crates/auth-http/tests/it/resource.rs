//! A resource server (another actix-web service) that accepts authd access tokens through
//! `AccessVerifier`, `Principal` and `RequireRole`, with the keys of an authd served on a
//! real socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_core::{
    AccessClaims, Attributes, KeyRing, PrincipalKind, SessionId, StoredSigningKey, TokenSigner,
    TokenVerifier,
};
use auth_http::{AccessVerifier, Principal, RequireRole};
use serde_json::json;

use crate::admin::{WALLET_PASSWORD, app_and_wallet, as_admin};
use crate::*;

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
async fn resource(
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

/// Serves apps made by `app` on an ephemeral port of this machine; returns the base URL.
macro_rules! serve {
    ($app:expr) => {{
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new($app)
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        actix_web::rt::spawn(server);
        format!("http://{addr}")
    }};
}

/// authd itself, on a socket: the resource server fetches its JWKS from there.
fn serve_authd(ctx: &Ctx) -> String {
    let state = ctx.state.clone();
    serve!(move || auth_http::app(state.clone()))
}

/// A JWKS endpoint whose keys the test changes, counting how often it is fetched.
#[derive(Default)]
struct PublishedKeys {
    body: Mutex<Vec<u8>>,
    fetches: AtomicUsize,
    /// Answer 503, as an authd that is down behind its load balancer.
    down: std::sync::atomic::AtomicBool,
}

impl PublishedKeys {
    fn publish(&self, signers: &[&TokenSigner]) {
        let keys: Vec<_> = signers
            .iter()
            .flat_map(|s| s.keys().jwks().keys.clone())
            .collect();
        *self.body.lock().unwrap() = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve(self: &Arc<Self>) -> String {
        let keys = Arc::clone(self);
        let base = serve!(move || {
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
        });
        format!("{base}/jwks.json")
    }
}

/// An issuer of tokens with its own Ed25519 key.
fn signer() -> TokenSigner {
    let key = StoredSigningKey::generate_ed25519(T0).unwrap();
    TokenSigner::new(KeyRing::ed25519(&[key]).unwrap(), "authd")
}

fn user_token(signer: &TokenSigner) -> String {
    let claims: AccessClaims = signer.claims(
        PrincipalKind::User,
        "b7c5e1f4-0000-4000-8000-000000000001",
        &SessionId::from_stored("ses_1".into()),
        Attributes {
            roles: vec!["USER".into()],
            ..Attributes::default()
        },
        T0,
        3_600,
    );
    signer.sign(&claims).unwrap()
}

fn verifier_at(url: &str, ctx_clock: &Arc<auth_core::ManualClock>) -> AccessVerifier {
    AccessVerifier::jwks(url, "authd").with_clock(ctx_clock.clone())
}

#[actix_web::test]
async fn every_kind_of_principal_reaches_the_handler_with_what_its_token_says() {
    let ctx = Ctx::new();
    let authd = ctx.app().await;
    let jwks = format!("{}/.well-known/jwks.json", serve_authd(&ctx));
    let service = resource(verifier_at(&jwks, &ctx.clock)).await;

    let user = register(&authd, "ada@example.com", "ada").await;
    let me = send(&service, get_with("/whoami", &user.str("accessToken"))).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["id"], user.body["user"]["id"]);
    assert_eq!(me.body["roles"], json!(["USER"]));

    let device = send(
        &authd,
        post(
            "/api/auth/device",
            json!({"deviceId": "phone-0001", "platform": "ANDROID"}),
        ),
    )
    .await;
    let me = send(&service, get_with("/whoami", &device.str("accessToken"))).await;
    assert_eq!(me.body["kind"], "device");
    assert_eq!(me.body["id"], device.body["device"]["id"]);
    assert_eq!(me.body["platform"], "ANDROID");

    let (app_id, wallet) = app_and_wallet(&authd, "sensor01", "device").await;
    let login = send(
        &authd,
        post(
            "/v2/auth/wallet/login",
            json!({"username": format!("sensor01@{app_id}"), "password": WALLET_PASSWORD}),
        ),
    )
    .await;
    let me = send(&service, get_with("/whoami", &login.str("accessToken"))).await;
    assert_eq!(me.body["kind"], "wallet");
    assert_eq!(me.body["id"], wallet["id"]);
    assert_eq!(me.body["username"], "sensor01");
    assert_eq!(me.body["appId"], app_id.as_str());
    assert_eq!(me.body["role"], "device");
}

#[actix_web::test]
async fn a_request_without_a_good_token_gets_the_contract_error() {
    let ctx = Ctx::new();
    let authd = ctx.app().await;
    let jwks = format!("{}/.well-known/jwks.json", serve_authd(&ctx));
    let service = resource(verifier_at(&jwks, &ctx.clock)).await;
    let access = register(&authd, "ada@example.com", "ada")
        .await
        .str("accessToken");

    send(&service, TestRequest::get().uri("/whoami"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&service, get_with("/whoami", "not-a-jwt"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let (head, rest) = access.split_once('.').unwrap();
    send(&service, get_with("/whoami", &format!("{head}.e{rest}")))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&service, get_with("/whoami", &user_token(&signer())))
        .await
        .assert_error(401, "INVALID_TOKEN");

    ctx.clock.advance(3_600 + TokenSigner::LEEWAY_SECS);
    send(&service, get_with("/whoami", &access))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[actix_web::test]
async fn role_guards_admit_only_the_role_and_never_call_the_handler_otherwise() {
    let ctx = Ctx::new();
    let authd = ctx.app().await;
    let jwks = format!("{}/.well-known/jwks.json", serve_authd(&ctx));
    let service = resource(verifier_at(&jwks, &ctx.clock)).await;

    let ada = register(&authd, "ada@example.com", "ada").await;
    let user = ada.str("accessToken");
    send(&service, TestRequest::get().uri("/admin"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    send(&service, get_with("/admin", &user))
        .await
        .assert_error(403, "FORBIDDEN");
    send(&service, get_with("/v2/objects", &user))
        .await
        .assert_error(403, "FORBIDDEN");

    let id = ada.body["user"]["id"].as_str().unwrap();
    let promoted = send(
        &authd,
        as_admin(
            TestRequest::patch()
                .uri(&format!("/api/admin/users/{id}"))
                .set_json(json!({"roles": ["USER", "ADMIN"]})),
        ),
    )
    .await;
    assert_eq!(promoted.status, 200, "{promoted:?}");
    let admin = login(&authd, "ada@example.com", PASSWORD)
        .await
        .str("accessToken");
    let reply = send(&service, get_with("/admin", &admin)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["roles"], json!(["USER", "ADMIN"]));

    let (app_id, _) = app_and_wallet(&authd, "sensor01", "device").await;
    let wallet_login = |username: String| {
        post(
            "/v2/auth/wallet/login",
            json!({"username": username, "password": WALLET_PASSWORD}),
        )
    };
    let sensor = send(&authd, wallet_login(format!("sensor01@{app_id}")))
        .await
        .str("accessToken");
    assert_eq!(
        send(&service, get_with("/v2/objects", &sensor))
            .await
            .status,
        200
    );
    send(&service, get_with("/admin", &sensor))
        .await
        .assert_error(403, "FORBIDDEN");
    let (gateway_app, _) = app_and_wallet(&authd, "gw01", "gateway").await;
    let gateway = send(&authd, wallet_login(format!("gw01@{gateway_app}")))
        .await
        .str("accessToken");
    send(&service, get_with("/v2/objects", &gateway))
        .await
        .assert_error(403, "FORBIDDEN");
}

#[actix_web::test]
async fn a_rotated_key_is_fetched_but_forged_kids_cannot_make_it_hammer_authd() {
    let keys = Arc::new(PublishedKeys::default());
    let old = signer();
    keys.publish(&[&old]);
    let url = keys.serve();
    let clock = Arc::new(auth_core::ManualClock::new(T0));
    let service =
        resource(verifier_at(&url, &clock).min_refetch_interval(Duration::from_millis(500))).await;

    assert_eq!(
        send(&service, get_with("/whoami", &user_token(&old)))
            .await
            .status,
        200
    );
    assert_eq!(keys.fetches(), 1);
    for _ in 0..50 {
        send(&service, get_with("/whoami", &user_token(&signer())))
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    assert!(
        keys.fetches() <= 2,
        "50 forged kids caused {} fetches",
        keys.fetches()
    );

    // authd rotates: the new key is published beside the old one.
    let rotated = signer();
    keys.publish(&[&rotated, &old]);
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let before = keys.fetches();
    assert_eq!(
        send(&service, get_with("/whoami", &user_token(&rotated)))
            .await
            .status,
        200
    );
    assert_eq!(keys.fetches(), before + 1);
    for token in [user_token(&rotated), user_token(&old)] {
        assert_eq!(
            send(&service, get_with("/whoami", &token)).await.status,
            200
        );
    }
    assert_eq!(keys.fetches(), before + 1, "known kids need no fetch");
}

#[actix_web::test]
async fn a_key_authd_stopped_publishing_stops_being_accepted() {
    let keys = Arc::new(PublishedKeys::default());
    let retired = signer();
    keys.publish(&[&retired]);
    let url = keys.serve();
    let clock = Arc::new(auth_core::ManualClock::new(T0));
    let service = resource(
        verifier_at(&url, &clock)
            .max_age(Duration::from_millis(300))
            .min_refetch_interval(Duration::from_millis(100)),
    )
    .await;
    let token = user_token(&retired);
    assert_eq!(
        send(&service, get_with("/whoami", &token)).await.status,
        200
    );

    keys.publish(&[&signer()]);
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    send(&service, get_with("/whoami", &token))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn many_first_requests_share_one_fetch() {
    let keys = Arc::new(PublishedKeys::default());
    let authd = signer();
    keys.publish(&[&authd]);
    let url = keys.serve();
    let clock = Arc::new(auth_core::ManualClock::new(T0));
    let verifier = Arc::new(verifier_at(&url, &clock));
    let token = user_token(&authd);
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let token = token.clone();
            actix_web::rt::spawn(async move { verifier.verify(&token).await.map(|c| c.sub) })
        })
        .collect();
    for task in waiting {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(keys.fetches(), 1);
}

#[actix_web::test]
async fn without_keys_it_answers_503_and_a_configured_key_needs_no_authd() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let clock = Arc::new(auth_core::ManualClock::new(T0));
    let unreachable = resource(verifier_at(
        &format!("http://{closed}/.well-known/jwks.json"),
        &clock,
    ))
    .await;
    // A malformed token is refused as such, before any key is needed.
    send(&unreachable, get_with("/whoami", "not-a-jwt"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let authd = signer();
    let reply = send(&unreachable, get_with("/whoami", &user_token(&authd))).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(reply.header("retry-after").is_some());

    let jwks = serde_json::to_vec(authd.keys().jwks()).unwrap();
    let configured = resource(
        AccessVerifier::new(TokenVerifier::from_jwks(&jwks, "authd").unwrap())
            .with_clock(clock.clone()),
    )
    .await;
    let reply = send(&configured, get_with("/whoami", &user_token(&authd))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["roles"], json!(["USER"]));
}

#[actix_web::test]
async fn while_authd_is_down_the_keys_held_work_for_a_bounded_time() {
    let keys = Arc::new(PublishedKeys::default());
    let authd = signer();
    keys.publish(&[&authd]);
    let url = keys.serve();
    let clock = Arc::new(auth_core::ManualClock::new(T0));
    let service = resource(
        verifier_at(&url, &clock)
            .max_age(Duration::from_millis(100))
            .min_refetch_interval(Duration::from_millis(50)),
    )
    .await;
    let token = user_token(&authd);
    assert_eq!(
        send(&service, get_with("/whoami", &token)).await.status,
        200
    );

    keys.down.store(true, Ordering::SeqCst);
    actix_web::rt::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        send(&service, get_with("/whoami", &token)).await.status,
        200,
        "stale keys still serve while authd is down"
    );
    assert_eq!(keys.fetches(), 2, "and a refetch was tried");

    // Twelve times max_age after the last good fetch, the keys are no longer trusted.
    actix_web::rt::time::sleep(Duration::from_millis(1_100)).await;
    send(&service, get_with("/whoami", &token))
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");

    keys.down.store(false, Ordering::SeqCst);
    actix_web::rt::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        send(&service, get_with("/whoami", &token)).await.status,
        200
    );
}

//! The user routes of `/api/auth`: register, login, refresh, logout, me.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{
    AccessClaims, AuthError, Authority, Device, Email, Password, PrincipalKind, User, UserSession,
    UserStatus, Username, Wallet,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::bearer::authenticated;
use crate::blocking::blocking;
use crate::body::JsonBody;
use crate::error::body_error;
use crate::hashing::{hash_password, password_login};
use crate::issued::{Delivery, SessionReply, TokenPair, refresh_presented, session_response};
use crate::{ApiError, AuthState, Authenticated, ClientInfo, RouteFamily, audit};

/// `POST /api/auth/register`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterRequest {
    /// Trimmed, and compared case-insensitively.
    #[schema(format = Email, max_length = 254, example = "user@example.com")]
    email: String,
    #[schema(value_type = crate::openapi::StrongPassword)]
    password: String,
    /// Public name, unique case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$", example = "myusername")]
    username: String,
}

/// `POST /api/auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginRequest {
    #[schema(format = Email, max_length = 254, example = "user@example.com")]
    email: String,
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// A refresh token to rotate.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshRequest {
    /// The opaque refresh token of the last session response. Leave it out in a
    /// browser's cookie session: the `authd_rt` cookie carries it (with `X-Authd-Session`
    /// and an allowed `Origin`, else 403 `FORBIDDEN`).
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

/// The optional body of `POST /api/auth/logout`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogoutRequest {
    /// The session's refresh token; it must belong to the same session as the access token.
    refresh_token: Option<String>,
}

/// A user as the session body describes it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserBody {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    /// Whether the user has shown they receive mail at `email`.
    email_verified: bool,
    username: String,
    roles: Vec<String>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            roles: user.role_names(),
            email: user.email,
            email_verified: user.email_verified,
            username: user.username,
        }
    }
}

/// A user session: a new token pair and the user.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionBody {
    #[serde(flatten)]
    tokens: TokenPair,
    user: UserBody,
}

impl SessionReply for UserSession {
    type Body = SessionBody;

    fn principal(&self) -> &str {
        self.user.id.as_str()
    }

    fn refresh_token(&self) -> Option<(String, i64)> {
        let t = &self.tokens;
        Some((
            t.refresh_token.expose().to_owned(),
            t.refresh_expires_in_secs,
        ))
    }

    fn into_body(self, delivery: Delivery) -> SessionBody {
        SessionBody {
            tokens: TokenPair::of(self.tokens, delivery),
            user: self.user.into(),
        }
    }
}

/// The answer to a registration when verified addresses are required: the same for a new
/// address and a taken one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerificationSent {
    /// Always true.
    verification_sent: bool,
}

/// Registers a user and starts a session. With `AUTHD_REQUIRE_VERIFIED_EMAIL=true`, starts
/// none and answers 202 alike for a new and a taken address (the address gets a link, or
/// its owner a notice).
#[utoipa::path(post, path = "/api/auth/register", tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered, with a new session", body = SessionBody),
        (status = 202, description = "With verified addresses required: a mail is on its way (for a new address and for a taken one alike)", body = VerificationSent),
        (status = 400, description = "INVALID_REQUEST, or WEAK_PASSWORD"),
        (status = 409, description = "ACCOUNT_EXISTS: the email or the username is taken (with verified addresses required: the username)"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn register(
    state: web::Data<AuthState>,
    client: ClientInfo,
    req: HttpRequest,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if state.authority.requires_verified_email() {
        return register_unverified(&state, &client, body).await;
    }
    let email = Email::parse(&body.email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Register, &client)?;
        let email = email?;
        let username = Username::parse(&body.username)?;
        let password = Password::new(&body.password)?;
        let now = state.clock.now();
        let hash = hash_password(&state, password).await?;
        let inner = state.clone();
        let origin = client.origin();
        blocking(move || {
            inner
                .authority
                .register(&email, &username, hash, &origin, now)
        })
        .await
    }
    .await;
    let delivery = crate::browser::delivery(&req, &state);
    session_response(
        &state,
        "register",
        StatusCode::CREATED,
        who,
        &client,
        (result, delivery),
    )
}

/// Registration when verified addresses are required: no session, and one answer for a
/// new address and a taken one.
async fn register_unverified(
    state: &web::Data<AuthState>,
    client: &ClientInfo,
    body: RegisterRequest,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Register, client)?;
        let email = email?;
        let username = Username::parse(&body.username)?;
        let password = Password::new(&body.password)?;
        let now = state.clock.now();
        let hash = hash_password(state, password).await?;
        let inner = state.clone();
        blocking(move || {
            inner
                .authority
                .register_unverified(&email, &username, hash, now)
        })
        .await
    }
    .await;
    audit::record(state, "register", who.as_deref(), client, &result);
    result?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(VerificationSent {
            verification_sent: true,
        }))
}

/// Starts a session with an email and a password.
#[utoipa::path(post, path = "/api/auth/login", tag = "users",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session", body = SessionBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 403, description = "ACCOUNT_INACTIVE: the user is suspended; EMAIL_NOT_VERIFIED: the address must be verified first"),
        (status = 429, description = "RATE_LIMITED: too many failures for this account or address"),
    ))]
pub(crate) async fn login(
    state: web::Data<AuthState>,
    client: ClientInfo,
    req: HttpRequest,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Login, &client)?;
        let email = email?;
        let password = Password::presented(&body.password)?;
        let now = state.clock.now();
        let addr = client.addr;
        let origin = client.origin();
        password_login(
            &state,
            move |authority| authority.begin_login(&email, addr, now),
            password,
            move |authority, attempt, hashed_at| {
                authority.finish_login(attempt, &origin, hashed_at)
            },
        )
        .await
    }
    .await;
    let delivery = crate::browser::delivery(&req, &state);
    session_response(
        &state,
        "login",
        StatusCode::OK,
        who,
        &client,
        (result, delivery),
    )
}

/// Rotates a user session's refresh token: a new pair; the old refresh token is spent.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "users",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = SessionBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_TOKEN, TOKEN_EXPIRED, or REFRESH_TOKEN_REUSED (the session is revoked)"),
        (status = 403, description = "ACCOUNT_INACTIVE: the user is suspended"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    req: HttpRequest,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let in_body = body.into_inner().refresh_token;
    refresh_presented(state, client, &req, "refresh", in_body, |a, token, now| {
        a.refresh_user(token, now)
    })
    .await
}

/// Ends the access token's session: its refresh token and access tokens stop working.
#[utoipa::path(post, path = "/api/auth/logout", tag = "users",
    request_body(content = Option<LogoutRequest>, description = "Optional"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 400, description = "INVALID_REQUEST: a body that is not JSON"),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED"),
    ))]
pub(crate) async fn logout(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let request = logout_request(&req, body);
    if let Err(e) = &request {
        let refused: Result<(), ApiError> = Err(ApiError::BadRequest(e.to_string()));
        audit::record(&state, "logout", Some(&claims.sub), &client, &refused);
    }
    let request = request?;
    // A browser's cookie session ends with its cookie, when the page is an allowed one.
    let refresh_token = request
        .refresh_token
        .or_else(|| crate::browser::cookie_token(&req, &state).ok().flatten());
    let now = state.clock.now();
    let principal = claims.sub.clone();
    let result = {
        let state = state.clone();
        blocking(move || {
            state
                .authority
                .logout(&claims, refresh_token.as_deref(), now)
        })
        .await
    };
    audit::record(&state, "logout", Some(&principal), &client, &result);
    result?;
    let mut response = HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    crate::browser::clear_cookie(&state, &mut response);
    Ok(response)
}

/// The optional logout body: empty, or JSON with a JSON `Content-Type`, as on every route.
fn logout_request(
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<LogoutRequest, ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(LogoutRequest::default());
    }
    if !crate::body::is_json(req) {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    crate::body::parse(&body)
}

/// The principal of an access token, of any kind.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type")]
enum MeBody {
    /// A person.
    #[serde(rename = "user", rename_all = "camelCase")]
    User {
        #[schema(format = Uuid)]
        id: String,
        email: String,
        /// Whether the user has shown they receive mail at `email`.
        email_verified: bool,
        username: String,
        roles: Vec<String>,
        #[schema(format = DateTime)]
        created_at: String,
    },
    /// An operational identity of an app.
    #[serde(rename = "wallet", rename_all = "camelCase")]
    Wallet {
        #[schema(example = "wal_5f0c8a4e2b7d4c1e9a3f6b8d0e2c4a6f")]
        id: String,
        username: String,
        app_id: String,
        role: String,
    },
    /// A mobile device.
    #[serde(rename = "device", rename_all = "camelCase")]
    Device {
        id: String,
        device_id: String,
        #[schema(schema_with = crate::devices::platforms)]
        platform: &'static str,
        #[schema(format = DateTime)]
        created_at: String,
        /// The user the device is linked to, when it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(format = Uuid)]
        user_id: Option<String>,
    },
}

/// Describes the access token's principal: a user, a device or a wallet.
#[utoipa::path(get, path = "/api/auth/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The principal", body = MeBody),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED"),
        (status = 403, description = "ACCOUNT_INACTIVE: the user is suspended"),
    ))]
pub(crate) async fn me(
    state: web::Data<AuthState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // The session check and the principal's record in one trip to the blocking pool, and
    // for a user in one query.
    let (_, principal) = authenticated(&state, &req, |authority, token, now| {
        let (claims, user) = authority.authenticate_with_user(token, now)?;
        let described = describe(authority, &claims, user);
        Ok((claims, described))
    })
    .await?;
    let body = match principal.map_err(|e| principal_gone(e.into()))? {
        Described::User(user) => {
            if user.status != UserStatus::Active {
                return Err(AuthError::AccountInactive.into());
            }
            MeBody::User {
                id: user.id.as_str().to_owned(),
                roles: user.role_names(),
                created_at: user.created_at.rfc3339(),
                email: user.email,
                email_verified: user.email_verified,
                username: user.username,
            }
        }
        Described::Device(device) => MeBody::Device {
            id: device.id.as_str().to_owned(),
            device_id: device.device_id.as_str().to_owned(),
            platform: device.platform.as_str(),
            created_at: device.created_at.rfc3339(),
            user_id: device.user_id.map(|id| id.as_str().to_owned()),
        },
        Described::Wallet(wallet) => MeBody::Wallet {
            id: wallet.id.to_string(),
            username: wallet.username,
            app_id: wallet.app_id.as_str().to_owned(),
            role: wallet.role.as_str().to_owned(),
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// The stored record of a token's principal.
enum Described {
    User(User),
    Device(Device),
    Wallet(Wallet),
}

/// The principal of `claims`; a user's record (`user`) was read with the session.
fn describe(
    authority: &Authority,
    claims: &AccessClaims,
    user: Option<User>,
) -> Result<Described, AuthError> {
    let id = claims.sub.as_str();
    match claims.kind {
        PrincipalKind::User => user.map(Described::User).ok_or(AuthError::NotFound),
        PrincipalKind::Device => authority.device(id).map(Described::Device),
        PrincipalKind::Wallet => authority.wallet_by_id(id).map(Described::Wallet),
    }
}

/// A live session whose principal has since been deleted is an invalid token, not a 404.
fn principal_gone(e: ApiError) -> ApiError {
    match e {
        ApiError::Auth(AuthError::NotFound) => ApiError::Auth(AuthError::InvalidToken(
            "the token's principal no longer exists",
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};

    use actix_web::test;
    use auth_core::{KeyRing, ManualClock, PasswordHasher, TokenPolicy, TokenSigner, UnixTime};
    use auth_store::test_support::TestDatabase;
    use serde_json::json;

    use crate::{AuditTrail, AuthState, HashingGate};

    const T0: UnixTime = UnixTime(1_800_000_000);

    fn login(password: &str) -> actix_http::Request {
        test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({"email": "alice@example.com", "password": password}))
            .to_request()
    }

    #[actix_web::test]
    async fn a_lock_lasts_its_delay_from_when_a_slow_hash_proved_the_failure() {
        let db = TestDatabase::sqlite();
        let store = db.open();
        let clock = Arc::new(ManualClock::new(T0));
        let authority = auth_core::Authority::new(
            Arc::new(store.clone()),
            TokenSigner::new(KeyRing::load_or_create(&store, T0).unwrap(), "authd"),
            PasswordHasher::with_params(1024, 1, 1).unwrap(),
            TokenPolicy::default(),
        );
        // One hashing thread, so that the test can keep it busy.
        let hashing = Arc::new(HashingGate::new(1, 8));
        let state = actix_web::web::Data::new(
            AuthState::new(
                authority,
                clock.clone(),
                AuditTrail::start(Arc::new(store)).unwrap(),
            )
            .with_hashing(hashing.clone()),
        );
        let app = std::rc::Rc::new(test::init_service(crate::app(state)).await);
        let register = test::TestRequest::post()
            .uri("/api/auth/register")
            .set_json(json!({"email": "alice@example.com", "password": "correct horse battery", "username": "alice"}))
            .to_request();
        assert_eq!(test::call_service(&*app, register).await.status(), 201);
        for _ in 0..4 {
            let failed = test::call_service(&*app, login("wrong password")).await;
            assert_eq!(failed.status(), 401);
        }

        // The fifth failure waits behind another hash while 10 s pass.
        let (release, hold) = mpsc::channel::<()>();
        let busy = {
            let hashing = hashing.clone();
            actix_web::rt::spawn(async move {
                hashing
                    .run(move || {
                        let _ = hold.recv();
                        Ok(())
                    })
                    .await
            })
        };
        let fifth = {
            let app = app.clone();
            actix_web::rt::spawn(
                async move { test::call_service(&*app, login("wrong password")).await },
            )
        };
        while hashing.queue_depth() < 1 {
            actix_web::rt::task::yield_now().await;
        }
        clock.advance(10);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(fifth.await.unwrap().status(), 401);

        // Locked for 1 s from then, not from when the fifth attempt came in.
        let locked = test::call_service(&*app, login("correct horse battery")).await;
        assert_eq!(locked.status(), 429);
        clock.advance(1);
        let unlocked = test::call_service(&*app, login("correct horse battery")).await;
        assert_eq!(unlocked.status(), 200);
    }
}

//! The user routes of `/api/auth`: register, login, refresh, logout, me.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use auth_core::{
    AuthError, Email, Password, PrincipalKind, UserId, UserSession, UserStatus, Username,
};
use serde::{Deserialize, Serialize};

use crate::error::{body_error, describe_json_error};
use crate::issued::{SessionReply, TokenPair, blocking, refresh_response, session_response};
use crate::{ApiError, AuthState, Authenticated, ClientInfo, RouteFamily, audit};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterRequest {
    email: String,
    password: String,
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogoutRequest {
    refresh_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    id: String,
    email: String,
    username: String,
    roles: Vec<String>,
}

#[derive(Serialize)]
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

    fn into_body(self) -> SessionBody {
        SessionBody {
            tokens: self.tokens.into(),
            user: UserBody {
                id: self.user.id.as_str().to_owned(),
                roles: self.user.role_names(),
                email: self.user.email,
                username: self.user.username,
            },
        }
    }
}

pub(crate) async fn register(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Register, &client)?;
        let email = email?;
        let username = Username::parse(&body.username)?;
        let password = Password::new(&body.password)?;
        let now = state.clock.now();
        let state = state.clone();
        let gate = state.hashing.clone();
        gate.run(move || state.authority.register(&email, &username, &password, now))
            .await
    }
    .await;
    session_response(
        &state,
        "register",
        StatusCode::CREATED,
        who,
        &client,
        result,
    )
}

pub(crate) async fn login(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Login, &client)?;
        let email = email?;
        let password = Password::presented(&body.password)?;
        let now = state.clock.now();
        let state = state.clone();
        let gate = state.hashing.clone();
        gate.run(move || state.authority.login(&email, &password, now))
            .await
    }
    .await;
    session_response(&state, "login", StatusCode::OK, who, &client, result)
}

pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = body.into_inner().refresh_token;
    refresh_response(state, client, "refresh", move |authority, now| {
        authority.refresh_user(&presented, now)
    })
    .await
}

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
    let now = state.clock.now();
    let principal = claims.sub.clone();
    let result = {
        let state = state.clone();
        blocking(move || {
            state
                .authority
                .logout(&claims, request.refresh_token.as_deref(), now)
        })
        .await
    };
    audit::record(&state, "logout", Some(&principal), &client, &result);
    result?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The optional logout body: empty, or JSON with `Content-Type: application/json`.
fn logout_request(
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<LogoutRequest, ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(LogoutRequest::default());
    }
    if req.content_type() != "application/json" {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(describe_json_error(&e)))
}

#[derive(Serialize)]
#[serde(
    rename_all = "camelCase",
    tag = "type",
    rename_all_fields = "camelCase"
)]
enum MeBody {
    #[serde(rename = "user")]
    User {
        id: String,
        email: String,
        username: String,
        roles: Vec<String>,
        created_at: String,
    },
    #[serde(rename = "wallet")]
    Wallet {
        id: String,
        username: String,
        app_id: String,
        role: String,
    },
    #[serde(rename = "device")]
    Device {
        id: String,
        device_id: String,
        platform: &'static str,
        created_at: String,
    },
}

pub(crate) async fn me(
    state: web::Data<AuthState>,
    Authenticated(claims): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = claims.sub;
    let body = match claims.kind {
        PrincipalKind::User => {
            let user = blocking(move || state.authority.user(&UserId::from_stored(id)))
                .await
                .map_err(principal_gone)?;
            if user.status != UserStatus::Active {
                return Err(AuthError::AccountInactive.into());
            }
            MeBody::User {
                id: user.id.as_str().to_owned(),
                roles: user.role_names(),
                created_at: crate::operations::rfc3339(user.created_at),
                email: user.email,
                username: user.username,
            }
        }
        PrincipalKind::Device => {
            let device = blocking(move || state.authority.device(&id))
                .await
                .map_err(principal_gone)?;
            MeBody::Device {
                id: device.id,
                device_id: device.device_id.as_str().to_owned(),
                platform: device.platform.as_str(),
                created_at: crate::operations::rfc3339(device.created_at),
            }
        }
        PrincipalKind::Wallet => {
            let wallet = blocking(move || state.authority.wallet_by_id(&id))
                .await
                .map_err(principal_gone)?;
            MeBody::Wallet {
                id: wallet.id,
                username: wallet.username,
                app_id: wallet.app_id.as_str().to_owned(),
                role: wallet.role.as_str().to_owned(),
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
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

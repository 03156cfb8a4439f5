//! The wallet routes of `/v2/auth/wallet`: login as `walletUsername@appId`, and the
//! once-only exchange of a wallet access token for the next. Lifetimes are in seconds.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{Password, WalletLogin, WalletSession};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::JsonBody;
use crate::hashing::password_login;
use crate::issued::{Delivery, SessionReply, refresh_response, session_response};
use crate::{ApiError, AuthState, BearerToken, ClientInfo, RouteFamily};

/// `POST /v2/auth/wallet/login`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct WalletLoginRequest {
    /// `walletUsername@appId`, split at the last `@`.
    #[schema(
        pattern = "^[A-Za-z0-9_.-]{3,32}@app_[A-Za-z0-9_-]{1,64}$",
        example = "sensor01@app_1a2b3c4d"
    )]
    username: String,
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// The wallet token response: exactly `{accessToken, expiresIn, tokenType}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletTokenBody {
    /// A JWT; it can be exchanged for the next one once.
    access_token: String,
    /// Seconds until `accessToken` expires.
    #[schema(example = 3600)]
    expires_in: i64,
    #[schema(schema_with = crate::openapi::bearer_token_type)]
    token_type: &'static str,
}

impl SessionReply for WalletSession {
    type Body = WalletTokenBody;

    fn principal(&self) -> &str {
        self.wallet.id.as_str()
    }

    fn into_body(self, _: Delivery) -> WalletTokenBody {
        WalletTokenBody {
            access_token: self.access_token,
            expires_in: self.expires_in_secs,
            token_type: "Bearer",
        }
    }
}

/// Logs a wallet in as `walletUsername@appId`.
#[utoipa::path(post, path = "/v2/auth/wallet/login", tag = "wallets",
    request_body = WalletLoginRequest,
    responses(
        (status = 200, description = "An access token", body = WalletTokenBody),
        (status = 400, description = "INVALID_REQUEST: not of the form user@app_…"),
        (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 403, description = "ACCOUNT_INACTIVE: the wallet or its app is suspended"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn login(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<WalletLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tried = body.username.chars().take(200).collect::<String>();
    let result = async {
        state.admit(RouteFamily::Login, &client)?;
        let login = WalletLogin::parse(&body.username)?;
        let password = Password::presented(&body.password)?;
        let now = state.clock.now();
        let addr = client.addr;
        let origin = client.origin();
        password_login(
            &state,
            move |authority| authority.begin_wallet_login(&login, addr, now),
            password,
            move |authority, attempt, hashed_at| {
                authority.finish_wallet_login(attempt, &origin, hashed_at)
            },
        )
        .await
    }
    .await;
    let tried = WalletLogin::parse(&tried).ok().map(|_| tried);
    session_response(
        &state,
        "wallet_login",
        StatusCode::OK,
        tried,
        &client,
        (result, Delivery::Body),
    )
}

/// Exchanges the wallet's current access token (once) for the next.
#[utoipa::path(post, path = "/v2/auth/wallet/refresh", tag = "wallets",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The next access token", body = WalletTokenBody),
        (status = 401, description = "INVALID_TOKEN, TOKEN_EXPIRED, or REFRESH_TOKEN_REUSED (exchanged before; the session is revoked)"),
        (status = 403, description = "ACCOUNT_INACTIVE: the wallet or its app is suspended"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    token: BearerToken,
) -> Result<HttpResponse, ApiError> {
    refresh_response(
        state,
        client,
        "wallet_refresh",
        Delivery::Body,
        move |authority, now| authority.refresh_wallet(token.expose(), now),
    )
    .await
}

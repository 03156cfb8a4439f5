//! The wallet routes of `/v2/auth/wallet`: login as `walletUsername@appId`, and the
//! once-only exchange of a wallet access token for the next. Lifetimes are in seconds.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{Password, WalletLogin, WalletSession};
use serde::{Deserialize, Serialize};

use crate::issued::{SessionReply, refresh_response, session_response};
use crate::{ApiError, AuthState, BearerToken, ClientInfo, RouteFamily};

#[derive(Deserialize)]
pub(crate) struct WalletLoginRequest {
    username: String,
    password: String,
}

/// The wallet token response: exactly `{accessToken, expiresIn, tokenType}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletTokenBody {
    access_token: String,
    expires_in: i64,
    token_type: &'static str,
}

impl SessionReply for WalletSession {
    type Body = WalletTokenBody;

    fn principal(&self) -> &str {
        &self.wallet.id
    }

    fn into_body(self) -> WalletTokenBody {
        WalletTokenBody {
            access_token: self.access_token,
            expires_in: self.expires_in_secs,
            token_type: "Bearer",
        }
    }
}

/// `POST /v2/auth/wallet/login`.
pub(crate) async fn login(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<WalletLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tried = body.username.chars().take(200).collect::<String>();
    let result = async {
        state.admit(RouteFamily::Login, &client)?;
        let login = WalletLogin::parse(&body.username)?;
        let password = Password::presented(&body.password)?;
        let now = state.clock.now();
        let state = state.clone();
        let gate = state.hashing.clone();
        gate.run(move || state.authority.wallet_login(&login, &password, now))
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
        result,
    )
}

/// `POST /v2/auth/wallet/refresh` with the wallet's current access token as Bearer.
pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    token: BearerToken,
) -> Result<HttpResponse, ApiError> {
    refresh_response(state, client, "wallet_refresh", move |authority, now| {
        authority.refresh_wallet(token.expose(), now)
    })
    .await
}

//! Bearer tokens from the `Authorization` header, and the extractor that turns one into a
//! verified principal whose session is still live.
//!
//! Tokens are read from the header only, never from a query string or a cookie.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use auth_core::{AccessClaims, AuthError};

use crate::{ApiError, AuthState, ClientInfo, audit};

/// The raw token of an `Authorization: Bearer …` header, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn from_request_headers(req: &HttpRequest) -> Result<Self, ApiError> {
        let missing = || ApiError::Auth(AuthError::InvalidToken("missing bearer token"));
        let value = req
            .headers()
            .get(AUTHORIZATION)
            .ok_or_else(missing)?
            .to_str()
            .map_err(|_| missing())?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(missing());
        }
        Ok(Self(token.to_owned()))
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request_headers(req))
    }
}

/// Who is administering: the holder of the bootstrap admin token, or an active user whose
/// stored roles include `ADMIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// The `AUTHD_ADMIN_TOKEN` from the server's configuration.
    Bootstrap,
    /// A user with role `ADMIN` (its id).
    User(String),
}

impl Admin {
    /// A name for the log.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Admin::Bootstrap => "bootstrap-admin",
            Admin::User(id) => id,
        }
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = BearerToken::from_request_headers(req);
        let state = req.app_data::<web::Data<AuthState>>().cloned();
        let client = ClientInfo::of(req);
        Box::pin(async move {
            let result = async {
                let token = token?;
                let state = state
                    .ok_or_else(|| ApiError::Internal("AuthState is not registered".into()))?;
                if state
                    .admin_token
                    .as_deref()
                    .is_some_and(|admin| auth_core::secrets_match(token.expose(), admin))
                {
                    return Ok(Admin::Bootstrap);
                }
                let now = state.clock.now();
                let user = web::block(move || {
                    let claims = state.authority.authenticate(token.expose(), now)?;
                    state.authority.administrator(&claims)
                })
                .await??;
                Ok(Admin::User(user.id.as_str().to_owned()))
            }
            .await;
            let principal = result.as_ref().ok().map(|a| a.name().to_owned());
            audit::record("admin", principal.as_deref(), &client, &result);
            result
        })
    }
}

/// A request authenticated by an authd access token: correctly signed, unexpired, and of a
/// session that has not been revoked. Add it as a handler argument to require one.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = BearerToken::from_request_headers(req);
        let state = req.app_data::<web::Data<AuthState>>().cloned();
        let client = ClientInfo::of(req);
        Box::pin(async move {
            let result = async {
                let token = token?;
                let state = state
                    .ok_or_else(|| ApiError::Internal("AuthState is not registered".into()))?;
                let now = state.clock.now();
                let claims =
                    web::block(move || state.authority.authenticate(token.expose(), now)).await??;
                Ok(Authenticated(claims))
            }
            .await;
            let principal = result.as_ref().ok().map(|a| a.0.sub.clone());
            audit::record_bearer_check(&client, principal.as_deref(), &result);
            result
        })
    }
}

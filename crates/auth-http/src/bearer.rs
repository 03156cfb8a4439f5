//! Bearer tokens from the `Authorization` header, and the extractor that turns one into a
//! verified principal whose session is still live.
//!
//! Tokens are read from the header only, never from a query string or a cookie.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use auth_core::{AccessClaims, AuthError, Authority, UnixTime};
use serde::de::DeserializeOwned;

use crate::blocking::blocking;
use crate::body::JsonBody;
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

    pub(crate) fn from_request_headers(req: &HttpRequest) -> Result<Self, ApiError> {
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
/// stored roles include `ADMIN`. Administrative changes are recorded in its name.
pub struct Admin {
    identity: AdminIdentity,
    client: ClientInfo,
    state: web::Data<AuthState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminIdentity {
    Bootstrap,
    User(String),
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A name for the log and the audit trail: `bootstrap-admin` or the user's id.
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.identity {
            AdminIdentity::Bootstrap => "bootstrap-admin",
            AdminIdentity::User(id) => id,
        }
    }

    /// Records that this administrator did `action` to `target`.
    pub(crate) fn record(&self, action: &str, target: &str) {
        audit::record_admin(&self.state, self.name(), action, target, &self.client);
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
            let state =
                state.ok_or_else(|| ApiError::Internal("AuthState is not registered".into()))?;
            let result = async {
                let token = token?;
                if state
                    .admin_token
                    .as_deref()
                    .is_some_and(|admin| auth_core::secrets_match(token.expose(), admin))
                {
                    return Ok(AdminIdentity::Bootstrap);
                }
                let now = state.clock.now();
                let inner = state.clone();
                let user = web::block(move || {
                    let claims = inner.authority.authenticate(token.expose(), now)?;
                    inner.authority.administrator(&claims)
                })
                .await??;
                Ok(AdminIdentity::User(user.id.as_str().to_owned()))
            }
            .await;
            match result {
                Ok(identity) => Ok(Admin {
                    identity,
                    client,
                    state,
                }),
                Err(e) => {
                    let refused: Result<(), ApiError> = Err(e);
                    audit::record(&state, "admin", None, &client, &refused);
                    Err(refused.err().unwrap_or(ApiError::NotFound))
                }
            }
        })
    }
}

/// An administrator's change: who asks, and the JSON object the change is made of. The body
/// is read only once the caller is known to be an administrator, so a caller who is not
/// one is told 401 or 403 (and is audited) whatever it sent, never whether its body would
/// have been accepted.
pub(crate) struct AdminChange<T> {
    pub(crate) admin: Admin,
    pub(crate) body: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for AdminChange<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = Admin::from_request(req, payload);
        let body = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move {
            let admin = admin.await?;
            let body = body.await?.into_inner();
            Ok(Self { admin, body })
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
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AuthState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("AuthState is not registered".into()))?;
            let (claims, ()) = authenticated(&state, &req, |authority, token, now| {
                Ok((authority.authenticate(token, now)?, ()))
            })
            .await?;
            Ok(Authenticated(claims))
        })
    }
}

/// Checks the request's bearer token with `check` (signature, live session, and whatever
/// else the handler reads with it) in one trip to the blocking pool, and records the
/// check in the audit trail. What [`Authenticated`] does, for handlers that need more
/// from the store at once.
pub(crate) async fn authenticated<T: Send + 'static>(
    state: &web::Data<AuthState>,
    req: &HttpRequest,
    check: impl FnOnce(&Authority, &str, UnixTime) -> Result<(AccessClaims, T), AuthError>
    + Send
    + 'static,
) -> Result<(AccessClaims, T), ApiError> {
    let client = ClientInfo::of(req);
    let now = state.clock.now();
    let result = match BearerToken::from_request_headers(req) {
        Err(e) => Err(e),
        Ok(token) => {
            let inner = state.clone();
            blocking(move || check(&inner.authority, token.expose(), now)).await
        }
    };
    let principal = result.as_ref().ok().map(|(claims, _)| claims.sub.clone());
    audit::record_bearer_check(state, &client, principal.as_deref(), &result);
    result
}

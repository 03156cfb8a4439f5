//! Responses that hand out tokens: never cached, logged once, and built the same way for
//! every kind of session.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use auth_core::{AuthError, Authority, IssuedTokens, UnixTime};
use serde::Serialize;

use crate::blocking::blocking;
use crate::{ApiError, AuthState, ClientInfo, RouteFamily, audit};

/// A session-issuing result that can be answered: it names its principal for the log and
/// turns into the contract's body.
pub(crate) trait SessionReply {
    /// The JSON body.
    type Body: Serialize;
    /// The principal's id, for the log.
    fn principal(&self) -> &str;
    /// The body to send.
    fn into_body(self) -> Self::Body;
}

/// The token fields every session body starts with. Lifetimes in the `/api/auth` family
/// are milliseconds.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenPair {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    /// Opaque and single-use: send it to the refresh route for the next pair.
    refresh_token: String,
    #[schema(schema_with = crate::openapi::bearer_token_type)]
    token_type: &'static str,
    /// Milliseconds until `accessToken` expires.
    #[schema(example = 3_600_000)]
    expires_in: i64,
}

impl From<IssuedTokens> for TokenPair {
    fn from(t: IssuedTokens) -> Self {
        Self {
            refresh_token: t.refresh_token.expose().to_owned(),
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in_secs.saturating_mul(1000),
        }
    }
}

/// A token response: never cached by the client or anything in between.
pub(crate) fn tokens(status: StatusCode, body: impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Logs the outcome of a session-issuing event (naming the principal on success, else the
/// account that was tried) and answers with the session's body.
pub(crate) fn session_response<S: SessionReply>(
    state: &AuthState,
    event: &str,
    status: StatusCode,
    tried: Option<String>,
    client: &ClientInfo,
    result: Result<S, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let principal = match &result {
        Ok(session) => Some(session.principal().to_owned()),
        Err(_) => tried,
    };
    audit::record(state, event, principal.as_deref(), client, &result);
    Ok(tokens(status, result?.into_body()))
}

/// Answers a refresh route: takes one attempt from the client's refresh budget, runs the
/// rotation off the async workers at the state's clock, and logs and answers the result.
pub(crate) async fn refresh_response<S: SessionReply + Send + 'static>(
    state: web::Data<AuthState>,
    client: ClientInfo,
    event: &str,
    rotate: impl FnOnce(&Authority, UnixTime) -> Result<S, AuthError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let result = async {
        state.admit(RouteFamily::Refresh, &client)?;
        let inner = state.clone();
        blocking(move || rotate(&inner.authority, now)).await
    }
    .await;
    session_response(&state, event, StatusCode::OK, None, &client, result)
}

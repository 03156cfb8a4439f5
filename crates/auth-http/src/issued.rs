//! Responses that hand out tokens: never cached, logged once, and built the same way for
//! every kind of session.

use actix_web::http::header::HeaderValue;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{AuthError, Authority, IssuedTokens, UnixTime};
use serde::Serialize;

use crate::blocking::blocking;
pub(crate) use crate::browser::Delivery;
use crate::{ApiError, AuthState, ClientInfo, RouteFamily, audit};

/// A session-issuing result that can be answered: it names its principal for the log and
/// turns into the contract's body.
pub(crate) trait SessionReply {
    /// The JSON body.
    type Body: Serialize;
    /// The principal's id, for the log.
    fn principal(&self) -> &str;
    /// The refresh token and the seconds until it expires, for a browser's cookie; `None`
    /// for sessions without one (wallets).
    fn refresh_token(&self) -> Option<(String, i64)> {
        None
    }
    /// The body to send; with [`Delivery::Cookie`], without the refresh token.
    fn into_body(self, delivery: Delivery) -> Self::Body;
}

/// The token fields every session body starts with. Lifetimes in the `/api/auth` family
/// are milliseconds.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenPair {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    /// Opaque and single-use: send it to the refresh route for the next pair. Absent in
    /// a browser's cookie session (`X-Authd-Session: cookie`): it is in the `authd_rt`
    /// cookie instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[schema(schema_with = crate::openapi::bearer_token_type)]
    token_type: &'static str,
    /// Milliseconds until `accessToken` expires.
    #[schema(example = 3_600_000)]
    expires_in: i64,
}

impl TokenPair {
    /// The pair of `t`, its refresh token in the body or not as `delivery` says.
    pub(crate) fn of(t: IssuedTokens, delivery: Delivery) -> Self {
        Self {
            refresh_token: (delivery == Delivery::Body)
                .then(|| t.refresh_token.expose().to_owned()),
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
    (result, delivery): (Result<S, ApiError>, Delivery),
) -> Result<HttpResponse, ApiError> {
    let principal = match &result {
        Ok(session) => Some(session.principal().to_owned()),
        Err(_) => tried,
    };
    audit::record(state, event, principal.as_deref(), client, &result);
    let session = result?;
    let cookie = match delivery {
        Delivery::Cookie => session.refresh_token(),
        Delivery::Body => None,
    };
    let mut response = tokens(status, session.into_body(delivery));
    if let Some((token, max_age)) = cookie
        && let Ok(value) = HeaderValue::from_str(&crate::browser::refresh_cookie(&token, max_age))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Answers a refresh route: takes one attempt from the client's refresh budget, runs the
/// rotation off the async workers at the state's clock, and logs and answers the result.
pub(crate) async fn refresh_response<S: SessionReply + Send + 'static>(
    state: web::Data<AuthState>,
    client: ClientInfo,
    event: &str,
    delivery: Delivery,
    rotate: impl FnOnce(&Authority, UnixTime) -> Result<S, AuthError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let result = async {
        state.admit(RouteFamily::Refresh, &client)?;
        let inner = state.clone();
        blocking(move || rotate(&inner.authority, now)).await
    }
    .await;
    session_response(
        &state,
        event,
        StatusCode::OK,
        None,
        &client,
        (result, delivery),
    )
}

/// Answers a user's or device's refresh: the token of the body or of the browser's
/// cookie (see [`crate::browser`]), rotated by `rotate`. A refusal before the rotation
/// (a cookie from a page not allowed, no token at all) is recorded like any other.
pub(crate) async fn refresh_presented<S: SessionReply + Send + 'static>(
    state: web::Data<AuthState>,
    client: ClientInfo,
    req: &HttpRequest,
    event: &str,
    in_body: Option<String>,
    rotate: impl FnOnce(&Authority, &str, UnixTime) -> Result<S, AuthError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    match crate::browser::presented_refresh_token(req, &state, in_body) {
        Ok((presented, delivery)) => {
            refresh_response(state, client, event, delivery, move |authority, now| {
                rotate(authority, &presented, now)
            })
            .await
        }
        Err(refused) => {
            let refused: Result<(), ApiError> = Err(refused);
            audit::record(&state, event, None, &client, &refused);
            refused.map(|()| HttpResponse::NoContent().finish())
        }
    }
}

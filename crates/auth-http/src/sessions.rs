//! `GET /api/auth/sessions` and `DELETE /api/auth/sessions[/{id}]`: a principal (a user
//! or a device) sees its live sessions, ends one, or signs out everywhere.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_core::{AccessClaims, PrincipalKind, Session, SessionId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::account::RevokedSessions;
use crate::admin::{Listing, PageQuery};
use crate::blocking::blocking;
use crate::{ApiError, AuthState, Authenticated, ClientInfo, audit};

/// One live session as its owner sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LiveSession {
    #[schema(example = "ses_0193a8f4c2d07b3e9f1a2b3c4d5e6f70")]
    id: String,
    /// Whether this is the session of the token that asked.
    current: bool,
    #[schema(format = DateTime)]
    created_at: String,
    /// When the session last got tokens (its latest refresh, or its start).
    #[schema(format = DateTime)]
    last_used_at: String,
    /// When it ends at the latest, whatever its refreshes.
    #[schema(format = DateTime)]
    expires_at: String,
    /// The `User-Agent` of the request that started it.
    user_agent: Option<String>,
    /// The address of the client that started it.
    ip_address: Option<String>,
    /// The device's platform, for a device's sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::devices::platforms)]
    platform: Option<&'static str>,
}

impl LiveSession {
    /// `session` as seen by the principal of `claims`; `platform` for a device's.
    pub(crate) fn of(
        session: Session,
        current: Option<&SessionId>,
        platform: Option<&'static str>,
    ) -> Self {
        Self {
            current: current == Some(&session.id),
            created_at: session.created_at.rfc3339(),
            last_used_at: auth_core::last_used_at(&session).rfc3339(),
            expires_at: session.expires_at.rfc3339(),
            id: session.id.as_str().to_owned(),
            user_agent: session.origin.user_agent,
            ip_address: session.origin.ip_address,
            platform,
        }
    }
}

/// The platform of a device's token, to show with each of its sessions.
fn platform_of(claims: &AccessClaims) -> Option<&'static str> {
    if claims.kind == PrincipalKind::Device {
        claims.attributes.platform.map(auth_core::Platform::as_str)
    } else {
        None
    }
}

/// Lists the caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "sessions",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's live sessions", body = Listing<LiveSession>),
        (status = 400, description = "INVALID_REQUEST: a bad limit or offset"),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED"),
    ))]
pub(crate) async fn list_sessions(
    state: web::Data<AuthState>,
    Authenticated(claims): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let now = state.clock.now();
    let current = claims.session_id();
    let platform = platform_of(&claims);
    let (sessions, total) =
        blocking(move || state.authority.own_sessions(&claims, page, now)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Listing::of(
            sessions
                .into_iter()
                .map(|s| LiveSession::of(s, Some(&current), platform))
                .collect(),
            total,
            page,
        )))
}

/// Ends one of the caller's sessions (the current one too). Another principal's session
/// is not found.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED"),
        (status = 404, description = "NOT_FOUND: no live session of the caller has this id"),
    ))]
pub(crate) async fn end_session(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = claims.sub.clone();
    let result = match SessionId::parse(&path) {
        None => Err(ApiError::NotFound),
        Some(id) => {
            let now = state.clock.now();
            let inner = state.clone();
            blocking(move || inner.authority.end_own_session(&claims, &id, now)).await
        }
    };
    audit::record(&state, "session_revoke", Some(&who), &client, &result);
    result?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Signs the caller out everywhere: every live session of the caller ends, the current
/// one included.
#[utoipa::path(delete, path = "/api/auth/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every session has ended", body = RevokedSessions),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED"),
    ))]
pub(crate) async fn end_all_sessions(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let who = claims.sub.clone();
    let now = state.clock.now();
    let inner = state.clone();
    let result = blocking(move || inner.authority.end_own_sessions(&claims, now)).await;
    audit::record(&state, "sessions_revoke", Some(&who), &client, &result);
    let mut response = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RevokedSessions {
            revoked_sessions: result?,
        });
    crate::browser::clear_cookie(&state, &mut response);
    Ok(response)
}

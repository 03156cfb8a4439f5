//! Administration of people under `/api/admin/users`: list and search, look at one,
//! change roles and status, delete, and list and end a user's sessions. Every handler
//! requires an [`Admin`], and every change is recorded in the audit trail in its name.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use auth_core::{AuthError, Role, User, UserId, UserStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::account::RevokedSessions;
use crate::admin::{Listing, PageQuery, json, statuses};
use crate::bearer::AdminChange;
use crate::blocking::blocking;
use crate::sessions::LiveSession;
use crate::{Admin, ApiError, AuthState};

/// `PATCH /api/admin/users/{id}`: the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchUser {
    /// Replaces the user's roles: upper-case identifiers such as `USER` or `ADMIN`.
    #[schema(schema_with = role_names)]
    roles: Option<Vec<String>>,
    /// Suspending ends every session of the user.
    #[schema(schema_with = statuses)]
    status: Option<String>,
}

fn role_names() -> utoipa::openapi::ArrayBuilder {
    utoipa::openapi::ArrayBuilder::new().items(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[A-Z][A-Z0-9_]{0,31}$")),
    )
}

/// A user as an admin sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminUserBody {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    /// Whether the user has shown they receive mail at `email`.
    email_verified: bool,
    username: String,
    roles: Vec<String>,
    #[schema(schema_with = statuses)]
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<User> for AdminUserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            roles: user.role_names(),
            status: user.status.as_str(),
            created_at: user.created_at.rfc3339(),
            email: user.email,
            email_verified: user.email_verified,
            username: user.username,
        }
    }
}

/// Changes a user's roles or status.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = PatchUser,
    responses(
        (status = 200, description = "The user as it is now", body = AdminUserBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn patch_user(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<PatchUser>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::parse(&path).ok_or(ApiError::NotFound)?;
    let roles = body
        .roles
        .map(|roles| {
            roles
                .iter()
                .map(|r| {
                    Role::parse(r).ok_or_else(|| {
                        AuthError::InvalidRequest(
                            "roles must be upper-case identifiers such as USER or ADMIN".into(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let status = match body.status.as_deref() {
        None => None,
        Some(s) => Some(UserStatus::parse(s).ok_or_else(|| {
            AuthError::InvalidRequest("status must be \"active\" or \"suspended\"".into())
        })?),
    };
    let now = state.clock.now();
    let user = blocking(move || {
        state
            .authority
            .update_user(&id, roles.as_deref(), status, now)
    })
    .await?;
    admin.record("update_user", user.id.as_str());
    Ok(json(StatusCode::OK, AdminUserBody::from(user)))
}

/// The filter and paging of `GET /api/admin/users`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserQuery {
    /// Only users whose address contains this text (ignoring ASCII case); no control
    /// characters.
    #[param(max_length = 254, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    email: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    offset: Option<u32>,
}

fn user_id(path: &str) -> Result<UserId, ApiError> {
    UserId::parse(path).ok_or(ApiError::NotFound)
}

/// Lists users, oldest first, or searches them by address.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = Listing<AdminUserBody>),
        (status = 400, description = "INVALID_REQUEST: a bad filter, limit or offset"),
    ))]
pub(crate) async fn list_users(
    state: web::Data<AuthState>,
    _admin: Admin,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = PageQuery::of(query.limit, query.offset).page()?;
    let email = query.email;
    let (users, total) = blocking(move || state.authority.users(email.as_deref(), page)).await?;
    Ok(json(
        StatusCode::OK,
        Listing::of(
            users.into_iter().map(AdminUserBody::from).collect(),
            total,
            page,
        ),
    ))
}

/// Shows one user.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = AdminUserBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn get_user(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let user = blocking(move || state.authority.user(&id)).await?;
    Ok(json(StatusCode::OK, AdminUserBody::from(user)))
}

/// Deletes a user with their sessions, one-time tokens and device links.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn delete_user(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let now = state.clock.now();
    let target = id.as_str().to_owned();
    blocking(move || state.authority.delete_user(&id, now)).await?;
    admin.record("delete_user", &target);
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Lists a user's live sessions, newest first.
#[utoipa::path(get, path = "/api/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the user's live sessions", body = Listing<LiveSession>),
        (status = 400, description = "INVALID_REQUEST: a bad limit or offset"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn list_user_sessions(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let page = query.page()?;
    let now = state.clock.now();
    let (sessions, total) = blocking(move || state.authority.user_sessions(&id, page, now)).await?;
    Ok(json(
        StatusCode::OK,
        Listing::of(
            sessions
                .into_iter()
                .map(|s| LiveSession::of(s, None, None))
                .collect(),
            total,
            page,
        ),
    ))
}

/// Ends every live session of a user.
#[utoipa::path(delete, path = "/api/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every session of the user has ended", body = RevokedSessions),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn end_user_sessions(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let now = state.clock.now();
    let target = id.as_str().to_owned();
    let revoked = blocking(move || state.authority.end_user_sessions(&id, now)).await?;
    admin.record("revoke_user_sessions", &target);
    Ok(json(
        StatusCode::OK,
        RevokedSessions {
            revoked_sessions: revoked,
        },
    ))
}

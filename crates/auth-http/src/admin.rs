//! Administration over HTTP: apps and their wallets under `/v2/apps`, and the audit
//! trail (people are `admin_users`). Every handler requires an [`Admin`].
//!
//! Ids in paths that are malformed are simply not found (404); bodies are strict: an
//! unknown field or a bad value is 400 and changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{App, AppId, Page, Password, Status, Username, Wallet, WalletRole};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::bearer::AdminChange;
use crate::blocking::blocking;
use crate::hashing::hash_password;
use crate::{Admin, ApiError, AuthState};

/// Paging of list routes: `?limit=1..200&offset=N` (defaults 50 and 0).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    offset: Option<u32>,
}

impl PageQuery {
    /// The paging of a route whose query has other fields too.
    pub(crate) fn of(limit: Option<u32>, offset: Option<u32>) -> Self {
        Self { limit, offset }
    }

    /// The page asked for.
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(
            self.limit.unwrap_or(50),
            self.offset.unwrap_or(0),
        )?)
    }
}

/// One page of a list, and the size of the whole list.
#[derive(Serialize, ToSchema)]
pub(crate) struct Listing<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u32,
}

impl<T> Listing<T> {
    /// `items`, the page `page` of a list of `total`.
    pub(crate) fn of(items: Vec<T>, total: u64, page: Page) -> Self {
        Self {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// An app: the owner of wallets.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AppBody {
    #[schema(example = "app_1a2b3c4d")]
    app_id: String,
    name: String,
    #[schema(schema_with = statuses)]
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
}

pub(crate) fn statuses() -> utoipa::openapi::ObjectBuilder {
    crate::openapi::one_of(&Status::ALL.map(Status::as_str))
}

impl From<App> for AppBody {
    fn from(a: App) -> Self {
        Self {
            app_id: a.id.as_str().to_owned(),
            name: a.name,
            status: a.status.as_str(),
            created_at: a.created_at.rfc3339(),
        }
    }
}

/// A wallet of an app.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WalletBody {
    #[schema(example = "wal_5f0c8a4e2b7d4c1e9a3f6b8d0e2c4a6f")]
    id: String,
    username: String,
    app_id: String,
    /// From the wallet's metadata; carried in its tokens.
    role: String,
    #[schema(schema_with = statuses)]
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Wallet> for WalletBody {
    fn from(w: Wallet) -> Self {
        Self {
            id: w.id.to_string(),
            username: w.username,
            app_id: w.app_id.as_str().to_owned(),
            role: w.role.as_str().to_owned(),
            status: w.status.as_str(),
            created_at: w.created_at.rfc3339(),
        }
    }
}

fn app_id(raw: &str) -> Result<AppId, ApiError> {
    AppId::parse(raw).map_err(|_| ApiError::NotFound)
}

pub(crate) fn json<T: Serialize>(status: StatusCode, body: T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `POST /v2/apps`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApp {
    /// 1 to 100 characters after trimming, none of them control characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "Greenhouse sensors"
    )]
    name: String,
}

/// Creates an app.
#[utoipa::path(post, path = "/v2/apps", tag = "admin",
    security(("bearer" = [])),
    request_body = CreateApp,
    responses(
        (status = 201, description = "The new app", body = AppBody),
        (status = 400, description = "INVALID_REQUEST"),
    ))]
pub(crate) async fn create_app(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<CreateApp>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let name = body.name;
    let app = blocking(move || state.authority.create_app(&name, now)).await?;
    admin.record("create_app", app.id.as_str());
    Ok(json(StatusCode::CREATED, AppBody::from(app)))
}

/// Lists apps, oldest first.
#[utoipa::path(get, path = "/v2/apps", tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of apps", body = Listing<AppBody>),
        (status = 400, description = "INVALID_REQUEST: a bad limit or offset"),
    ))]
pub(crate) async fn list_apps(
    state: web::Data<AuthState>,
    _admin: Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let (apps, total) = blocking(move || state.authority.apps(page)).await?;
    Ok(json(
        StatusCode::OK,
        Listing::of(apps.into_iter().map(AppBody::from).collect(), total, page),
    ))
}

/// One app.
#[utoipa::path(get, path = "/v2/apps/{appId}", tag = "admin",
    security(("bearer" = [])),
    params(("appId" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app", body = AppBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn get_app(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = app_id(&path)?;
    let app = blocking(move || state.authority.app(&id)).await?;
    Ok(json(StatusCode::OK, AppBody::from(app)))
}

/// `PATCH /v2/apps/{appId}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchApp {
    #[schema(schema_with = statuses)]
    status: String,
}

/// Suspends or reactivates an app; suspending ends every session of its wallets.
#[utoipa::path(patch, path = "/v2/apps/{appId}", tag = "admin",
    security(("bearer" = [])),
    params(("appId" = String, Path, description = "The app's id")),
    request_body = PatchApp,
    responses(
        (status = 200, description = "The app as it is now", body = AppBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn patch_app(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<PatchApp>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = app_id(&path)?;
    let status = Status::parse(&body.status)?;
    let now = state.clock.now();
    let app = blocking(move || state.authority.set_app_status(&id, status, now)).await?;
    admin.record(
        &format!(
            "{}_app",
            if status == Status::Suspended {
                "suspend"
            } else {
                "activate"
            }
        ),
        app.id.as_str(),
    );
    Ok(json(StatusCode::OK, AppBody::from(app)))
}

/// What an admin says about a wallet.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WalletMetadata {
    /// Carried as `role` in the wallet's tokens.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,32}$", example = "device")]
    role: String,
}

/// `POST /v2/apps/{appId}/wallets`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWallet {
    /// Unique within the app, case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$", example = "sensor01")]
    username: String,
    #[schema(value_type = crate::openapi::StrongPassword)]
    password: String,
    metadata: WalletMetadata,
}

/// Creates a wallet in an app.
#[utoipa::path(post, path = "/v2/apps/{appId}/wallets", tag = "admin",
    security(("bearer" = [])),
    params(("appId" = String, Path, description = "The app's id")),
    request_body = CreateWallet,
    responses(
        (status = 201, description = "The new wallet", body = WalletBody),
        (status = 400, description = "INVALID_REQUEST or WEAK_PASSWORD"),
        (status = 404, description = "NOT_FOUND: no such app"),
        (status = 409, description = "ACCOUNT_EXISTS: the username is taken in this app"),
    ))]
pub(crate) async fn create_wallet(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<CreateWallet>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_id(&path)?;
    let username = Username::parse(&body.username)?;
    let password = Password::new(&body.password)?;
    let role = WalletRole::parse(&body.metadata.role)?;
    let now = state.clock.now();
    let hash = hash_password(&state, password).await?;
    let inner = state.clone();
    let wallet = blocking(move || {
        inner
            .authority
            .create_wallet(&app, &username, hash, role, now)
    })
    .await?;
    admin.record("create_wallet", wallet.id.as_str());
    Ok(json(StatusCode::CREATED, WalletBody::from(wallet)))
}

/// Lists an app's wallets, oldest first.
#[utoipa::path(get, path = "/v2/apps/{appId}/wallets", tag = "admin",
    security(("bearer" = [])),
    params(("appId" = String, Path, description = "The app's id"), PageQuery),
    responses(
        (status = 200, description = "A page of wallets", body = Listing<WalletBody>),
        (status = 400, description = "INVALID_REQUEST: a bad limit or offset"),
        (status = 404, description = "NOT_FOUND: no such app"),
    ))]
pub(crate) async fn list_wallets(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let app = app_id(&path)?;
    let page = query.page()?;
    let (wallets, total) = blocking(move || state.authority.wallets(&app, page)).await?;
    Ok(json(
        StatusCode::OK,
        Listing::of(
            wallets.into_iter().map(WalletBody::from).collect(),
            total,
            page,
        ),
    ))
}

/// One wallet.
#[utoipa::path(get, path = "/v2/apps/{appId}/wallets/{walletId}", tag = "admin",
    security(("bearer" = [])),
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("walletId" = String, Path, description = "The wallet's id (`wal_…`)"),
    ),
    responses(
        (status = 200, description = "The wallet", body = WalletBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn get_wallet(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let wallet = blocking(move || state.authority.wallet(&app, &wallet)).await?;
    Ok(json(StatusCode::OK, WalletBody::from(wallet)))
}

/// `PATCH /v2/apps/{appId}/wallets/{walletId}`: the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchWallet {
    #[schema(schema_with = statuses)]
    status: Option<String>,
    metadata: Option<WalletMetadata>,
}

/// `PATCH /v2/apps/{appId}/wallets/{walletId}`: suspension ends the wallet's sessions; a
/// new role shows in its tokens from the next exchange.
#[utoipa::path(patch, path = "/v2/apps/{appId}/wallets/{walletId}", tag = "admin",
    security(("bearer" = [])),
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("walletId" = String, Path, description = "The wallet's id (`wal_…`)"),
    ),
    request_body = PatchWallet,
    responses(
        (status = 200, description = "The wallet as it is now", body = WalletBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn patch_wallet(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<PatchWallet>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let status = body.status.as_deref().map(Status::parse).transpose()?;
    let role = body
        .metadata
        .map(|m| WalletRole::parse(&m.role))
        .transpose()?;
    let now = state.clock.now();
    let wallet = blocking(move || {
        state
            .authority
            .update_wallet(&app, &wallet, status, role, now)
    })
    .await?;
    admin.record("update_wallet", wallet.id.as_str());
    Ok(json(StatusCode::OK, WalletBody::from(wallet)))
}

/// `PUT /v2/apps/{appId}/wallets/{walletId}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPassword {
    #[schema(value_type = crate::openapi::StrongPassword)]
    password: String,
}

/// How many sessions a password rotation ended.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasswordRotated {
    revoked_sessions: u64,
}

/// `PUT /v2/apps/{appId}/wallets/{walletId}/password`: rotates the credential and ends every
/// session of the wallet; says how many.
#[utoipa::path(put, path = "/v2/apps/{appId}/wallets/{walletId}/password", tag = "admin",
    security(("bearer" = [])),
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("walletId" = String, Path, description = "The wallet's id (`wal_…`)"),
    ),
    request_body = NewPassword,
    responses(
        (status = 200, description = "Rotated", body = PasswordRotated),
        (status = 400, description = "INVALID_REQUEST or WEAK_PASSWORD"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn rotate_wallet_password(
    state: web::Data<AuthState>,
    AdminChange { admin, body }: AdminChange<NewPassword>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let password = Password::new(&body.password)?;
    let now = state.clock.now();
    let target = wallet.clone();
    let hash = hash_password(&state, password).await?;
    let inner = state.clone();
    let revoked_sessions = blocking(move || {
        inner
            .authority
            .rotate_wallet_password(&app, &wallet, hash, now)
    })
    .await?;
    admin.record("rotate_wallet_password", &target);
    Ok(json(StatusCode::OK, PasswordRotated { revoked_sessions }))
}

/// Deletes a wallet and ends its sessions.
#[utoipa::path(delete, path = "/v2/apps/{appId}/wallets/{walletId}", tag = "admin",
    security(("bearer" = [])),
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("walletId" = String, Path, description = "The wallet's id (`wal_…`)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub(crate) async fn delete_wallet(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let target = wallet.clone();
    blocking(move || state.authority.delete_wallet(&app, &wallet)).await?;
    admin.record("delete_wallet", &target);
    Ok(HttpResponse::NoContent().finish())
}

/// The filter of `GET /v2/audit`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events of this principal (no control characters).
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    principal: Option<String>,
    /// Only events of this name (`login`, `refresh`, `create_app`, …; no control
    /// characters).
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    event: Option<String>,
    /// Only events at or after this RFC 3339 instant.
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events before this RFC 3339 instant.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    offset: Option<u32>,
}

/// One recorded event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditBody {
    id: String,
    #[schema(format = DateTime)]
    at: String,
    event: String,
    outcome: String,
    code: Option<String>,
    principal: Option<String>,
    actor: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    /// How many identical failures (same event, code and principal from the same client
    /// network within a minute) this event stands for.
    count: u64,
}

fn instant(raw: Option<&str>, name: &str) -> Result<Option<auth_core::UnixTime>, ApiError> {
    raw.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| auth_core::UnixTime(t.unix_timestamp()))
            .map_err(|_| ApiError::BadRequest(format!("{name} must be an RFC 3339 instant")))
    })
    .transpose()
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/v2/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = Listing<AuditBody>),
        (status = 400, description = "INVALID_REQUEST: a bad filter, limit or offset"),
    ))]
pub(crate) async fn list_audit(
    state: web::Data<AuthState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    for (name, value) in [("principal", &query.principal), ("event", &query.event)] {
        // No principal or event has one; PostgreSQL would refuse a NUL outright.
        if value
            .as_deref()
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            return Err(ApiError::BadRequest(format!(
                "{name} must not contain control characters"
            )));
        }
    }
    let page = Page::new(query.limit.unwrap_or(50), query.offset.unwrap_or(0))?;
    let filter = auth_core::AuditFilter {
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
        principal: query.principal,
        event: query.event,
    };
    let store = state.audit.store().clone();
    let (events, total) = blocking(move || Ok(store.list_events(&filter, page)?)).await?;
    Ok(json(
        StatusCode::OK,
        Listing::of(
            events
                .into_iter()
                .map(|e| AuditBody {
                    id: e.id,
                    at: e.at.rfc3339(),
                    event: e.event,
                    outcome: e.outcome,
                    code: e.code,
                    principal: e.principal,
                    actor: e.actor,
                    client_addr: e.client_addr,
                    user_agent: e.user_agent,
                    count: e.count,
                })
                .collect(),
            total,
            page,
        ),
    ))
}

//! Administration over HTTP: apps and their wallets under `/v2/apps`, and user roles and
//! status under `/api/admin/users`. Every handler requires an [`Admin`].
//!
//! Ids in paths that are malformed are simply not found (404); bodies are strict: an
//! unknown field or a bad value is 400 and changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{
    App, AppId, AuthError, Page, Password, Role, Status, UserId, UserStatus, Username, Wallet,
    WalletRole,
};
use serde::{Deserialize, Serialize};

use crate::issued::blocking;
use crate::operations::rfc3339;
use crate::{Admin, ApiError, AuthState};

/// Paging of list routes: `?limit=1..200&offset=N` (defaults 50 and 0).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    limit: Option<u32>,
    offset: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(
            self.limit.unwrap_or(50),
            self.offset.unwrap_or(0),
        )?)
    }
}

#[derive(Serialize)]
struct Listing<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppBody {
    app_id: String,
    name: String,
    status: &'static str,
    created_at: String,
}

impl From<App> for AppBody {
    fn from(a: App) -> Self {
        Self {
            app_id: a.id.as_str().to_owned(),
            name: a.name,
            status: a.status.as_str(),
            created_at: rfc3339(a.created_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletBody {
    id: String,
    username: String,
    app_id: String,
    role: String,
    status: &'static str,
    created_at: String,
}

impl From<Wallet> for WalletBody {
    fn from(w: Wallet) -> Self {
        Self {
            id: w.id,
            username: w.username,
            app_id: w.app_id.as_str().to_owned(),
            role: w.role.as_str().to_owned(),
            status: w.status.as_str(),
            created_at: rfc3339(w.created_at),
        }
    }
}

fn app_id(raw: &str) -> Result<AppId, ApiError> {
    AppId::parse(raw).map_err(|_| ApiError::NotFound)
}

fn json<T: Serialize>(status: StatusCode, body: T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApp {
    name: String,
}

/// `POST /v2/apps`.
pub(crate) async fn create_app(
    state: web::Data<AuthState>,
    admin: Admin,
    body: web::Json<CreateApp>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let name = body.into_inner().name;
    let app = blocking(move || state.authority.create_app(&name, now)).await?;
    admin.record("create_app", app.id.as_str());
    Ok(json(StatusCode::CREATED, AppBody::from(app)))
}

/// `GET /v2/apps`.
pub(crate) async fn list_apps(
    state: web::Data<AuthState>,
    _admin: Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let (apps, total) = blocking(move || state.authority.apps(page)).await?;
    Ok(json(
        StatusCode::OK,
        Listing {
            items: apps.into_iter().map(AppBody::from).collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        },
    ))
}

/// `GET /v2/apps/{appId}`.
pub(crate) async fn get_app(
    state: web::Data<AuthState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = app_id(&path)?;
    let app = blocking(move || state.authority.app(&id)).await?;
    Ok(json(StatusCode::OK, AppBody::from(app)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchApp {
    status: String,
}

/// `PATCH /v2/apps/{appId}`: suspending an app ends every session of its wallets.
pub(crate) async fn patch_app(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Json<PatchApp>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WalletMetadata {
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWallet {
    username: String,
    password: String,
    metadata: WalletMetadata,
}

/// `POST /v2/apps/{appId}/wallets`.
pub(crate) async fn create_wallet(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Json<CreateWallet>,
) -> Result<HttpResponse, ApiError> {
    let app = app_id(&path)?;
    let body = body.into_inner();
    let username = Username::parse(&body.username)?;
    let password = Password::new(&body.password)?;
    let role = WalletRole::parse(&body.metadata.role)?;
    let now = state.clock.now();
    let gate = state.hashing.clone();
    let wallet = gate
        .run(move || {
            state
                .authority
                .create_wallet(&app, &username, &password, role, now)
        })
        .await?;
    admin.record("create_wallet", &wallet.id);
    Ok(json(StatusCode::CREATED, WalletBody::from(wallet)))
}

/// `GET /v2/apps/{appId}/wallets`.
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
        Listing {
            items: wallets.into_iter().map(WalletBody::from).collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        },
    ))
}

/// `GET /v2/apps/{appId}/wallets/{walletId}`.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchWallet {
    status: Option<String>,
    metadata: Option<WalletMetadata>,
}

/// `PATCH /v2/apps/{appId}/wallets/{walletId}`: suspension ends the wallet's sessions; a
/// new role shows in its tokens from the next exchange.
pub(crate) async fn patch_wallet(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<(String, String)>,
    body: web::Json<PatchWallet>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let body = body.into_inner();
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
    admin.record("update_wallet", &wallet.id);
    Ok(json(StatusCode::OK, WalletBody::from(wallet)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPassword {
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PasswordRotated {
    revoked_sessions: u64,
}

/// `PUT /v2/apps/{appId}/wallets/{walletId}/password`: rotates the credential and ends every
/// session of the wallet; says how many.
pub(crate) async fn rotate_wallet_password(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<(String, String)>,
    body: web::Json<NewPassword>,
) -> Result<HttpResponse, ApiError> {
    let (app, wallet) = path.into_inner();
    let app = app_id(&app)?;
    let password = Password::new(&body.password)?;
    let now = state.clock.now();
    let target = wallet.clone();
    let gate = state.hashing.clone();
    let revoked_sessions = gate
        .run(move || {
            state
                .authority
                .rotate_wallet_password(&app, &wallet, &password, now)
        })
        .await?;
    admin.record("rotate_wallet_password", &target);
    Ok(json(StatusCode::OK, PasswordRotated { revoked_sessions }))
}

/// `DELETE /v2/apps/{appId}/wallets/{walletId}`.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchUser {
    roles: Option<Vec<String>>,
    status: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminUserBody {
    id: String,
    email: String,
    username: String,
    roles: Vec<String>,
    status: &'static str,
}

/// `PATCH /api/admin/users/{id}` `{roles, status}`.
pub(crate) async fn patch_user(
    state: web::Data<AuthState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Json<PatchUser>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from_stored(path.into_inner());
    let body = body.into_inner();
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
    Ok(json(
        StatusCode::OK,
        AdminUserBody {
            id: user.id.as_str().to_owned(),
            roles: user.role_names(),
            status: user.status.as_str(),
            email: user.email,
            username: user.username,
        },
    ))
}

/// `GET /v2/audit?principal=&event=&since=&until=&limit=&offset=`: the audit trail, newest
/// first. `since` and `until` are RFC 3339 instants.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    principal: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditBody {
    id: String,
    at: String,
    event: String,
    outcome: String,
    code: Option<String>,
    principal: Option<String>,
    actor: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
}

fn instant(raw: Option<&str>, name: &str) -> Result<Option<auth_core::UnixTime>, ApiError> {
    raw.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| auth_core::UnixTime(t.unix_timestamp()))
            .map_err(|_| ApiError::BadRequest(format!("{name} must be an RFC 3339 instant")))
    })
    .transpose()
}

pub(crate) async fn list_audit(
    state: web::Data<AuthState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
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
        Listing {
            items: events
                .into_iter()
                .map(|e| AuditBody {
                    id: e.id,
                    at: rfc3339(e.at),
                    event: e.event,
                    outcome: e.outcome,
                    code: e.code,
                    principal: e.principal,
                    actor: e.actor,
                    client_addr: e.client_addr,
                    user_agent: e.user_agent,
                })
                .collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        },
    ))
}

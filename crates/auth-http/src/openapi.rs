//! The OpenAPI 3.1 description of every route, served at `GET /openapi.json`.
//!
//! It is generated from the handlers' own `#[utoipa::path]` declarations and from the
//! request and response types they (de)serialise, so a field renamed in code is renamed in
//! the description too. What is true of every route (the error body, the headers that go
//! with 401, 429 and 503, the 413 of any body, the 500 of a bug) is added here in one place
//! rather than repeated on each handler.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use auth_core::Password;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use crate::{
    account, accounts, admin, admin_users, devices, metrics, probes, sessions, users, wallets,
};

/// The schema of a new password (registration, wallet creation, password rotation): the
/// policy of [`Password::new`]. The common-password list (19,640 entries) is named, not
/// inlined: as a `not: {enum}` it would make up most of the description's size.
pub(crate) struct StrongPassword;

impl utoipa::PartialSchema for StrongPassword {
    fn schema() -> RefOr<utoipa::openapi::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .min_length(Some(Password::MIN_CHARS))
            .max_length(Some(Password::MAX_CHARS))
            .description(Some(
                "8 to 128 characters after Unicode NFC normalisation, and not on the \
                 shipped list of about 20,000 common passwords (compared ignoring case); \
                 otherwise 400 WEAK_PASSWORD.",
            ))
            .examples([serde_json::json!("correct horse battery staple")])
            .into()
    }
}

impl utoipa::ToSchema for StrongPassword {
    fn name() -> std::borrow::Cow<'static, str> {
        "StrongPassword".into()
    }
}

/// A string that is one of `values`: used for fields whose values are fixed by the contract
/// (platforms, statuses, token kinds).
pub(crate) fn one_of(values: &[&'static str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// `tokenType` of every token response.
pub(crate) fn bearer_token_type() -> ObjectBuilder {
    one_of(&["Bearer"])
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "Authentication for people (email and password), mobile devices and \
                       wallets, with JWT access tokens and single-use rotating refresh tokens. \
                       Lifetimes under /api/auth are in milliseconds; under /v2/auth/wallet \
                       in seconds."
    ),
    paths(
        users::register,
        users::login,
        users::refresh,
        users::logout,
        accounts::send_verification,
        accounts::verify_email,
        accounts::forgot_password,
        accounts::reset_password,
        account::change_password,
        account::change_email,
        account::confirm_email_change,
        account::delete_account,
        sessions::list_sessions,
        sessions::end_session,
        sessions::end_all_sessions,
        users::me,
        devices::authenticate,
        devices::refresh,
        devices::link,
        devices::list_linked,
        devices::unlink,
        wallets::login,
        wallets::refresh,
        admin::create_app,
        admin::list_apps,
        admin::get_app,
        admin::patch_app,
        admin::create_wallet,
        admin::list_wallets,
        admin::get_wallet,
        admin::patch_wallet,
        admin::delete_wallet,
        admin::rotate_wallet_password,
        admin_users::list_users,
        admin_users::get_user,
        admin_users::patch_user,
        admin_users::delete_user,
        admin_users::list_user_sessions,
        admin_users::end_user_sessions,
        admin::list_audit,
        probes::jwks,
        probes::healthz,
        probes::readyz,
        metrics::metrics,
        openapi,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&ContractErrors),
    tags(
        (name = "users", description = "People: email and password"),
        (name = "accounts", description = "People's accounts: email verification, password recovery and change, email change, deletion"),
        (name = "sessions", description = "The live sessions of the caller (a user or a device): listed and ended"),
        (name = "devices", description = "Mobile devices: registered on first use"),
        (name = "wallets", description = "Operational identities that belong to apps"),
        (name = "admin", description = "Apps, wallets, user roles and the audit trail; \
                                        bootstrap admin token or an ADMIN user's access token"),
        (name = "operations", description = "Keys, health, metrics and this description"),
    )
)]
struct ApiDoc;

/// Fills in what every operation shares: the error body on each error response, the
/// headers that come with 401, 429 and 503, 413 wherever a body is read, 401 and 403 on
/// the admin routes, and 500 and 503 wherever the database or the hashing pool is
/// involved.
struct ContractErrors;

/// Routes answered from memory: they never see the database or the hashing pool.
const IN_MEMORY: [&str; 4] = [
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/.well-known/jwks.json",
];

impl Modify for ContractErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT, or the bootstrap admin token on admin routes")
                        .build(),
                ),
            );
        }
        for (path, item) in &mut openapi.paths.paths {
            if let Some(post) = item.post.as_mut() {
                browser_session(path, post);
            }
            let in_memory = IN_MEMORY.contains(&path.as_str());
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation, in_memory);
            }
        }
    }
}

fn complete(operation: &mut Operation, in_memory: bool) {
    let administrative = operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == "admin"));
    let responses = &mut operation.responses.responses;
    if administrative {
        responses.entry("401".into()).or_insert_with(|| {
            RefOr::T(error(
                "INVALID_TOKEN: no bearer token, or neither the bootstrap admin token nor a \
                 live access token",
            ))
        });
        responses.insert(
            "403".into(),
            RefOr::T(error("FORBIDDEN: the token's user is not an ADMIN")),
        );
    }
    if operation.request_body.is_some() {
        responses.insert(
            "413".into(),
            RefOr::T(error("PAYLOAD_TOO_LARGE: the body is over 16 KiB")),
        );
    }
    if !in_memory {
        responses.insert(
            "500".into(),
            RefOr::T(error(
                "INTERNAL_ERROR: a bug; the message says nothing more",
            )),
        );
        responses.entry("503".into()).or_insert_with(|| {
            RefOr::T(error(
                "SERVICE_UNAVAILABLE: the database is unreachable or the server sheds load",
            ))
        });
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if response.content.is_empty() {
            response.content.insert(
                "application/json".into(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            );
        }
        let header = match status.as_str() {
            "401" => Some((
                "WWW-Authenticate",
                "`Bearer error=\"invalid_token\"` for token errors",
            )),
            "405" => Some(("Allow", "The methods the path accepts")),
            "429" | "503" => Some(("Retry-After", "Seconds to wait before retrying")),
            _ => None,
        };
        if let Some((name, description)) = header {
            response.headers.insert(
                name.to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(description))
                    .build(),
            );
        }
    }
}

/// Routes that hand out a refresh token, and so can put it in a browser's cookie.
const SESSION_ROUTES: [&str; 5] = [
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/device",
    "/api/auth/device/refresh",
];

/// The browser half of the contract on the routes it concerns: `X-Authd-Session`, the
/// `authd_rt` cookie they set or clear, and the 403 of a cookie sent from elsewhere.
fn browser_session(path: &str, operation: &mut Operation) {
    let refresh = path.ends_with("refresh");
    let logout = path == "/api/auth/logout";
    if !SESSION_ROUTES.contains(&path) && !logout {
        return;
    }
    let parameter = utoipa::openapi::path::ParameterBuilder::new()
        .name(crate::browser::SESSION_HEADER)
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "`cookie` (with AUTHD_ALLOWED_ORIGINS set): the refresh token goes in the \
             `authd_rt` cookie (HttpOnly; Secure; SameSite=Strict; Path=/api/auth) instead \
             of the body; another value asks for nothing. Required (any value), with an \
             allowed Origin, on a request the cookie authenticates.",
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
    let cookie = if logout {
        "Clears `authd_rt` (Max-Age=0) when browser sessions are on"
    } else {
        "`authd_rt=<refresh token>; Max-Age=<its life>; Path=/api/auth; HttpOnly; Secure; \
         SameSite=Strict`, for a request with `X-Authd-Session: cookie`"
    };
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && status.starts_with('2')
        {
            response.headers.insert(
                header::SET_COOKIE.as_str().to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(cookie))
                    .build(),
            );
        }
    }
    if refresh {
        operation.responses.responses.insert(
            "403".into(),
            RefOr::T(error(
                "FORBIDDEN: the `authd_rt` cookie came without `X-Authd-Session` or from an \
                 origin not allowed; or ACCOUNT_INACTIVE",
            )),
        );
    }
}

fn error(description: &str) -> Response {
    ResponseBuilder::new().description(description).build()
}

/// The description as JSON, built on first use.
#[must_use]
pub fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    })
}

/// This description of the API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(openapi_json())
}

//! The route table, used verbatim by the binary and by every HTTP test.

use actix_web::http::Method;
use actix_web::{HttpResponse, Resource, web};

use actix_web::middleware::from_fn;

use crate::rate_limit::{RouteFamily, limited, limited_on};
use crate::{
    ApiError, account, accounts, admin, admin_users, devices, probes, sessions, users, wallets,
};

/// Largest request body accepted on the auth routes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Registers every authd route, the JSON body rules, and JSON answers for unknown paths
/// (404) and wrong methods (405).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|_, _| ApiError::BadRequest("Invalid query string".into()).into()),
        )
        .service(
            resource("/api/auth/register", "POST")
                .wrap(from_fn(|req, next| {
                    limited(RouteFamily::Register, req, next)
                }))
                .route(web::post().to(users::register)),
        )
        .service(
            resource("/api/auth/login", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(users::login)),
        )
        .service(
            resource("/api/auth/refresh", "POST")
                .wrap(from_fn(|req, next| {
                    limited(RouteFamily::Refresh, req, next)
                }))
                .route(web::post().to(users::refresh)),
        )
        .service(resource("/api/auth/logout", "POST").route(web::post().to(users::logout)))
        .service(
            resource("/api/auth/email/verify/send", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(accounts::send_verification)),
        )
        .service(
            resource("/api/auth/email/verify", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(accounts::verify_email)),
        )
        .service(
            resource("/api/auth/password/forgot", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(accounts::forgot_password)),
        )
        .service(
            resource("/api/auth/password/reset", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(accounts::reset_password)),
        )
        .service(
            resource("/api/auth/password/change", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(account::change_password)),
        )
        .service(
            resource("/api/auth/email/change", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(account::change_email)),
        )
        .service(
            resource("/api/auth/email/change/confirm", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(account::confirm_email_change)),
        )
        .service(
            resource("/api/auth/me", "GET, DELETE")
                .wrap(from_fn(|req, next| {
                    limited_on(Method::DELETE, RouteFamily::Login, req, next)
                }))
                .route(web::get().to(users::me))
                .route(web::delete().to(account::delete_account)),
        )
        .service(
            resource("/api/auth/sessions", "GET, DELETE")
                .route(web::get().to(sessions::list_sessions))
                .route(web::delete().to(sessions::end_all_sessions)),
        )
        .service(
            resource("/api/auth/sessions/{id}", "DELETE")
                .route(web::delete().to(sessions::end_session)),
        )
        .service(
            resource("/api/auth/device", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Device, req, next)))
                .route(web::post().to(devices::authenticate)),
        )
        .service(
            resource("/api/auth/device/refresh", "POST")
                .wrap(from_fn(|req, next| {
                    limited(RouteFamily::Refresh, req, next)
                }))
                .route(web::post().to(devices::refresh)),
        )
        .service(resource("/api/auth/device/link", "POST").route(web::post().to(devices::link)))
        .service(resource("/api/auth/devices", "GET").route(web::get().to(devices::list_linked)))
        .service(
            resource("/api/auth/devices/{id}", "DELETE").route(web::delete().to(devices::unlink)),
        )
        .service(
            resource("/v2/auth/wallet/login", "POST")
                .wrap(from_fn(|req, next| limited(RouteFamily::Login, req, next)))
                .route(web::post().to(wallets::login)),
        )
        .service(
            resource("/v2/auth/wallet/refresh", "POST")
                .wrap(from_fn(|req, next| {
                    limited(RouteFamily::Refresh, req, next)
                }))
                .route(web::post().to(wallets::refresh)),
        )
        .service(
            resource("/v2/apps", "GET, POST")
                .route(web::get().to(admin::list_apps))
                .route(web::post().to(admin::create_app)),
        )
        .service(
            resource("/v2/apps/{app_id}", "GET, PATCH")
                .route(web::get().to(admin::get_app))
                .route(web::patch().to(admin::patch_app)),
        )
        .service(
            resource("/v2/apps/{app_id}/wallets", "GET, POST")
                .route(web::get().to(admin::list_wallets))
                .route(web::post().to(admin::create_wallet)),
        )
        .service(
            resource(
                "/v2/apps/{app_id}/wallets/{wallet_id}",
                "GET, PATCH, DELETE",
            )
            .route(web::get().to(admin::get_wallet))
            .route(web::patch().to(admin::patch_wallet))
            .route(web::delete().to(admin::delete_wallet)),
        )
        .service(
            resource("/v2/apps/{app_id}/wallets/{wallet_id}/password", "PUT")
                .route(web::put().to(admin::rotate_wallet_password)),
        )
        .service(resource("/v2/audit", "GET").route(web::get().to(admin::list_audit)))
        .service(resource("/api/admin/users", "GET").route(web::get().to(admin_users::list_users)))
        .service(
            resource("/api/admin/users/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(admin_users::get_user))
                .route(web::patch().to(admin_users::patch_user))
                .route(web::delete().to(admin_users::delete_user)),
        )
        .service(
            resource("/api/admin/users/{id}/sessions", "GET, DELETE")
                .route(web::get().to(admin_users::list_user_sessions))
                .route(web::delete().to(admin_users::end_user_sessions)),
        )
        .service(resource("/.well-known/jwks.json", "GET").route(web::get().to(probes::jwks)))
        .service(resource("/healthz", "GET").route(web::get().to(probes::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(probes::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(crate::metrics::metrics)))
        .service(resource("/openapi.json", "GET").route(web::get().to(crate::openapi::openapi)))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound)
        }));
}

/// The whole application: state, request ids and the route table. The binary serves it and
/// every HTTP test drives it, so tests exercise exactly what ships.
pub fn app(
    state: web::Data<crate::AuthState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let origins = state.allowed_origins.clone();
    // CORS and the mapping of its refusals only with browser sessions on: always in
    // place, they cost `me` on SQLite 3-4 %. The request id goes on everything, outermost.
    actix_web::App::new()
        .app_data(state)
        .wrap(actix_web::middleware::from_fn(crate::metrics::observe))
        .wrap(actix_web::middleware::Condition::new(
            !origins.is_empty(),
            crate::browser::cors(&origins),
        ))
        .wrap(actix_web::middleware::Condition::new(
            !origins.is_empty(),
            actix_web::middleware::from_fn(crate::browser::contract_refusals),
        ))
        .wrap(actix_web::middleware::from_fn(crate::request_id::assign))
        .configure(configure)
}

/// A resource whose methods other than `allow` are answered 405 with an `Allow` header.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
    }))
}

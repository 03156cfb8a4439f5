//! The route table, used verbatim by the binary and by every HTTP test.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, web};

use crate::error::json_error;
use crate::{ApiError, devices, operations, users};

/// Largest request body accepted on the auth routes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Registers every authd route, the JSON body rules, and JSON answers for unknown paths
/// (404) and wrong methods (405).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|e, _| json_error(&e).into()),
    )
    .app_data(web::PayloadConfig::new(BODY_LIMIT))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
    .app_data(
        web::QueryConfig::default()
            .error_handler(|_, _| ApiError::BadRequest("Invalid query string".into()).into()),
    )
    .service(route(
        "/api/auth/register",
        Method::POST,
        "POST",
        users::register,
    ))
    .service(route("/api/auth/login", Method::POST, "POST", users::login))
    .service(route(
        "/api/auth/refresh",
        Method::POST,
        "POST",
        users::refresh,
    ))
    .service(route(
        "/api/auth/logout",
        Method::POST,
        "POST",
        users::logout,
    ))
    .service(route("/api/auth/me", Method::GET, "GET", users::me))
    .service(route(
        "/api/auth/device",
        Method::POST,
        "POST",
        devices::authenticate,
    ))
    .service(route(
        "/api/auth/device/refresh",
        Method::POST,
        "POST",
        devices::refresh,
    ))
    .service(route(
        "/.well-known/jwks.json",
        Method::GET,
        "GET",
        operations::jwks,
    ))
    .service(route("/healthz", Method::GET, "GET", operations::healthz))
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::NotFound)
    }));
}

/// A resource that answers `method` with `handler` and any other method with 405.
fn route<F, Args>(path: &str, method: Method, allow: &'static str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
        }))
}

//! Routes for machines rather than people: the key set that verifies tokens, and the
//! liveness and readiness probes.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::AuthState;

/// The answer of a health probe.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Probe {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The public keys that verify authd's access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, description = "The JWKS; empty when tokens are HMAC-signed", body = auth_core::Jwks)))]
pub(crate) async fn jwks(state: web::Data<AuthState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.authority.jwks())
}

/// Liveness: the process is alive and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Probe)))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Probe { status: "ok" })
}

/// Readiness: 200 when the database answers, else 503, so a load balancer stops sending
/// traffic here until it is back.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Probe),
        (status = 503, description = "SERVICE_UNAVAILABLE: the database does not answer"),
    ))]
pub(crate) async fn readyz(state: web::Data<AuthState>) -> Result<HttpResponse, crate::ApiError> {
    crate::blocking::blocking(move || state.authority.ping()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Probe { status: "ready" }))
}

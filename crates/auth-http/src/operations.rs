//! Routes for machines rather than people: the JWKS and liveness.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_core::UnixTime;

use crate::AuthState;

/// `GET /.well-known/jwks.json`: the public keys that verify authd's access tokens.
pub(crate) async fn jwks(state: web::Data<AuthState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.authority.jwks())
}

/// `GET /healthz`: the process is alive and serving.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers, else 503 (so a load balancer stops
/// sending traffic here until it is back).
pub(crate) async fn readyz(state: web::Data<AuthState>) -> Result<HttpResponse, crate::ApiError> {
    crate::issued::blocking(move || state.authority.ping()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"status": "ready"})))
}

/// An instant as RFC 3339 UTC.
pub(crate) fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.secs())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

//! An example resource server: sensors (authd wallets with role `device`) file objects
//! under their app, and administrators (authd users with role `ADMIN`) see them all.
//!
//! It trusts authd through `auth_resource::AccessVerifier` alone: no database of users, no
//! shared secret, only authd's JWKS URL. See `src/main.rs` for the wiring.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use actix_web::error::JsonPayloadError;
use actix_web::{HttpResponse, web};
use auth_resource::{Principal, RequireRole, ResourceError};
use serde::Deserialize;
use serde_json::json;

/// The objects filed so far, by app id. In memory: this is an example.
#[derive(Debug, Default)]
pub struct Objects(Mutex<BTreeMap<String, Vec<serde_json::Value>>>);

/// The routes: `GET`/`POST /v2/objects` for wallets whose role is `device`, and
/// `GET /admin/objects` for users holding `ADMIN`. Register [`not_found`] as the app's
/// default service so that unknown paths answer in the same shape.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Bad bodies get the same error shape as authd's, without echoing their content.
    cfg.app_data(
        web::JsonConfig::default()
            .limit(16 * 1024)
            .error_handler(|e, _| {
                match e {
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => {
                        ResourceError::PayloadTooLarge
                    }
                    _ => {
                        ResourceError::BadRequest("Request body must be JSON: {\"name\": …}".into())
                    }
                }
                .into()
            }),
    )
    .service(
        web::scope("/v2/objects")
            .wrap(RequireRole::wallet("device"))
            .route("", web::get().to(list))
            .route("", web::post().to(file)),
    )
    .service(
        web::scope("/admin")
            .wrap(RequireRole::user("ADMIN"))
            .route("/objects", web::get().to(all)),
    );
}

/// The wallet's app's objects.
async fn list(sensor: Principal, objects: web::Data<Objects>) -> HttpResponse {
    let app = sensor.app_id().unwrap_or_default();
    let objects = objects.0.lock().unwrap_or_else(PoisonError::into_inner);
    HttpResponse::Ok().json(json!({
        "appId": app,
        "objects": objects.get(app).cloned().unwrap_or_default(),
    }))
}

#[derive(Deserialize)]
struct NewObject {
    name: String,
}

/// Files an object under the wallet's app, signed with the wallet's name.
async fn file(
    sensor: Principal,
    body: web::Json<NewObject>,
    objects: web::Data<Objects>,
) -> HttpResponse {
    let object = json!({
        "name": body.name,
        "by": sensor.username(),
        "walletId": sensor.id(),
    });
    objects
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(sensor.app_id().unwrap_or_default().to_owned())
        .or_default()
        .push(object.clone());
    HttpResponse::Created().json(object)
}

/// Every app's objects, for an administrator.
async fn all(_admin: Principal, objects: web::Data<Objects>) -> HttpResponse {
    let objects = objects.0.lock().unwrap_or_else(PoisonError::into_inner);
    HttpResponse::Ok().json(&*objects)
}

/// The contract's 404 for every path the service does not have.
pub async fn not_found() -> Result<HttpResponse, ResourceError> {
    Err(ResourceError::NotFound)
}

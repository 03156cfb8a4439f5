//! For resource servers: other actix-web services that accept authd access tokens.
//!
//! A service registers one [`AccessVerifier`] and takes a [`Principal`] in its handlers;
//! [`RequireRole`] guards whole scopes. Tokens are checked with the same strict rules as
//! authd's own ([`auth_core::TokenVerifier`]), against a configured key or authd's JWKS,
//! and every refusal answers with the contract's error shape
//! (`{"error", "code", "timestamp"}`).
//!
//! This crate needs no database and none of authd's server: it depends on `auth-core`
//! (the token rules), actix-web and an HTTP client for the JWKS.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use auth_resource::{AccessVerifier, Principal, RequireRole};
//!
//! async fn objects(principal: Principal) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({
//!         "owner": principal.id(),
//!         "appId": principal.app_id(),
//!     }))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let verifier = web::Data::new(AccessVerifier::jwks(
//!         "http://127.0.0.1:8080/.well-known/jwks.json",
//!         "authd",
//!     ));
//!     HttpServer::new(move || {
//!         App::new().app_data(verifier.clone()).service(
//!             web::scope("/v2")
//!                 .wrap(RequireRole::wallet("device"))
//!                 .route("/objects", web::get().to(objects)),
//!         )
//!     })
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! }
//! ```
//!
//! A verifier cannot see revocation: a token of a session that logged out stays valid here
//! until it expires (one hour by default). Services that must refuse it at once ask
//! authd's `GET /api/auth/me` instead.
//!
//! A wallet's access token is also its own exchange credential at authd: treat every token
//! as a secret, never log or forward it (this crate never does).

mod error;
mod principal;
mod verifier;

pub use error::ResourceError;
pub use principal::{Principal, RequireRole, RoleGuard};
pub use verifier::AccessVerifier;

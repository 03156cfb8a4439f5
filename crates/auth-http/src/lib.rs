//! The HTTP face of authd: actix-web routes, extractors, and the contract's JSON errors.
//!
//! The binary and every HTTP test build the application the same way:
//!
//! ```no_run
//! # use actix_web::{App, web};
//! # fn build(state: web::Data<auth_http::AuthState>) {
//! let app = App::new().app_data(state).configure(auth_http::configure);
//! # }
//! ```
//!
//! so tests exercise exactly the route table that ships.
//!
//! Other actix-web services that accept authd access tokens use the `auth-resource`
//! crate, which needs none of this one.

mod account;
mod accounts;
mod admin;
mod admin_users;
mod audit;
mod bearer;
mod blocking;
mod body;
mod browser;
mod client;
mod connection;
mod devices;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hashing;
mod issued;
mod metrics;
mod openapi;
mod probes;
mod rate_limit;
mod request_id;
mod routes;
mod server;
mod sessions;
mod state;
#[cfg(feature = "test-support")]
mod test_server;
mod timestamp;
mod users;
mod wallets;

pub use audit::AuditTrail;
pub use bearer::{Admin, Authenticated, BearerToken};
pub use browser::{AllowedOrigins, REFRESH_COOKIE, SESSION_HEADER};
pub use client::{ClientInfo, TrustedProxies};
pub use error::ApiError;
pub use hashing::{HashingGate, SHED_PAUSE, advise_huge_pages};
pub use metrics::{Metrics, PurgedTable};
pub use openapi::openapi_json;
pub use rate_limit::{LimitScope, RateLimiter, RouteFamily};
pub use request_id::RequestId;
pub use routes::{app, configure};
pub use server::{BoundServer, ServerOptions, bind, serve};
pub use state::AuthState;
#[cfg(feature = "test-support")]
pub use test_server::TestServer;

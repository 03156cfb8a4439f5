//! Persistence for authd on PostgreSQL and SQLite from one codebase.
//!
//! [`Database`] opens either backend from a URL (`postgres://…` or `sqlite://PATH`), runs
//! the embedded migrations, and implements the storage ports of `auth-core`
//! ([`auth_core::UserStore`], [`auth_core::SessionStore`], [`auth_core::KeyStore`]) with
//! the same diesel queries on both. Every instant is bound from the caller's clock; SQL
//! never calls `now()`.
//!
//! All methods block: call them from a blocking thread, not an async executor.

mod audit;
mod connection;
mod database;
mod devices;
mod error;
mod group_commit;
mod keys;
mod schema;
mod sessions;
mod statement;
#[cfg(feature = "test-support")]
pub mod test_support;
mod throttle;
mod users;
mod wallets;

pub use database::{Backend, Database, PoolOptions};
pub use error::OpenError;

//! Persistence for authd on PostgreSQL and SQLite from one codebase.
//!
//! [`Database`] opens either backend from a URL (`postgres://…` or `sqlite://PATH`), runs
//! the embedded migrations, and implements the storage ports of `auth-core`
//! ([`auth_core::UserStore`], [`auth_core::SessionStore`], [`auth_core::KeyStore`]) with
//! the same diesel queries on both. Every instant is bound from the caller's clock; SQL
//! never calls `now()`.
//!
//! Queries are written two ways. Everything is diesel's query builder, written once: the
//! cold paths through the multi-backend connection, the reads of every request through
//! `on_backend!` on the backend's own connection. The hot writes, whose SQL differs per
//! backend, are one function per operation in `postgres/` and `sqlite/`, each a statement
//! whose placeholders are named after the fields of a typed parameter struct and checked
//! against them when the crate compiles (`statement.rs`).
//!
//! All methods block: call them from a blocking thread, not an async executor.

mod accounts;
mod audit;
mod checkpoint;
mod connection;
mod database;
mod devices;
mod error;
mod group_commit;
mod keys;
mod one_time;
mod outbox;
mod postgres;
mod rate_limits;
mod schema;
#[cfg(feature = "seed")]
pub mod seed;
mod sessions;
mod sqlite;
mod statement;
#[cfg(feature = "test-support")]
pub mod test_support;
mod throttle;
mod users;
mod wallets;

pub use database::{Backend, Database, PoolOptions};
pub use error::OpenError;

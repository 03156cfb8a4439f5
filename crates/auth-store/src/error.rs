//! The store's own failure (opening a database) and the translation of diesel's errors
//! into the ports' [`StoreError`].

use auth_core::StoreError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no supported backend.
    #[error("unsupported database URL (expected postgres://… or sqlite://PATH): {0}")]
    UnsupportedUrl(String),
    /// The database could not be reached or created.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
}

/// Maps a diesel error to what the ports report. Messages never include row values (a
/// Postgres error's details can show a failing row, which may hold a hash).
pub(crate) fn store_error(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Duplicate,
        DieselError::DatabaseError(
            kind @ (DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand),
            info,
        ) => StoreError::Unavailable(format!("{kind:?}: {}", info.message())),
        DieselError::DatabaseError(kind, info) => {
            let message = info.message();
            if message.contains("database is locked") || message.contains("database is busy") {
                StoreError::Unavailable(message.to_owned())
            } else {
                StoreError::Backend(format!("{kind:?}: {message}"))
            }
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// A pool that cannot hand out a connection in time means the database is unreachable
/// or saturated.
pub(crate) fn pool_error(e: &diesel::r2d2::PoolError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

//! Connections to either backend, chosen from the URL scheme (never by trial: diesel's own
//! multi-backend `establish` would silently turn a Postgres keyword string into a SQLite
//! file), pooled by r2d2, and write transactions that behave alike on both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{Error, ManageConnection, R2D2Connection};
use diesel::result::{ConnectionError, QueryResult};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

/// A connection to PostgreSQL or SQLite; queries are written once against this type.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// This connection as SQLite's, for the statements written for SQLite alone.
    pub(crate) fn sqlite(&mut self) -> QueryResult<&mut SqliteConnection> {
        match self {
            DbConnection::Sqlite(c) => Ok(c),
            DbConnection::Postgres(_) => Err(diesel::result::Error::QueryBuilderError(
                "a SQLite statement was sent to PostgreSQL".into(),
            )),
        }
    }
}

/// Runs `$query` on the backend's own connection, `$c` bound to it: the query is written
/// once and type-checked for each backend.
///
/// For the statements on hot paths: the reads of every request, and the writes SQLite
/// groups into one transaction. diesel's multi-backend connection renders a query's whole
/// SQL text on every execution, twice (to ask whether it may be cached, and to collect its
/// binds), even when its prepared statement is long cached: 13 % of a blocking thread's
/// time in `me` on PostgreSQL went to writing out column names.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $query:expr) => {
        match $conn {
            $crate::connection::DbConnection::Postgres($c) => $query,
            $crate::connection::DbConnection::Sqlite($c) => $query,
        }
    };
}
pub(crate) use on_backend;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Postgres(String),
    Sqlite(String),
}

impl Target {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH` or `sqlite:PATH`.
    pub(crate) fn from_url(url: &str) -> Option<Target> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(Target::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        (!path.is_empty()).then(|| Target::Sqlite(path.to_owned()))
    }
}

// Lookups by a unique key use `get_result`, never `first`: `first` adds `LIMIT ?`, and
// SQLite (3.45+) re-prepares a statement whose LIMIT is a bound parameter every time it
// is bound again, which made every cached lookup parse its SQL anew (42 % of a session
// lookup's time).

/// Per-connection SQLite settings: WAL so readers never block the writer, a busy timeout
/// so writers queue instead of failing, full fsync so an acknowledged write survives a
/// crash, SQLite's default automatic checkpoint (`group_commit::CHECKPOINT_PAGES`, which
/// bulk writes change and restore), and enforced foreign keys.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA wal_autocheckpoint = 1000; \
     PRAGMA foreign_keys = ON;";

/// Postgres settings per connection: no statement may hang the server.
const POSTGRES_SETTINGS: &str = "SET statement_timeout = '10s'; SET lock_timeout = '5s';";

/// Opens a raw connection, configured, outside the pool (also used for migrations).
pub(crate) fn establish(target: &Target) -> Result<DbConnection, Error> {
    match target {
        Target::Postgres(url) => {
            let mut conn = PgConnection::establish(url).map_err(Error::ConnectionError)?;
            conn.batch_execute(POSTGRES_SETTINGS)
                .map_err(Error::QueryError)?;
            Ok(DbConnection::Postgres(conn))
        }
        Target::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(path).map_err(Error::ConnectionError)?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(Error::QueryError)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// r2d2's view of how to make and check connections.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) target: Target,
    /// Set when the database is closed: no connection is made any more, and each one
    /// handed back is closed instead of pooled.
    pub(crate) closing: Arc<AtomicBool>,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::ConnectionError(ConnectionError::BadConnection(
                "the database is closed".into(),
            )));
        }
        establish(&self.target)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        if self.closing.load(Ordering::Acquire) {
            return true;
        }
        match conn {
            DbConnection::Postgres(c) => c.is_broken(),
            DbConnection::Sqlite(c) => c.is_broken(),
        }
    }
}

/// Runs `f` in a transaction that takes the write lock up front.
///
/// On SQLite a deferred transaction that reads before it writes can fail with
/// `SQLITE_BUSY` without waiting; `BEGIN IMMEDIATE` queues behind the busy timeout instead.
/// On PostgreSQL row locks do the same job and a plain `BEGIN` suffices.
pub(crate) fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let finish = match (&result, &mut *conn) {
        (Ok(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), DbConnection::Postgres(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), DbConnection::Postgres(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (result, finish) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(e)) | (Err(e), _) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_comes_from_the_scheme() {
        assert_eq!(
            Target::from_url("sqlite://authd.db"),
            Some(Target::Sqlite("authd.db".into()))
        );
        assert_eq!(
            Target::from_url("sqlite:///var/lib/authd.db"),
            Some(Target::Sqlite("/var/lib/authd.db".into()))
        );
        assert_eq!(
            Target::from_url("sqlite:authd.db"),
            Some(Target::Sqlite("authd.db".into()))
        );
        assert!(matches!(
            Target::from_url("postgres://u@h/db"),
            Some(Target::Postgres(_))
        ));
        assert!(matches!(
            Target::from_url("postgresql://u@h/db"),
            Some(Target::Postgres(_))
        ));
        // A libpq keyword string must not silently become a SQLite file.
        assert_eq!(Target::from_url("host=localhost dbname=authd"), None);
        assert_eq!(Target::from_url("mysql://h/db"), None);
        assert_eq!(Target::from_url("sqlite://"), None);
    }
}

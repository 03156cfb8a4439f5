//! Throwaway databases for test suites (feature `test-support`).
//!
//! Every test gets its own database: a fresh SQLite file, or a PostgreSQL database named
//! after a random id, created through the server named by `AUTHD_TEST_POSTGRES_URL` and
//! dropped when the [`TestDatabase`] is dropped. When that variable is unset or the server
//! is unreachable, PostgreSQL tests fail loudly under CI (`CI` set) and are skipped with a
//! message elsewhere.

// Test scaffolding: failing loudly is the point.
#![allow(clippy::panic, clippy::expect_used)]

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::Database;

/// The variable naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "AUTHD_TEST_POSTGRES_URL";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new SQLite file in the system's temporary directory.
    #[must_use]
    pub fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("authd-test-{}.db", uuid::Uuid::new_v4().simple()));
        Self {
            url: format!("sqlite://{}", path.display()),
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    /// A new PostgreSQL database, or `None` (after saying why) when no server is configured
    /// outside CI.
    ///
    /// # Panics
    /// Under CI when the server is not configured or cannot be reached.
    #[must_use]
    pub fn postgres() -> Option<Self> {
        let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            if in_ci {
                panic!("{POSTGRES_URL_VAR} is not set: PostgreSQL tests must run in CI");
            }
            eprintln!("skipping PostgreSQL test: set {POSTGRES_URL_VAR} to run it");
            return None;
        };
        let mut admin = match PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if in_ci => panic!("PostgreSQL at {POSTGRES_URL_VAR} is unreachable: {e}"),
            Err(e) => {
                eprintln!("skipping PostgreSQL test: server unreachable ({e})");
                return None;
            }
        };
        let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create a throwaway test database");
        Some(Self {
            url: with_database(&admin_url, &name),
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        })
    }

    /// The database's URL, as `AUTHD_DATABASE_URL` would name it.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes the database vanish now (PostgreSQL: dropped with its connections; SQLite:
    /// files removed), to test how authd behaves when its database goes away.
    pub fn vanish(&self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                let _ = std::fs::remove_file(path);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let mut admin =
                    PgConnection::establish(admin_url).expect("reach the admin database");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .expect("drop the test database");
            }
        }
    }

    /// How many client connections the server has open to this PostgreSQL database,
    /// counted by the server itself (`pg_stat_activity`, without autovacuum's workers),
    /// from outside the database.
    ///
    /// # Panics
    /// On a SQLite database, or when the server cannot be asked.
    #[must_use]
    pub fn connections(&self) -> i64 {
        self.server_count(
            "SELECT count(*) AS n FROM pg_stat_activity
              WHERE datname = $1 AND backend_type = 'client backend'",
        )
    }

    /// How many sessions to this PostgreSQL database the server saw end because their
    /// client vanished instead of closing them (`pg_stat_database.sessions_abandoned`).
    /// On PostgreSQL 15 and later the count is final once [`TestDatabase::connections`]
    /// no longer counts the session (a backend reports its end before it leaves
    /// `pg_stat_activity`); earlier servers report it late or, before 14, not at all.
    ///
    /// # Panics
    /// On a SQLite database, or when the server cannot be asked.
    #[must_use]
    pub fn abandoned_sessions(&self) -> i64 {
        self.server_count(
            "SELECT coalesce(sessions_abandoned, 0) AS n FROM pg_stat_database WHERE datname = $1",
        )
    }

    /// A count about this PostgreSQL database (`$1`, its name) from the server's own
    /// statistics, asked from the admin database.
    fn server_count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let Cleanup::PostgresDatabase { admin_url, name } = &self.cleanup else {
            panic!("the server's statistics are for PostgreSQL test databases");
        };
        let mut admin = PgConnection::establish(admin_url).expect("reach the admin database");
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result::<Count>(&mut admin)
            .expect("ask the server's statistics")
            .n
    }

    /// Holds an exclusive lock on a SQLite test database until the guard is dropped, as
    /// another process writing to the file would.
    ///
    /// # Panics
    /// On a PostgreSQL database, or when the lock cannot be taken.
    #[must_use]
    pub fn lock_sqlite(&self) -> SqliteLock {
        use diesel::connection::SimpleConnection;
        let Cleanup::SqliteFile(path) = &self.cleanup else {
            panic!("lock_sqlite is for SQLite test databases");
        };
        let mut conn = diesel::SqliteConnection::establish(&path.display().to_string())
            .expect("open the SQLite file");
        conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE")
            .expect("take the exclusive lock");
        SqliteLock { _conn: conn }
    }

    /// Records `record` in its session's chain, as releases did before refresh tokens
    /// named their session (and every rotation added a record).
    ///
    /// # Panics
    /// When the database refuses it.
    pub fn insert_chain_record(&self, record: &auth_core::RefreshRecord) {
        let db = self.open();
        let mut conn = db.conn().expect("a connection");
        let row = crate::sessions::RefreshRow::from(record);
        crate::connection::on_backend!(&mut *conn, |c| {
            diesel::RunQueryDsl::execute(
                diesel::insert_into(crate::schema::refresh_tokens::table).values(&row),
                c,
            )
        })
        .expect("the record is stored");
    }

    /// Opens (and migrates) the database.
    #[must_use]
    pub fn open(&self) -> Database {
        Database::open(&self.url).expect("open the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

/// An exclusive lock on a SQLite file, released on drop.
pub struct SqliteLock {
    _conn: diesel::SqliteConnection,
}

impl std::fmt::Debug for SqliteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteLock")
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}

//! Opening a database: choose the backend, migrate it, and pool connections to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use auth_core::StoreError;
use diesel::r2d2::{Pool, PooledConnection};
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::OpenError;
use crate::checkpoint::{Pass, ReadGate};
use crate::connection::{DbConnection, Manager, Target, establish, write_transaction};
use crate::error::pool_error;
use crate::group_commit::{GroupCommit, WriteSize};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How long a checkpoint waits for this process's requests in flight (holding new ones
/// back meanwhile) before it gives up until next time.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(20);
/// SQLite's page size (its default; authd does not change it).
const SQLITE_PAGE_BYTES: u64 = 4096;

/// An arbitrary constant naming the advisory lock that serialises migrations when several
/// authd processes start at once on one PostgreSQL database.
const MIGRATION_LOCK: i64 = 0x6175_7468_645f_6d69; // "authd_mi"
/// The advisory lock the scheduled purge holds on PostgreSQL.
const PURGE_LOCK: i64 = 0x6175_7468_645f_7075; // "authd_pu"

/// Which database engine a [`Database`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, for production and several processes.
    Postgres,
    /// Embedded SQLite, for one process on one machine.
    Sqlite,
}

/// Connection-pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections held open.
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as
    /// unavailable.
    pub acquire_timeout: Duration,
}

impl PoolOptions {
    /// The defaults for the database at `url` (a URL [`Database::open`] would refuse gets
    /// the SQLite defaults; opening it fails anyway).
    ///
    /// PostgreSQL: twice this machine's cores plus two connections, the PostgreSQL
    /// community's rule of thumb for keeping a server busy (twice its cores, plus its
    /// disks) with this machine's cores as the estimate. More backends running at once
    /// than a server has cores made every query slower: PostgreSQL's spinlocks back off
    /// for up to a second when their holder is descheduled, and with 16 connections on two
    /// cores single lookups took 0.4-3 s. SQLite: 8, for readers; its writers share
    /// commits without holding a connection while they queue.
    #[must_use]
    pub fn default_for_url(url: &str) -> Self {
        match Target::from_url(url) {
            Some(target) => Self::default_for(&target),
            None => Self::default_for(&Target::Sqlite(String::new())),
        }
    }

    fn default_for(target: &Target) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            max_connections: match target {
                Target::Postgres(_) => u32::try_from(cores * 2 + 2).unwrap_or(u32::MAX),
                Target::Sqlite(_) => 8,
            },
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A migrated database behind a connection pool. Cloning shares the pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    backend: Backend,
    /// Queues this process's SQLite write transactions (see [`Database::write_transaction`]).
    sqlite_writer: std::sync::Arc<std::sync::Mutex<()>>,
    /// Shares SQLite commits among concurrent writes (see [`Database::group_write`]).
    group_commit: std::sync::Arc<GroupCommit>,
    /// Whether the database was last found unreachable (see [`Database::conn`]).
    reachability: std::sync::Arc<Reachability>,
    /// Set by [`Database::close`].
    closing: std::sync::Arc<AtomicBool>,
    /// Counts this process's SQLite connections in use, for [`Database::checkpoint`].
    read_gate: std::sync::Arc<ReadGate>,
}

/// A pooled connection in use; on SQLite it holds a pass of the [`ReadGate`] until it is
/// handed back.
pub(crate) struct Connection<'a> {
    // Declared first, so the connection is back in the pool before the pass is dropped.
    conn: PooledConnection<Manager>,
    _pass: Option<Pass<'a>>,
}

impl std::ops::Deref for Connection<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Connection<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Whether the database was last found unreachable. While it is, requests are answered at
/// once (with a pooled connection if one is idle, else unavailable) and one background
/// thread probes it until it answers: with as many requests doing database work as there
/// are connections, each waiting out the acquire timeout would queue the rest for minutes.
#[derive(Default)]
struct Reachability {
    unreachable: AtomicBool,
}

/// How long [`Database::close`] waits for the connections in use to be handed back.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long the probe rests between attempts to reach a database that did not answer.
const PROBE_PAUSE: Duration = Duration::from_millis(500);

impl Reachability {
    /// Records that `pool` could not hand out a connection, and starts the probe unless
    /// one is running.
    fn lost(
        self: &std::sync::Arc<Self>,
        pool: &Pool<Manager>,
        closing: &std::sync::Arc<AtomicBool>,
    ) {
        if self.unreachable.swap(true, Ordering::AcqRel) {
            return;
        }
        // The probe stops when it reaches the database, when the database is closed, or
        // when every handle to it is gone.
        let (reach, pool, closing) = (
            std::sync::Arc::downgrade(self),
            pool.clone(),
            closing.clone(),
        );
        let probe = std::thread::Builder::new()
            .name("authd-db-probe".into())
            .spawn(move || {
                loop {
                    if closing.load(Ordering::Acquire) {
                        return;
                    }
                    // A query, not just a checkout: an idle connection may be dead.
                    let reached = pool.get().is_ok_and(|mut conn| {
                        diesel::sql_query("SELECT 1").execute(&mut *conn).is_ok()
                    });
                    let Some(reach) = reach.upgrade() else { return };
                    if reached {
                        reach.unreachable.store(false, Ordering::Release);
                        log::info!("the database is reachable again");
                        return;
                    }
                    drop(reach);
                    std::thread::sleep(PROBE_PAUSE);
                }
            });
        match probe {
            Ok(_) => log::warn!("the database is unreachable; answering 503 until it is back"),
            // Without a probe, requests keep finding out for themselves.
            Err(_) => self.unreachable.store(false, Ordering::Release),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Database {
    /// Opens the database at `url`, creating and migrating it when needed, with default
    /// pool sizing.
    ///
    /// # Errors
    /// [`OpenError`] when the URL is not `postgres://…` or `sqlite://PATH`, the database
    /// cannot be reached, or a migration fails.
    pub fn open(url: &str) -> Result<Self, OpenError> {
        let target =
            Target::from_url(url).ok_or_else(|| OpenError::UnsupportedUrl(redact_url(url)))?;
        let options = PoolOptions::default_for(&target);
        Self::open_target(target, options)
    }

    /// Opens the database at `url` with explicit pool sizing.
    ///
    /// # Errors
    /// As [`Database::open`].
    pub fn open_with(url: &str, options: PoolOptions) -> Result<Self, OpenError> {
        let target =
            Target::from_url(url).ok_or_else(|| OpenError::UnsupportedUrl(redact_url(url)))?;
        Self::open_target(target, options)
    }

    fn open_target(target: Target, options: PoolOptions) -> Result<Self, OpenError> {
        if let Target::Sqlite(path) = &target {
            create_private(path)?;
        }
        migrate(&target)?;
        let backend = match target {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        };
        let closing = std::sync::Arc::new(AtomicBool::new(false));
        let pool = Pool::builder()
            .max_size(options.max_connections)
            // No background top-up: a connection is made only for a caller waiting for it, so
            // a short-lived process (the CLI) never exits while one is being established
            // (libpq/OpenSSL crash if torn down mid-connect).
            .min_idle(Some(0))
            .connection_timeout(options.acquire_timeout)
            .test_on_check_out(false)
            .build(Manager {
                target,
                closing: closing.clone(),
            })
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self {
            pool,
            closing,
            backend,
            sqlite_writer: std::sync::Arc::default(),
            group_commit: std::sync::Arc::default(),
            reachability: std::sync::Arc::default(),
            read_gate: std::sync::Arc::default(),
        })
    }

    /// Runs `job` unless another process on this PostgreSQL database is running the
    /// scheduled purge: the purge holds a session-level advisory lock (released when the
    /// job ends, or by PostgreSQL when the process dies). On SQLite, a database of one
    /// process, it always runs. Returns `None` when another process holds the lock.
    ///
    /// # Errors
    /// [`StoreError`] when the lock cannot be asked for.
    pub fn as_the_only_purger<T>(&self, job: impl FnOnce() -> T) -> Result<Option<T>, StoreError> {
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        if self.backend() == Backend::Sqlite {
            return Ok(Some(job()));
        }
        let mut conn = self.conn()?;
        let locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<diesel::sql_types::BigInt, _>(PURGE_LOCK)
            .get_result::<Locked>(&mut *conn)
            .map_err(crate::error::store_error)?
            .locked;
        if !locked {
            return Ok(None);
        }
        let done = job();
        let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
            .bind::<diesel::sql_types::BigInt, _>(PURGE_LOCK)
            .get_result::<Locked>(&mut *conn);
        if let Err(e) = unlocked {
            // The lock stays with this connection's session until it closes.
            log::warn!("releasing the purge lock failed: {e}");
        }
        Ok(Some(done))
    }

    /// Runs `f` in a write transaction on `conn` (see [`write_transaction`]).
    ///
    /// SQLite admits one writer at a time, and a writer that finds the database locked
    /// sleeps in its busy handler with growing back-off (up to 100 ms a nap), so under
    /// load some refreshes waited over a second while others went straight through. The
    /// writers of this process therefore queue on a mutex first and reach SQLite one at
    /// a time; the busy timeout is left for other processes on the same file.
    pub(crate) fn write_transaction<T>(
        &self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
    ) -> diesel::QueryResult<T> {
        match conn {
            DbConnection::Sqlite(_) => {
                let _turn = self
                    .sqlite_writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                write_transaction(conn, f)
            }
            DbConnection::Postgres(_) => write_transaction(conn, f),
        }
    }

    /// Runs `f` in a write transaction (see [`Database::write_transaction`]) on a pooled
    /// connection: for the writes that are rare enough not to need the group commit.
    pub(crate) fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, f)
            .map_err(crate::error::store_error)
    }

    /// Runs `write` in a write transaction on SQLite, sharing the transaction (and its
    /// fsync) with the writes of other threads that arrive meanwhile; see
    /// [`GroupCommit`]. The outcome is that of running the writes one after another,
    /// each in its own transaction. The write owns its data because another thread may
    /// apply it.
    pub(crate) fn group_write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.group_commit
            .write(|| self.conn(), &self.sqlite_writer, WriteSize::Small, write)
    }

    /// [`Database::group_write`] for maintenance that changes many pages (the purge): the
    /// batch carrying it copies the write-ahead log in small steps (see [`GroupCommit`]).
    pub(crate) fn bulk_group_write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.group_commit
            .write(|| self.conn(), &self.sqlite_writer, WriteSize::Bulk, write)
    }

    /// Runs `f` on a pooled PostgreSQL connection, for the statements written for
    /// PostgreSQL alone; callers check [`Database::backend`] first.
    pub(crate) fn on_postgres<T>(
        &self,
        f: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConnection::Postgres(pg) => f(pg).map_err(crate::error::store_error),
            DbConnection::Sqlite(_) => Err(StoreError::Backend(
                "a PostgreSQL statement was sent to SQLite".into(),
            )),
        }
    }

    /// The engine behind this database.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// On SQLite, copies the write-ahead log into the database file, and empties it once
    /// it has grown past `empty_above_bytes`; returns whether the log is now copied (and,
    /// past that size, emptied). SQLite's own checkpoints never wait for readers, so
    /// under steady load the log grows without bound (see `checkpoint.rs`). This one
    /// first copies what it can beside the requests in flight (`PASSIVE`). Past the
    /// size, it then holds this process's new requests back, waits at most
    /// `CHECKPOINT_WAIT` for those in flight, and copies the rest and empties the log
    /// (`TRUNCATE`) while none runs; it gives up (`false`) when a request is still
    /// running after that wait, or another process is reading. Each emptying stalls
    /// requests for a copy and an fsync, so authd empties the log only past a size whose
    /// reads are still fast (64 MiB) and checks every second. On PostgreSQL it does
    /// nothing (and says it completed).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be reached.
    pub fn checkpoint(&self, empty_above_bytes: u64) -> Result<bool, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Outcome {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            busy: i32,
            /// Pages in the log.
            #[diesel(sql_type = diesel::sql_types::Integer)]
            log: i32,
            /// Pages of it copied into the database.
            #[diesel(sql_type = diesel::sql_types::Integer)]
            checkpointed: i32,
        }
        fn run(c: &mut diesel::SqliteConnection, mode: &str) -> Result<Outcome, StoreError> {
            diesel::RunQueryDsl::get_result(
                diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")),
                c,
            )
            .map_err(crate::error::store_error)
        }
        if self.backend == Backend::Postgres {
            return Ok(true);
        }
        let mut conn = self.conn()?;
        let DbConnection::Sqlite(c) = &mut *conn else {
            return Ok(true);
        };
        let copied = run(c, "PASSIVE")?;
        drop(conn);
        let log_bytes = u64::try_from(copied.log).unwrap_or(0) * SQLITE_PAGE_BYTES;
        if empty_above_bytes > 0 && log_bytes <= empty_above_bytes {
            return Ok(copied.busy == 0 && copied.checkpointed == copied.log);
        }
        self.read_gate
            .alone(CHECKPOINT_WAIT, || {
                // No request of this process is running: a reader of another process (the
                // CLI) is not waited for.
                let mut conn = self.pooled()?;
                let DbConnection::Sqlite(c) = &mut *conn else {
                    return Ok(true);
                };
                diesel::connection::SimpleConnection::batch_execute(c, "PRAGMA busy_timeout = 0")
                    .map_err(crate::error::store_error)?;
                let emptied = run(c, "TRUNCATE").map(|o| o.busy == 0);
                diesel::connection::SimpleConnection::batch_execute(
                    c,
                    crate::connection::SQLITE_PRAGMAS,
                )
                .map_err(crate::error::store_error)?;
                emptied
            })
            .unwrap_or(Ok(false))
    }

    /// Closes the pool's connections, for a process about to exit: each idle one now, each
    /// one in use when it is handed back (waiting up to `CLOSE_WAIT` for those), and
    /// every later request on this database (and its clones) fails as unavailable. A
    /// connection the process just drops at exit is one PostgreSQL counts as abandoned
    /// and logs as "could not receive data from client"; a closed one ends its session
    /// cleanly. A caller already waiting for a connection keeps waiting out its acquire
    /// timeout, and r2d2 logs each refused attempt to connect meanwhile.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        loop {
            // Taken and handed straight back, each idle connection is found broken by the
            // manager and dropped; r2d2 opens no replacement (`min_idle` is 0). Taking
            // them again catches one handed back while the flag was being set, which r2d2
            // may still have parked as idle.
            let idle: Vec<_> = std::iter::from_fn(|| self.pool.try_get()).collect();
            drop(idle);
            if self.pool.state().connections == 0 || std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn ping_now(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// How many requests should do database work at once: as many as there are
    /// connections on PostgreSQL (more would only wait for one), twice as many on SQLite,
    /// whose writers wait for a shared commit without holding a connection and share it
    /// with more writers the more of them wait. Fewer than that left connections or
    /// commits idle; more made every request slower (threads and backends contending for
    /// the cores). authd sizes its blocking thread pool by this.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        let connections = usize::try_from(self.pool.max_size()).unwrap_or(usize::MAX);
        match self.backend {
            Backend::Postgres => connections,
            Backend::Sqlite => connections.saturating_mul(2),
        }
    }

    /// A pooled connection; while the database is known to be unreachable, only an idle
    /// one, else [`StoreError::Unavailable`] at once (see [`Reachability`]). On SQLite it
    /// waits while a checkpoint runs (see [`Database::checkpoint`]).
    pub(crate) fn conn(&self) -> Result<Connection<'_>, StoreError> {
        let pass = (self.backend == Backend::Sqlite).then(|| self.read_gate.enter());
        Ok(Connection {
            conn: self.pooled()?,
            _pass: pass,
        })
    }

    /// A pooled connection, outside the [`ReadGate`].
    fn pooled(&self) -> Result<PooledConnection<Manager>, StoreError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the database is closed".into()));
        }
        if self.reachability.unreachable.load(Ordering::Acquire) {
            return self
                .pool
                .try_get()
                .ok_or_else(|| StoreError::Unavailable("the database is unreachable".into()));
        }
        self.pool.get().map_err(|e| {
            // Every connection open and checked out is a busy pool, not an unreachable
            // database: those requests just waited too long.
            if self.pool.state().connections < self.pool.max_size() {
                self.reachability.lost(&self.pool, &self.closing);
            }
            pool_error(&e)
        })
    }
}

impl auth_core::Readiness for Database {
    fn ping(&self) -> Result<(), StoreError> {
        self.ping_now()
    }

    fn pool_usage(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    fn live_sessions(&self, now: auth_core::UnixTime) -> Result<u64, StoreError> {
        use crate::schema::sessions;
        use diesel::{ExpressionMethods, QueryDsl};
        let mut conn = self.conn()?;
        let live: i64 = sessions::table
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now.secs()))
            .count()
            .get_result(&mut *conn)
            .map_err(crate::error::store_error)?;
        Ok(u64::try_from(live).unwrap_or(0))
    }
}

/// Creates a new SQLite database file readable by its owner only (0600) before SQLite
/// opens it: it holds password hashes, sessions and signing keys. SQLite gives the WAL and
/// shared-memory files the permissions of the database file. An existing file keeps its
/// mode, with a warning when others may read it.
fn create_private(path: &str) -> Result<(), OpenError> {
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    log::warn!(
                        "{path} may be read by other users (mode {:o}): `chmod 600` it",
                        meta.permissions().mode() & 0o777
                    );
                }
            }
            Err(e) => return Err(OpenError::Connect(format!("creating {path}: {e}"))),
        }
    }
    Ok(())
}

fn migrate(target: &Target) -> Result<(), OpenError> {
    let mut conn = establish(target).map_err(|e| OpenError::Connect(e.to_string()))?;
    let run = |conn: &mut DbConnection| -> Result<(), OpenError> {
        let result = match conn {
            DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        };
        result.map_err(|e| OpenError::Migrate(e.to_string()))
    };
    if matches!(conn, DbConnection::Postgres(_)) {
        let lock = |sql: &str, conn: &mut DbConnection| {
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                .execute(conn)
                .map_err(|e| OpenError::Migrate(e.to_string()))
        };
        lock("SELECT pg_advisory_lock($1)", &mut conn)?;
        let result = run(&mut conn);
        lock("SELECT pg_advisory_unlock($1)", &mut conn)?;
        return result;
    }
    run(&mut conn)
}

/// A URL with any password removed, for error messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_pool_is_not_taken_for_an_unreachable_database() {
        let path = std::env::temp_dir().join(format!("authd-busy-{}.db", std::process::id()));
        let db = Database::open_with(
            &format!("sqlite://{}", path.display()),
            PoolOptions {
                max_connections: 1,
                acquire_timeout: Duration::from_millis(300),
            },
        )
        .unwrap();
        let held = db.pooled().unwrap();
        assert!(db.pooled().is_err(), "the only connection is taken");

        // Released while the next caller waits: it gets the connection, rather than being
        // refused at once as it would be were the database thought unreachable.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        let waited = db.pooled();
        release.join().unwrap();
        assert!(waited.is_ok(), "{:?}", waited.err());
        drop(waited);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn passwords_in_urls_never_reach_error_messages() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        let err = Database::open("mysql://u:secret@h/db").unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }
}

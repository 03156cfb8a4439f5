//! Group commit for SQLite: the writes that arrive while a commit is on disk share the
//! next transaction, so a burst of N writes pays for one fsync instead of N.
//!
//! Writers queue. The writer at the head of the queue leads: it takes up to
//! [`MAX_BATCH`] queued writes, applies each in its own savepoint of one
//! `BEGIN IMMEDIATE` transaction, commits, and then tells every writer how its own write
//! ended. A write that fails is rolled back to its savepoint and fails alone; a commit
//! that fails fails them all; no writer hears of success before its commit is durable.
//! The leader then passes the head of the queue to the next waiting writer, so nobody
//! keeps committing for others indefinitely.
//!
//! A commit that takes SQLite's write-ahead log past [`CHECKPOINT_PAGES`] also copies
//! the log into the database file (SQLite's automatic checkpoint), and every writer of
//! the batch waits for that copy and its fsync. Requests write a few pages each, so
//! that happens rarely; a [`WriteSize::Bulk`] write (the purge) dirties pages all over
//! the indexes, and a batch carrying one checkpoints past [`BULK_CHECKPOINT_PAGES`]
//! instead: many small copies, each short enough to keep the requests beside it fast.

use std::collections::VecDeque;
use std::ops::DerefMut;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use auth_core::StoreError;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{QueryResult, SqliteConnection};

use crate::connection::DbConnection;
use crate::error::store_error;

/// The most writes committed together. It bounds one transaction's size, and how long
/// the last writer of a batch waits behind the others.
const MAX_BATCH: usize = 64;

/// Pages of write-ahead log past which a commit copies the log into the database: SQLite's
/// default, set on every connection (`SQLITE_PRAGMAS`).
pub(crate) const CHECKPOINT_PAGES: u32 = 1000;

/// The same for a batch carrying a [`WriteSize::Bulk`] write. The fsync that ends a copy
/// takes about 20 µs a page of random writes on the benchmark machine: a copy of 1,000
/// pages held the purge's batch, and the refreshes in it, 20-25 ms, 9 times a second.
/// With 100, refreshes at 200/s beside the purge kept their p99 within 5 ms of the p99
/// without it. Only bulk batches use it: for all writes, device logins at 32 clients
/// lost 12 % of their rate.
const BULK_CHECKPOINT_PAGES: u32 = 100;

/// How many pages a write is expected to change, which decides how often its batch
/// copies the write-ahead log into the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSize {
    /// A request's write: a few rows.
    Small,
    /// Maintenance that deletes rows in bulk (the purge): many pages of several indexes.
    Bulk,
}

/// The queue of one process's SQLite writes.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Writes not yet taken into a batch, oldest first.
    waiting: VecDeque<Box<dyn Queued>>,
    /// Whether some writer is leading (or has been asked to lead) a batch.
    led: bool,
}

/// What a waiting writer is told.
enum Signal<T> {
    /// Its write heads the queue: it must lead the next batch.
    Lead,
    /// Its write is finished, committed or not.
    Done(Result<T, StoreError>),
}

/// A queued write, whatever its result type.
trait Queued: Send {
    /// Applies the write inside the batch's transaction; false when it failed.
    fn apply(&mut self, conn: &mut DbConnection) -> bool;
    /// Tells the writer how its write ended, now that the batch's commit is known.
    fn finish(self: Box<Self>, commit: &Result<(), StoreError>);
    /// Tells the writer to lead the next batch.
    fn promote(&self);
    /// How many pages the write changes.
    fn size(&self) -> WriteSize;
}

struct Write<T, F> {
    size: WriteSize,
    write: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    signal: SyncSender<Signal<T>>,
}

impl<T, F> Queued for Write<T, F>
where
    T: Send,
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send,
{
    fn apply(&mut self, conn: &mut DbConnection) -> bool {
        let outcome = match self.write.take() {
            Some(write) => write(conn).map_err(store_error),
            None => Err(StoreError::Backend(
                "a queued write was applied twice".into(),
            )),
        };
        let applied = outcome.is_ok();
        self.outcome = Some(outcome);
        applied
    }

    fn finish(self: Box<Self>, commit: &Result<(), StoreError>) {
        let outcome = match (self.outcome, commit) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(_)) | None, Err(e)) => Err(e.clone()),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(StoreError::Backend(
                "a queued write was never applied".into(),
            )),
        };
        // The channel holds one message and nothing else was sent since the writer last
        // received, so this never blocks.
        let _ = self.signal.send(Signal::Done(outcome));
    }

    fn promote(&self) {
        let _ = self.signal.send(Signal::Lead);
    }

    fn size(&self) -> WriteSize {
        self.size
    }
}

impl GroupCommit {
    /// Runs `write` in a transaction shared with the other writes queued now, and returns
    /// its result once that transaction is committed.
    ///
    /// If this writer leads, `connect` gives it the connection to commit on, and it holds
    /// `turn` (the lock every other SQLite write transaction of the process takes) while
    /// it does. Waiting writers hold neither.
    pub(crate) fn write<T, F, C>(
        &self,
        connect: impl FnOnce() -> Result<C, StoreError>,
        turn: &Mutex<()>,
        size: WriteSize,
        write: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
        C: DerefMut<Target = DbConnection>,
    {
        let (signal, wait) = sync_channel(1);
        let leads = {
            let mut queue = self.lock();
            queue.waiting.push_back(Box::new(Write {
                size,
                write: Some(write),
                outcome: None,
                signal,
            }));
            !std::mem::replace(&mut queue.led, true)
        };
        if !leads {
            match wait.recv() {
                Ok(Signal::Done(outcome)) => return outcome,
                Ok(Signal::Lead) => {}
                Err(_) => return Err(abandoned()),
            }
        }
        self.lead(connect, turn);
        match wait.recv() {
            Ok(Signal::Done(outcome)) => outcome,
            Ok(Signal::Lead) | Err(_) => Err(abandoned()),
        }
    }

    /// Commits the writes at the head of the queue (the leader's own among them), then
    /// passes the lead on.
    fn lead<C: DerefMut<Target = DbConnection>>(
        &self,
        connect: impl FnOnce() -> Result<C, StoreError>,
        turn: &Mutex<()>,
    ) {
        // Passes the lead on even if a write panics: the batch's writers then see their
        // channels close, and the queue does not stall.
        let _handover = Handover(self);
        let mut batch: Vec<Box<dyn Queued>> = {
            let mut queue = self.lock();
            let n = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..n).collect()
        };
        let commit = connect().and_then(|mut conn| {
            let _turn = turn.lock().unwrap_or_else(PoisonError::into_inner);
            commit_batch(&mut conn, &mut batch)
        });
        for write in batch {
            write.finish(&commit);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands the lead to the oldest waiting writer, or marks the queue unled.
struct Handover<'a>(&'a GroupCommit);

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        match queue.waiting.front() {
            Some(next) => next.promote(),
            None => queue.led = false,
        }
    }
}

/// Applies every write of `batch` in its own savepoint of one transaction and commits.
/// Stops at the first failure of the transaction itself (not of a write): nothing of the
/// batch is then committed.
fn commit_batch(conn: &mut DbConnection, batch: &mut [Box<dyn Queued>]) -> Result<(), StoreError> {
    let bulk = batch.iter().any(|write| write.size() == WriteSize::Bulk);
    if !bulk {
        return commit_in_one_transaction(conn, batch);
    }
    set_checkpoint_pages(conn, BULK_CHECKPOINT_PAGES)?;
    let committed = commit_in_one_transaction(conn, batch);
    // The connection goes back to the pool with the setting every connection has. Were
    // that to fail, the batch is still committed, and the connection only copies its log
    // more often than others.
    if let Err(e) = set_checkpoint_pages(conn, CHECKPOINT_PAGES) {
        log::warn!("could not restore a SQLite connection's checkpoint setting: {e}");
    }
    committed
}

/// Sets how many pages of write-ahead log make a commit on `conn` copy the log.
fn set_checkpoint_pages(conn: &mut DbConnection, pages: u32) -> Result<(), StoreError> {
    diesel::connection::SimpleConnection::batch_execute(
        sqlite(conn)?,
        &format!("PRAGMA wal_autocheckpoint = {pages}"),
    )
    .map_err(store_error)
}

fn commit_in_one_transaction(
    conn: &mut DbConnection,
    batch: &mut [Box<dyn Queued>],
) -> Result<(), StoreError> {
    AnsiTransactionManager::begin_transaction_sql(sqlite(conn)?, "BEGIN IMMEDIATE")
        .map_err(store_error)?;
    let applied = batch.iter_mut().try_for_each(|write| {
        AnsiTransactionManager::begin_transaction(sqlite(conn)?).map_err(store_error)?;
        if write.apply(conn) {
            AnsiTransactionManager::commit_transaction(sqlite(conn)?).map_err(store_error)
        } else {
            AnsiTransactionManager::rollback_transaction(sqlite(conn)?).map_err(store_error)
        }
    });
    let c = sqlite(conn)?;
    match applied {
        Ok(()) => AnsiTransactionManager::commit_transaction(c).map_err(store_error),
        Err(e) => {
            // Already gone if SQLite rolled the transaction back itself; the error that
            // stopped the batch is the one to report.
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
    }
}

fn sqlite(conn: &mut DbConnection) -> Result<&mut SqliteConnection, StoreError> {
    conn.sqlite().map_err(store_error)
}

fn abandoned() -> StoreError {
    StoreError::Backend("a queued write was abandoned by its batch".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;

    use super::*;
    use crate::connection::{Target, establish};

    /// A SQLite file with one table of unique keys, deleted when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "authd-group-commit-{name}-{}.db",
                std::process::id()
            ));
            let scratch = Self(path);
            scratch.remove();
            scratch
                .connect()
                .batch_execute("CREATE TABLE keys (k INTEGER PRIMARY KEY)")
                .expect("create table");
            scratch
        }

        fn connect(&self) -> DbConnection {
            establish(&Target::Sqlite(self.0.display().to_string())).expect("open scratch db")
        }

        fn keys(&self) -> Vec<i64> {
            #[derive(diesel::QueryableByName)]
            struct Key {
                #[diesel(sql_type = BigInt)]
                k: i64,
            }
            diesel::sql_query("SELECT k FROM keys ORDER BY k")
                .load::<Key>(&mut self.connect())
                .expect("read keys")
                .into_iter()
                .map(|key| key.k)
                .collect()
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            self.remove();
        }
    }

    fn insert(k: i64) -> impl FnOnce(&mut DbConnection) -> QueryResult<i64> + Send + 'static {
        move |conn| {
            diesel::sql_query("INSERT INTO keys (k) VALUES (?)")
                .bind::<BigInt, _>(k)
                .execute(conn)
                .map(|_| k)
        }
    }

    fn wait_for(group: &GroupCommit, what: impl Fn(&Queue) -> bool) {
        for _ in 0..2_000 {
            if what(&group.lock()) {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
        panic!("the queue never reached the expected state");
    }

    #[test]
    fn writes_queued_behind_a_commit_share_the_next_one_and_a_failing_write_fails_alone() {
        let scratch = Arc::new(Scratch::new("batch"));
        let group = Arc::new(GroupCommit::default());
        let turn = Arc::new(Mutex::new(()));
        let batches = Arc::new(AtomicUsize::new(0));
        let writer = |k: i64| {
            let (scratch, group, turn, batches) = (
                scratch.clone(),
                group.clone(),
                turn.clone(),
                batches.clone(),
            );
            thread::spawn(move || {
                let connect = || {
                    batches.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, StoreError>(Box::new(scratch.connect()))
                };
                group.write(connect, &turn, WriteSize::Small, insert(k))
            })
        };

        // Another transaction holds the write turn: the first writer takes the lead and
        // waits for it with its own write alone in the batch.
        let held = turn.lock().unwrap();
        let first = writer(1);
        wait_for(&group, |q| q.led && q.waiting.is_empty());
        let queued: Vec<_> = [2, 1, 3].into_iter().map(writer).collect();
        wait_for(&group, |q| q.waiting.len() == 3);
        drop(held);

        assert_eq!(first.join().unwrap().unwrap(), 1);
        let outcomes: Vec<_> = queued.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(outcomes[0].as_ref().unwrap(), &2);
        assert!(
            matches!(outcomes[1], Err(StoreError::Duplicate)),
            "the second insert of key 1 fails: {:?}",
            outcomes[1]
        );
        assert_eq!(outcomes[2].as_ref().unwrap(), &3);
        assert_eq!(scratch.keys(), vec![1, 2, 3]);
        assert_eq!(
            batches.load(Ordering::SeqCst),
            2,
            "the three queued writes were committed together"
        );
        assert!(!group.lock().led, "the queue is left unled");
    }

    #[test]
    fn a_batch_without_a_connection_fails_and_the_queue_goes_on() {
        let scratch = Scratch::new("unavailable");
        let group = GroupCommit::default();
        let turn = Mutex::new(());
        let unavailable = || Err::<Box<DbConnection>, _>(StoreError::Unavailable("pool".into()));

        let failed = group.write(unavailable, &turn, WriteSize::Small, insert(1));
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));

        let written = group.write(
            || Ok::<_, StoreError>(Box::new(scratch.connect())),
            &turn,
            WriteSize::Small,
            insert(2),
        );
        assert_eq!(written.unwrap(), 2);
        assert_eq!(scratch.keys(), vec![2]);
    }

    /// Writes `rows` rows of about a page each in one statement.
    fn fill_pages(rows: i64) -> impl FnOnce(&mut DbConnection) -> QueryResult<i64> + Send {
        move |conn| {
            diesel::sql_query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                 INSERT INTO pages (v) SELECT zeroblob(4000) FROM n",
            )
            .bind::<BigInt, _>(rows)
            .execute(conn)
            .map(|_| rows)
        }
    }

    /// Pages in the write-ahead log, and the automatic checkpoint's threshold, of `conn`.
    fn log_and_threshold(conn: &mut DbConnection) -> (i32, i32) {
        #[derive(diesel::QueryableByName)]
        struct Log {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            log: i32,
        }
        #[derive(diesel::QueryableByName)]
        struct Threshold {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            wal_autocheckpoint: i32,
        }
        let log = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .get_result::<Log>(conn)
            .expect("checkpoint");
        let threshold = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result::<Threshold>(conn)
            .expect("read the threshold");
        (log.log, threshold.wal_autocheckpoint)
    }

    #[test]
    fn a_batch_with_a_bulk_write_copies_the_log_at_a_hundred_pages_and_only_that_batch() {
        for (size, copied) in [(WriteSize::Small, false), (WriteSize::Bulk, true)] {
            let scratch = Scratch::new("bulk");
            let mut conn = scratch.connect();
            conn.batch_execute("CREATE TABLE pages (k INTEGER PRIMARY KEY, v BLOB)")
                .expect("create table");
            let group = GroupCommit::default();
            let turn = Mutex::new(());

            // 150 pages: past the bulk threshold, well short of the usual one.
            group
                .write(
                    || Ok::<_, StoreError>(&mut conn),
                    &turn,
                    size,
                    fill_pages(150),
                )
                .expect("fill");
            // A copied log starts over at the next write.
            group
                .write(
                    || Ok::<_, StoreError>(&mut conn),
                    &turn,
                    WriteSize::Small,
                    insert(1),
                )
                .expect("small write");

            let (log, threshold) = log_and_threshold(&mut conn);
            assert_eq!(
                log < 20,
                copied,
                "{size:?}: {log} pages in the log after 150 pages and one small write"
            );
            assert_eq!(
                threshold,
                i32::try_from(CHECKPOINT_PAGES).unwrap(),
                "{size:?}: the connection keeps the usual threshold afterwards"
            );
        }
    }

    #[test]
    fn many_writers_at_once_all_commit_exactly_their_own_writes() {
        let scratch = Arc::new(Scratch::new("many"));
        let group = Arc::new(GroupCommit::default());
        let turn = Arc::new(Mutex::new(()));
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (scratch, group, turn) = (scratch.clone(), group.clone(), turn.clone());
                thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            let connect = || Ok::<_, StoreError>(Box::new(scratch.connect()));
                            group.write(connect, &turn, WriteSize::Small, insert(w * 100 + i))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        for (w, writer) in (0..8).zip(writers) {
            let written = writer.join().unwrap().expect("every write commits");
            assert_eq!(written, (0..25).map(|i| w * 100 + i).collect::<Vec<_>>());
        }
        assert_eq!(scratch.keys().len(), 200);
    }
}

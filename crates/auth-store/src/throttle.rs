//! [`ThrottleStore`] on both backends: login attempts per (account, client network) and
//! failures per account, shared by every process on the database.
//!
//! Each read-modify-write runs in one transaction that first takes a lock on the keys it
//! changes: on PostgreSQL a transaction-scoped advisory lock per key (a row lock cannot
//! guard a row that does not exist yet), always the network's before the account's so two
//! writers never wait on each other in a cycle; on SQLite `BEGIN IMMEDIATE`, which
//! serialises every writer.

use auth_core::{
    AccountFailures, AttemptKey, AttemptRecord, StoreError, ThrottleState, ThrottleStore, UnixTime,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::{DbConnection, on_backend};
use crate::error::store_error;
use crate::schema::{account_failures, login_attempts};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_attempts, treat_none_as_null = true)]
struct AttemptRow {
    network_key: String,
    failures: i64,
    last_attempt_at: i64,
    locked_until: Option<i64>,
    last_success_at: Option<i64>,
}

impl AttemptRow {
    fn new(key: &AttemptKey, r: &AttemptRecord) -> Self {
        Self {
            network_key: key.network.clone(),
            failures: i64::from(r.failures),
            last_attempt_at: r.last_attempt_at.secs(),
            locked_until: r.locked_until.map(UnixTime::secs),
            last_success_at: r.last_success_at.map(UnixTime::secs),
        }
    }

    fn record(&self) -> AttemptRecord {
        AttemptRecord {
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            last_attempt_at: UnixTime(self.last_attempt_at),
            locked_until: self.locked_until.map(UnixTime),
            last_success_at: self.last_success_at.map(UnixTime),
        }
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = account_failures)]
struct AccountRow {
    account_key: String,
    window_start: i64,
    failures: i64,
}

impl AccountRow {
    fn record(&self) -> AccountFailures {
        AccountFailures {
            window_start: UnixTime(self.window_start),
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
        }
    }
}

/// Serialises writers of `key` until the transaction ends (PostgreSQL; SQLite's writers
/// are serialised already).
fn lock(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    if matches!(conn, DbConnection::Postgres(_)) {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(conn)?;
    }
    Ok(())
}

fn attempts(conn: &mut DbConnection, key: &AttemptKey) -> QueryResult<Option<AttemptRow>> {
    login_attempts::table
        .find(&key.network)
        .select(AttemptRow::as_select())
        .get_result(conn)
        .optional()
}

fn account(conn: &mut DbConnection, key: &AttemptKey) -> QueryResult<Option<AccountRow>> {
    account_failures::table
        .find(&key.account)
        .select(AccountRow::as_select())
        .get_result(conn)
        .optional()
}

/// Writes the network's record, replacing the one read (`existed`) or creating it.
fn put_attempts(
    conn: &mut DbConnection,
    key: &AttemptKey,
    existed: bool,
    record: &AttemptRecord,
) -> QueryResult<()> {
    let row = AttemptRow::new(key, record);
    if existed {
        diesel::update(login_attempts::table.find(&key.network))
            .set(&row)
            .execute(conn)?;
    } else {
        diesel::insert_into(login_attempts::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

impl ThrottleStore for Database {
    fn reserve_attempt(
        &self,
        key: &AttemptKey,
        admit: &dyn Fn(&ThrottleState) -> Result<AttemptRecord, i64>,
    ) -> Result<Result<(), i64>, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            lock(conn, &key.network)?;
            let current = attempts(conn, key)?;
            let state = ThrottleState {
                attempts: current.as_ref().map(AttemptRow::record),
                account: account(conn, key)?.as_ref().map(AccountRow::record),
            };
            match admit(&state) {
                Ok(record) => {
                    put_attempts(conn, key, current.is_some(), &record)?;
                    Ok(Ok(()))
                }
                Err(wait) => Ok(Err(wait)),
            }
        })
        .map_err(store_error)
    }

    fn record_failure(
        &self,
        key: &AttemptKey,
        next_attempts: &dyn Fn(Option<&AttemptRecord>) -> AttemptRecord,
        next_account: &dyn Fn(Option<&AccountFailures>) -> AccountFailures,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            lock(conn, &key.network)?;
            lock(conn, &key.account)?;
            let current = attempts(conn, key)?;
            let record = next_attempts(current.as_ref().map(AttemptRow::record).as_ref());
            put_attempts(conn, key, current.is_some(), &record)?;
            let current = account(conn, key)?;
            let count = next_account(current.as_ref().map(AccountRow::record).as_ref());
            let row = AccountRow {
                account_key: key.account.clone(),
                window_start: count.window_start.secs(),
                failures: i64::from(count.failures),
            };
            if current.is_some() {
                diesel::update(account_failures::table.find(&key.account))
                    .set(&row)
                    .execute(conn)?;
            } else {
                diesel::insert_into(account_failures::table)
                    .values(&row)
                    .execute(conn)?;
            }
            Ok(())
        })
        .map_err(store_error)
    }

    fn record_success(&self, key: &AttemptKey, record: &AttemptRecord) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            lock(conn, &key.network)?;
            let existed = attempts(conn, key)?.is_some();
            put_attempts(conn, key, existed, record)
        })
        .map_err(store_error)
    }

    fn release_attempt(
        &self,
        key: &AttemptKey,
        next: &dyn Fn(Option<&AttemptRecord>) -> Option<AttemptRecord>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            lock(conn, &key.network)?;
            let current = attempts(conn, key)?;
            match next(current.as_ref().map(AttemptRow::record).as_ref()) {
                Some(record) => put_attempts(conn, key, current.is_some(), &record),
                None => diesel::delete(login_attempts::table.find(&key.network))
                    .execute(conn)
                    .map(drop),
            }
        })
        .map_err(store_error)
    }

    fn purge_attempts(
        &self,
        attempted_before: UnixTime,
        succeeded_before: UnixTime,
        window_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let stale: Vec<String> = on_backend!(&mut *conn, |c| login_attempts::table
            .filter(login_attempts::last_attempt_at.lt(attempted_before.secs()))
            .filter(
                login_attempts::last_success_at
                    .is_null()
                    .or(login_attempts::last_success_at.lt(succeeded_before.secs())),
            )
            .select(login_attempts::network_key)
            .limit(limit)
            .load(c))
        .map_err(store_error)?;
        let mut deleted = 0;
        if !stale.is_empty() {
            deleted += on_backend!(&mut *conn, |c| diesel::delete(
                login_attempts::table.filter(login_attempts::network_key.eq_any(&stale))
            )
            .execute(c))
            .map_err(store_error)?;
        }
        let old: Vec<String> = on_backend!(&mut *conn, |c| account_failures::table
            .filter(account_failures::window_start.lt(window_before.secs()))
            .select(account_failures::account_key)
            .limit(limit)
            .load(c))
        .map_err(store_error)?;
        if !old.is_empty() {
            deleted += on_backend!(&mut *conn, |c| diesel::delete(
                account_failures::table.filter(account_failures::account_key.eq_any(&old))
            )
            .execute(c))
            .map_err(store_error)?;
        }
        Ok(deleted)
    }
}

//! [`ThrottleStore`] on both backends: failure streaks shared by every process.

use auth_core::{FailureRecord, StoreError, ThrottleStore, UnixTime};
use diesel::prelude::*;

use crate::Database;
use crate::connection::DbConnection;
use crate::connection::on_backend;
use crate::error::store_error;
use crate::schema::login_failures;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = login_failures)]
struct FailureRow {
    account: String,
    failures: i64,
    last_failure_at: i64,
    locked_until: Option<i64>,
}

impl From<&FailureRow> for FailureRecord {
    fn from(r: &FailureRow) -> Self {
        FailureRecord {
            failures: u32::try_from(r.failures).unwrap_or(u32::MAX),
            last_failure_at: UnixTime(r.last_failure_at),
            locked_until: r.locked_until.map(UnixTime),
        }
    }
}

impl ThrottleStore for Database {
    fn failures(&self, account: &str) -> Result<Option<FailureRecord>, StoreError> {
        let mut conn = self.conn()?;
        let row = on_backend!(&mut *conn, |c| login_failures::table
            .find(account)
            .select(FailureRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?;
        Ok(row.as_ref().map(FailureRecord::from))
    }

    fn record_failure(
        &self,
        account: &str,
        next: &dyn Fn(Option<&FailureRecord>) -> FailureRecord,
    ) -> Result<FailureRecord, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            // Serialise failures of one account. A row lock cannot do it while the row does
            // not exist yet; a transaction-scoped advisory lock on the account can. SQLite's
            // BEGIN IMMEDIATE already serialises every writer.
            if matches!(conn, DbConnection::Postgres(_)) {
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind::<diesel::sql_types::Text, _>(account)
                    .execute(conn)?;
            }
            let current = login_failures::table
                .find(account)
                .select(FailureRow::as_select())
                .get_result(conn)
                .optional()?;
            let record = next(current.as_ref().map(FailureRecord::from).as_ref());
            let row = FailureRow {
                account: account.to_owned(),
                failures: i64::from(record.failures),
                last_failure_at: record.last_failure_at.secs(),
                locked_until: record.locked_until.map(UnixTime::secs),
            };
            if current.is_some() {
                diesel::update(login_failures::table.find(account))
                    .set((
                        login_failures::failures.eq(row.failures),
                        login_failures::last_failure_at.eq(row.last_failure_at),
                        login_failures::locked_until.eq(row.locked_until),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(login_failures::table)
                    .values(&row)
                    .execute(conn)?;
            }
            Ok(record)
        })
        .map_err(store_error)
    }

    fn purge_failures(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let accounts: Vec<String> = login_failures::table
            .filter(login_failures::last_failure_at.lt(before.secs()))
            .select(login_failures::account)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *conn)
            .map_err(store_error)?;
        if accounts.is_empty() {
            return Ok(0);
        }
        diesel::delete(login_failures::table.filter(login_failures::account.eq_any(&accounts)))
            .execute(&mut *conn)
            .map_err(store_error)
    }

    fn clear_failures(&self, account: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(login_failures::table.find(account))
            .execute(&mut *conn)
            .map(drop)
            .map_err(store_error)
    }
}

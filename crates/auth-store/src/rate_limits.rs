//! [`RateLimitStore`] on both backends: a bucket is advanced by one upsert whose `WHERE`
//! is the GCRA rule of [`RateQuota::advance`], so the check and the write are one atomic
//! statement and two processes cannot both take the last attempt.
//!
//! PostgreSQL runs it as it stands (under READ COMMITTED the conflicting row is locked and
//! re-read, so concurrent upserts apply one after another). On SQLite it runs in this
//! process's write queue like every other write. A refusal reads the bucket once more,
//! only to say how long to wait.

use auth_core::{RateLimitStore, RateQuota, RateTake, StoreError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::Database;
use crate::connection::{DbConnection, on_backend};
use crate::error::store_error;
use crate::schema::rate_limits;

const TAKE_POSTGRES: &str = "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3)
    ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_limits.tat, $2) + $3
    WHERE GREATEST(rate_limits.tat, $2) + $3 - $2 <= $4
    RETURNING tat";

const TAKE_SQLITE: &str = "INSERT INTO rate_limits (key, tat) VALUES (?1, ?2 + ?3)
    ON CONFLICT (key) DO UPDATE SET tat = MAX(rate_limits.tat, ?2) + ?3
    WHERE MAX(rate_limits.tat, ?2) + ?3 - ?2 <= ?4
    RETURNING tat";

#[derive(QueryableByName)]
struct Tat {
    #[diesel(sql_type = BigInt)]
    tat: i64,
}

fn take(
    conn: &mut DbConnection,
    key: &str,
    quota: RateQuota,
    now: i64,
) -> QueryResult<Option<i64>> {
    let sql = match conn {
        DbConnection::Postgres(_) => TAKE_POSTGRES,
        DbConnection::Sqlite(_) => TAKE_SQLITE,
    };
    let query = diesel::sql_query(sql)
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(quota.interval_micros())
        .bind::<BigInt, _>(quota.window_micros());
    let taken: Option<Tat> = on_backend!(conn, |c| query.get_result(c).optional())?;
    Ok(taken.map(|t| t.tat))
}

impl RateLimitStore for Database {
    fn take_rate(&self, key: &str, quota: RateQuota, now: i64) -> Result<RateTake, StoreError> {
        let mut conn = self.conn()?;
        let taken = match &mut *conn {
            DbConnection::Postgres(_) => take(&mut conn, key, quota, now),
            DbConnection::Sqlite(_) => {
                self.write_transaction(&mut conn, |c| take(c, key, quota, now))
            }
        }
        .map_err(store_error)?;
        if let Some(tat) = taken {
            return Ok(RateTake::Taken(tat));
        }
        let tat = on_backend!(&mut *conn, |c| rate_limits::table
            .find(key)
            .select(rate_limits::tat)
            .get_result::<i64>(c)
            .optional())
        .map_err(store_error)?;
        Ok(RateTake::Refused(tat))
    }

    fn purge_rates(&self, before: i64, limit: usize) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let full: Vec<String> = on_backend!(&mut *conn, |c| rate_limits::table
            .filter(rate_limits::tat.lt(before))
            .select(rate_limits::key)
            .limit(limit)
            .load(c))
        .map_err(store_error)?;
        if full.is_empty() {
            return Ok(0);
        }
        // A bucket taken again since it was read is not full: keep it.
        on_backend!(&mut *conn, |c| diesel::delete(
            rate_limits::table
                .filter(rate_limits::key.eq_any(&full))
                .filter(rate_limits::tat.lt(before))
        )
        .execute(c))
        .map_err(store_error)
    }
}

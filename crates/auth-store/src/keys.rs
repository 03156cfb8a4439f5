//! [`KeyStore`] on both backends.

use auth_core::{KeyStore, StoreError, StoredSigningKey, UnixTime};
use diesel::prelude::*;

use crate::Database;
use crate::connection::DbConnection;
use crate::connection::on_backend;
use crate::error::store_error;
use crate::schema::{server_secrets, signing_keys};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    algorithm: String,
    private_key: String,
    public_key: String,
    created_at: i64,
}

impl From<&StoredSigningKey> for KeyRow {
    fn from(key: &StoredSigningKey) -> Self {
        Self {
            kid: key.kid.clone(),
            algorithm: key.algorithm.clone(),
            private_key: key.private_key.clone(),
            public_key: key.public_key.clone(),
            created_at: key.created_at.secs(),
        }
    }
}

/// Names the advisory lock under which the first signing key is created on Postgres.
const FIRST_KEY_LOCK: i64 = 0x6175_7468_645f_6b31; // "authd_k1"

impl KeyStore for Database {
    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let mut conn = self.conn()?;
        let rows = signing_keys::table
            .select(KeyRow::as_select())
            .order((signing_keys::created_at, signing_keys::kid))
            .load(&mut *conn)
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredSigningKey {
                kid: r.kid,
                algorithm: r.algorithm,
                private_key: r.private_key,
                public_key: r.public_key,
                created_at: UnixTime(r.created_at),
            })
            .collect())
    }

    fn insert_first_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            // SQLite's BEGIN IMMEDIATE already serialises writers; Postgres needs a lock,
            // since two READ COMMITTED transactions could both see an empty table.
            if matches!(conn, DbConnection::Postgres(_)) {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<diesel::sql_types::BigInt, _>(FIRST_KEY_LOCK)
                    .execute(conn)?;
            }
            let existing: i64 = signing_keys::table.count().get_result(conn)?;
            if existing > 0 {
                return Ok(false);
            }
            diesel::insert_into(signing_keys::table)
                .values(KeyRow::from(key))
                .execute(conn)?;
            Ok(true)
        })
        .map_err(store_error)
    }

    fn seal_signing_key(&self, kid: &str, plain: &str, sealed: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| diesel::update(
            signing_keys::table
                .find(kid)
                .filter(signing_keys::private_key.eq(plain))
        )
        .set(signing_keys::private_key.eq(sealed))
        .execute(c))
        .map(|n| n == 1)
        .map_err(store_error)
    }

    fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        at: UnixTime,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| diesel::insert_into(server_secrets::table)
            .values((
                server_secrets::name.eq(name),
                server_secrets::value.eq(candidate),
                server_secrets::created_at.eq(at.secs()),
            ))
            .on_conflict_do_nothing()
            .execute(c))
        .map_err(store_error)?;
        on_backend!(&mut *conn, |c| server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .get_result(c))
        .map_err(store_error)
    }

    fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(signing_keys::table)
            .values(KeyRow::from(key))
            .execute(&mut *conn)
            .map(drop)
            .map_err(store_error)
    }
}

//! [`KeyStore`] on both backends.

use auth_core::{KeyStore, StoreError, StoredSigningKey, UnixTime};
use diesel::prelude::*;

use crate::Database;
use crate::error::store_error;
use crate::schema::signing_keys;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    algorithm: String,
    private_key: String,
    public_key: String,
    created_at: i64,
}

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

    fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(signing_keys::table)
            .values(KeyRow {
                kid: key.kid.clone(),
                algorithm: key.algorithm.clone(),
                private_key: key.private_key.clone(),
                public_key: key.public_key.clone(),
                created_at: key.created_at.secs(),
            })
            .execute(&mut *conn)
            .map(drop)
            .map_err(store_error)
    }
}

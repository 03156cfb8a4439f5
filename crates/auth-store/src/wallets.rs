//! [`WalletStore`] on both backends. Status changes that end sessions (suspending a
//! wallet or an app, rotating a password, deleting a wallet) revoke them in the same
//! transaction.

use auth_core::{
    App, AppId, Page, PasswordHash, PrincipalKind, Status, StoreError, UnixTime, Username, Wallet,
    WalletChange, WalletId, WalletRole, WalletStore,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::DbConnection;
use crate::connection::on_backend;
use crate::error::store_error;
use crate::schema::{apps, sessions, wallets};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = apps)]
pub(crate) struct AppRow {
    id: String,
    name: String,
    status: String,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = wallets)]
pub(crate) struct WalletRow {
    id: String,
    app_id: String,
    username: String,
    username_normalized: String,
    password_hash: String,
    role: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(AsChangeset)]
#[diesel(table_name = wallets)]
struct WalletChangeRow<'a> {
    status: Option<&'a str>,
    role: Option<&'a str>,
    password_hash: Option<&'a str>,
    updated_at: i64,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Backend(format!("{id}: corrupt {what}"))
}

impl TryFrom<AppRow> for App {
    type Error = StoreError;

    fn try_from(r: AppRow) -> Result<Self, StoreError> {
        Ok(App {
            status: Status::parse(&r.status).map_err(|_| corrupt("status", &r.id))?,
            id: AppId::parse(&r.id).map_err(|_| corrupt("id", &r.id))?,
            name: r.name,
            created_at: UnixTime(r.created_at),
        })
    }
}

impl From<&Wallet> for WalletRow {
    fn from(w: &Wallet) -> Self {
        Self {
            id: w.id.to_string(),
            app_id: w.app_id.as_str().to_owned(),
            username: w.username.clone(),
            username_normalized: w.username.to_ascii_lowercase(),
            password_hash: w.password_hash.as_str().to_owned(),
            role: w.role.as_str().to_owned(),
            status: w.status.as_str().to_owned(),
            created_at: w.created_at.secs(),
            updated_at: w.updated_at.secs(),
        }
    }
}

impl TryFrom<WalletRow> for Wallet {
    type Error = StoreError;

    fn try_from(r: WalletRow) -> Result<Self, StoreError> {
        Ok(Wallet {
            app_id: AppId::parse(&r.app_id).map_err(|_| corrupt("app id", &r.id))?,
            role: WalletRole::parse(&r.role).map_err(|_| corrupt("role", &r.id))?,
            status: Status::parse(&r.status).map_err(|_| corrupt("status", &r.id))?,
            password_hash: PasswordHash::from_stored(r.password_hash),
            username: r.username,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
            id: WalletId::from_stored(r.id),
        })
    }
}

/// Revokes every live session of the given wallets (inside the caller's transaction).
fn revoke_wallet_sessions(
    conn: &mut DbConnection,
    ids: &[String],
    at: UnixTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::principal_kind.eq(PrincipalKind::Wallet.as_str()))
            .filter(sessions::principal_id.eq_any(ids))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(at.secs())))
    .execute(conn)
}

pub(crate) fn offset_limit(page: Page) -> (i64, i64) {
    (i64::from(page.offset), i64::from(page.limit))
}

pub(crate) fn count_to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl WalletStore for Database {
    fn create_app(&self, app: &App) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(apps::table)
            .values(AppRow {
                id: app.id.as_str().to_owned(),
                name: app.name.clone(),
                status: app.status.as_str().to_owned(),
                created_at: app.created_at.secs(),
            })
            .execute(&mut *conn)
            .map(drop)
            .map_err(store_error)
    }

    fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| apps::table
            .find(id.as_str())
            .select(AppRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(App::try_from)
        .transpose()
    }

    fn list_apps(&self, page: Page) -> Result<(Vec<App>, u64), StoreError> {
        let mut conn = self.conn()?;
        let (offset, limit) = offset_limit(page);
        let rows = apps::table
            .order((apps::created_at, apps::id))
            .offset(offset)
            .limit(limit)
            .select(AppRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?;
        let total: i64 = apps::table
            .count()
            .get_result(&mut *conn)
            .map_err(store_error)?;
        let apps = rows
            .into_iter()
            .map(App::try_from)
            .collect::<Result<_, _>>()?;
        Ok((apps, count_to_u64(total)))
    }

    fn set_app_status(&self, id: &AppId, status: Status, at: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            let found = diesel::update(apps::table.find(id.as_str()))
                .set(apps::status.eq(status.as_str()))
                .execute(conn)?;
            if found == 1 && status == Status::Suspended {
                let ids: Vec<String> = wallets::table
                    .filter(wallets::app_id.eq(id.as_str()))
                    .select(wallets::id)
                    .load(conn)?;
                revoke_wallet_sessions(conn, &ids, at)?;
            }
            Ok(found == 1)
        })
        .map_err(store_error)
    }

    fn create_wallet(&self, wallet: &Wallet) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(wallets::table)
            .values(WalletRow::from(wallet))
            .execute(&mut *conn)
            .map(drop)
            .map_err(store_error)
    }

    fn wallet_by_username(
        &self,
        app: &AppId,
        username: &Username,
    ) -> Result<Option<Wallet>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| wallets::table
            .filter(wallets::app_id.eq(app.as_str()))
            .filter(wallets::username_normalized.eq(username.normalized()))
            .select(WalletRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(Wallet::try_from)
        .transpose()
    }

    fn wallet(&self, id: &str) -> Result<Option<Wallet>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| wallets::table
            .find(id)
            .select(WalletRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(Wallet::try_from)
        .transpose()
    }

    fn list_wallets(&self, app: &AppId, page: Page) -> Result<(Vec<Wallet>, u64), StoreError> {
        let mut conn = self.conn()?;
        let (offset, limit) = offset_limit(page);
        let rows = wallets::table
            .filter(wallets::app_id.eq(app.as_str()))
            .order((wallets::created_at, wallets::id))
            .offset(offset)
            .limit(limit)
            .select(WalletRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?;
        let total: i64 = wallets::table
            .filter(wallets::app_id.eq(app.as_str()))
            .count()
            .get_result(&mut *conn)
            .map_err(store_error)?;
        let wallets = rows
            .into_iter()
            .map(Wallet::try_from)
            .collect::<Result<_, _>>()?;
        Ok((wallets, count_to_u64(total)))
    }

    fn update_wallet(
        &self,
        id: &str,
        change: &WalletChange,
        revoke: bool,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            // Only the fields being changed are written (None columns are skipped).
            let found = diesel::update(wallets::table.find(id))
                .set(WalletChangeRow {
                    status: change.status.map(Status::as_str),
                    role: change.role.as_ref().map(WalletRole::as_str),
                    password_hash: change.password_hash.as_ref().map(PasswordHash::as_str),
                    updated_at: at.secs(),
                })
                .execute(conn)?;
            if found == 0 {
                return Ok(None);
            }
            let revoked = if revoke {
                revoke_wallet_sessions(conn, &[id.to_owned()], at)?
            } else {
                0
            };
            Ok(Some(u64::try_from(revoked).unwrap_or(0)))
        })
        .map_err(store_error)
    }

    fn rehash_wallet_password(
        &self,
        id: &str,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            wallets::table
                .find(id)
                .filter(wallets::password_hash.eq(from.as_str())),
        )
        .set((
            wallets::password_hash.eq(to.as_str()),
            wallets::updated_at.eq(at.secs()),
        ))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(store_error)
    }

    fn delete_wallet(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            // The wallet first: its row lock makes a login that is storing a session
            // finish first, and the sessions' delete below then sees that session too.
            let deleted = diesel::delete(wallets::table.find(id)).execute(conn)?;
            // Refresh records go with the sessions (ON DELETE CASCADE).
            diesel::delete(
                sessions::table
                    .filter(sessions::principal_kind.eq(PrincipalKind::Wallet.as_str()))
                    .filter(sessions::principal_id.eq(id)),
            )
            .execute(conn)?;
            Ok(deleted == 1)
        })
        .map_err(store_error)
    }
}

//! [`AccountStore`] on both backends: each change with the sessions it ends, in one
//! transaction.

use auth_core::{
    AccountStore, Page, PasswordHash, PrincipalKind, Session, SessionId, StoreError, UnixTime,
    User, UserId,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::DbConnection;
use crate::error::store_error;
use crate::schema::{one_time_tokens, refresh_tokens, sessions, users};
use crate::sessions::SessionRow;
use crate::users::UserRow;
use crate::wallets::{count_to_u64, offset_limit};

/// Revokes the live sessions of a principal, except `keep` (inside the caller's
/// transaction); returns how many.
pub(crate) fn revoke_sessions(
    conn: &mut DbConnection,
    kind: PrincipalKind,
    principal_id: &str,
    keep: Option<&SessionId>,
    at: UnixTime,
) -> QueryResult<u64> {
    let live = sessions::table
        .filter(sessions::principal_kind.eq(kind.as_str()))
        .filter(sessions::principal_id.eq(principal_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(at.secs()))
        .filter(sessions::id.ne(keep.map_or("", SessionId::as_str)));
    let n = diesel::update(live)
        .set(sessions::revoked_at.eq(at.secs()))
        .execute(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes every session of a principal with its refresh records (inside the caller's
/// transaction).
fn delete_sessions(
    conn: &mut DbConnection,
    kind: PrincipalKind,
    principal_id: &str,
) -> QueryResult<()> {
    let ids = sessions::table
        .filter(sessions::principal_kind.eq(kind.as_str()))
        .filter(sessions::principal_id.eq(principal_id))
        .select(sessions::id);
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::session_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(
        sessions::table
            .filter(sessions::principal_kind.eq(kind.as_str()))
            .filter(sessions::principal_id.eq(principal_id)),
    )
    .execute(conn)?;
    Ok(())
}

impl AccountStore for Database {
    fn create_pending_user(&self, user: &User) -> Result<(), StoreError> {
        self.in_transaction(|conn| {
            diesel::insert_into(users::table)
                .values(UserRow::from(user))
                .execute(conn)
                .map(drop)
        })
    }

    fn username_taken(&self, username_normalized: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let found: i64 = users::table
            .filter(users::username_normalized.eq(username_normalized))
            .count()
            .get_result(&mut *conn)
            .map_err(store_error)?;
        Ok(found > 0)
    }

    fn change_password(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        keep: &SessionId,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError> {
        self.in_transaction(|conn| {
            let changed = diesel::update(
                users::table
                    .filter(users::id.eq(id.as_str()))
                    .filter(users::password_hash.eq(from.as_str())),
            )
            .set((
                users::password_hash.eq(to.as_str()),
                users::updated_at.eq(at.secs()),
            ))
            .execute(conn)?;
            if changed != 1 {
                return Ok(None);
            }
            revoke_sessions(conn, PrincipalKind::User, id.as_str(), Some(keep), at).map(Some)
        })
    }

    fn delete_user(&self, id: &UserId, at: UnixTime) -> Result<bool, StoreError> {
        self.in_transaction(|conn| {
            crate::devices::unlink(conn, id, None, at)?;
            delete_sessions(conn, PrincipalKind::User, id.as_str())?;
            diesel::delete(one_time_tokens::table.filter(one_time_tokens::user_id.eq(id.as_str())))
                .execute(conn)?;
            diesel::delete(
                crate::schema::mail_outbox::table
                    .filter(crate::schema::mail_outbox::user_id.eq(id.as_str())),
            )
            .execute(conn)?;
            let deleted = diesel::delete(users::table.find(id.as_str())).execute(conn)?;
            Ok(deleted == 1)
        })
    }

    fn list_users(&self, email: Option<&str>, page: Page) -> Result<(Vec<User>, u64), StoreError> {
        let mut conn = self.conn()?;
        let (offset, limit) = offset_limit(page);
        let pattern = email.map(like_pattern);
        let filtered = || {
            let mut query = users::table.into_boxed();
            if let Some(pattern) = &pattern {
                query = query.filter(users::email_normalized.like(pattern.clone()).escape('\\'));
            }
            query
        };
        let rows = filtered()
            .order((users::created_at, users::id))
            .offset(offset)
            .limit(limit)
            .select(UserRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?;
        let total: i64 = filtered()
            .count()
            .get_result(&mut *conn)
            .map_err(store_error)?;
        let users = rows
            .into_iter()
            .map(User::try_from)
            .collect::<Result<_, _>>()?;
        Ok((users, count_to_u64(total)))
    }

    fn live_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        now: UnixTime,
        page: Page,
    ) -> Result<(Vec<Session>, u64), StoreError> {
        let mut conn = self.conn()?;
        let (offset, limit) = offset_limit(page);
        let live = || {
            sessions::table
                .filter(sessions::principal_kind.eq(kind.as_str()))
                .filter(sessions::principal_id.eq(principal_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now.secs()))
        };
        let rows = live()
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .offset(offset)
            .limit(limit)
            .select(SessionRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?;
        let total: i64 = live().count().get_result(&mut *conn).map_err(store_error)?;
        let sessions = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<_, _>>()?;
        Ok((sessions, count_to_u64(total)))
    }

    fn revoke_own_session(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        id: &SessionId,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        self.in_transaction(|conn| {
            let n = diesel::update(
                sessions::table
                    .filter(sessions::id.eq(id.as_str()))
                    .filter(sessions::principal_kind.eq(kind.as_str()))
                    .filter(sessions::principal_id.eq(principal_id))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(at.secs())),
            )
            .set(sessions::revoked_at.eq(at.secs()))
            .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn revoke_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        keep: Option<&SessionId>,
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        self.in_transaction(|conn| revoke_sessions(conn, kind, principal_id, keep, at))
    }
}

/// A `LIKE` pattern matching addresses that contain `text` literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

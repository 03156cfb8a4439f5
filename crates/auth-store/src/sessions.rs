//! [`SessionStore`] on both backends. The compare-and-set in `advance_session` is one
//! conditional `UPDATE` inside a write transaction, so it holds across processes.

use crate::connection::on_backend;
use crate::statement::Prepared;
use auth_core::session::RotationKey;
use auth_core::{
    CredentialGuard, PrincipalKind, RefreshRecord, Session, SessionId, SessionStore, Status,
    StoreError, TokenHash, UnixTime, UserStatus,
};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::store_error;
use crate::schema::{apps, refresh_tokens, sessions, users, wallets};
use crate::{Backend, Database};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    id: String,
    principal_kind: String,
    principal_id: String,
    generation: i64,
    current_hash: String,
    current_expires_at: i64,
    rotated_at: Option<i64>,
    rotation_key: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshRow {
    token_hash: String,
    session_id: String,
    generation: i64,
    expires_at: i64,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.as_str().to_owned(),
            principal_kind: s.kind.as_str().to_owned(),
            principal_id: s.principal_id.clone(),
            generation: s.generation,
            current_hash: s.current_hash.as_str().to_owned(),
            current_expires_at: s.current_expires_at.secs(),
            rotated_at: s.rotated_at.map(UnixTime::secs),
            rotation_key: s.rotation_key.as_str().to_owned(),
            created_at: s.created_at.secs(),
            expires_at: s.expires_at.secs(),
            revoked_at: s.revoked_at.map(UnixTime::secs),
        }
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        let kind = PrincipalKind::parse(&r.principal_kind)
            .ok_or_else(|| StoreError::Backend(format!("session {}: corrupt kind", r.id)))?;
        Ok(Session {
            id: SessionId::from_stored(r.id),
            kind,
            principal_id: r.principal_id,
            generation: r.generation,
            current_hash: TokenHash::from_stored(r.current_hash),
            current_expires_at: UnixTime(r.current_expires_at),
            rotated_at: r.rotated_at.map(UnixTime),
            rotation_key: RotationKey::from_stored(r.rotation_key),
            created_at: UnixTime(r.created_at),
            expires_at: UnixTime(r.expires_at),
            revoked_at: r.revoked_at.map(UnixTime),
        })
    }
}

impl From<&RefreshRecord> for RefreshRow {
    fn from(r: &RefreshRecord) -> Self {
        Self {
            token_hash: r.hash.as_str().to_owned(),
            session_id: r.session_id.as_str().to_owned(),
            generation: r.generation,
            expires_at: r.expires_at.secs(),
        }
    }
}

impl From<RefreshRow> for RefreshRecord {
    fn from(r: RefreshRow) -> Self {
        RefreshRecord {
            hash: TokenHash::from_stored(r.token_hash),
            session_id: SessionId::from_stored(r.session_id),
            generation: r.generation,
            expires_at: UnixTime(r.expires_at),
        }
    }
}

/// Inserts a session and its first token (inside the caller's transaction).
pub(crate) fn insert_session(
    conn: &mut DbConnection,
    session: &Session,
    first: &RefreshRecord,
) -> QueryResult<()> {
    on_backend!(conn, |c| {
        diesel::insert_into(sessions::table)
            .values(SessionRow::from(session))
            .execute(c)?;
        diesel::insert_into(refresh_tokens::table)
            .values(RefreshRow::from(first))
            .execute(c)?;
        Ok(())
    })
}

/// Whether the credential of `guard` is still current: its principal exists and is active
/// (a wallet's app too) with the same password hash. On PostgreSQL the rows read are
/// share-locked until the transaction ends, so a concurrent rotation, suspension or
/// deletion waits for the session being stored, and then sees it; SQLite's writers are
/// serialised already.
fn credential_is_current(conn: &mut DbConnection, guard: &CredentialGuard) -> QueryResult<bool> {
    let id = guard.principal_id.as_str();
    let hash = guard.password_hash.as_str();
    let postgres = matches!(conn, DbConnection::Postgres(_));
    if guard.kind == PrincipalKind::User {
        if postgres {
            diesel::sql_query("SELECT 1 FROM users WHERE id = $1 FOR SHARE")
                .bind::<diesel::sql_types::Text, _>(id)
                .execute(conn)?;
        }
        let found: i64 = users::table
            .filter(users::id.eq(id))
            .filter(users::password_hash.eq(hash))
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .count()
            .get_result(conn)?;
        return Ok(found == 1);
    }
    if postgres {
        diesel::sql_query(
            "SELECT 1 FROM wallets w JOIN apps a ON a.id = w.app_id WHERE w.id = $1 FOR SHARE",
        )
        .bind::<diesel::sql_types::Text, _>(id)
        .execute(conn)?;
    }
    let wallet: Option<String> = wallets::table
        .filter(wallets::id.eq(id))
        .filter(wallets::password_hash.eq(hash))
        .filter(wallets::status.eq(Status::Active.as_str()))
        .select(wallets::app_id)
        .get_result(conn)
        .optional()?;
    let Some(app_id) = wallet else {
        return Ok(false);
    };
    let app: i64 = apps::table
        .filter(apps::id.eq(app_id))
        .filter(apps::status.eq(Status::Active.as_str()))
        .count()
        .get_result(conn)?;
    Ok(app == 1)
}

/// Binds, in this order, the eleven columns of a new session and the four of its first
/// token to the next placeholders of `statement`, as `insert_session` writes them.
pub(crate) fn bind_session<'a>(
    statement: Prepared<'a>,
    session: &'a Session,
    first: &'a RefreshRecord,
) -> Prepared<'a> {
    statement
        .text(session.id.as_str())
        .text(session.kind.as_str())
        .text(&session.principal_id)
        .int(session.generation)
        .text(session.current_hash.as_str())
        .int(session.current_expires_at.secs())
        .optional_int(session.rotated_at.map(UnixTime::secs))
        .text(session.rotation_key.as_str())
        .int(session.created_at.secs())
        .int(session.expires_at.secs())
        .optional_int(session.revoked_at.map(UnixTime::secs))
        .text(first.hash.as_str())
        .text(first.session_id.as_str())
        .int(first.generation)
        .int(first.expires_at.secs())
}

/// A statement that advances session `id` from `from_generation` to `next`, with its
/// values bound in the order both backends' statements number them: `$1` the new
/// generation, `$2` its token hash, `$3` its expiry, `$4` the rotation time, `$5` the
/// session, `$6` the generation it must be at.
fn advancing<'a>(
    sql: &'static str,
    id: &'a SessionId,
    from_generation: i64,
    next: &'a RefreshRecord,
    rotated_at: UnixTime,
) -> Prepared<'a> {
    Prepared::new(sql)
        .int(next.generation)
        .text(next.hash.as_str())
        .int(next.expires_at.secs())
        .int(rotated_at.secs())
        .text(id.as_str())
        .int(from_generation)
}

/// The first part of a rotation on PostgreSQL: the compare-and-set on the generation, with
/// the values of [`advancing`].
macro_rules! pg_advanced {
    () => {
        "WITH advanced AS (
             UPDATE sessions
                SET generation = $1, current_hash = $2, current_expires_at = $3, rotated_at = $4
              WHERE id = $5 AND generation = $6 AND revoked_at IS NULL
          RETURNING id)"
    };
}

/// The last part: the new token recorded in the chain, once the session has advanced.
macro_rules! pg_record_next {
    () => {
        "INSERT INTO refresh_tokens (token_hash, session_id, generation, expires_at)
         SELECT $2, id, $1, $3 FROM advanced"
    };
}

/// A rotation on PostgreSQL, one statement.
const PG_ADVANCE: &str = concat!(pg_advanced!(), "\n", pg_record_next!());

/// A rotation of a device's session on PostgreSQL, which also records device `$7` as seen.
/// Every sub-statement of a WITH runs whether read or not; `seen` changes a row only once
/// the session has advanced.
const PG_ADVANCE_DEVICE: &str = concat!(
    pg_advanced!(),
    ",
     seen AS (
         UPDATE devices SET last_seen_at = $4
          WHERE id = $7 AND EXISTS (SELECT 1 FROM advanced))
     ",
    pg_record_next!()
);

impl SessionStore for Database {
    fn create_session(&self, session: &Session, first: &RefreshRecord) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            let (session, first) = (session.clone(), first.clone());
            return self.group_write(move |conn| insert_session(conn, &session, &first));
        }
        self.on_postgres(|pg| {
            // One statement, all or nothing, instead of BEGIN, two INSERTs and COMMIT: three
            // round trips fewer per login. The token's foreign key is checked at the end of
            // the statement, when the session exists.
            bind_session(
                Prepared::new(
                    "WITH session AS (
                     INSERT INTO sessions (id, principal_kind, principal_id, generation,
                                           current_hash, current_expires_at, rotated_at,
                                           rotation_key, created_at, expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
                 INSERT INTO refresh_tokens (token_hash, session_id, generation, expires_at)
                 VALUES ($12, $13, $14, $15)",
                ),
                session,
                first,
            )
            .execute(pg)
            .map(drop)
        })
    }

    fn create_session_guarded(
        &self,
        session: &Session,
        first: &RefreshRecord,
        guard: &CredentialGuard,
    ) -> Result<bool, StoreError> {
        let (session, first, guard) = (session.clone(), first.clone(), guard.clone());
        let write = move |conn: &mut DbConnection| {
            if !credential_is_current(conn, &guard)? {
                return Ok(false);
            }
            insert_session(conn, &session, &first)?;
            Ok(true)
        };
        if self.backend() == Backend::Sqlite {
            return self.group_write(write);
        }
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, write)
            .map_err(store_error)
    }

    fn find_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, Session)>, StoreError> {
        let mut conn = self.conn()?;
        let found = on_backend!(&mut *conn, |c| refresh_tokens::table
            .inner_join(sessions::table)
            .filter(refresh_tokens::token_hash.eq(hash.as_str()))
            .select((RefreshRow::as_select(), SessionRow::as_select()))
            .get_result::<(RefreshRow, SessionRow)>(c)
            .optional())
        .map_err(store_error)?;
        found
            .map(|(record, session)| Ok((record.into(), session.try_into()?)))
            .transpose()
    }

    fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| sessions::table
            .find(id.as_str())
            .select(SessionRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(Session::try_from)
        .transpose()
    }

    fn advance_session(
        &self,
        session: &Session,
        from_generation: i64,
        next: &RefreshRecord,
        rotated_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let device = (session.kind == PrincipalKind::Device).then_some(&session.principal_id);
        if self.backend() == Backend::Postgres {
            // One statement, atomic on its own: the session advances and its new link is
            // recorded (and a device's last-seen time moves), or nothing changes. It saves
            // the BEGIN and COMMIT round trips of an explicit transaction, a third of a
            // rotation's time on PostgreSQL. A concurrent rotation re-checks `generation`
            // after the first commits (READ COMMITTED), so exactly one of them advances.
            return self.on_postgres(|pg| {
                let advance = |sql| advancing(sql, &session.id, from_generation, next, rotated_at);
                match device {
                    Some(device) => advance(PG_ADVANCE_DEVICE).text(device),
                    None => advance(PG_ADVANCE),
                }
                .execute(pg)
                .map(|inserted| inserted == 1)
            });
        }
        let (id, next, device) = (session.id.clone(), next.clone(), device.cloned());
        self.group_write(move |conn| {
            on_backend!(conn, |c| {
                // Not `diesel::update`, which is parsed anew on every execution.
                let advanced = advancing(
                    "UPDATE sessions
                        SET generation = $1, current_hash = $2, current_expires_at = $3,
                            rotated_at = $4
                      WHERE id = $5 AND generation = $6 AND revoked_at IS NULL",
                    &id,
                    from_generation,
                    &next,
                    rotated_at,
                )
                .execute(c)?;
                if advanced == 1 {
                    diesel::insert_into(refresh_tokens::table)
                        .values(RefreshRow::from(&next))
                        .execute(c)?;
                    if let Some(device) = &device {
                        Prepared::new(crate::devices::TOUCH)
                            .int(rotated_at.secs())
                            .text(device)
                            .execute(c)?;
                    }
                }
                Ok(advanced == 1)
            })
        })
    }

    fn purge_sessions(
        &self,
        ended_before: UnixTime,
        revoked_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let ids: Vec<String> = sessions::table
            .filter(
                sessions::expires_at
                    .lt(ended_before.secs())
                    .or(sessions::revoked_at.lt(revoked_before.secs())),
            )
            .select(sessions::id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *conn)
            .map_err(store_error)?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Refresh records go with their sessions (ON DELETE CASCADE); deleting twice from
        // two processes is harmless.
        diesel::delete(sessions::table.filter(sessions::id.eq_any(&ids)))
            .execute(&mut *conn)
            .map_err(store_error)
    }

    fn revoke_session(&self, id: &SessionId, at: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            sessions::table
                .filter(sessions::id.eq(id.as_str()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(Some(at.secs())))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(store_error)
    }
}

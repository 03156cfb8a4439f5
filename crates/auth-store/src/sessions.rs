//! [`SessionStore`] on both backends. The compare-and-set in `advance_session` is one
//! conditional `UPDATE` (PostgreSQL: one statement; SQLite: inside a write transaction),
//! so it holds across processes.

use auth_core::session::RotationKey;
use auth_core::{
    App, CredentialGuard, FoundRefresh, PrincipalKind, RefreshRecord, Session, SessionId,
    SessionOrigin, SessionPrincipal, SessionStore, Status, StoreError, TokenHash, UnixTime,
    UserStatus,
};
use diesel::prelude::*;

use crate::connection::{DbConnection, on_backend};
use crate::devices::DeviceRow;
use crate::error::store_error;
use crate::schema::{apps, devices, refresh_tokens, sessions, users, wallets};
use crate::statement::statement;
use crate::users::UserRow;
use crate::wallets::{AppRow, WalletRow};
use crate::{Backend, Database, postgres, sqlite};

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
    user_agent: Option<String>,
    ip_address: Option<String>,
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
            user_agent: s.origin.user_agent.clone(),
            ip_address: s.origin.ip_address.clone(),
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
            origin: SessionOrigin {
                user_agent: r.user_agent,
                ip_address: r.ip_address,
            },
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

/// Inserts a session (inside the caller's transaction).
pub(crate) fn insert_session(conn: &mut DbConnection, session: &Session) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(sessions::table)
        .values(SessionRow::from(session))
        .execute(c)
        .map(drop))
}

/// Whether the credential of `guard` is still current: its principal exists and is active
/// (a wallet's app too) with the same password hash. On PostgreSQL the rows read are
/// share-locked until the transaction ends, so a concurrent rotation, suspension or
/// deletion waits for the session being stored, and then sees it; SQLite's writers are
/// serialised already.
fn credential_is_current(conn: &mut DbConnection, guard: &CredentialGuard) -> QueryResult<bool> {
    let id = guard.principal_id.as_str();
    let hash = guard.password_hash.as_str();
    if let DbConnection::Postgres(pg) = conn {
        postgres::lock_credential(pg, guard)?;
    }
    if guard.kind == PrincipalKind::User {
        let found: i64 = users::table
            .filter(users::id.eq(id))
            .filter(users::password_hash.eq(hash))
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .count()
            .get_result(conn)?;
        return Ok(found == 1);
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

statement! {
    /// The values of a rotation, on either backend: session `session_id` moves from
    /// `from_generation` to `generation`, whose token is `current_hash`.
    pub(crate) struct Advance<'a> {
        session_id: &'a str,
        from_generation: i64,
        generation: i64,
        current_hash: &'a str,
        current_expires_at: i64,
        rotated_at: i64,
    }
}

impl<'a> Advance<'a> {
    /// `session` advancing from `from_generation` to `next` at `rotated_at`.
    pub(crate) fn of(
        session: &'a Session,
        from_generation: i64,
        next: &'a RefreshRecord,
        rotated_at: UnixTime,
    ) -> Self {
        Self {
            session_id: session.id.as_str(),
            from_generation,
            generation: next.generation,
            current_hash: next.hash.as_str(),
            current_expires_at: next.expires_at.secs(),
            rotated_at: rotated_at.secs(),
        }
    }
}

/// Sessions the purge deletes per shared write on SQLite (see `bulk_group_write`): pieces
/// of 100 in transactions of their own held refreshes at 200/s up to 35 ms past their p99.
const SQLITE_PURGE_PER_WRITE: usize = 10;

/// A session's row and the rows of its principal.
type PrincipalRows = (
    SessionRow,
    Option<UserRow>,
    Option<DeviceRow>,
    Option<WalletRow>,
    Option<AppRow>,
);

impl SessionStore for Database {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            let session = session.clone();
            return self.group_write(move |conn| insert_session(conn, &session));
        }
        self.on_postgres(|pg| postgres::create_session(pg, None, session))
    }

    fn create_session_guarded(
        &self,
        session: &Session,
        guard: &CredentialGuard,
    ) -> Result<bool, StoreError> {
        let (session, guard) = (session.clone(), guard.clone());
        let write = move |conn: &mut DbConnection| {
            if !credential_is_current(conn, &guard)? {
                return Ok(false);
            }
            insert_session(conn, &session)?;
            Ok(true)
        };
        if self.backend() == Backend::Sqlite {
            return self.group_write(write);
        }
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, write)
            .map_err(store_error)
    }

    fn find_session_with_principal(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<SessionPrincipal>)>, StoreError> {
        let mut conn = self.conn()?;
        // Each join matches only for the session's own kind: ids are unique per table, not
        // across them.
        let found = on_backend!(&mut *conn, |c| sessions::table
            .left_join(
                users::table.on(users::id
                    .eq(sessions::principal_id)
                    .and(sessions::principal_kind.eq(PrincipalKind::User.as_str()))),
            )
            .left_join(
                devices::table.on(devices::id
                    .eq(sessions::principal_id)
                    .and(sessions::principal_kind.eq(PrincipalKind::Device.as_str()))),
            )
            .left_join(
                wallets::table.on(wallets::id
                    .eq(sessions::principal_id)
                    .and(sessions::principal_kind.eq(PrincipalKind::Wallet.as_str()))),
            )
            .left_join(apps::table.on(apps::id.eq(wallets::app_id)))
            .filter(sessions::id.eq(id.as_str()))
            .select((
                SessionRow::as_select(),
                Option::<UserRow>::as_select(),
                Option::<DeviceRow>::as_select(),
                Option::<WalletRow>::as_select(),
                Option::<AppRow>::as_select(),
            ))
            .get_result::<PrincipalRows>(c)
            .optional())
        .map_err(store_error)?;
        let Some((session, user, device, wallet, app)) = found else {
            return Ok(None);
        };
        let principal = match (user, device, wallet) {
            (Some(user), _, _) => Some(SessionPrincipal::User(user.try_into()?)),
            (_, Some(device), _) => Some(SessionPrincipal::Device(device.try_into()?)),
            (_, _, Some(wallet)) => Some(SessionPrincipal::Wallet(
                wallet.try_into()?,
                app.map(App::try_from).transpose()?,
            )),
            _ => None,
        };
        Ok(Some((session.try_into()?, principal)))
    }

    fn find_refresh_with_principal(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<FoundRefresh>, StoreError> {
        // Only tokens of sessions started before tokens named their session have a record:
        // a second lookup on a path that fades out as those sessions end.
        let record = {
            let mut conn = self.conn()?;
            on_backend!(&mut *conn, |c| refresh_tokens::table
                .find(hash.as_str())
                .select(RefreshRow::as_select())
                .get_result(c)
                .optional())
            .map_err(store_error)?
        };
        let Some(record) = record.map(RefreshRecord::from) else {
            return Ok(None);
        };
        Ok(self
            .find_session_with_principal(&record.session_id)?
            .map(|(session, principal)| (record, session, principal)))
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
        if self.backend() == Backend::Postgres {
            return self.on_postgres(|pg| {
                postgres::advance_session(pg, session, from_generation, next, rotated_at)
            });
        }
        let (session, next) = (session.clone(), next.clone());
        self.group_write(move |conn| {
            sqlite::advance_session(conn.sqlite()?, &session, from_generation, &next, rotated_at)
        })
    }

    fn purge_sessions(
        &self,
        ended_before: UnixTime,
        revoked_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids = {
            let mut conn = self.conn()?;
            // Two reads, each along its own partial index (an OR of the two would scan the
            // table from its start for every batch): live sessions past their lifetime,
            // and sessions revoked long enough ago (whatever their lifetime). Each is
            // ordered by its index's key: PostgreSQL, its statistics not yet told of the
            // rows deleted, otherwise chose to scan the table from its start for every
            // batch, through every row the batches before had deleted (2 s a batch a
            // million rows in).
            let mut ids: Vec<String> = on_backend!(&mut *conn, |c| sessions::table
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.lt(ended_before.secs()))
                .order(sessions::expires_at)
                .select(sessions::id)
                .limit(limit)
                .load(c))
            .map_err(store_error)?;
            let room = limit - i64::try_from(ids.len()).unwrap_or(limit);
            if room > 0 {
                ids.extend(
                    on_backend!(&mut *conn, |c| sessions::table
                        .filter(sessions::revoked_at.lt(revoked_before.secs()))
                        .order(sessions::revoked_at)
                        .select(sessions::id)
                        .limit(room)
                        .load::<String>(c))
                    .map_err(store_error)?,
                );
            }
            ids
        };
        // Refresh records go with their sessions (ON DELETE CASCADE); deleting twice from
        // two processes is harmless.
        if self.backend() == Backend::Postgres {
            return diesel::delete(sessions::table.filter(sessions::id.eq_any(&ids)))
                .execute(&mut *self.conn()?)
                .map_err(store_error);
        }
        // On SQLite every deletion holds the one write lock: it goes in small pieces, each
        // in the transaction (and fsync) that this process's next writes share, so a
        // refresh waits for one small piece at most and no commit is added; the batches
        // carrying them copy the write-ahead log in small steps.
        let mut deleted = 0;
        for chunk in ids.chunks(SQLITE_PURGE_PER_WRITE) {
            let chunk = chunk.to_vec();
            deleted += self.bulk_group_write(move |c| {
                on_backend!(c, |c| diesel::delete(
                    sessions::table.filter(sessions::id.eq_any(&chunk))
                )
                .execute(c))
            })?;
        }
        Ok(deleted)
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

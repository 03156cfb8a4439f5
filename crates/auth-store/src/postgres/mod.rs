//! PostgreSQL's hot operations, one function each. Each is one statement where it can be:
//! a statement is atomic on its own, and saves the BEGIN and COMMIT round trips of an
//! explicit transaction (a third of a rotation's time).

mod statements;

use auth_core::{CredentialGuard, Device, PrincipalKind, RefreshRecord, Session, UnixTime};
use diesel::{Connection, PgConnection, QueryResult, RunQueryDsl};

use crate::audit::EventRow;
use crate::schema::audit_events;
use crate::sessions::Advance;
use crate::statement::Statement;
use statements::{AdvanceSession, InsertSession, LockUser, LockWallet, NewSession};

impl<'a> NewSession<'a> {
    fn of(session: &'a Session) -> Self {
        Self {
            session_id: session.id.as_str(),
            principal_kind: session.kind.as_str(),
            principal_id: &session.principal_id,
            generation: session.generation,
            current_hash: session.current_hash.as_str(),
            current_expires_at: session.current_expires_at.secs(),
            rotated_at: session.rotated_at.map(UnixTime::secs),
            rotation_key: session.rotation_key.as_str(),
            created_at: session.created_at.secs(),
            expires_at: session.expires_at.secs(),
            revoked_at: session.revoked_at.map(UnixTime::secs),
            user_agent: session.origin.user_agent.as_deref(),
            ip_address: session.origin.ip_address.as_deref(),
        }
    }
}

/// Stores a session, and `device` with it when it is new.
pub(crate) fn create_session(
    pg: &mut PgConnection,
    device: Option<&Device>,
    session: &Session,
) -> QueryResult<()> {
    let insert = InsertSession {
        device: device.map(|d| d.id.as_str()),
        client_device_id: device.map(|d| d.device_id.as_str()),
        platform: device.map(|d| d.platform.as_str()),
        device_created_at: device.map(|d| d.created_at.secs()),
        device_last_seen_at: device.map(|d| d.last_seen_at.secs()),
        session: NewSession::of(session),
    };
    Statement::of(&insert).execute(pg).map(drop)
}

/// Advances `session` from `from_generation` to `next` (and records a device's as seen);
/// whether it advanced (the statement selects the advanced session's id, so its row
/// count says). A concurrent rotation re-checks `generation` after the first
/// commits (READ COMMITTED), so exactly one of them advances.
pub(crate) fn advance_session(
    pg: &mut PgConnection,
    session: &Session,
    from_generation: i64,
    next: &RefreshRecord,
    rotated_at: UnixTime,
) -> QueryResult<bool> {
    let advance = AdvanceSession {
        device: (session.kind == PrincipalKind::Device).then_some(session.principal_id.as_str()),
        advance: Advance::of(session, from_generation, next, rotated_at),
    };
    Ok(Statement::of(&advance).execute(pg)? == 1)
}

/// Events per statement: the audit writer's whole batch (10 parameters each, 2,560 in
/// all, far below PostgreSQL's limit of 65,535).
const EVENTS_PER_STATEMENT: usize = 256;

/// Appends events to the audit trail: one multi-row statement per batch instead of a
/// round trip per event, which was most of the trail's cost (every refresh adds an
/// event). A single statement is atomic by itself, so only a batch larger than one needs
/// the two more round trips of a transaction.
pub(crate) fn record_events(pg: &mut PgConnection, rows: &[EventRow]) -> QueryResult<()> {
    let insert = |pg: &mut PgConnection, chunk: &[EventRow]| {
        diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(pg)
            .map(drop)
    };
    if rows.len() <= EVENTS_PER_STATEMENT {
        return insert(pg, rows);
    }
    pg.transaction(|pg| {
        rows.chunks(EVENTS_PER_STATEMENT)
            .try_for_each(|chunk| insert(pg, chunk))
    })
}

/// Share-locks the rows that make `guard`'s credential current (the principal's, and a
/// wallet's app) until the transaction ends, so that a concurrent rotation, suspension or
/// deletion waits for the session being stored, and then sees it.
pub(crate) fn lock_credential(pg: &mut PgConnection, guard: &CredentialGuard) -> QueryResult<()> {
    let id = guard.principal_id.as_str();
    match guard.kind {
        PrincipalKind::User => Statement::of(&LockUser { user: id }).execute(pg),
        _ => Statement::of(&LockWallet { wallet: id }).execute(pg),
    }
    .map(drop)
}

//! SQLite's hot writes, one function each. They run inside a batch of the group commit
//! ([`crate::group_commit`]), which holds the transaction: each function is the part of
//! one request's write.

mod statements;

use auth_core::{Device, PrincipalKind, RefreshRecord, Session, UnixTime};
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

use crate::audit::EventRow;
use crate::devices::{DeviceRow, TouchDevice};
use crate::schema::{audit_events, devices};
use crate::sessions::Advance;
use crate::statement::Statement;
use statements::AdvanceSession;

/// Stores a new device; its session is stored by the caller, in the same transaction.
pub(crate) fn create_device(c: &mut SqliteConnection, device: &Device) -> QueryResult<()> {
    diesel::insert_into(devices::table)
        .values(DeviceRow::from(device))
        .execute(c)
        .map(drop)
}

/// Advances `session` from `from_generation` to `next` and records a device's as seen;
/// whether it advanced.
pub(crate) fn advance_session(
    c: &mut SqliteConnection,
    session: &Session,
    from_generation: i64,
    next: &RefreshRecord,
    rotated_at: UnixTime,
) -> QueryResult<bool> {
    let advance = AdvanceSession {
        advance: Advance::of(session, from_generation, next, rotated_at),
    };
    if Statement::of(&advance).execute(c)? != 1 {
        return Ok(false);
    }
    if session.kind == PrincipalKind::Device {
        let touch = TouchDevice::at(&session.principal_id, rotated_at);
        Statement::of(&touch).execute(c)?;
    }
    Ok(true)
}

/// Appends events to the audit trail, sharing the commit (and its fsync) of the rotations
/// being written meanwhile; each row reuses one prepared statement.
pub(crate) fn record_events(c: &mut SqliteConnection, rows: &[EventRow]) -> QueryResult<()> {
    rows.iter().try_for_each(|row| {
        diesel::insert_into(audit_events::table)
            .values(row)
            .execute(c)
            .map(drop)
    })
}

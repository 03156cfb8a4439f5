//! [`DeviceStore`] on both backends.

use crate::connection::on_backend;
use crate::statement::Prepared;
use auth_core::{
    ClientDeviceId, Device, DeviceId, DeviceStore, Platform, PrincipalKind, RefreshRecord, Session,
    StoreError, TokenHash, UnixTime,
};
use diesel::prelude::*;

use crate::error::store_error;
use crate::schema::{devices, refresh_tokens, sessions};
use crate::sessions::{RefreshRow, SessionRow, bind_session, insert_session};
use crate::{Backend, Database};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
struct DeviceRow {
    id: String,
    device_id: String,
    platform: String,
    created_at: i64,
    last_seen_at: i64,
}

/// Records a device as seen: `$1` the time, `$2` the device. Every refresh of a device
/// runs it (with its rotation, in `advance_session`), so it is a statement prepared once
/// per connection, not `diesel::update`, which is parsed on every execution.
pub(crate) const TOUCH: &str = "UPDATE devices SET last_seen_at = $1 WHERE id = $2";

impl From<&Device> for DeviceRow {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.as_str().to_owned(),
            device_id: d.device_id.as_str().to_owned(),
            platform: d.platform.as_str().to_owned(),
            created_at: d.created_at.secs(),
            last_seen_at: d.last_seen_at.secs(),
        }
    }
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Backend(format!("device {}: corrupt {what}", r.id));
        Ok(Device {
            device_id: ClientDeviceId::parse(&r.device_id).map_err(|_| corrupt("device id"))?,
            platform: Platform::parse(&r.platform).map_err(|_| corrupt("platform"))?,
            id: DeviceId::from_stored(r.id),
            created_at: UnixTime(r.created_at),
            last_seen_at: UnixTime(r.last_seen_at),
        })
    }
}

impl DeviceStore for Database {
    fn create_device(
        &self,
        device: &Device,
        session: &Session,
        first_token: &RefreshRecord,
    ) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            let row = DeviceRow::from(device);
            let (session, first_token) = (session.clone(), first_token.clone());
            return self.group_write(move |conn| {
                on_backend!(&mut *conn, |c| diesel::insert_into(devices::table)
                    .values(&row)
                    .execute(c))?;
                insert_session(conn, &session, &first_token)
            });
        }
        self.on_postgres(|pg| {
            // One statement, all or nothing, instead of BEGIN, three INSERTs and COMMIT:
            // four round trips fewer per new device. The foreign keys are checked at the
            // end of the statement, when the device and the session exist; a device
            // registered concurrently makes the whole statement fail as a duplicate.
            let device_insert = Prepared::new(
                "WITH device AS (
                     INSERT INTO devices (id, device_id, platform, created_at, last_seen_at)
                     VALUES ($1, $2, $3, $4, $5)),
                 session AS (
                     INSERT INTO sessions (id, principal_kind, principal_id, generation,
                                           current_hash, current_expires_at, rotated_at,
                                           rotation_key, created_at, expires_at, revoked_at)
                     VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16))
                 INSERT INTO refresh_tokens (token_hash, session_id, generation, expires_at)
                 VALUES ($17, $18, $19, $20)",
            )
            .text(device.id.as_str())
            .text(device.device_id.as_str())
            .text(device.platform.as_str())
            .int(device.created_at.secs())
            .int(device.last_seen_at.secs());
            bind_session(device_insert, session, first_token)
                .execute(pg)
                .map(drop)
        })
    }

    fn device_by_key(
        &self,
        platform: Platform,
        device_id: &ClientDeviceId,
    ) -> Result<Option<Device>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| devices::table
            .filter(devices::platform.eq(platform.as_str()))
            .filter(devices::device_id.eq(device_id.as_str()))
            .select(DeviceRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(Device::try_from)
        .transpose()
    }

    fn device_by_id(&self, id: &str) -> Result<Option<Device>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| devices::table
            .find(id)
            .select(DeviceRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(Device::try_from)
        .transpose()
    }

    fn find_device_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, Session, Option<Device>)>, StoreError> {
        let mut conn = self.conn()?;
        let found = on_backend!(&mut *conn, |c| refresh_tokens::table
            .inner_join(sessions::table)
            .left_join(
                devices::table.on(devices::id
                    .eq(sessions::principal_id)
                    .and(sessions::principal_kind.eq(PrincipalKind::Device.as_str()))),
            )
            .filter(refresh_tokens::token_hash.eq(hash.as_str()))
            .select((
                RefreshRow::as_select(),
                SessionRow::as_select(),
                Option::<DeviceRow>::as_select(),
            ))
            .get_result::<(RefreshRow, SessionRow, Option<DeviceRow>)>(c)
            .optional())
        .map_err(store_error)?;
        found
            .map(|(record, session, device)| {
                let device = device.map(Device::try_from).transpose()?;
                Ok((record.into(), session.try_into()?, device))
            })
            .transpose()
    }

    fn touch_device(&self, id: &str, at: UnixTime) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            return self.on_postgres(|pg| {
                Prepared::new(TOUCH)
                    .int(at.secs())
                    .text(id)
                    .execute(pg)
                    .map(drop)
            });
        }
        // A grouped write, sharing its commit with the writes queued meanwhile (rotations,
        // the audit trail) instead of taking the writer and an fsync for itself.
        let id = id.to_owned();
        self.group_write(move |conn| {
            on_backend!(conn, |c| Prepared::new(TOUCH)
                .int(at.secs())
                .text(&id)
                .execute(c)
                .map(drop))
        })
    }

    fn purge_devices(&self, seen_before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            let candidates: Vec<String> = devices::table
                .filter(devices::last_seen_at.lt(seen_before.secs()))
                .select(devices::id)
                .limit(limit)
                .load(conn)?;
            if candidates.is_empty() {
                return Ok(0);
            }
            // Re-check the cutoff in the delete: a device seen since the select survives.
            let deleted = diesel::delete(
                devices::table
                    .filter(devices::id.eq_any(&candidates))
                    .filter(devices::last_seen_at.lt(seen_before.secs())),
            )
            .execute(conn)?;
            let survivors: Vec<String> = devices::table
                .filter(devices::id.eq_any(&candidates))
                .select(devices::id)
                .load(conn)?;
            let gone: Vec<&String> = candidates
                .iter()
                .filter(|id| !survivors.contains(id))
                .collect();
            // Their refresh tokens go with the sessions (ON DELETE CASCADE).
            diesel::delete(
                sessions::table
                    .filter(sessions::principal_kind.eq(PrincipalKind::Device.as_str()))
                    .filter(sessions::principal_id.eq_any(gone)),
            )
            .execute(conn)?;
            Ok(deleted)
        })
        .map_err(store_error)
    }
}

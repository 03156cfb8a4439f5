//! [`DeviceStore`] on both backends.

use auth_core::{
    ClientDeviceId, Device, DeviceId, DeviceLink, DeviceLinks, DeviceStore, Platform,
    PrincipalKind, Session, StoreError, UnixTime, UserId,
};
use diesel::prelude::*;

use crate::connection::{DbConnection, on_backend};
use crate::error::store_error;
use crate::schema::{devices, sessions};
use crate::sessions::insert_session;
use crate::statement::{Statement, statement};
use crate::{Backend, Database, postgres, sqlite};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
pub(crate) struct DeviceRow {
    id: String,
    device_id: String,
    platform: String,
    created_at: i64,
    last_seen_at: i64,
    user_id: Option<String>,
}

statement! {
    /// Records a device as seen: the same statement on both backends, prepared once per
    /// connection (every refresh of a device on SQLite runs it).
    pub(crate) struct TouchDevice<'a> {
        device: &'a str,
        last_seen_at: i64,
    }
    = "UPDATE devices SET last_seen_at = $last_seen_at WHERE id = $device";
}

impl<'a> TouchDevice<'a> {
    /// Device `id` seen at `at`.
    pub(crate) fn at(id: &'a str, at: UnixTime) -> Self {
        Self {
            device: id,
            last_seen_at: at.secs(),
        }
    }
}

impl From<&Device> for DeviceRow {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.as_str().to_owned(),
            device_id: d.device_id.as_str().to_owned(),
            platform: d.platform.as_str().to_owned(),
            created_at: d.created_at.secs(),
            last_seen_at: d.last_seen_at.secs(),
            user_id: d.user_id.as_ref().map(|id| id.as_str().to_owned()),
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
            user_id: r.user_id.map(UserId::from_stored),
        })
    }
}

impl DeviceStore for Database {
    fn create_device(&self, device: &Device, session: &Session) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            return self.on_postgres(|pg| postgres::create_session(pg, Some(device), session));
        }
        let (device, session) = (device.clone(), session.clone());
        self.group_write(move |conn| {
            sqlite::create_device(conn.sqlite()?, &device)?;
            insert_session(conn, &session)
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

    fn touch_device(&self, id: &str, at: UnixTime) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            let touch = TouchDevice::at(id, at);
            return self.on_postgres(|pg| Statement::of(&touch).execute(pg).map(drop));
        }
        // A grouped write, sharing its commit with the writes queued meanwhile (rotations,
        // the audit trail) instead of taking the writer and an fsync for itself.
        let id = id.to_owned();
        self.group_write(move |conn| {
            let touch = TouchDevice::at(&id, at);
            Statement::of(&touch).execute(conn.sqlite()?).map(drop)
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

impl DeviceLinks for Database {
    fn link_device(
        &self,
        id: &str,
        user: &UserId,
        _at: UnixTime,
    ) -> Result<DeviceLink, StoreError> {
        self.in_transaction(|conn| {
            // Only a device of nobody, or of this user already, takes the link: of two
            // users linking at once, the second finds the first's id in place.
            let linked = diesel::update(
                devices::table.filter(devices::id.eq(id)).filter(
                    devices::user_id
                        .is_null()
                        .or(devices::user_id.eq(user.as_str())),
                ),
            )
            .set(devices::user_id.eq(user.as_str()))
            .execute(conn)?;
            let device = devices::table
                .find(id)
                .select(DeviceRow::as_select())
                .get_result(conn)
                .optional()?;
            Ok(match device {
                None => Ok(DeviceLink::Unknown),
                Some(_) if linked == 0 => Ok(DeviceLink::LinkedToOther),
                Some(row) => Device::try_from(row).map(DeviceLink::Linked),
            })
        })?
    }

    fn linked_devices(&self, user: &UserId) -> Result<Vec<Device>, StoreError> {
        let mut conn = self.conn()?;
        devices::table
            .filter(devices::user_id.eq(user.as_str()))
            .order((devices::created_at, devices::id))
            .select(DeviceRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?
            .into_iter()
            .map(Device::try_from)
            .collect()
    }

    fn unlink_device(&self, user: &UserId, id: &str, at: UnixTime) -> Result<bool, StoreError> {
        self.in_transaction(|conn| unlink(conn, user, Some(id), at).map(|n| n == 1))
    }
}

/// Unlinks device `id` (or, with `None`, every device) from `user` and revokes the live
/// sessions of each, inside the caller's transaction; returns how many were unlinked.
pub(crate) fn unlink(
    conn: &mut DbConnection,
    user: &UserId,
    id: Option<&str>,
    at: UnixTime,
) -> QueryResult<usize> {
    let mut linked = devices::table
        .filter(devices::user_id.eq(user.as_str()))
        .select(devices::id)
        .into_boxed();
    if let Some(id) = id {
        linked = linked.filter(devices::id.eq(id));
    }
    let ids: Vec<String> = linked.load(conn)?;
    for device in &ids {
        crate::accounts::revoke_sessions(conn, PrincipalKind::Device, device, None, at)?;
    }
    diesel::update(devices::table.filter(devices::id.eq_any(&ids)))
        .set(devices::user_id.eq(None::<String>))
        .execute(conn)
}

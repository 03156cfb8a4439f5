//! Mobile devices that authenticate without credentials: a stable device id and a
//! platform, registered on first use.
//!
//! A device id is an identifier, not a secret: anyone who knows it can obtain a session
//! for that device. Device sessions therefore prove "this installation", never "this
//! person".

use serde::{Deserialize, Serialize};

use crate::session::Session;
use crate::{AuthError, StoreError, UnixTime};

/// The platforms the contract knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Platform {
    /// Apple iOS.
    #[serde(rename = "IOS")]
    Ios,
    /// Android.
    #[serde(rename = "ANDROID")]
    Android,
    /// A browser.
    #[serde(rename = "WEB")]
    Web,
}

impl Platform {
    /// Every platform, in the contract's order.
    pub const ALL: [Platform; 3] = [Self::Ios, Self::Android, Self::Web];

    /// Parses exactly `IOS`, `ANDROID` or `WEB`.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for anything else (including other cases).
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        match s {
            "IOS" => Ok(Self::Ios),
            "ANDROID" => Ok(Self::Android),
            "WEB" => Ok(Self::Web),
            _ => Err(AuthError::InvalidRequest(
                "platform must be one of IOS, ANDROID, WEB".into(),
            )),
        }
    }

    /// The contract's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "IOS",
            Self::Android => "ANDROID",
            Self::Web => "WEB",
        }
    }
}

/// The identifier a client chose for its device (the contract's `deviceId`): 8–128
/// characters of `A-Z a-z 0-9 . _ : -`. Not authd's id of the device (`dev_…`,
/// [`Device::id`]), and not a secret: anyone may claim any `deviceId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientDeviceId(String);

impl ClientDeviceId {
    /// Parses a device id.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when it is outside 8–128 characters or uses other
    /// characters.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let ok = (8..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(
                "deviceId must be 8-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'".into(),
            ))
        }
    }

    /// The id as sent by the client.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// authd's id for a device: a random UUID, the `sub` of its tokens. Not the client's
/// [`ClientDeviceId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// A UUIDv7 of `now`, for the same reason as session ids (see `SessionId::generate`).
    fn generate(now: UnixTime) -> Self {
        Self(crate::clock::uuid_v7(now).to_string())
    }

    /// Wraps an id read from storage or a verified token.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// authd's id for the device.
    pub id: DeviceId,
    /// The client's identifier.
    pub device_id: ClientDeviceId,
    /// The platform it registered with.
    pub platform: Platform,
    /// First authentication.
    pub created_at: UnixTime,
    /// Latest authentication or refresh.
    pub last_seen_at: UnixTime,
    /// The user the device is linked to, if any.
    pub user_id: Option<crate::UserId>,
}

impl Device {
    /// A device seen for the first time at `now`.
    #[must_use]
    pub fn new(device_id: ClientDeviceId, platform: Platform, now: UnixTime) -> Self {
        Self {
            id: DeviceId::generate(now),
            device_id,
            platform,
            created_at: now,
            last_seen_at: now,
            user_id: None,
        }
    }
}

/// Persistence of devices.
pub trait DeviceStore: Send + Sync {
    /// Stores a new device together with its first session, all or nothing.
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`], storing nothing, when a device with the
    /// same platform and device id exists (also under concurrent inserts);
    /// [`StoreError`] when storage fails.
    fn create_device(&self, device: &Device, session: &Session) -> Result<(), StoreError>;

    /// The device with this platform and device id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn device_by_key(
        &self,
        platform: Platform,
        device_id: &ClientDeviceId,
    ) -> Result<Option<Device>, StoreError>;

    /// The device with authd's id `id`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn device_by_id(&self, id: &str) -> Result<Option<Device>, StoreError>;

    /// Records that the device was seen at `at`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn touch_device(&self, id: &str, at: UnixTime) -> Result<(), StoreError>;

    /// Deletes up to `limit` devices last seen before `seen_before`, with their sessions
    /// and refresh tokens. Returns how many devices were deleted; call again until it
    /// returns less than `limit`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; a batch is deleted whole or not at all.
    fn purge_devices(&self, seen_before: UnixTime, limit: usize) -> Result<usize, StoreError>;
}

/// Devices deleted per batch by [`purge_inactive_devices`].
const PURGE_BATCH: usize = 500;

/// Deletes every device not seen for `inactive_secs` before `now`, with its sessions, in
/// bounded batches. Returns how many devices were deleted.
///
/// # Errors
/// [`AuthError::Store`] when storage fails; batches already deleted stay deleted.
pub fn purge_inactive_devices(
    store: &dyn DeviceStore,
    inactive_secs: i64,
    now: UnixTime,
) -> Result<usize, AuthError> {
    let cutoff = now.plus_secs(-inactive_secs);
    let mut total = 0;
    loop {
        let deleted = store.purge_devices(cutoff, PURGE_BATCH)?;
        total += deleted;
        if deleted < PURGE_BATCH {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_exactly_the_three_upper_case_names() {
        for (s, p) in [
            ("IOS", Platform::Ios),
            ("ANDROID", Platform::Android),
            ("WEB", Platform::Web),
        ] {
            assert_eq!(Platform::parse(s).unwrap(), p);
            assert_eq!(p.as_str(), s);
        }
        for bad in ["ios", "Android", "", "WINDOWS", " IOS"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_ids_follow_the_contract_alphabet_and_length() {
        for good in ["abcdefgh", "A1B2-C3D4.E5_F6:G7", &"x".repeat(128)] {
            assert!(ClientDeviceId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "short",
            &"x".repeat(129),
            "has space!",
            "ünïcode-id",
            "semi;colon1",
            "",
        ] {
            assert!(ClientDeviceId::parse(bad).is_err(), "{bad}");
        }
    }
}

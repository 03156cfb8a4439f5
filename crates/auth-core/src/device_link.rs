//! Devices linked to people: the device an app started with, tied to the account its user
//! logs in to, so that the device's tokens say whose it is (`userId`).

use crate::{Device, StoreError, UnixTime, UserId};

/// What linking a device found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceLink {
    /// The device is linked to the user now (it may have been already).
    Linked(Device),
    /// The device is linked to another user; nothing changed.
    LinkedToOther,
    /// No such device.
    Unknown,
}

/// Persistence of the links between devices and users.
pub trait DeviceLinks: Send + Sync {
    /// Links device `id` to `user`, unless another user has it.
    ///
    /// MUST be atomic: of two users linking one device at once, one gets
    /// [`DeviceLink::Linked`] and the other [`DeviceLink::LinkedToOther`].
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn link_device(&self, id: &str, user: &UserId, at: UnixTime) -> Result<DeviceLink, StoreError>;

    /// The devices linked to `user`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn linked_devices(&self, user: &UserId) -> Result<Vec<Device>, StoreError>;

    /// Unlinks device `id` from `user` and revokes the device's live sessions, in one
    /// transaction. Returns whether the device was linked to `user` (a device of another
    /// user is left alone).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is changed then.
    fn unlink_device(&self, user: &UserId, id: &str, at: UnixTime) -> Result<bool, StoreError>;
}

//! Mobile devices: registered on first use, then refreshed along their session.

use super::*;

/// A device together with fresh tokens for a new or rotated session.
#[derive(Debug)]
pub struct DeviceSession {
    /// The device.
    pub device: Device,
    /// Whether this call registered the device.
    pub new_device: bool,
    /// The tokens.
    pub tokens: IssuedTokens,
}

impl Authority {
    /// Authenticates a device by its id and platform, registering it on first use, and
    /// starts a session for it. Concurrent first calls for one device create one device.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn authenticate_device(
        &self,
        device_id: &ClientDeviceId,
        platform: Platform,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<DeviceSession, AuthError> {
        if let Some(device) = self.store.device_by_key(platform, device_id)? {
            return self.resume_device(device, origin, now);
        }
        let device = Device::new(device_id.clone(), platform, now);
        let mut new = session::start(PrincipalKind::Device, device.id.as_str(), now, &self.policy)?;
        new.session.origin = origin.clone();
        match self.store.create_device(&device, &new.session) {
            Ok(()) => {
                let tokens =
                    self.issue(&new.session, device_attributes(&device), new.token, now)?;
                Ok(DeviceSession {
                    device,
                    new_device: true,
                    tokens,
                })
            }
            // Another request registered it a moment ago.
            Err(StoreError::Duplicate) => {
                let device = self
                    .store
                    .device_by_key(platform, device_id)?
                    .ok_or_else(|| {
                        StoreError::Unavailable("device vanished while registering".into())
                    })?;
                self.resume_device(device, origin, now)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn resume_device(
        &self,
        mut device: Device,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<DeviceSession, AuthError> {
        self.store.touch_device(device.id.as_str(), now)?;
        device.last_seen_at = now;
        let tokens = self.start_session(
            PrincipalKind::Device,
            device.id.as_str(),
            device_attributes(&device),
            origin,
            now,
        )?;
        Ok(DeviceSession {
            device,
            new_device: false,
            tokens,
        })
    }

    /// Rotates a device's refresh token and issues a new access token.
    ///
    /// # Errors
    /// As [`session::rotate`]; [`AuthError::InvalidToken`] when the device was purged.
    pub fn refresh_device(
        &self,
        presented: &str,
        now: UnixTime,
    ) -> Result<DeviceSession, AuthError> {
        let presented = RefreshToken::parse(presented)?;
        // The token, its session and the device in one read.
        let (rotated, mut device) = session::rotate_admitting(
            self.store.as_ref(),
            &presented,
            PrincipalKind::Device,
            now,
            &self.policy,
            |_, principal| match principal {
                Some(SessionPrincipal::Device(device)) => Ok(device),
                _ => Err(AuthError::InvalidToken(
                    "the session's device no longer exists",
                )),
            },
        )?;
        // The rotation recorded the device as seen (a replay of it within the grace
        // window did not move it again).
        if let Some(rotated_at) = rotated.session.rotated_at {
            device.last_seen_at = device.last_seen_at.max(rotated_at);
        }
        let tokens = self.issue(
            &rotated.session,
            device_attributes(&device),
            rotated.token,
            now,
        )?;
        Ok(DeviceSession {
            device,
            new_device: false,
            tokens,
        })
    }

    /// The device with authd's id `id`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none; [`AuthError::Store`] when storage fails.
    pub fn device(&self, id: &str) -> Result<Device, AuthError> {
        self.store.device_by_id(id)?.ok_or(AuthError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn a_device_is_registered_on_first_use_and_recognised_after() {
        let (a, _) = authority();
        let first = device(&a, "device-0001", Platform::Ios, T0);
        assert!(first.new_device);
        let again = device(&a, "device-0001", Platform::Ios, T0.plus_secs(60));
        assert!(!again.new_device);
        assert_eq!(again.device.id, first.device.id);
        assert_eq!(again.device.created_at, T0);
        assert_eq!(again.device.last_seen_at, T0.plus_secs(60));
        assert_ne!(
            again.tokens.claims.sid, first.tokens.claims.sid,
            "each call is a new session"
        );
        let claims = a
            .authenticate(&again.tokens.access_token, T0.plus_secs(61))
            .unwrap();
        assert_eq!(claims.kind, PrincipalKind::Device);
        assert_eq!(claims.attributes.platform, Some(Platform::Ios));
        assert!(claims.attributes.roles.is_empty());
    }

    #[test]
    fn the_same_id_on_another_platform_is_another_device() {
        let (a, _) = authority();
        let ios = device(&a, "device-0001", Platform::Ios, T0);
        let web = device(&a, "device-0001", Platform::Web, T0);
        assert!(web.new_device);
        assert_ne!(ios.device.id, web.device.id);
    }

    #[test]
    fn device_and_user_refresh_tokens_never_cross() {
        let (a, _) = authority();
        let d = device(&a, "device-0001", Platform::Android, T0);
        let u = register(&a, "alice@example.com", "alice").unwrap();
        assert!(matches!(
            a.refresh_user(d.tokens.refresh_token.expose(), T0),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            a.refresh_device(u.tokens.refresh_token.expose(), T0),
            Err(AuthError::InvalidToken(_))
        ));
        // Neither refusal consumed the token.
        assert!(
            a.refresh_device(d.tokens.refresh_token.expose(), T0.plus_secs(1))
                .is_ok()
        );
        assert!(
            a.refresh_user(u.tokens.refresh_token.expose(), T0.plus_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn device_sessions_rotate_with_grace_and_reuse_detection() {
        let (a, _) = authority();
        let d = device(&a, "device-0001", Platform::Android, T0);
        let r1 = a
            .refresh_device(d.tokens.refresh_token.expose(), T0.plus_secs(100))
            .unwrap();
        assert_eq!(r1.device.last_seen_at, T0.plus_secs(100));
        let stored_last_seen = || a.device(d.device.id.as_str()).unwrap().last_seen_at;
        assert_eq!(stored_last_seen(), T0.plus_secs(100), "seen as it rotated");
        let retry = a
            .refresh_device(d.tokens.refresh_token.expose(), T0.plus_secs(105))
            .unwrap();
        assert_eq!(retry.tokens.refresh_token, r1.tokens.refresh_token);
        // A retry within the grace window replays the rotation, last-seen time included.
        assert_eq!(retry.device.last_seen_at, T0.plus_secs(100));
        assert_eq!(stored_last_seen(), T0.plus_secs(100));
        assert!(matches!(
            a.refresh_device(d.tokens.refresh_token.expose(), T0.plus_secs(110)),
            Err(AuthError::RefreshTokenReused)
        ));
        assert!(
            a.authenticate(&r1.tokens.access_token, T0.plus_secs(111))
                .is_err()
        );
    }

    #[test]
    fn purging_removes_only_devices_idle_past_the_cutoff_with_their_sessions() {
        let (a, store) = authority();
        let idle = device(&a, "idle-device", Platform::Ios, T0);
        let busy = device(&a, "busy-device", Platform::Ios, T0);
        let later = T0.plus_secs(40 * 86_400);
        let seen_again = device(&a, "busy-device", Platform::Ios, T0.plus_secs(20 * 86_400));
        assert_eq!(seen_again.device.id, busy.device.id);
        let purged = crate::purge_inactive_devices(store.as_ref(), 30 * 86_400, later).unwrap();
        assert_eq!(purged, 1);
        assert!(matches!(
            a.device(idle.device.id.as_str()),
            Err(AuthError::NotFound)
        ));
        assert!(a.device(busy.device.id.as_str()).is_ok());
        assert!(matches!(
            a.authenticate(&idle.tokens.access_token, T0.plus_secs(1)),
            Err(AuthError::InvalidToken(_))
        ));
        // The purged device comes back as a new device.
        assert!(device(&a, "idle-device", Platform::Ios, later).new_device);
    }

    #[test]
    fn a_device_session_without_its_device_refreshes_no_more() {
        use crate::SessionStore as _;
        let (a, store) = authority();
        let user = register(&a, "alice@example.com", "alice").unwrap();
        let orphan = session::start(PrincipalKind::Device, "dev_gone", T0, &a.policy).unwrap();
        store.create_session(&orphan.session).unwrap();
        assert!(matches!(
            a.refresh_device(orphan.token.expose(), T0.plus_secs(1)),
            Err(AuthError::InvalidToken(
                "the session's device no longer exists"
            ))
        ));
        // A user's token is no device's, whatever the store finds with it.
        assert!(matches!(
            a.refresh_device(user.tokens.refresh_token.expose(), T0.plus_secs(1)),
            Err(AuthError::InvalidToken(_))
        ));
        // The refusal changed nothing: the token is still the session's current one.
        let session = store.session(&orphan.session.id).unwrap().unwrap();
        assert_eq!(session, orphan.session);
    }
}

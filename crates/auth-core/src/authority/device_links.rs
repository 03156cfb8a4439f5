//! A user links the device their app started with to their account, lists their linked
//! devices and unlinks one.

use super::*;
use crate::DeviceLink;

impl Authority {
    /// Links the device of `device_token` (a live device access token) to the user of
    /// `claims`. Linking a device already linked to this user again changes nothing.
    /// From the next refresh on, the device's tokens carry the user's id.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when `claims` are not a user's, or `device_token` is
    /// not a live device token; [`AuthError::DeviceLinked`] when another user has the
    /// device; [`AuthError::Store`].
    pub fn link_device(
        &self,
        claims: &AccessClaims,
        device_token: &str,
        now: UnixTime,
    ) -> Result<Device, AuthError> {
        let user = self.user_of_claims(claims)?;
        let device = self.authenticate(device_token, now)?;
        if device.kind != PrincipalKind::Device {
            return Err(AuthError::InvalidToken(
                "deviceToken is not a device's token",
            ));
        }
        match self.store.link_device(&device.sub, &user.id, now)? {
            DeviceLink::Linked(device) => Ok(device),
            DeviceLink::LinkedToOther => Err(AuthError::DeviceLinked),
            DeviceLink::Unknown => Err(AuthError::InvalidToken("the device no longer exists")),
        }
    }

    /// The devices linked to the user of `claims`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when `claims` are not a user's; [`AuthError::Store`].
    pub fn linked_devices(&self, claims: &AccessClaims) -> Result<Vec<Device>, AuthError> {
        claims.require_kind(PrincipalKind::User)?;
        Ok(self
            .store
            .linked_devices(&UserId::from_stored(claims.sub.clone()))?)
    }

    /// Unlinks device `id` from the user of `claims` and ends the device's sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when the device is not linked to this user (whoever it
    /// belongs to); [`AuthError::InvalidToken`] when `claims` are not a user's;
    /// [`AuthError::Store`].
    pub fn unlink_device(
        &self,
        claims: &AccessClaims,
        id: &str,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        claims.require_kind(PrincipalKind::User)?;
        let user = UserId::from_stored(claims.sub.clone());
        if self.store.unlink_device(&user, id, now)? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn a_linked_devices_tokens_name_its_user_until_it_is_unlinked() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let phone = device(&a, "device-0001", Platform::Ios, T0);
        assert_eq!(phone.tokens.claims.attributes.user_id, None);

        let linked = a
            .link_device(&alice.tokens.claims, &phone.tokens.access_token, T0)
            .unwrap();
        assert_eq!(linked.user_id.as_ref(), Some(&alice.user.id));
        let again = a
            .link_device(&alice.tokens.claims, &phone.tokens.access_token, T0)
            .unwrap();
        assert_eq!(again, linked, "linking twice changes nothing");
        let refreshed = a
            .refresh_device(phone.tokens.refresh_token.expose(), T0.plus_secs(1))
            .unwrap();
        assert_eq!(
            refreshed.tokens.claims.attributes.user_id.as_deref(),
            Some(alice.user.id.as_str())
        );
        let listed = a.linked_devices(&alice.tokens.claims).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, linked.id);

        a.unlink_device(&alice.tokens.claims, linked.id.as_str(), T0.plus_secs(2))
            .unwrap();
        assert!(a.linked_devices(&alice.tokens.claims).unwrap().is_empty());
        assert!(
            a.authenticate(&refreshed.tokens.access_token, T0.plus_secs(3))
                .is_err(),
            "unlinking ends the device's sessions"
        );
        let next = device(&a, "device-0001", Platform::Ios, T0.plus_secs(4));
        assert_eq!(next.tokens.claims.attributes.user_id, None);
    }

    #[test]
    fn a_device_of_another_user_is_neither_linked_nor_unlinked() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let bob = register(&a, "bob@example.com", "bob").unwrap();
        let phone = device(&a, "device-0001", Platform::Android, T0);
        let linked = a
            .link_device(&alice.tokens.claims, &phone.tokens.access_token, T0)
            .unwrap();
        assert!(matches!(
            a.link_device(&bob.tokens.claims, &phone.tokens.access_token, T0),
            Err(AuthError::DeviceLinked)
        ));
        assert!(matches!(
            a.unlink_device(&bob.tokens.claims, linked.id.as_str(), T0),
            Err(AuthError::NotFound)
        ));
        assert!(a.authenticate(&phone.tokens.access_token, T0).is_ok());
    }

    #[test]
    fn only_a_user_links_and_only_a_device_token_is_linked() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let phone = device(&a, "device-0001", Platform::Web, T0);
        assert!(matches!(
            a.link_device(&phone.tokens.claims, &phone.tokens.access_token, T0),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            a.link_device(&alice.tokens.claims, &alice.tokens.access_token, T0),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            a.link_device(&alice.tokens.claims, "not a token", T0),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn a_deleted_account_leaves_its_devices_unlinked_and_signed_out() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let phone = device(&a, "device-0001", Platform::Ios, T0);
        a.link_device(&alice.tokens.claims, &phone.tokens.access_token, T0)
            .unwrap();
        let mut attempt = a
            .begin_reauthentication(&alice.tokens.claims, None, T0)
            .unwrap();
        a.check_password(
            &mut attempt,
            &Password::presented("correct horse battery").unwrap(),
        );
        a.delete_account(attempt, T0).unwrap();
        assert!(a.authenticate(&phone.tokens.access_token, T0).is_err());
        assert_eq!(a.device(phone.device.id.as_str()).unwrap().user_id, None);
    }
}

//! The live sessions of a principal: listed and ended by their owner, or by an operator
//! for a user.

use super::*;

impl Authority {
    /// A page of the live sessions of the principal of `claims` (any kind), newest
    /// first, and how many it has.
    ///
    /// # Errors
    /// [`AuthError::Store`].
    pub fn own_sessions(
        &self,
        claims: &AccessClaims,
        page: Page,
        now: UnixTime,
    ) -> Result<(Vec<Session>, u64), AuthError> {
        Ok(self
            .store
            .live_sessions_of(claims.kind, &claims.sub, now, page)?)
    }

    /// Ends one live session of the principal of `claims` (its current one too).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when `id` is not a live session of that principal, whoever
    /// it belongs to; [`AuthError::Store`].
    pub fn end_own_session(
        &self,
        claims: &AccessClaims,
        id: &SessionId,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        if self
            .store
            .revoke_own_session(claims.kind, &claims.sub, id, now)?
        {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Ends every live session of the principal of `claims`, the current one included.
    /// Returns how many ended.
    ///
    /// # Errors
    /// [`AuthError::Store`].
    pub fn end_own_sessions(&self, claims: &AccessClaims, now: UnixTime) -> Result<u64, AuthError> {
        Ok(self
            .store
            .revoke_sessions_of(claims.kind, &claims.sub, None, now)?)
    }

    /// A page of the live sessions of user `id`, for an operator.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such user; [`AuthError::Store`].
    pub fn user_sessions(
        &self,
        id: &UserId,
        page: Page,
        now: UnixTime,
    ) -> Result<(Vec<Session>, u64), AuthError> {
        self.user(id)?;
        Ok(self
            .store
            .live_sessions_of(PrincipalKind::User, id.as_str(), now, page)?)
    }

    /// Ends every live session of user `id`, for an operator. Returns how many ended.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such user; [`AuthError::Store`].
    pub fn end_user_sessions(&self, id: &UserId, now: UnixTime) -> Result<u64, AuthError> {
        self.user(id)?;
        Ok(self
            .store
            .revoke_sessions_of(PrincipalKind::User, id.as_str(), None, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn page() -> Page {
        Page::new(50, 0).unwrap()
    }

    #[test]
    fn a_user_sees_their_live_sessions_newest_first_and_no_one_elses() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let later = a
            .login(
                &Email::parse("alice@example.com").unwrap(),
                &Password::presented("correct horse battery").unwrap(),
                None,
                T0.plus_secs(5),
            )
            .unwrap();
        register(&a, "bob@example.com", "bob").unwrap();
        let ended = login(&a, "alice@example.com", "correct horse battery").unwrap();
        a.logout(&ended.tokens.claims, None, T0).unwrap();

        let (sessions, total) = a
            .own_sessions(&alice.tokens.claims, page(), T0.plus_secs(10))
            .unwrap();
        assert_eq!(total, 2);
        let ids: Vec<_> = sessions.iter().map(|s| s.id.clone()).collect();
        assert_eq!(
            ids,
            [
                later.tokens.claims.session_id(),
                alice.tokens.claims.session_id()
            ]
        );
    }

    #[test]
    fn a_principal_ends_its_own_sessions_but_not_anothers() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let other = login(&a, "alice@example.com", "correct horse battery").unwrap();
        let bob = register(&a, "bob@example.com", "bob").unwrap();

        assert!(matches!(
            a.end_own_session(&alice.tokens.claims, &bob.tokens.claims.session_id(), T0),
            Err(AuthError::NotFound)
        ));
        assert!(a.authenticate(&bob.tokens.access_token, T0).is_ok());
        a.end_own_session(&alice.tokens.claims, &other.tokens.claims.session_id(), T0)
            .unwrap();
        assert!(a.authenticate(&other.tokens.access_token, T0).is_err());
        assert!(matches!(
            a.end_own_session(&alice.tokens.claims, &other.tokens.claims.session_id(), T0),
            Err(AuthError::NotFound)
        ));
        assert_eq!(a.end_own_sessions(&alice.tokens.claims, T0).unwrap(), 1);
        assert!(a.authenticate(&alice.tokens.access_token, T0).is_err());
        assert!(a.authenticate(&bob.tokens.access_token, T0).is_ok());
    }

    #[test]
    fn a_device_sees_and_ends_only_its_own_sessions() {
        let (a, _) = authority();
        let first = device(&a, "device-0001", Platform::Ios, T0);
        let second = device(&a, "device-0001", Platform::Ios, T0.plus_secs(1));
        let stranger = device(&a, "device-0002", Platform::Ios, T0);
        let (sessions, total) = a.own_sessions(&first.tokens.claims, page(), T0).unwrap();
        assert_eq!(total, 2);
        assert!(
            sessions
                .iter()
                .all(|s| s.principal_id == first.device.id.as_str())
        );
        assert_eq!(a.end_own_sessions(&second.tokens.claims, T0).unwrap(), 2);
        assert!(a.authenticate(&stranger.tokens.access_token, T0).is_ok());
    }

    #[test]
    fn an_operator_lists_and_ends_a_users_sessions() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        login(&a, "alice@example.com", "correct horse battery").unwrap();
        assert_eq!(a.user_sessions(&alice.user.id, page(), T0).unwrap().1, 2);
        assert_eq!(a.end_user_sessions(&alice.user.id, T0).unwrap(), 2);
        assert_eq!(a.user_sessions(&alice.user.id, page(), T0).unwrap().1, 0);
        assert!(matches!(
            a.end_user_sessions(&UserId::generate(), T0),
            Err(AuthError::NotFound)
        ));
    }
}

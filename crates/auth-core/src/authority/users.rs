//! People: registration, password login in steps, refresh, bearer checks and logout.

use super::login::Outcome;
use super::*;

/// A user together with fresh tokens for one of their sessions.
#[derive(Debug)]
pub struct UserSession {
    /// The user.
    pub user: User,
    /// The tokens.
    pub tokens: IssuedTokens,
}

impl Authority {
    /// Creates a user whose password was hashed by [`Authority::hash_password`], and a
    /// first session, and queues a mail whose link verifies the address.
    ///
    /// # Errors
    /// [`AuthError::AccountExists`] when the email or username is taken (case-insensitively);
    /// [`AuthError::Store`] when storage fails.
    pub fn register(
        &self,
        email: &Email,
        username: &Username,
        hash: crate::PasswordHash,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let user = User::new(email, username, hash, now);
        let mut new = session::start(PrincipalKind::User, user.id.as_str(), now, &self.policy)?;
        new.session.origin = origin.clone();
        match self.store.create_user(&user, &new.session) {
            Ok(()) => {}
            Err(StoreError::Duplicate) => return Err(AuthError::AccountExists),
            Err(e) => return Err(e.into()),
        }
        // The account exists: a verification mail that cannot be queued is logged, and
        // the user can ask for one again (`email/verify/send`).
        let verification = crate::OutboxMail::new(
            crate::MailKind::VerifyEmail,
            &user.email,
            Some(user.id.clone()),
            None,
            now,
        );
        if let Err(e) = self.store.queue_mail(&verification) {
            log::warn!("the verification mail of a new account could not be queued: {e}");
        }
        let tokens = self.issue(&new.session, user_attributes(&user), new.token, now)?;
        Ok(UserSession { user, tokens })
    }

    /// Registers a user who must verify their address before logging in: no session is
    /// started, and the answer is the same whether or not the address has an account.
    /// A new address gets its verification link; the owner of a taken one gets a mail
    /// saying someone tried to register it. A taken username is still refused, before
    /// the address is looked at, so that the refusal says nothing about the address.
    ///
    /// # Errors
    /// [`AuthError::AccountExists`] for a taken username; [`AuthError::RateLimited`] past
    /// the address's mails per hour; [`AuthError::Store`].
    pub fn register_unverified(
        &self,
        email: &Email,
        username: &Username,
        hash: crate::PasswordHash,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        if self.store.username_taken(&username.normalized())? {
            return Err(AuthError::AccountExists);
        }
        // Each mails the address: counted like the other mail requests, alike for both.
        self.take_mail_request(email, now)?;
        let user = User::new(email, username, hash, now);
        let mail = match self.store.create_pending_user(&user) {
            Ok(()) => crate::OutboxMail::new(
                crate::MailKind::VerifyEmail,
                &user.email,
                Some(user.id.clone()),
                None,
                now,
            ),
            Err(StoreError::Duplicate) => match self.store.user_by_email(email.normalized())? {
                Some(owner) => crate::OutboxMail::new(
                    crate::MailKind::AccountExists,
                    &owner.email,
                    Some(owner.id),
                    None,
                    now,
                ),
                // The username was taken in the meantime.
                None => return Err(AuthError::AccountExists),
            },
            Err(e) => return Err(e.into()),
        };
        self.store.queue_mail(&mail)?;
        Ok(())
    }

    /// The storage half before a user's password is checked: the attempt is admitted and
    /// counted by the throttle (see [`crate::ThrottlePolicy`]) for `client`, and the
    /// account is read.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] while `client` is delayed on the account;
    /// [`AuthError::Store`].
    pub fn begin_login(
        &self,
        email: &Email,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<LoginAttempt<User>, AuthError> {
        let key = self.reserve_attempt(&format!("user:{}", email.normalized()), client, now)?;
        let user = match self.store.user_by_email(email.normalized()) {
            Ok(user) => user,
            Err(e) => {
                self.release_attempt(&key);
                return Err(e.into());
            }
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        Ok(LoginAttempt::new(key, user, stored))
    }

    /// The hash of a login, and nothing else: no storage, so that callers can run it on
    /// threads of their own (authd's hashing threads) while storage work runs elsewhere.
    /// An unknown account costs a verification against a dummy hash, like a real one.
    pub fn check_password<T>(&self, attempt: &mut LoginAttempt<T>, password: &Password) {
        attempt.outcome = match &attempt.stored {
            None => {
                self.hasher.verify_dummy(password);
                Outcome::Wrong
            }
            Some(stored) => match self.hasher.verify(password, stored) {
                PasswordVerification::Invalid => Outcome::Wrong,
                PasswordVerification::Valid => Outcome::Right { rehashed: None },
                // Upgrading the hash is best effort: the login itself is already proven.
                PasswordVerification::ValidNeedsRehash => Outcome::Right {
                    rehashed: self.hasher.hash(password).ok(),
                },
            },
        };
    }

    /// The storage half after a user's password was checked: counts a failure, or clears
    /// the network's failure streak, upgrades an old hash and starts the session. The
    /// session is started only if the password just proven is still the user's and the
    /// user is still active: a login racing a password change or a suspension cannot
    /// open a session with the old credential, and an upgrade never overwrites a newer
    /// hash.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password or an unknown email,
    /// [`AuthError::AccountInactive`] (only after the password was right), or
    /// [`AuthError::Store`].
    pub fn finish_login(
        &self,
        attempt: LoginAttempt<User>,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let (user, mut proven, rehashed) = self.accept(attempt, now)?;
        if let Some(hash) = rehashed {
            match self
                .store
                .update_password_hash(&user.id, &proven, &hash, now)
            {
                Ok(true) => proven = hash,
                // Changed since it was read: the guarded session below is refused.
                Ok(false) => {}
                Err(e) => log::warn!("password rehash for user {} failed: {e}", user.id.as_str()),
            }
        }
        if user.status != UserStatus::Active {
            return Err(AuthError::AccountInactive);
        }
        if self.require_verified_email && !user.email_verified {
            return Err(AuthError::EmailNotVerified);
        }
        let guard = CredentialGuard {
            kind: PrincipalKind::User,
            principal_id: user.id.as_str().to_owned(),
            password_hash: proven,
        };
        let new =
            self.start_guarded_session(PrincipalKind::User, &guard, origin, now, &self.policy)?;
        let tokens = self.issue(&new.session, user_attributes(&user), new.token, now)?;
        Ok(UserSession { user, tokens })
    }

    /// Rotates a user's refresh token and issues a new access token.
    ///
    /// # Errors
    /// As [`session::rotate`]; also [`AuthError::InvalidToken`] when the user no longer
    /// exists and [`AuthError::AccountInactive`] when the user is suspended.
    pub fn refresh_user(&self, presented: &str, now: UnixTime) -> Result<UserSession, AuthError> {
        let presented = RefreshToken::parse(presented)?;
        // The token, its session and the user in one read.
        let (rotated, user) = session::rotate_admitting(
            self.store.as_ref(),
            &presented,
            PrincipalKind::User,
            now,
            &self.policy,
            |_, principal| {
                let Some(SessionPrincipal::User(user)) = principal else {
                    return Err(AuthError::InvalidToken(
                        "the session's user no longer exists",
                    ));
                };
                if user.status != UserStatus::Active {
                    return Err(AuthError::AccountInactive);
                }
                Ok(user)
            },
        )?;
        let tokens = self.issue(&rotated.session, user_attributes(&user), rotated.token, now)?;
        Ok(UserSession { user, tokens })
    }

    /// Verifies an access token and checks that its session is still live.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] past `exp`; [`AuthError::InvalidToken`] for a bad token
    /// or a session that was revoked or has ended; [`AuthError::Store`] when storage fails.
    pub fn authenticate(
        &self,
        access_token: &str,
        now: UnixTime,
    ) -> Result<AccessClaims, AuthError> {
        let claims = self.verify(access_token, now)?;
        let session = self.store.session(&claims.session_id())?;
        check_session(&claims, session, now)?;
        Ok(claims)
    }

    /// Like [`Authority::authenticate`], and for a user's token also the user (`None` for
    /// other principals, or a user who no longer exists), read with the session in one
    /// lookup: what `me` and other handlers that describe the caller need.
    ///
    /// # Errors
    /// As [`Authority::authenticate`].
    pub fn authenticate_with_user(
        &self,
        access_token: &str,
        now: UnixTime,
    ) -> Result<(AccessClaims, Option<User>), AuthError> {
        let claims = self.verify(access_token, now)?;
        if claims.kind != PrincipalKind::User {
            let session = self.store.session(&claims.session_id())?;
            check_session(&claims, session, now)?;
            return Ok((claims, None));
        }
        let (session, user) = self
            .store
            .find_user_session(&claims.session_id())?
            .map_or((None, None), |(session, user)| (Some(session), user));
        check_session(&claims, session, now)?;
        Ok((claims, user))
    }

    /// Ends the session of `claims`, and also the session of `refresh_token` when it
    /// belongs to the same principal. Logging out twice is not an error.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn logout(
        &self,
        claims: &AccessClaims,
        refresh_token: Option<&str>,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        self.store.revoke_session(&claims.session_id(), now)?;
        let Some(token) = refresh_token.and_then(|t| RefreshToken::parse(t).ok()) else {
            return Ok(());
        };
        let secret = self.policy.rotation_secret.as_ref();
        if let Some((_, other, _)) = session::find_presented(self.store.as_ref(), &token, secret)?
            && other.kind == claims.kind
            && other.principal_id == claims.sub
        {
            self.store.revoke_session(&other.id, now)?;
        }
        Ok(())
    }

    /// The user with this id.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none; [`AuthError::Store`] when storage fails.
    pub fn user(&self, id: &UserId) -> Result<User, AuthError> {
        self.store.user_by_id(id)?.ok_or(AuthError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn a_registered_user_gets_a_working_session() {
        let (a, _) = authority();
        let s = register(&a, "Alice@Example.com", "alice").unwrap();
        assert_eq!(s.user.roles.len(), 1);
        let claims = a
            .authenticate(&s.tokens.access_token, T0.plus_secs(1))
            .unwrap();
        assert_eq!(claims.sub, s.user.id.as_str());
        assert_eq!(claims.kind, PrincipalKind::User);
        assert_eq!(claims.attributes.roles, vec!["USER"]);
        assert_eq!(claims.exp - claims.iat, 3_600);
    }

    #[test]
    fn email_and_username_are_unique_case_insensitively() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        assert!(matches!(
            register(&a, "ALICE@example.COM", "other"),
            Err(AuthError::AccountExists)
        ));
        assert!(matches!(
            register(&a, "bob@example.com", "ALICE"),
            Err(AuthError::AccountExists)
        ));
        assert!(
            register(
                &a,
                "alıce@example.com",
                "alıce_x".replace('ı', "i").as_str()
            )
            .is_ok()
        );
    }

    #[test]
    fn login_accepts_the_password_and_any_ascii_case_of_the_email() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        assert!(login(&a, "ALICE@EXAMPLE.COM", "correct horse battery").is_ok());
    }

    #[test]
    fn a_login_in_steps_needs_its_password_checked_and_counts_failures() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        let email = Email::parse("alice@example.com").unwrap();
        let right = Password::presented("correct horse battery").unwrap();

        // A caller that skips the hash gets what a wrong password gets, counted as one.
        for _ in 0..4 {
            let unchecked = a.begin_login(&email, None, T0).unwrap();
            assert!(matches!(
                a.finish_login(unchecked, &SessionOrigin::default(), T0),
                Err(AuthError::InvalidCredentials)
            ));
        }
        // An attempt abandoned before its hash is given back: this is still the fifth.
        let shed = a.begin_login(&email, None, T0).unwrap();
        a.abandon_login(&shed.ticket());
        let mut attempt = a.begin_login(&email, None, T0).unwrap();
        a.check_password(&mut attempt, &right);
        let session = a
            .finish_login(attempt, &SessionOrigin::default(), T0)
            .unwrap();
        assert_eq!(session.user.username, "alice");
        // The success cleared the streak: four more failures pass unhindered.
        for _ in 0..4 {
            let unchecked = a.begin_login(&email, None, T0).unwrap();
            assert!(
                a.finish_login(unchecked, &SessionOrigin::default(), T0)
                    .is_err()
            );
        }
        assert!(a.begin_login(&email, None, T0).is_ok());
    }

    #[test]
    fn wrong_password_and_unknown_account_get_the_same_answer() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        assert!(matches!(
            login(&a, "alice@example.com", "Correct horse battery"),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            login(&a, "nobody@example.com", "correct horse battery"),
            Err(AuthError::InvalidCredentials)
        ));
    }

    #[test]
    fn a_suspended_user_is_told_only_after_the_right_password() {
        let (a, store) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        assert!(
            store
                .set_status(&s.user.id, UserStatus::Suspended, T0)
                .unwrap()
        );
        assert!(matches!(
            login(&a, "alice@example.com", "wrong password"),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            login(&a, "alice@example.com", "correct horse battery"),
            Err(AuthError::AccountInactive)
        ));
        assert!(matches!(
            a.refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(1)),
            Err(AuthError::AccountInactive)
        ));
        // The refused refresh consumed nothing: after reactivation the token still rotates.
        store
            .set_status(&s.user.id, UserStatus::Active, T0)
            .unwrap();
        assert!(
            a.refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn a_login_with_old_hash_parameters_upgrades_the_stored_hash() {
        let (a, store) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let stronger = Authority {
            hasher: PasswordHasher::with_params(2048, 1, 1).unwrap(),
            ..a.clone()
        };
        login(&stronger, "alice@example.com", "correct horse battery").unwrap();
        let stored = store.user_by_id(&s.user.id).unwrap().unwrap().password_hash;
        assert!(stored.as_str().contains("m=2048"), "{stored:?}");
        assert!(login(&stronger, "alice@example.com", "correct horse battery").is_ok());
    }

    #[test]
    fn refresh_returns_a_new_pair_for_the_same_session() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let r = a
            .refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(30))
            .unwrap();
        assert_ne!(r.tokens.refresh_token, s.tokens.refresh_token);
        assert_ne!(r.tokens.access_token, s.tokens.access_token);
        assert_eq!(r.tokens.claims.sid, s.tokens.claims.sid);
        assert!(
            a.authenticate(&r.tokens.access_token, T0.plus_secs(31))
                .is_ok()
        );
    }

    #[test]
    fn a_session_whose_user_is_gone_cannot_refresh_and_keeps_its_token() {
        use crate::SessionStore;
        let (a, store) = authority();
        let orphan = session::start(PrincipalKind::User, "usr_gone", T0, &a.policy).unwrap();
        store.create_session(&orphan.session).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                a.refresh_user(orphan.token.expose(), T0.plus_secs(30)),
                Err(AuthError::InvalidToken(_))
            ));
        }
        let stored = store.session(&orphan.session.id).unwrap().unwrap();
        assert_eq!(stored.generation, 0, "a refused refresh advances nothing");
    }

    #[test]
    fn a_users_token_is_checked_and_comes_with_the_user() {
        use crate::SessionStore;
        let (a, store) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let (claims, user) = a
            .authenticate_with_user(&s.tokens.access_token, T0.plus_secs(1))
            .unwrap();
        assert_eq!(claims.sid, s.tokens.claims.sid);
        assert_eq!(user, Some(s.user.clone()));

        let device = a
            .authenticate_device(
                &ClientDeviceId::parse("device-0001").unwrap(),
                Platform::Android,
                &SessionOrigin::default(),
                T0,
            )
            .unwrap();
        let (_, user) = a
            .authenticate_with_user(&device.tokens.access_token, T0.plus_secs(1))
            .unwrap();
        assert_eq!(user, None, "a device's token describes no user");
        // Not even a device session whose principal id happens to be a user's.
        let lookalike =
            session::start(PrincipalKind::Device, s.user.id.as_str(), T0, &a.policy).unwrap();
        store.create_session(&lookalike.session).unwrap();
        assert_eq!(
            store.find_user_session(&lookalike.session.id).unwrap(),
            Some((lookalike.session.clone(), None))
        );
        assert!(
            store
                .find_session_with_principal(&lookalike.session.id)
                .unwrap()
                .is_some_and(|(_, principal)| principal.is_none())
        );

        a.logout(&s.tokens.claims, None, T0.plus_secs(2)).unwrap();
        assert!(matches!(
            a.authenticate_with_user(&s.tokens.access_token, T0.plus_secs(3)),
            Err(AuthError::InvalidToken(_))
        ));
        assert_eq!(store.user_by_id(&s.user.id).unwrap(), Some(s.user));
    }

    #[test]
    fn reuse_detection_kills_access_tokens_of_the_session_too() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let r = a
            .refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(30))
            .unwrap();
        assert!(matches!(
            a.refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(60)),
            Err(AuthError::RefreshTokenReused)
        ));
        assert!(matches!(
            a.authenticate(&r.tokens.access_token, T0.plus_secs(61)),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn logout_revokes_the_session_and_its_refresh_token() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let other = login(&a, "alice@example.com", "correct horse battery").unwrap();
        a.logout(&s.tokens.claims, None, T0.plus_secs(5)).unwrap();
        assert!(matches!(
            a.authenticate(&s.tokens.access_token, T0.plus_secs(6)),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            a.refresh_user(s.tokens.refresh_token.expose(), T0.plus_secs(6)),
            Err(AuthError::InvalidToken(_))
        ));
        // Another session of the same user is untouched.
        assert!(
            a.authenticate(&other.tokens.access_token, T0.plus_secs(6))
                .is_ok()
        );
        // ... unless its refresh token is handed in with the logout.
        a.logout(
            &s.tokens.claims,
            Some(other.tokens.refresh_token.expose()),
            T0.plus_secs(7),
        )
        .unwrap();
        assert!(
            a.authenticate(&other.tokens.access_token, T0.plus_secs(8))
                .is_err()
        );
    }

    #[test]
    fn logout_never_revokes_a_session_of_someone_else() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let bob = register(&a, "bob@example.com", "bob").unwrap();
        a.logout(
            &alice.tokens.claims,
            Some(bob.tokens.refresh_token.expose()),
            T0.plus_secs(1),
        )
        .unwrap();
        assert!(
            a.authenticate(&bob.tokens.access_token, T0.plus_secs(2))
                .is_ok()
        );
        assert_eq!(store.session_count(), 2);
    }
}

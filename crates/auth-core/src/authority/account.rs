//! A logged-in person's own account: a new password, a new address, deletion. Each
//! proves the password again, and a wrong one counts like a failed login of the account
//! from the same address.

use super::*;
use crate::{MailKind, OneTimeToken, OutboxMail, Redemption};

impl Authority {
    /// The storage half before a logged-in user's password is checked again (to change
    /// it, change the address or delete the account): the user of `claims` is read and
    /// the attempt is admitted and counted by the throttle as a login of that account
    /// from `client`. Check it with [`Authority::check_password`].
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a token of another kind of principal or a user
    /// deleted since; [`AuthError::RateLimited`] while `client` is delayed on the account;
    /// [`AuthError::Store`].
    pub fn begin_reauthentication(
        &self,
        claims: &AccessClaims,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<LoginAttempt<User>, AuthError> {
        let user = self.user_of_claims(claims)?;
        let key = self.reserve_attempt(&format!("user:{}", user.email_normalized), client, now)?;
        let stored = Some(user.password_hash.clone());
        Ok(LoginAttempt::new(key, Some(user), stored))
    }

    /// Sets the password `hash` (of a new password that passed the policy) once the
    /// current one was proven by `attempt`: every other session of the user ends in the
    /// same transaction, `current` stays, and a notice is mailed. Returns how many
    /// sessions ended.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong current password (counted), or when
    /// the password changed meanwhile; [`AuthError::AccountInactive`]; [`AuthError::Store`].
    pub fn change_password(
        &self,
        attempt: LoginAttempt<User>,
        hash: crate::PasswordHash,
        current: &session::SessionId,
        now: UnixTime,
    ) -> Result<u64, AuthError> {
        let (user, proven) = self.reauthenticated(attempt, now)?;
        let revoked = self
            .store
            .change_password(&user.id, &proven, &hash, current, now)?
            .ok_or(AuthError::InvalidCredentials)?;
        self.queue_notice(MailKind::PasswordChanged, &user.email, &user.id, None, now);
        Ok(revoked)
    }

    /// Asks to move the account proven by `attempt` to `new_email`: a confirmation link
    /// is mailed to the new address and a notice to the current one. Nothing changes
    /// until the link is used ([`Authority::confirm_email_change`]). Requests count
    /// against the new address's mails per hour, like the other mail requests.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password (counted);
    /// [`AuthError::InvalidRequest`] when `new_email` is the current address;
    /// [`AuthError::AccountInactive`]; [`AuthError::RateLimited`]; [`AuthError::Store`].
    pub fn request_email_change(
        &self,
        attempt: LoginAttempt<User>,
        new_email: &Email,
        now: UnixTime,
    ) -> Result<UserId, AuthError> {
        let (user, _) = self.reauthenticated(attempt, now)?;
        if new_email.normalized() == user.email_normalized {
            return Err(AuthError::InvalidRequest(
                "newEmail is the account's address already".into(),
            ));
        }
        self.take_mail_request(new_email, now)?;
        let new_address = Some(new_email.as_str().to_owned());
        self.store.queue_mail(&OutboxMail::new(
            MailKind::ConfirmEmailChange,
            new_email.as_str(),
            Some(user.id.clone()),
            new_address.clone(),
            now,
        ))?;
        self.queue_notice(
            MailKind::EmailChangeRequested,
            &user.email,
            &user.id,
            new_address,
            now,
        );
        Ok(user.id)
    }

    /// Moves the token's user to the address the token was mailed to, verified.
    ///
    /// # Errors
    /// [`AuthError::AccountExists`] when another account has taken the address since
    /// (the token stays unused); [`AuthError::TokenExpired`]; [`AuthError::InvalidToken`]
    /// for an unknown, used, replaced or other-purpose token; [`AuthError::Store`].
    pub fn confirm_email_change(
        &self,
        token: &OneTimeToken,
        now: UnixTime,
    ) -> Result<User, AuthError> {
        let user_id = match self.store.change_email(&token.hash(), now) {
            Ok(Redemption::Redeemed(user_id)) => user_id,
            Ok(Redemption::Expired) => return Err(AuthError::TokenExpired),
            Ok(Redemption::Unknown) => {
                return Err(AuthError::InvalidToken(
                    "unknown or used email-change token",
                ));
            }
            Err(StoreError::Duplicate) => return Err(AuthError::AccountExists),
            Err(e) => return Err(e.into()),
        };
        self.store
            .user_by_id(&user_id)?
            .ok_or(AuthError::InvalidToken("the token's account is gone"))
    }

    /// Deletes the account proven by `attempt`, with its sessions, one-time tokens and
    /// device links. Returns its id (the audit trail records the id, never the address).
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password (counted);
    /// [`AuthError::AccountInactive`]; [`AuthError::Store`].
    pub fn delete_account(
        &self,
        attempt: LoginAttempt<User>,
        now: UnixTime,
    ) -> Result<UserId, AuthError> {
        let (user, _) = self.reauthenticated(attempt, now)?;
        if !self.store.delete_user(&user.id, now)? {
            return Err(AuthError::InvalidToken("the account is gone"));
        }
        Ok(user.id)
    }

    /// The user of a user's access token.
    pub(super) fn user_of_claims(&self, claims: &AccessClaims) -> Result<User, AuthError> {
        if claims.kind != PrincipalKind::User {
            return Err(AuthError::InvalidToken("a user's access token is required"));
        }
        self.store
            .user_by_id(&UserId::from_stored(claims.sub.clone()))?
            .ok_or(AuthError::InvalidToken("the token's user no longer exists"))
    }

    /// The user whose password `attempt` proved, and the hash it was proven against.
    fn reauthenticated(
        &self,
        attempt: LoginAttempt<User>,
        now: UnixTime,
    ) -> Result<(User, crate::PasswordHash), AuthError> {
        let (user, proven, _) = self.accept(attempt, now)?;
        if user.status != UserStatus::Active {
            return Err(AuthError::AccountInactive);
        }
        Ok((user, proven))
    }

    /// Queues a notice about a change already made: one that cannot be queued is logged,
    /// not failed.
    pub(super) fn queue_notice(
        &self,
        kind: MailKind,
        to: &str,
        user: &UserId,
        new_email: Option<String>,
        now: UnixTime,
    ) {
        let mail = OutboxMail::new(kind, to, Some(user.clone()), new_email, now);
        if let Err(e) = self.store.queue_mail(&mail) {
            log::warn!("a {} notice could not be queued: {e}", kind.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::{MailOutbox, SessionStore};

    const RIGHT: &str = "correct horse battery";

    fn proven(a: &Authority, claims: &AccessClaims, password: &str) -> LoginAttempt<User> {
        let mut attempt = a
            .begin_reauthentication(claims, ip("203.0.113.9"), T0)
            .unwrap();
        a.check_password(&mut attempt, &Password::presented(password).unwrap());
        attempt
    }

    fn queued(store: &crate::memory::MemoryStore) -> Vec<(MailKind, String)> {
        store
            .claim_mail(T0.plus_secs(1), 60, 100)
            .unwrap()
            .into_iter()
            .map(|m| (m.kind, m.recipient))
            .collect()
    }

    #[test]
    fn a_password_change_ends_every_other_session_and_keeps_this_one() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let other = login(&a, "alice@example.com", RIGHT).unwrap();
        let new_hash = a
            .hash_password(&Password::new("a new long password").unwrap())
            .unwrap();

        let attempt = proven(&a, &alice.tokens.claims, RIGHT);
        let revoked = a
            .change_password(attempt, new_hash, &alice.tokens.claims.session_id(), T0)
            .unwrap();

        assert_eq!(revoked, 1);
        assert!(a.authenticate(&alice.tokens.access_token, T0).is_ok());
        assert!(a.authenticate(&other.tokens.access_token, T0).is_err());
        assert!(matches!(
            login(&a, "alice@example.com", RIGHT),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(login(&a, "alice@example.com", "a new long password").is_ok());
        assert!(queued(&store).contains(&(MailKind::PasswordChanged, "alice@example.com".into())));
    }

    #[test]
    fn a_wrong_current_password_changes_nothing_and_counts_like_a_failed_login() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let hash = a
            .hash_password(&Password::new("a new long password").unwrap())
            .unwrap();
        for _ in 0..5 {
            let attempt = proven(&a, &alice.tokens.claims, "not my password");
            assert!(matches!(
                a.change_password(attempt, hash.clone(), &alice.tokens.claims.session_id(), T0),
                Err(AuthError::InvalidCredentials)
            ));
        }
        // The sixth attempt from that address is delayed, on this route and at login.
        assert!(matches!(
            a.begin_reauthentication(&alice.tokens.claims, ip("203.0.113.9"), T0),
            Err(AuthError::RateLimited { .. })
        ));
        assert!(matches!(
            a.login(
                &Email::parse("alice@example.com").unwrap(),
                &Password::presented(RIGHT).unwrap(),
                ip("203.0.113.9"),
                T0
            ),
            Err(AuthError::RateLimited { .. })
        ));
        assert_eq!(store.session_count(), 1);
        assert!(login(&a, "alice@example.com", RIGHT).is_ok());
    }

    #[test]
    fn an_email_change_mails_both_addresses_and_moves_the_account_on_confirmation() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        queued(&store);
        let attempt = proven(&a, &alice.tokens.claims, RIGHT);
        a.request_email_change(attempt, &Email::parse("alice@new.example").unwrap(), T0)
            .unwrap();
        let mails = queued(&store);
        assert!(mails.contains(&(MailKind::ConfirmEmailChange, "alice@new.example".into())));
        assert!(mails.contains(&(MailKind::EmailChangeRequested, "alice@example.com".into())));
        assert_eq!(
            store.user_by_id(&alice.user.id).unwrap().unwrap().email,
            "alice@example.com",
            "nothing changes before the link is used"
        );

        let (token, record) = crate::OneTimePolicy::default()
            .issue(
                &alice.user.id,
                crate::OneTimePurpose::ChangeEmail,
                Some("alice@new.example".into()),
                T0,
            )
            .unwrap();
        crate::OneTimeStore::issue_one_time(&*store, &record).unwrap();
        let moved = a.confirm_email_change(&token, T0).unwrap();
        assert_eq!(moved.email, "alice@new.example");
        assert!(moved.email_verified);
        assert!(login(&a, "alice@new.example", RIGHT).is_ok());
    }

    #[test]
    fn an_address_taken_before_confirmation_is_refused_and_the_token_kept() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let (token, record) = crate::OneTimePolicy::default()
            .issue(
                &alice.user.id,
                crate::OneTimePurpose::ChangeEmail,
                Some("taken@example.com".into()),
                T0,
            )
            .unwrap();
        crate::OneTimeStore::issue_one_time(&*store, &record).unwrap();
        let bob = register(&a, "taken@example.com", "bob").unwrap();
        assert!(matches!(
            a.confirm_email_change(&token, T0),
            Err(AuthError::AccountExists)
        ));
        a.delete_account(proven(&a, &bob.tokens.claims, RIGHT), T0)
            .unwrap();
        assert_eq!(
            a.confirm_email_change(&token, T0).unwrap().email,
            "taken@example.com"
        );
    }

    #[test]
    fn the_current_address_is_no_change() {
        let (a, _) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let attempt = proven(&a, &alice.tokens.claims, RIGHT);
        assert!(matches!(
            a.request_email_change(attempt, &Email::parse("ALICE@example.com").unwrap(), T0),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_deleted_account_is_gone_with_its_sessions() {
        let (a, store) = authority();
        let alice = register(&a, "alice@example.com", "alice").unwrap();
        let wrong = proven(&a, &alice.tokens.claims, "not my password");
        assert!(matches!(
            a.delete_account(wrong, T0),
            Err(AuthError::InvalidCredentials)
        ));
        let id = a
            .delete_account(proven(&a, &alice.tokens.claims, RIGHT), T0)
            .unwrap();
        assert_eq!(id, alice.user.id);
        assert_eq!(store.user_by_id(&id).unwrap(), None);
        assert_eq!(
            store.session(&alice.tokens.claims.session_id()).unwrap(),
            None
        );
        assert!(a.authenticate(&alice.tokens.access_token, T0).is_err());
        assert!(register(&a, "alice@example.com", "alice").is_ok());
    }

    #[test]
    fn only_a_users_token_can_change_an_account() {
        let (a, _) = authority();
        let phone = device(&a, "device-0001", Platform::Ios, T0);
        assert!(matches!(
            a.begin_reauthentication(&phone.tokens.claims, None, T0),
            Err(AuthError::InvalidToken(_))
        ));
    }
}

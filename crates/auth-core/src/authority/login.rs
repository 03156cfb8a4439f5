//! What user and wallet logins share: the throttle's reservation of each attempt, the
//! password check, and a session opened only while the credential it proved still holds.

use super::*;

/// A password login between its steps: what [`Authority::begin_login`] (or
/// [`Authority::begin_wallet_login`]) read, then the verdict of
/// [`Authority::check_password`], for the finishing step to act on. The steps are apart so
/// that the hash can run on dedicated threads while storage work runs on others; a
/// hashing thread that also waited for the database would idle for part of every login.
///
/// The attempt was counted by the throttle when it was begun: finish it (the verdict is
/// recorded) or, if it can never be judged, [`Authority::abandon_login`] it (the count is
/// given back).
pub struct LoginAttempt<T> {
    pub(super) key: AttemptKey,
    pub(super) subject: Option<T>,
    pub(super) stored: Option<crate::PasswordHash>,
    pub(super) outcome: Outcome,
}

impl<T> LoginAttempt<T> {
    pub(super) fn new(
        key: AttemptKey,
        subject: Option<T>,
        stored: Option<crate::PasswordHash>,
    ) -> Self {
        Self {
            key,
            subject,
            stored,
            outcome: Outcome::Unchecked,
        }
    }
}

impl<T> LoginAttempt<T> {
    /// What [`Authority::abandon_login`] needs to give the attempt's count back, kept by a
    /// caller that hands the attempt itself to a job that may never run.
    #[must_use]
    pub fn ticket(&self) -> LoginTicket {
        LoginTicket(self.key.clone())
    }
}

/// The throttle's hold on one admitted login attempt (see [`LoginAttempt::ticket`]).
#[derive(Debug, Clone)]
pub struct LoginTicket(AttemptKey);

impl<T> std::fmt::Debug for LoginAttempt<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("known", &self.subject.is_some())
            .finish_non_exhaustive()
    }
}

/// What the hash said.
pub(super) enum Outcome {
    Unchecked,
    Wrong,
    Right {
        rehashed: Option<crate::PasswordHash>,
    },
}

impl Authority {
    /// Admits and counts an attempt on `account` from `client`, or refuses it.
    pub(super) fn reserve_attempt(
        &self,
        account: &str,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<AttemptKey, AuthError> {
        let key = self.throttle_keys.attempt(account, client);
        let throttle = self.throttle;
        self.store
            .reserve_attempt(&key, &|state| throttle.admit(state, now))?
            .map_err(|retry_after_secs| AuthError::RateLimited { retry_after_secs })?;
        Ok(key)
    }

    /// Gives back the count of an attempt that will never be judged (its hash was shed),
    /// so that an overloaded server does not lock its users out.
    pub fn abandon_login(&self, ticket: &LoginTicket) {
        self.release_attempt(&ticket.0);
    }

    pub(super) fn release_attempt(&self, key: &AttemptKey) {
        let throttle = self.throttle;
        if let Err(e) = self
            .store
            .release_attempt(key, &|r| throttle.after_release(r))
        {
            log::warn!("giving back a login attempt failed: {e}");
        }
    }

    /// The subject of a login whose password was right, the hash it was checked against
    /// and its upgrade (if it needs one); the network's streak is cleared and it becomes
    /// known to the account. Anything else, including an attempt whose password was never
    /// checked, is refused and counted as a wrong password.
    pub(super) fn accept<T>(
        &self,
        attempt: LoginAttempt<T>,
        now: UnixTime,
    ) -> Result<(T, crate::PasswordHash, Option<crate::PasswordHash>), AuthError> {
        match (attempt.outcome, attempt.subject, attempt.stored) {
            (Outcome::Right { rehashed }, Some(subject), Some(stored)) => {
                self.store
                    .record_success(&attempt.key, &self.throttle.after_success(now))?;
                Ok((subject, stored, rehashed))
            }
            _ => {
                let throttle = self.throttle;
                self.store.record_failure(
                    &attempt.key,
                    &|r| throttle.after_failure(r, now),
                    &|a| throttle.account_after_failure(a, now),
                )?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Starts a session for a principal whose password was just proven against
    /// `guard`'s hash, unless the credential changed or the principal was suspended or
    /// deleted since it was read: then the login counts for nothing.
    pub(super) fn start_guarded_session(
        &self,
        kind: PrincipalKind,
        guard: &CredentialGuard,
        origin: &SessionOrigin,
        now: UnixTime,
        policy: &TokenPolicy,
    ) -> Result<session::NewSession, AuthError> {
        let mut new = session::start(kind, &guard.principal_id, now, policy)?;
        new.session.origin = origin.clone();
        if self.store.create_session_guarded(&new.session, guard)? {
            Ok(new)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// Hashes a new password at the configured parameters, and nothing else: no storage,
    /// so that callers can run the expensive half of [`Authority::register`],
    /// [`Authority::create_wallet`] or [`Authority::rotate_wallet_password`]
    /// on threads of their own (authd's hashing threads) and the storage half elsewhere.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when hashing fails.
    pub fn hash_password(&self, password: &Password) -> Result<crate::PasswordHash, AuthError> {
        self.hasher.hash(password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn an_attacker_locks_out_only_their_own_network() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        let email = Email::parse("alice@example.com").unwrap();
        let attempt = |pw: &str, from| a.login(&email, &Password::presented(pw).unwrap(), from, T0);
        for _ in 0..5 {
            assert!(matches!(
                attempt("wrong password", ip("203.0.113.66")),
                Err(AuthError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            attempt("correct horse battery", ip("203.0.113.66")),
            Err(AuthError::RateLimited { .. })
        ));
        // Nor can the attacker hop within an IPv6 /64.
        for n in 0..5 {
            let _ = attempt("wrong password", ip(&format!("2001:db8::{n}")));
        }
        assert!(matches!(
            attempt("correct horse battery", ip("2001:db8::ffff")),
            Err(AuthError::RateLimited { .. })
        ));
        assert!(attempt("correct horse battery", ip("198.51.100.7")).is_ok());
    }

    #[test]
    fn a_distributed_guesser_is_slowed_but_the_owners_known_network_is_not() {
        let (a, _) = authority();
        let a = a.with_throttle(
            ThrottlePolicy {
                account_max_failures_per_hour: 10,
                ..ThrottlePolicy::default()
            },
            ThrottleKeys::new([1; 32]),
        );
        register(&a, "alice@example.com", "alice").unwrap();
        let email = Email::parse("alice@example.com").unwrap();
        let attempt =
            |pw: &str, from, at| a.login(&email, &Password::presented(pw).unwrap(), from, at);
        assert!(attempt("correct horse battery", ip("198.51.100.7"), T0).is_ok());
        for n in 0..10 {
            let _ = attempt("wrong password", ip(&format!("203.0.113.{n}")), T0);
        }
        let later = T0.plus_secs(60);
        assert!(matches!(
            attempt("correct horse battery", ip("192.0.2.1"), later),
            Err(AuthError::RateLimited { .. })
        ));
        assert!(attempt("correct horse battery", ip("198.51.100.7"), later).is_ok());
    }

    #[test]
    fn a_login_that_proved_a_replaced_password_opens_no_session() {
        let (a, store) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let login = WalletLogin::parse(&format!("sensor01@{}", app.id.as_str())).unwrap();
        let mut attempt = a.begin_wallet_login(&login, None, T0).unwrap();
        a.check_password(
            &mut attempt,
            &Password::presented("wallet password 1").unwrap(),
        );
        // The password is rotated after the hash said yes, before the session is stored.
        let new = Password::new("wallet password 2").unwrap();
        a.rotate_wallet_password_to(&app.id, wallet.id.as_str(), &new, T0)
            .unwrap();
        assert!(matches!(
            a.finish_wallet_login(attempt, &SessionOrigin::default(), T0),
            Err(AuthError::InvalidCredentials)
        ));
        assert_eq!(store.session_count(), 0);

        // The same for a user suspended in between.
        register(&a, "alice@example.com", "alice").unwrap();
        let email = Email::parse("alice@example.com").unwrap();
        let mut attempt = a.begin_login(&email, None, T0).unwrap();
        a.check_password(
            &mut attempt,
            &Password::presented("correct horse battery").unwrap(),
        );
        let id = store
            .user_by_email("alice@example.com")
            .unwrap()
            .unwrap()
            .id;
        a.update_user(&id, None, Some(UserStatus::Suspended), T0)
            .unwrap();
        let user = store.user_by_id(&id).unwrap().unwrap();
        // What the attempt read said "active"; the store's guard sees the suspension.
        assert_eq!(user.status, UserStatus::Suspended);
        assert!(
            a.finish_login(attempt, &SessionOrigin::default(), T0)
                .is_err()
        );
        assert_eq!(store.session_count(), 1, "only the registration's session");
    }

    #[test]
    fn a_rehash_never_overwrites_a_password_set_meanwhile() {
        let (a, store) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let stronger = Authority {
            hasher: PasswordHasher::with_params(2048, 1, 1).unwrap(),
            ..a.clone()
        };
        let login = WalletLogin::parse(&format!("sensor01@{}", app.id.as_str())).unwrap();
        let mut attempt = stronger.begin_wallet_login(&login, None, T0).unwrap();
        stronger.check_password(
            &mut attempt,
            &Password::presented("wallet password 1").unwrap(),
        );
        let new = Password::new("wallet password 2").unwrap();
        a.rotate_wallet_password_to(&app.id, wallet.id.as_str(), &new, T0)
            .unwrap();
        assert!(
            stronger
                .finish_wallet_login(attempt, &SessionOrigin::default(), T0)
                .is_err()
        );
        let stored = crate::WalletStore::wallet(store.as_ref(), wallet.id.as_str())
            .unwrap()
            .unwrap()
            .password_hash;
        assert_eq!(
            a.hasher.verify(&new, &stored),
            PasswordVerification::Valid,
            "the rotated password stands"
        );
    }

    #[test]
    fn repeated_failures_lock_an_account_even_against_the_right_password() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        let at = |secs| T0.plus_secs(secs);
        let try_login = |pw: &str, t| {
            a.login(
                &Email::parse("Alice@example.com").unwrap(),
                &Password::presented(pw).unwrap(),
                None,
                t,
            )
        };
        for _ in 0..5 {
            assert!(matches!(
                try_login("wrong password", at(0)),
                Err(AuthError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            try_login("correct horse battery", at(0)),
            Err(AuthError::RateLimited {
                retry_after_secs: 1
            })
        ));
        assert!(
            try_login("correct horse battery", at(1)).is_ok(),
            "the lock expires"
        );
        // The success reset the streak: five more failures are allowed again.
        for _ in 0..4 {
            assert!(matches!(
                try_login("wrong password", at(2)),
                Err(AuthError::InvalidCredentials)
            ));
        }
        assert!(try_login("correct horse battery", at(2)).is_ok());
    }

    #[test]
    fn unknown_accounts_are_throttled_like_real_ones() {
        let (a, _) = authority();
        let attempt = || {
            a.login(
                &Email::parse("nobody@example.com").unwrap(),
                &Password::presented("whatever1").unwrap(),
                None,
                T0,
            )
        };
        for _ in 0..5 {
            assert!(matches!(attempt(), Err(AuthError::InvalidCredentials)));
        }
        assert!(matches!(attempt(), Err(AuthError::RateLimited { .. })));
    }

    #[test]
    fn wallet_logins_are_throttled_per_wallet() {
        let (a, _) = authority();
        let (app, _) = app_with_wallet(&a);
        let name = format!("sensor01@{}", app.id.as_str());
        for _ in 0..5 {
            assert!(matches!(
                wallet_login(&a, &name, "bad password", T0),
                Err(AuthError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 1", T0),
            Err(AuthError::RateLimited { .. })
        ));
        let other = format!("sensor02@{}", app.id.as_str());
        assert!(
            matches!(
                wallet_login(&a, &other, "bad password", T0),
                Err(AuthError::InvalidCredentials)
            ),
            "other accounts are unaffected"
        );
        assert!(wallet_login(&a, &name, "wallet password 1", T0.plus_secs(1)).is_ok());
    }
}

//! Wallets: login as `username@appId` in steps, and the exchange of an access token for
//! the next.

use super::*;

/// A wallet's new access token. Wallets have no refresh token: the access token itself is
/// exchanged, once, for the next.
#[derive(Debug)]
pub struct WalletSession {
    /// The wallet.
    pub wallet: Wallet,
    /// The signed access token.
    pub access_token: String,
    /// Its claims.
    pub claims: AccessClaims,
    /// Its lifetime in seconds.
    pub expires_in_secs: i64,
}

impl Authority {
    /// The storage half before a wallet's password is checked: as
    /// [`Authority::begin_login`], for the account `wallet:<appId>:<username>`.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] while `client` is delayed on the wallet;
    /// [`AuthError::Store`].
    pub fn begin_wallet_login(
        &self,
        login: &WalletLogin,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<LoginAttempt<(App, Wallet)>, AuthError> {
        let account = format!(
            "wallet:{}:{}",
            login.app_id.as_str(),
            login.username.normalized()
        );
        let key = self.reserve_attempt(&account, client, now)?;
        let read = || -> Result<Option<(App, Wallet)>, StoreError> {
            let app = self.store.app(&login.app_id)?;
            let wallet = match &app {
                Some(_) => self
                    .store
                    .wallet_by_username(&login.app_id, &login.username)?,
                None => None,
            };
            Ok(app.zip(wallet))
        };
        let subject = match read() {
            Ok(subject) => subject,
            Err(e) => {
                self.release_attempt(&key);
                return Err(e.into());
            }
        };
        let stored = subject.as_ref().map(|(_, w)| w.password_hash.clone());
        Ok(LoginAttempt::new(key, subject, stored))
    }

    /// The storage half after a wallet's password was checked.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password, an unknown app or wallet
    /// (all alike), [`AuthError::AccountInactive`] for a suspended wallet or app (only
    /// after the password was right), or [`AuthError::Store`].
    pub fn finish_wallet_login(
        &self,
        attempt: LoginAttempt<(App, Wallet)>,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let ((app, mut wallet), mut proven, rehashed) = self.accept(attempt, now)?;
        if let Some(hash) = rehashed {
            match self
                .store
                .rehash_wallet_password(wallet.id.as_str(), &proven, &hash, now)
            {
                Ok(true) => proven = hash,
                // Changed since it was read: the guarded session below is refused.
                Ok(false) => {}
                Err(e) => log::warn!("password rehash for wallet {} failed: {e}", wallet.id),
            }
        }
        if !wallet.may_authenticate(Some(&app)) {
            return Err(AuthError::AccountInactive);
        }
        wallet.password_hash = proven.clone();
        let guard = CredentialGuard {
            kind: PrincipalKind::Wallet,
            principal_id: wallet.id.to_string(),
            password_hash: proven,
        };
        let policy = self.policy.for_wallets();
        let new =
            self.start_guarded_session(PrincipalKind::Wallet, &guard, origin, now, &policy)?;
        self.issue_wallet_token(&new.session, wallet, &new.token, now)
    }

    /// Exchanges a wallet's unexpired access token, once, for a new one. The wallet and its
    /// app must still be active; the session's absolute lifetime is never extended.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for an expired token; [`AuthError::InvalidToken`] for a
    /// bad token, one of another kind, or a revoked session;
    /// [`AuthError::RefreshTokenReused`] for a token exchanged before (after the grace);
    /// [`AuthError::AccountInactive`] for a suspended wallet or app.
    pub fn refresh_wallet(
        &self,
        access_token: &str,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let claims = self.verify(access_token, now)?;
        claims.require_kind(PrincipalKind::Wallet)?;
        let link = RefreshToken::parse(&claims.jti)
            .map_err(|_| AuthError::InvalidToken("wallet token without a chain link"))?;
        let exchanged = self.exchange_wallet_token(&claims, &link, now);
        // Suspension revokes the session; tell a suspended wallet so rather than "invalid".
        if let Err(AuthError::InvalidToken(_)) = &exchanged
            && self.wallet_is_inactive(&claims.sub)?
        {
            return Err(AuthError::AccountInactive);
        }
        exchanged
    }

    pub(super) fn wallet_is_inactive(&self, wallet_id: &str) -> Result<bool, AuthError> {
        let Some(wallet) = self.store.wallet(wallet_id)? else {
            return Ok(false);
        };
        let app = self.store.app(&wallet.app_id)?;
        Ok(!wallet.may_authenticate(app.as_ref()))
    }

    pub(super) fn exchange_wallet_token(
        &self,
        claims: &AccessClaims,
        link: &RefreshToken,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        // The token, its session, the wallet and its app in one read.
        let (rotated, wallet) = session::rotate_admitting(
            self.store.as_ref(),
            link,
            PrincipalKind::Wallet,
            now,
            &self.policy.for_wallets(),
            |session, principal| {
                if session.id.as_str() != claims.sid {
                    return Err(AuthError::InvalidToken("token does not match its session"));
                }
                let Some(SessionPrincipal::Wallet(wallet, app)) = principal else {
                    return Err(AuthError::InvalidToken(
                        "the session's wallet no longer exists",
                    ));
                };
                if !wallet.may_authenticate(app.as_ref()) {
                    return Err(AuthError::AccountInactive);
                }
                Ok(wallet)
            },
        )?;
        self.issue_wallet_token(&rotated.session, wallet, &rotated.token, now)
    }

    pub(super) fn issue_wallet_token(
        &self,
        session: &Session,
        wallet: Wallet,
        link: &RefreshToken,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let ttl = self.access_ttl(session, now);
        let mut claims = self.signer.claims(
            PrincipalKind::Wallet,
            wallet.id.as_str(),
            &session.id,
            Attributes {
                username: Some(wallet.username.clone()),
                app_id: Some(wallet.app_id.as_str().to_owned()),
                role: Some(wallet.role.as_str().to_owned()),
                ..Attributes::default()
            },
            now,
            ttl,
        );
        // The token is its own refresh credential: its jti is the session's chain link.
        link.expose().clone_into(&mut claims.jti);
        Ok(WalletSession {
            access_token: self.signer.sign(&claims)?,
            claims,
            expires_in_secs: ttl,
            wallet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn a_wallet_logs_in_and_its_token_carries_the_contract_claims() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let s = sensor_login(&a, &app);
        assert_eq!(s.expires_in_secs, 3_600);
        let c = a.authenticate(&s.access_token, T0.plus_secs(1)).unwrap();
        assert_eq!(c.kind, PrincipalKind::Wallet);
        assert_eq!(c.sub, wallet.id.as_str());
        assert_eq!(c.attributes.username.as_deref(), Some("sensor01"));
        assert_eq!(c.attributes.app_id.as_deref(), Some(app.id.as_str()));
        assert_eq!(c.attributes.role.as_deref(), Some("device"));
    }

    #[test]
    fn unknown_app_unknown_wallet_and_wrong_password_look_the_same() {
        let (a, _) = authority();
        let (app, _) = app_with_wallet(&a);
        for name in [
            "sensor01@app_doesnotexist",
            &format!("sensor99@{}", app.id.as_str()),
        ] {
            assert!(matches!(
                wallet_login(&a, name, "wallet password 1", T0),
                Err(AuthError::InvalidCredentials)
            ));
        }
        let name = format!("SENSOR01@{}", app.id.as_str());
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 2", T0),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(
            wallet_login(&a, &name, "wallet password 1", T0).is_ok(),
            "usernames ignore ASCII case"
        );
    }

    #[test]
    fn a_wallet_token_is_exchanged_once_with_a_retry_grace() {
        let (a, _) = authority();
        let (app, _) = app_with_wallet(&a);
        let s = sensor_login(&a, &app);
        let next = a.refresh_wallet(&s.access_token, T0.plus_secs(60)).unwrap();
        assert_ne!(next.claims.jti, s.claims.jti);
        assert_eq!(next.claims.sid, s.claims.sid);
        let retry = a.refresh_wallet(&s.access_token, T0.plus_secs(65)).unwrap();
        assert_eq!(
            retry.claims.jti, next.claims.jti,
            "a lost response can be retried"
        );
        assert!(matches!(
            a.refresh_wallet(&s.access_token, T0.plus_secs(70)),
            Err(AuthError::RefreshTokenReused)
        ));
        assert!(matches!(
            a.refresh_wallet(&next.access_token, T0.plus_secs(71)),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn a_wallet_session_is_never_extended_past_seven_days() {
        let (a, _) = authority();
        let (app, _) = app_with_wallet(&a);
        let mut s = sensor_login(&a, &app);
        let session_end = T0.plus_secs(604_800).secs();
        let mut now = T0;
        let ended = loop {
            now = now.plus_secs(3_540);
            match a.refresh_wallet(&s.access_token, now) {
                Ok(next) => {
                    assert!(
                        next.claims.exp <= session_end,
                        "a token never outlives its session"
                    );
                    s = next;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(
            s.claims.exp, session_end,
            "the chain runs to the session's end"
        );
        assert!(matches!(ended, AuthError::TokenExpired), "{ended:?}");
        assert!(now.secs() >= session_end);
    }

    #[test]
    fn user_and_device_tokens_are_refused_for_wallet_exchange() {
        let (a, _) = authority();
        let u = register(&a, "alice@example.com", "alice").unwrap();
        let d = device(&a, "device-0001", Platform::Ios, T0);
        for token in [&u.tokens.access_token, &d.tokens.access_token] {
            assert!(matches!(
                a.refresh_wallet(token, T0.plus_secs(1)),
                Err(AuthError::InvalidToken(_))
            ));
        }
    }

    #[test]
    fn a_new_role_appears_at_the_next_exchange() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let s = sensor_login(&a, &app);
        a.update_wallet(
            &app.id,
            wallet.id.as_str(),
            None,
            Some(WalletRole::parse("gateway").unwrap()),
            T0.plus_secs(1),
        )
        .unwrap();
        let next = a.refresh_wallet(&s.access_token, T0.plus_secs(2)).unwrap();
        assert_eq!(next.claims.attributes.role.as_deref(), Some("gateway"));
    }
}

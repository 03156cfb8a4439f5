//! Administration: apps, their wallets, and users' roles and status.

use super::*;

impl Authority {
    /// Creates an app.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for a bad name; [`AuthError::Store`].
    pub fn create_app(&self, name: &str, now: UnixTime) -> Result<App, AuthError> {
        let app = App::new(name, now)?;
        self.store.create_app(&app)?;
        Ok(app)
    }

    /// The app with this id.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn app(&self, id: &AppId) -> Result<App, AuthError> {
        self.store.app(id)?.ok_or(AuthError::NotFound)
    }

    /// A page of apps and the total count.
    ///
    /// # Errors
    /// [`AuthError::Store`].
    pub fn apps(&self, page: Page) -> Result<(Vec<App>, u64), AuthError> {
        Ok(self.store.list_apps(page)?)
    }

    /// Suspends or reactivates an app; suspension ends every session of its wallets.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn set_app_status(
        &self,
        id: &AppId,
        status: Status,
        now: UnixTime,
    ) -> Result<App, AuthError> {
        if !self.store.set_app_status(id, status, now)? {
            return Err(AuthError::NotFound);
        }
        self.app(id)
    }

    /// Creates a wallet in an app, with a password hashed by [`Authority::hash_password`].
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown app; [`AuthError::AccountExists`] when the
    /// app has a wallet of that username; [`AuthError::Store`].
    pub fn create_wallet(
        &self,
        app: &AppId,
        username: &Username,
        hash: crate::PasswordHash,
        role: WalletRole,
        now: UnixTime,
    ) -> Result<Wallet, AuthError> {
        self.app(app)?;
        let wallet = Wallet::new(app.clone(), username, hash, role, now);
        match self.store.create_wallet(&wallet) {
            Ok(()) => Ok(wallet),
            Err(StoreError::Duplicate) => Err(AuthError::AccountExists),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of an app's wallets and the total count.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown app; [`AuthError::Store`].
    pub fn wallets(&self, app: &AppId, page: Page) -> Result<(Vec<Wallet>, u64), AuthError> {
        self.app(app)?;
        Ok(self.store.list_wallets(app, page)?)
    }

    /// The wallet `id` of app `app`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is no such wallet in that app; [`AuthError::Store`].
    pub fn wallet(&self, app: &AppId, id: &str) -> Result<Wallet, AuthError> {
        if WalletId::parse(id).is_none() {
            return Err(AuthError::NotFound);
        }
        self.store
            .wallet(id)?
            .filter(|w| &w.app_id == app)
            .ok_or(AuthError::NotFound)
    }

    /// Changes a wallet's status and/or role. Suspension ends its sessions at once; a new
    /// role appears in tokens from the next exchange on.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn update_wallet(
        &self,
        app: &AppId,
        id: &str,
        status: Option<Status>,
        role: Option<WalletRole>,
        now: UnixTime,
    ) -> Result<Wallet, AuthError> {
        self.wallet(app, id)?;
        let suspend = status == Some(Status::Suspended);
        let change = WalletChange {
            status,
            role,
            password_hash: None,
        };
        self.store
            .update_wallet(id, &change, suspend, now)?
            .ok_or(AuthError::NotFound)?;
        self.wallet(app, id)
    }

    /// Replaces a wallet's password with one hashed by [`Authority::hash_password`] and
    /// ends all its sessions. Returns how many sessions were revoked.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn rotate_wallet_password(
        &self,
        app: &AppId,
        id: &str,
        hash: crate::PasswordHash,
        now: UnixTime,
    ) -> Result<u64, AuthError> {
        self.wallet(app, id)?;
        let change = WalletChange {
            password_hash: Some(hash),
            ..WalletChange::default()
        };
        self.store
            .update_wallet(id, &change, true, now)?
            .ok_or(AuthError::NotFound)
    }

    /// Deletes a wallet and its sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn delete_wallet(&self, app: &AppId, id: &str) -> Result<(), AuthError> {
        self.wallet(app, id)?;
        if self.store.delete_wallet(id)? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Changes a user's roles and/or status. A suspended user is refused (403) at login,
    /// refresh and `me`; new roles appear in tokens issued from now on.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn update_user(
        &self,
        id: &UserId,
        roles: Option<&[Role]>,
        status: Option<UserStatus>,
        now: UnixTime,
    ) -> Result<User, AuthError> {
        self.user(id)?;
        if let Some(roles) = roles {
            self.store.set_roles(id, roles, now)?;
        }
        if let Some(status) = status {
            self.store.set_status(id, status, now)?;
        }
        self.user(id)
    }

    /// A page of users, oldest first, and how many match: with `email`, those whose
    /// address contains it (compared ignoring ASCII case).
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for a filter over 254 characters or with control
    /// characters; [`AuthError::Store`].
    pub fn users(&self, email: Option<&str>, page: Page) -> Result<(Vec<User>, u64), AuthError> {
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if email.is_some_and(|e| e.chars().count() > 254 || e.chars().any(char::is_control)) {
            return Err(AuthError::InvalidRequest(
                "email must be at most 254 characters without control characters".into(),
            ));
        }
        let lowered = email.map(str::to_ascii_lowercase);
        Ok(self.store.list_users(lowered.as_deref(), page)?)
    }

    /// Deletes user `id` as an administrator: their sessions, one-time tokens and device
    /// links go with them.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such user; [`AuthError::Store`].
    pub fn delete_user(&self, id: &UserId, now: UnixTime) -> Result<(), AuthError> {
        if self.store.delete_user(id, now)? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// The active administrator behind a verified access token: a user whose stored roles
    /// (not merely the token's) include `ADMIN`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a token of another kind or of a user that no longer
    /// exists; [`AuthError::Forbidden`] for a user without `ADMIN` or a suspended one;
    /// [`AuthError::Store`].
    pub fn administrator(&self, claims: &AccessClaims) -> Result<User, AuthError> {
        claims.require_kind(PrincipalKind::User)?;
        let user = self
            .store
            .user_by_id(&UserId::from_stored(claims.sub.clone()))?
            .ok_or(AuthError::InvalidToken("the token's user no longer exists"))?;
        let is_admin = user.roles.iter().any(|r| r.as_str() == Role::ADMIN);
        if user.status != UserStatus::Active || !is_admin {
            return Err(AuthError::Forbidden);
        }
        Ok(user)
    }

    /// The wallet with this id, for `me`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn wallet_by_id(&self, id: &str) -> Result<Wallet, AuthError> {
        self.store.wallet(id)?.ok_or(AuthError::NotFound)
    }

    /// The user with this email, for the command line.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn user_by_email(&self, email: &Email) -> Result<User, AuthError> {
        self.store
            .user_by_email(email.normalized())?
            .ok_or(AuthError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    /// Suspends or reactivates `wallet` of `app` at `at`.
    fn set_status(a: &Authority, app: &App, wallet: &Wallet, status: Status, at: UnixTime) {
        a.update_wallet(&app.id, wallet.id.as_str(), Some(status), None, at)
            .unwrap();
    }

    #[test]
    fn suspension_rotation_and_deletion_end_wallet_sessions() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let name = format!("sensor01@{}", app.id.as_str());
        let login = |at| wallet_login(&a, &name, "wallet password 1", at).unwrap();

        let s = login(T0);
        set_status(&a, &app, &wallet, Status::Suspended, T0.plus_secs(1));
        assert!(a.authenticate(&s.access_token, T0.plus_secs(2)).is_err());
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 1", T0),
            Err(AuthError::AccountInactive)
        ));
        set_status(&a, &app, &wallet, Status::Active, T0.plus_secs(3));

        let s = login(T0.plus_secs(4));
        a.set_app_status(&app.id, Status::Suspended, T0.plus_secs(5))
            .unwrap();
        assert!(a.authenticate(&s.access_token, T0.plus_secs(6)).is_err());
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 1", T0),
            Err(AuthError::AccountInactive)
        ));
        a.set_app_status(&app.id, Status::Active, T0.plus_secs(7))
            .unwrap();

        let (s1, s2) = (login(T0.plus_secs(8)), login(T0.plus_secs(8)));
        let revoked = a
            .rotate_wallet_password_to(
                &app.id,
                wallet.id.as_str(),
                &Password::new("wallet password 2").unwrap(),
                T0.plus_secs(9),
            )
            .unwrap();
        assert_eq!(revoked, 2);
        assert!(
            a.authenticate(&s1.access_token, T0.plus_secs(10)).is_err()
                && a.authenticate(&s2.access_token, T0.plus_secs(10)).is_err()
        );
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 1", T0),
            Err(AuthError::InvalidCredentials)
        ));

        let s = wallet_login(&a, &name, "wallet password 2", T0.plus_secs(11)).unwrap();
        set_status(&a, &app, &wallet, Status::Suspended, T0.plus_secs(11));
        assert!(matches!(
            a.refresh_wallet(&s.access_token, T0.plus_secs(11)),
            Err(AuthError::AccountInactive)
        ));
        set_status(&a, &app, &wallet, Status::Active, T0.plus_secs(11));
        let s = wallet_login(&a, &name, "wallet password 2", T0.plus_secs(11)).unwrap();
        a.delete_wallet(&app.id, wallet.id.as_str()).unwrap();
        assert!(a.authenticate(&s.access_token, T0.plus_secs(12)).is_err());
        assert!(matches!(
            a.wallet(&app.id, wallet.id.as_str()),
            Err(AuthError::NotFound)
        ));
    }

    #[test]
    fn a_wallet_of_one_app_is_not_found_under_another() {
        let (a, _) = authority();
        let (_, wallet) = app_with_wallet(&a);
        let other = a.create_app("Other", T0).unwrap();
        assert!(matches!(
            a.wallet(&other.id, wallet.id.as_str()),
            Err(AuthError::NotFound)
        ));
        assert!(matches!(
            a.delete_wallet(&other.id, wallet.id.as_str()),
            Err(AuthError::NotFound)
        ));
    }

    #[test]
    fn admins_change_user_roles_and_status() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let admin = [Role::parse("USER").unwrap(), Role::parse("ADMIN").unwrap()];
        let u = a.update_user(&s.user.id, Some(&admin), None, T0).unwrap();
        assert_eq!(u.role_names(), vec!["USER", "ADMIN"]);
        let fresh = login(&a, "alice@example.com", "correct horse battery").unwrap();
        assert!(fresh.tokens.claims.has_role("ADMIN"));
        a.update_user(&s.user.id, None, Some(UserStatus::Suspended), T0)
            .unwrap();
        assert!(matches!(
            a.refresh_user(fresh.tokens.refresh_token.expose(), T0.plus_secs(1)),
            Err(AuthError::AccountInactive)
        ));
        assert!(matches!(
            a.update_user(&UserId::from_stored("nope".into()), None, None, T0),
            Err(AuthError::NotFound)
        ));
    }
}

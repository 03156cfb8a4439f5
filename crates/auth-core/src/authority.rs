//! The operations authd offers, assembled from the rules of this crate and a [`Store`].
//!
//! Every operation takes `now`; none reads a clock. Handlers call these from a blocking
//! thread: they hash passwords and talk to the database.

use std::sync::Arc;

use crate::session::{self, TokenPolicy};
use crate::{
    AccessClaims, Attributes, AuthError, Device, DeviceId, Email, Jwks, Password, PasswordHasher,
    PasswordVerification, Platform, PrincipalKind, RefreshToken, Session, SessionId, Store,
    StoreError, TokenSigner, UnixTime, User, UserId, UserStatus, Username,
};

/// Tokens issued for one session: a new access token and the session's current refresh
/// token.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: String,
    /// Its claims.
    pub claims: AccessClaims,
    /// The refresh token to hand out.
    pub refresh_token: RefreshToken,
    /// Lifetime of the access token in seconds.
    pub expires_in_secs: i64,
}

/// A user together with fresh tokens for one of their sessions.
#[derive(Debug)]
pub struct UserSession {
    /// The user.
    pub user: User,
    /// The tokens.
    pub tokens: IssuedTokens,
}

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

fn user_attributes(user: &User) -> Attributes {
    Attributes {
        roles: user.role_names(),
        platform: None,
    }
}

fn device_attributes(device: &Device) -> Attributes {
    Attributes {
        roles: Vec::new(),
        platform: Some(device.platform),
    }
}

/// authd's operations over a store, a signer, a hasher and a token policy.
#[derive(Clone)]
pub struct Authority {
    store: Arc<dyn Store>,
    signer: TokenSigner,
    hasher: PasswordHasher,
    policy: TokenPolicy,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("signer", &self.signer)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Assembles the operations.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        signer: TokenSigner,
        hasher: PasswordHasher,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            store,
            signer,
            hasher,
            policy,
        }
    }

    /// The token policy in force.
    #[must_use]
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The public signing keys.
    #[must_use]
    pub fn jwks(&self) -> &Jwks {
        self.signer.keys().jwks()
    }

    /// Creates a user and a first session.
    ///
    /// # Errors
    /// [`AuthError::AccountExists`] when the email or username is taken (case-insensitively);
    /// [`AuthError::Store`] when storage fails.
    pub fn register(
        &self,
        email: &Email,
        username: &Username,
        password: &Password,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let user = User::new(email, username, self.hasher.hash(password)?, now);
        let new = session::start(PrincipalKind::User, user.id.as_str(), now, &self.policy)?;
        match self.store.create_user(&user, &new.session, &new.first) {
            Ok(()) => {}
            Err(StoreError::Duplicate) => return Err(AuthError::AccountExists),
            Err(e) => return Err(e.into()),
        }
        let tokens = self.issue(&new.session, user_attributes(&user), new.token, now)?;
        Ok(UserSession { user, tokens })
    }

    /// Checks a user's email and password and starts a session.
    ///
    /// An unknown email costs the same as a wrong password and gets the same answer.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for an unknown email or a wrong password;
    /// [`AuthError::AccountInactive`] for a suspended user whose password was right;
    /// [`AuthError::Store`] when storage fails.
    pub fn login(
        &self,
        email: &Email,
        password: &Password,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let Some(user) = self.store.user_by_email(email.normalized())? else {
            self.hasher.verify_dummy(password);
            return Err(AuthError::InvalidCredentials);
        };
        match self.hasher.verify(password, &user.password_hash) {
            PasswordVerification::Invalid => return Err(AuthError::InvalidCredentials),
            PasswordVerification::Valid => {}
            PasswordVerification::ValidNeedsRehash => {
                // Upgrading the hash is best effort: the login itself is already proven.
                let upgraded = self
                    .hasher
                    .hash(password)
                    .and_then(|h| Ok(self.store.update_password_hash(&user.id, &h, now)?));
                if let Err(e) = upgraded {
                    log::warn!("password rehash for user {} failed: {e}", user.id.as_str());
                }
            }
        }
        if user.status != UserStatus::Active {
            return Err(AuthError::AccountInactive);
        }
        let tokens = self.start_session(
            PrincipalKind::User,
            user.id.as_str(),
            user_attributes(&user),
            now,
        )?;
        Ok(UserSession { user, tokens })
    }

    /// Rotates a user's refresh token and issues a new access token.
    ///
    /// # Errors
    /// As [`session::rotate`]; also [`AuthError::InvalidToken`] when the user no longer
    /// exists and [`AuthError::AccountInactive`] when the user is suspended.
    pub fn refresh_user(&self, presented: &str, now: UnixTime) -> Result<UserSession, AuthError> {
        let presented = RefreshToken::parse(presented)?;
        let (rotated, user) = session::rotate_admitting(
            self.store.as_ref(),
            &presented,
            PrincipalKind::User,
            now,
            &self.policy,
            |session| {
                let user = self
                    .store
                    .user_by_id(&UserId::from_stored(session.principal_id.clone()))?
                    .ok_or(AuthError::InvalidToken(
                        "the session's user no longer exists",
                    ))?;
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
        let claims = self.signer.verify(access_token, now)?;
        let session = self
            .store
            .session(&claims.session_id())?
            .ok_or(AuthError::InvalidToken("unknown session"))?;
        if session.kind != claims.kind || session.principal_id != claims.sub {
            return Err(AuthError::InvalidToken("token does not match its session"));
        }
        if !session.is_live(now) {
            return Err(AuthError::InvalidToken("session revoked or ended"));
        }
        Ok(claims)
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
        if let Some((_, other)) = self.store.find_refresh(&token.hash())?
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

    /// Authenticates a device by its id and platform, registering it on first use, and
    /// starts a session for it. Concurrent first calls for one device create one device.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn authenticate_device(
        &self,
        device_id: &DeviceId,
        platform: Platform,
        now: UnixTime,
    ) -> Result<DeviceSession, AuthError> {
        if let Some(device) = self.store.device_by_key(platform, device_id)? {
            return self.resume_device(device, now);
        }
        let device = Device::new(device_id.clone(), platform, now);
        let new = session::start(PrincipalKind::Device, &device.id, now, &self.policy)?;
        match self.store.create_device(&device, &new.session, &new.first) {
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
                self.resume_device(device, now)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn resume_device(&self, mut device: Device, now: UnixTime) -> Result<DeviceSession, AuthError> {
        self.store.touch_device(&device.id, now)?;
        device.last_seen_at = now;
        let tokens = self.start_session(
            PrincipalKind::Device,
            &device.id,
            device_attributes(&device),
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
        let (rotated, mut device) = session::rotate_admitting(
            self.store.as_ref(),
            &presented,
            PrincipalKind::Device,
            now,
            &self.policy,
            |session| {
                self.store
                    .device_by_id(&session.principal_id)?
                    .ok_or(AuthError::InvalidToken(
                        "the session's device no longer exists",
                    ))
            },
        )?;
        self.store.touch_device(&device.id, now)?;
        device.last_seen_at = now;
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

    /// Whether the session with this id is live at `now`.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn session_is_live(&self, id: &SessionId, now: UnixTime) -> Result<bool, AuthError> {
        Ok(self.store.session(id)?.is_some_and(|s| s.is_live(now)))
    }

    fn start_session(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        attributes: Attributes,
        now: UnixTime,
    ) -> Result<IssuedTokens, AuthError> {
        let new = session::start(kind, principal_id, now, &self.policy)?;
        self.store.create_session(&new.session, &new.first)?;
        self.issue(&new.session, attributes, new.token, now)
    }

    fn issue(
        &self,
        session: &Session,
        attributes: Attributes,
        refresh_token: RefreshToken,
        now: UnixTime,
    ) -> Result<IssuedTokens, AuthError> {
        let claims = self.signer.claims(
            session.kind,
            &session.principal_id,
            &session.id,
            attributes,
            now,
            self.policy.access_ttl_secs,
        );
        Ok(IssuedTokens {
            access_token: self.signer.sign(&claims)?,
            claims,
            refresh_token,
            expires_in_secs: self.policy.access_ttl_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::{KeyRing, UserStore};

    const T0: UnixTime = UnixTime(1_800_000_000);

    fn authority() -> (Authority, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::default());
        let keys = KeyRing::load_or_create(store.as_ref(), T0).unwrap();
        let authority = Authority::new(
            store.clone(),
            TokenSigner::new(keys, "authd"),
            PasswordHasher::with_params(1024, 1, 1).unwrap(),
            TokenPolicy::default(),
        );
        (authority, store)
    }

    fn register(a: &Authority, email: &str, username: &str) -> Result<UserSession, AuthError> {
        a.register(
            &Email::parse(email).unwrap(),
            &Username::parse(username).unwrap(),
            &Password::new("correct horse battery").unwrap(),
            T0,
        )
    }

    fn login(a: &Authority, email: &str, password: &str) -> Result<UserSession, AuthError> {
        a.login(
            &Email::parse(email).unwrap(),
            &Password::presented(password).unwrap(),
            T0,
        )
    }

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

    fn device(a: &Authority, id: &str, platform: Platform, at: UnixTime) -> DeviceSession {
        a.authenticate_device(&DeviceId::parse(id).unwrap(), platform, at)
            .unwrap()
    }

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
        let retry = a
            .refresh_device(d.tokens.refresh_token.expose(), T0.plus_secs(105))
            .unwrap();
        assert_eq!(retry.tokens.refresh_token, r1.tokens.refresh_token);
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
            a.device(&idle.device.id),
            Err(AuthError::NotFound)
        ));
        assert!(a.device(&busy.device.id).is_ok());
        assert!(matches!(
            a.authenticate(&idle.tokens.access_token, T0.plus_secs(1)),
            Err(AuthError::InvalidToken(_))
        ));
        // The purged device comes back as a new device.
        assert!(device(&a, "idle-device", Platform::Ios, later).new_device);
    }

    #[test]
    fn an_expired_access_token_is_reported_as_expired() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        assert!(matches!(
            a.authenticate(&s.tokens.access_token, T0.plus_secs(3_605)),
            Err(AuthError::TokenExpired)
        ));
    }
}

//! The operations authd offers, assembled from the rules of this crate and a [`Store`].
//!
//! Every operation takes `now`; none reads a clock. Handlers call these from a blocking
//! thread: they hash passwords and talk to the database.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::session::CredentialGuard;
use crate::session::{self, TokenPolicy};
use crate::throttle::{AttemptKey, ThrottleKeys, ThrottlePolicy};
use crate::verifier::is_unknown_kid;
use crate::{
    AccessClaims, App, AppId, Attributes, AuthError, Device, DeviceId, Email, Jwks, KeyRing, Page,
    Password, PasswordHasher, PasswordVerification, Platform, PrincipalKind, RefreshToken, Role,
    Session, SessionId, SigningAlgorithm, Status, Store, StoreError, TokenSigner, UnixTime, User,
    UserId, UserStatus, Username, Wallet, WalletLogin, WalletRole,
};
use crate::{KeyCipher, WalletChange};

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
    key: AttemptKey,
    subject: Option<T>,
    stored: Option<crate::PasswordHash>,
    outcome: Outcome,
}

impl<T> LoginAttempt<T> {
    fn new(key: AttemptKey, subject: Option<T>, stored: Option<crate::PasswordHash>) -> Self {
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
enum Outcome {
    Unchecked,
    Wrong,
    Right {
        rehashed: Option<crate::PasswordHash>,
    },
}

/// A user together with fresh tokens for one of their sessions.
#[derive(Debug)]
pub struct UserSession {
    /// The user.
    pub user: User,
    /// The tokens.
    pub tokens: IssuedTokens,
}

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
        ..Attributes::default()
    }
}

fn device_attributes(device: &Device) -> Attributes {
    Attributes {
        platform: Some(device.platform),
        ..Attributes::default()
    }
}

/// authd's operations over a store, a signer, a hasher and a token policy.
#[derive(Clone)]
pub struct Authority {
    store: Arc<dyn Store>,
    signer: TokenSigner,
    hasher: PasswordHasher,
    policy: TokenPolicy,
    throttle: ThrottlePolicy,
    throttle_keys: ThrottleKeys,
    last_key_reload: Arc<AtomicI64>,
    /// Held through a key reload, so that a slow reload never replaces a newer one's keys.
    key_reload: Arc<std::sync::Mutex<()>>,
    key_cipher: Option<KeyCipher>,
}

/// A superseded key stays published this long after the access-token lifetime.
const KEY_RETENTION_MARGIN_SECS: i64 = 60;
/// Unknown kids trigger a key reload at most this often.
const MIN_KEY_RELOAD_INTERVAL_SECS: i64 = 10;

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
            throttle: ThrottlePolicy::default(),
            // A secret of this process alone; servers share one with `with_throttle`.
            throttle_keys: ThrottleKeys::new(ThrottleKeys::generate().unwrap_or([0; 32])),
            last_key_reload: Arc::new(AtomicI64::new(0)),
            key_reload: Arc::default(),
            key_cipher: None,
        }
    }

    /// The same operations opening (and, for new keys, sealing) private signing keys with
    /// `cipher`.
    #[must_use]
    pub fn with_key_cipher(self, key_cipher: Option<KeyCipher>) -> Self {
        Self { key_cipher, ..self }
    }

    /// The same operations with another login-throttling policy, hashing its keys with
    /// `keys` (every process on one database must share them).
    #[must_use]
    pub fn with_throttle(self, throttle: ThrottlePolicy, throttle_keys: ThrottleKeys) -> Self {
        Self {
            throttle,
            throttle_keys,
            ..self
        }
    }

    /// Admits and counts an attempt on `account` from `client`, or refuses it.
    fn reserve_attempt(
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

    fn release_attempt(&self, key: &AttemptKey) {
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
    fn accept<T>(
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
    fn start_guarded_session(
        &self,
        kind: PrincipalKind,
        guard: &CredentialGuard,
        now: UnixTime,
        policy: &TokenPolicy,
    ) -> Result<session::NewSession, AuthError> {
        let new = session::start(kind, &guard.principal_id, now, policy)?;
        if self
            .store
            .create_session_guarded(&new.session, &new.first, guard)?
        {
            Ok(new)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// The token policy in force.
    #[must_use]
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The public signing keys in use.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        self.signer.keys().jwks().clone()
    }

    /// Reloads the signing keys from the store, picking up a rotation made by the command
    /// line or another process. A no-op for HMAC keys, which come from the configuration.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails; the keys in use stay as they were.
    pub fn reload_keys(&self, now: UnixTime) -> Result<(), AuthError> {
        if self.signer.keys().algorithm() != SigningAlgorithm::EdDSA {
            return Ok(());
        }
        let retain = self
            .policy
            .access_ttl_secs
            .saturating_add(KEY_RETENTION_MARGIN_SECS);
        let _one_at_a_time = self
            .key_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.signer.replace_keys(KeyRing::load(
            self.store.as_ref(),
            now,
            retain,
            self.key_cipher.as_ref(),
        )?);
        self.last_key_reload.store(now.secs(), Ordering::SeqCst);
        Ok(())
    }

    /// Verifies an access token; a token naming a key this process does not know yet
    /// (another process rotated) triggers one reload, at most every few seconds, so forged
    /// kids cannot make authd hammer its database.
    fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AuthError> {
        match self.signer.verify(token, now) {
            Err(e) if is_unknown_kid(&e) && self.may_reload(now) => {
                self.reload_keys(now)?;
                self.signer.verify(token, now)
            }
            other => other,
        }
    }

    fn may_reload(&self, now: UnixTime) -> bool {
        let last = self.last_key_reload.load(Ordering::SeqCst);
        now.secs() - last >= MIN_KEY_RELOAD_INTERVAL_SECS
            && self
                .last_key_reload
                .compare_exchange(last, now.secs(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    /// Hashes a new password at the configured parameters, and nothing else: no storage,
    /// so that callers can run the expensive half of [`Authority::register_hashed`],
    /// [`Authority::create_wallet_hashed`] or [`Authority::rotate_wallet_password_hashed`]
    /// on threads of their own (authd's hashing threads) and the storage half elsewhere.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when hashing fails.
    pub fn hash_password(&self, password: &Password) -> Result<crate::PasswordHash, AuthError> {
        self.hasher.hash(password)
    }

    /// Creates a user and a first session: [`Authority::hash_password`] and
    /// [`Authority::register_hashed`] in one go.
    ///
    /// # Errors
    /// As [`Authority::register_hashed`], and as [`Authority::hash_password`].
    pub fn register(
        &self,
        email: &Email,
        username: &Username,
        password: &Password,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let hash = self.hash_password(password)?;
        self.register_hashed(email, username, hash, now)
    }

    /// Creates a user whose password was hashed by [`Authority::hash_password`], and a
    /// first session.
    ///
    /// # Errors
    /// [`AuthError::AccountExists`] when the email or username is taken (case-insensitively);
    /// [`AuthError::Store`] when storage fails.
    pub fn register_hashed(
        &self,
        email: &Email,
        username: &Username,
        hash: crate::PasswordHash,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let user = User::new(email, username, hash, now);
        let new = session::start(PrincipalKind::User, user.id.as_str(), now, &self.policy)?;
        match self.store.create_user(&user, &new.session, &new.first) {
            Ok(()) => {}
            Err(StoreError::Duplicate) => return Err(AuthError::AccountExists),
            Err(e) => return Err(e.into()),
        }
        let tokens = self.issue(&new.session, user_attributes(&user), new.token, now)?;
        Ok(UserSession { user, tokens })
    }

    /// Logs a user in with email and password, starting a session: [`Authority::begin_login`],
    /// [`Authority::check_password`] and [`Authority::finish_login`] in one go. Unknown
    /// email and wrong password get the same answer in the same time.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::RateLimited`],
    /// [`AuthError::AccountInactive`] (only after the password was right), or
    /// [`AuthError::Store`].
    pub fn login(
        &self,
        email: &Email,
        password: &Password,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let mut attempt = self.begin_login(email, client, now)?;
        self.check_password(&mut attempt, password);
        self.finish_login(attempt, now)
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
    /// As [`Authority::login`].
    pub fn finish_login(
        &self,
        attempt: LoginAttempt<User>,
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
        let guard = CredentialGuard {
            kind: PrincipalKind::User,
            principal_id: user.id.as_str().to_owned(),
            password_hash: proven,
        };
        let new = self.start_guarded_session(PrincipalKind::User, &guard, now, &self.policy)?;
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
        let (rotated, user) = session::rotate_found(
            self.store.as_ref(),
            &presented,
            PrincipalKind::User,
            now,
            &self.policy,
            |hash| self.store.find_user_refresh(hash),
            |_, user| {
                let user = user.ok_or(AuthError::InvalidToken(
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
        // The token, its session and the device in one read.
        let (rotated, mut device) = session::rotate_found(
            self.store.as_ref(),
            &presented,
            PrincipalKind::Device,
            now,
            &self.policy,
            |hash| self.store.find_device_refresh(hash),
            |_, device| {
                device.ok_or(AuthError::InvalidToken(
                    "the session's device no longer exists",
                ))
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

    /// Logs a wallet in with `walletUsername@appId` and its password, starting a wallet
    /// session: [`Authority::begin_wallet_login`], [`Authority::check_password`] and
    /// [`Authority::finish_wallet_login`] in one go. Unknown app, unknown wallet and wrong
    /// password get the same answer in the same time; a suspended wallet or app is told
    /// only after the password was right.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::RateLimited`],
    /// [`AuthError::AccountInactive`], or [`AuthError::Store`].
    pub fn wallet_login(
        &self,
        login: &WalletLogin,
        password: &Password,
        client: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let mut attempt = self.begin_wallet_login(login, client, now)?;
        self.check_password(&mut attempt, password);
        self.finish_wallet_login(attempt, now)
    }

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
    /// As [`Authority::wallet_login`].
    pub fn finish_wallet_login(
        &self,
        attempt: LoginAttempt<(App, Wallet)>,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let ((app, mut wallet), mut proven, rehashed) = self.accept(attempt, now)?;
        if let Some(hash) = rehashed {
            match self
                .store
                .rehash_wallet_password(&wallet.id, &proven, &hash, now)
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
            principal_id: wallet.id.clone(),
            password_hash: proven,
        };
        let policy = self.policy.for_wallets();
        let new = self.start_guarded_session(PrincipalKind::Wallet, &guard, now, &policy)?;
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

    fn wallet_is_inactive(&self, wallet_id: &str) -> Result<bool, AuthError> {
        let Some(wallet) = self.store.wallet(wallet_id)? else {
            return Ok(false);
        };
        let app = self.store.app(&wallet.app_id)?;
        Ok(!wallet.may_authenticate(app.as_ref()))
    }

    fn exchange_wallet_token(
        &self,
        claims: &AccessClaims,
        link: &RefreshToken,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        // The token, its session, the wallet and its app in one read.
        let (rotated, wallet) = session::rotate_found(
            self.store.as_ref(),
            link,
            PrincipalKind::Wallet,
            now,
            &self.policy.for_wallets(),
            |hash| self.store.find_wallet_refresh(hash),
            |session, wallet| {
                if session.id.as_str() != claims.sid {
                    return Err(AuthError::InvalidToken("token does not match its session"));
                }
                let (wallet, app) = wallet.ok_or(AuthError::InvalidToken(
                    "the session's wallet no longer exists",
                ))?;
                if !wallet.may_authenticate(app.as_ref()) {
                    return Err(AuthError::AccountInactive);
                }
                Ok(wallet)
            },
        )?;
        self.issue_wallet_token(&rotated.session, wallet, &rotated.token, now)
    }

    fn issue_wallet_token(
        &self,
        session: &Session,
        wallet: Wallet,
        link: &RefreshToken,
        now: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        let ttl = self.access_ttl(session, now);
        let mut claims = self.signer.claims(
            PrincipalKind::Wallet,
            &wallet.id,
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

    /// Creates a wallet in an app.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown app; [`AuthError::AccountExists`] when the
    /// app has a wallet of that username; [`AuthError::Store`].
    pub fn create_wallet(
        &self,
        app: &AppId,
        username: &Username,
        password: &Password,
        role: WalletRole,
        now: UnixTime,
    ) -> Result<Wallet, AuthError> {
        self.app(app)?;
        let hash = self.hash_password(password)?;
        self.create_wallet_hashed(app, username, hash, role, now)
    }

    /// Creates a wallet whose password was hashed by [`Authority::hash_password`].
    ///
    /// # Errors
    /// As [`Authority::create_wallet`].
    pub fn create_wallet_hashed(
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
        if !Wallet::is_id(id) {
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

    /// Replaces a wallet's password and ends all its sessions. Returns how many sessions
    /// were revoked.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn rotate_wallet_password(
        &self,
        app: &AppId,
        id: &str,
        password: &Password,
        now: UnixTime,
    ) -> Result<u64, AuthError> {
        self.wallet(app, id)?;
        let hash = self.hash_password(password)?;
        self.rotate_wallet_password_hashed(app, id, hash, now)
    }

    /// Replaces a wallet's password with one hashed by [`Authority::hash_password`] and
    /// ends all its sessions.
    ///
    /// # Errors
    /// As [`Authority::rotate_wallet_password`].
    pub fn rotate_wallet_password_hashed(
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

    /// Gauges for monitoring: live sessions at `now` and the pool's (open, idle)
    /// connections.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn gauges(&self, now: UnixTime) -> Result<(u64, (u32, u32)), AuthError> {
        Ok((self.store.live_sessions(now)?, self.store.pool_usage()))
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// [`AuthError::Store`] when it does not.
    pub fn ping(&self) -> Result<(), AuthError> {
        Ok(self.store.ping()?)
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
        let ttl = self.access_ttl(session, now);
        let claims = self.signer.claims(
            session.kind,
            &session.principal_id,
            &session.id,
            attributes,
            now,
            ttl,
        );
        Ok(IssuedTokens {
            access_token: self.signer.sign(&claims)?,
            claims,
            refresh_token,
            expires_in_secs: ttl,
        })
    }

    /// An access token never outlives its session.
    fn access_ttl(&self, session: &Session, now: UnixTime) -> i64 {
        self.policy
            .access_ttl_secs
            .min(session.expires_at.secs() - now.secs())
            .max(0)
    }
}

/// Whether `session` (as stored, if at all) still honours the access token of `claims`.
fn check_session(
    claims: &AccessClaims,
    session: Option<Session>,
    now: UnixTime,
) -> Result<(), AuthError> {
    let session = session.ok_or(AuthError::InvalidToken("unknown session"))?;
    if session.kind != claims.kind || session.principal_id != claims.sub {
        return Err(AuthError::InvalidToken("token does not match its session"));
    }
    if !session.is_live(now) {
        return Err(AuthError::InvalidToken("session revoked or ended"));
    }
    Ok(())
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
            None,
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
    fn a_login_in_steps_needs_its_password_checked_and_counts_failures() {
        let (a, _) = authority();
        register(&a, "alice@example.com", "alice").unwrap();
        let email = Email::parse("alice@example.com").unwrap();
        let right = Password::presented("correct horse battery").unwrap();

        // A caller that skips the hash gets what a wrong password gets, counted as one.
        for _ in 0..4 {
            let unchecked = a.begin_login(&email, None, T0).unwrap();
            assert!(matches!(
                a.finish_login(unchecked, T0),
                Err(AuthError::InvalidCredentials)
            ));
        }
        // An attempt abandoned before its hash is given back: this is still the fifth.
        let shed = a.begin_login(&email, None, T0).unwrap();
        a.abandon_login(&shed.ticket());
        let mut attempt = a.begin_login(&email, None, T0).unwrap();
        a.check_password(&mut attempt, &right);
        let session = a.finish_login(attempt, T0).unwrap();
        assert_eq!(session.user.username, "alice");
        // The success cleared the streak: four more failures pass unhindered.
        for _ in 0..4 {
            let unchecked = a.begin_login(&email, None, T0).unwrap();
            assert!(a.finish_login(unchecked, T0).is_err());
        }
        assert!(a.begin_login(&email, None, T0).is_ok());
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

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
        a.rotate_wallet_password(&app.id, &wallet.id, &new, T0)
            .unwrap();
        assert!(matches!(
            a.finish_wallet_login(attempt, T0),
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
        assert!(a.finish_login(attempt, T0).is_err());
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
        a.rotate_wallet_password(&app.id, &wallet.id, &new, T0)
            .unwrap();
        assert!(stronger.finish_wallet_login(attempt, T0).is_err());
        let stored = crate::WalletStore::wallet(store.as_ref(), &wallet.id)
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
        store
            .create_session(&orphan.session, &orphan.first)
            .unwrap();
        for _ in 0..2 {
            assert!(matches!(
                a.refresh_user(orphan.token.expose(), T0.plus_secs(30)),
                Err(AuthError::InvalidToken(_))
            ));
        }
        let (_, stored) = store.find_refresh(&orphan.first.hash).unwrap().unwrap();
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
                &DeviceId::parse("device-0001").unwrap(),
                Platform::Android,
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
        store
            .create_session(&lookalike.session, &lookalike.first)
            .unwrap();
        assert_eq!(
            store.find_user_session(&lookalike.session.id).unwrap(),
            Some((lookalike.session.clone(), None))
        );
        assert!(
            store
                .find_user_refresh(&lookalike.first.hash)
                .unwrap()
                .is_some_and(|(_, _, user)| user.is_none())
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
        let stored_last_seen = || a.device(&d.device.id).unwrap().last_seen_at;
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
    fn a_device_session_without_its_device_refreshes_no_more() {
        use crate::SessionStore as _;
        let (a, store) = authority();
        let user = register(&a, "alice@example.com", "alice").unwrap();
        let orphan = session::start(PrincipalKind::Device, "dev_gone", T0, &a.policy).unwrap();
        store
            .create_session(&orphan.session, &orphan.first)
            .unwrap();
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
        let (record, session) = store.find_refresh(&orphan.first.hash).unwrap().unwrap();
        assert_eq!((record.generation, session.generation), (0, 0));
    }

    fn app_with_wallet(a: &Authority) -> (App, Wallet) {
        let app = a.create_app("Sensors", T0).unwrap();
        let wallet = a
            .create_wallet(
                &app.id,
                &Username::parse("sensor01").unwrap(),
                &Password::new("wallet password 1").unwrap(),
                WalletRole::parse("device").unwrap(),
                T0,
            )
            .unwrap();
        (app, wallet)
    }

    fn wallet_login(
        a: &Authority,
        name: &str,
        password: &str,
        at: UnixTime,
    ) -> Result<WalletSession, AuthError> {
        a.wallet_login(
            &WalletLogin::parse(name).unwrap(),
            &Password::presented(password).unwrap(),
            None,
            at,
        )
    }

    #[test]
    fn a_wallet_logs_in_and_its_token_carries_the_contract_claims() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let s = wallet_login(
            &a,
            &format!("sensor01@{}", app.id.as_str()),
            "wallet password 1",
            T0,
        )
        .unwrap();
        assert_eq!(s.expires_in_secs, 3_600);
        let c = a.authenticate(&s.access_token, T0.plus_secs(1)).unwrap();
        assert_eq!(c.kind, PrincipalKind::Wallet);
        assert_eq!(c.sub, wallet.id);
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
        let s = wallet_login(
            &a,
            &format!("sensor01@{}", app.id.as_str()),
            "wallet password 1",
            T0,
        )
        .unwrap();
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
        let mut s = wallet_login(
            &a,
            &format!("sensor01@{}", app.id.as_str()),
            "wallet password 1",
            T0,
        )
        .unwrap();
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
    fn suspension_rotation_and_deletion_end_wallet_sessions() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let name = format!("sensor01@{}", app.id.as_str());
        let login = |at| wallet_login(&a, &name, "wallet password 1", at).unwrap();

        let s = login(T0);
        a.update_wallet(
            &app.id,
            &wallet.id,
            Some(Status::Suspended),
            None,
            T0.plus_secs(1),
        )
        .unwrap();
        assert!(a.authenticate(&s.access_token, T0.plus_secs(2)).is_err());
        assert!(matches!(
            wallet_login(&a, &name, "wallet password 1", T0),
            Err(AuthError::AccountInactive)
        ));
        a.update_wallet(
            &app.id,
            &wallet.id,
            Some(Status::Active),
            None,
            T0.plus_secs(3),
        )
        .unwrap();

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
            .rotate_wallet_password(
                &app.id,
                &wallet.id,
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
        a.update_wallet(
            &app.id,
            &wallet.id,
            Some(Status::Suspended),
            None,
            T0.plus_secs(11),
        )
        .unwrap();
        assert!(matches!(
            a.refresh_wallet(&s.access_token, T0.plus_secs(11)),
            Err(AuthError::AccountInactive)
        ));
        a.update_wallet(
            &app.id,
            &wallet.id,
            Some(Status::Active),
            None,
            T0.plus_secs(11),
        )
        .unwrap();
        let s = wallet_login(&a, &name, "wallet password 2", T0.plus_secs(11)).unwrap();
        a.delete_wallet(&app.id, &wallet.id).unwrap();
        assert!(a.authenticate(&s.access_token, T0.plus_secs(12)).is_err());
        assert!(matches!(
            a.wallet(&app.id, &wallet.id),
            Err(AuthError::NotFound)
        ));
    }

    #[test]
    fn a_new_role_appears_at_the_next_exchange() {
        let (a, _) = authority();
        let (app, wallet) = app_with_wallet(&a);
        let s = wallet_login(
            &a,
            &format!("sensor01@{}", app.id.as_str()),
            "wallet password 1",
            T0,
        )
        .unwrap();
        a.update_wallet(
            &app.id,
            &wallet.id,
            None,
            Some(WalletRole::parse("gateway").unwrap()),
            T0.plus_secs(1),
        )
        .unwrap();
        let next = a.refresh_wallet(&s.access_token, T0.plus_secs(2)).unwrap();
        assert_eq!(next.claims.attributes.role.as_deref(), Some("gateway"));
    }

    #[test]
    fn a_wallet_of_one_app_is_not_found_under_another() {
        let (a, _) = authority();
        let (_, wallet) = app_with_wallet(&a);
        let other = a.create_app("Other", T0).unwrap();
        assert!(matches!(
            a.wallet(&other.id, &wallet.id),
            Err(AuthError::NotFound)
        ));
        assert!(matches!(
            a.delete_wallet(&other.id, &wallet.id),
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

    #[test]
    fn an_access_token_never_outlives_its_session() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let mut token = s.tokens.refresh_token;
        for day in [6, 12, 18, 24] {
            token = a
                .refresh_user(token.expose(), T0.plus_secs(day * 86_400))
                .unwrap()
                .tokens
                .refresh_token;
        }
        // Refresh 10 minutes before the 30-day session ends.
        let last = a
            .refresh_user(token.expose(), T0.plus_secs(2_592_000 - 600))
            .unwrap();
        assert_eq!(last.tokens.claims.exp, T0.plus_secs(2_592_000).secs());
        assert_eq!(last.tokens.expires_in_secs, 600);
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

    #[test]
    fn purging_removes_ended_and_long_revoked_sessions_only() {
        use crate::SessionStore;
        let (a, store) = authority();
        let ended = register(&a, "old@example.com", "old").unwrap();
        let revoked = login(&a, "old@example.com", "correct horse battery").unwrap();
        a.logout(&revoked.tokens.claims, None, T0).unwrap();
        let now = T0.plus_secs(2_592_000 + 1);
        let live = a
            .register(
                &Email::parse("new@example.com").unwrap(),
                &Username::parse("new").unwrap(),
                &Password::new("correct horse battery").unwrap(),
                now.plus_secs(-10),
            )
            .unwrap();
        let (sessions, _) = crate::purge_expired(store.as_ref(), now).unwrap();
        assert_eq!(sessions, 2);
        assert_eq!(
            store.session(&ended.tokens.claims.session_id()).unwrap(),
            None
        );
        assert!(
            store
                .session(&live.tokens.claims.session_id())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_rotation_by_another_process_is_picked_up_at_the_first_unknown_kid() {
        let (a, store) = authority();
        let old = register(&a, "alice@example.com", "alice").unwrap();
        // Another process, on the same store, rotates and reloads.
        let b = Authority::new(
            store.clone(),
            TokenSigner::new(
                KeyRing::load_or_create(store.as_ref(), T0).unwrap(),
                "authd",
            ),
            PasswordHasher::with_params(1024, 1, 1).unwrap(),
            TokenPolicy::default(),
        );
        let new_key = KeyRing::rotate(store.as_ref(), T0, None).unwrap();
        b.reload_keys(T0.plus_secs(20)).unwrap();
        let fresh = login(&b, "alice@example.com", "correct horse battery").unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh.tokens.access_token)
                .unwrap()
                .kid
                .as_deref(),
            Some(new_key.kid.as_str())
        );
        // The first process has never seen the new key, and learns it from the token.
        assert!(
            a.authenticate(&fresh.tokens.access_token, T0.plus_secs(20))
                .is_ok()
        );
        assert!(a.jwks().keys.iter().any(|k| k.kid == new_key.kid));
        // Tokens signed before the rotation stay valid on both.
        assert!(
            b.authenticate(&old.tokens.access_token, T0.plus_secs(21))
                .is_ok()
        );
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

//! What the tests of these modules share: an authority on a memory store, and the
//! one-shot versions of the operations that production runs in steps.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::memory::MemoryStore;

pub(crate) use crate::KeyRing;
pub(crate) use crate::UserStore;

pub(crate) const T0: UnixTime = UnixTime(1_800_000_000);

pub(crate) fn authority() -> (Authority, Arc<MemoryStore>) {
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

pub(crate) fn register(
    a: &Authority,
    email: &str,
    username: &str,
) -> Result<UserSession, AuthError> {
    a.register_with_password(
        &Email::parse(email).unwrap(),
        &Username::parse(username).unwrap(),
        &Password::new("correct horse battery").unwrap(),
        T0,
    )
}

pub(crate) fn login(a: &Authority, email: &str, password: &str) -> Result<UserSession, AuthError> {
    a.login(
        &Email::parse(email).unwrap(),
        &Password::presented(password).unwrap(),
        None,
        T0,
    )
}

pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

pub(crate) fn device(a: &Authority, id: &str, platform: Platform, at: UnixTime) -> DeviceSession {
    a.authenticate_device(
        &ClientDeviceId::parse(id).unwrap(),
        platform,
        &SessionOrigin::default(),
        at,
    )
    .unwrap()
}

pub(crate) fn app_with_wallet(a: &Authority) -> (App, Wallet) {
    let app = a.create_app("Sensors", T0).unwrap();
    let wallet = a
        .create_wallet_with_password(
            &app.id,
            &Username::parse("sensor01").unwrap(),
            &Password::new("wallet password 1").unwrap(),
            WalletRole::parse("device").unwrap(),
            T0,
        )
        .unwrap();
    (app, wallet)
}

pub(crate) fn wallet_login(
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

/// The wallet of [`app_with_wallet`] logged in at `T0` with its password.
pub(crate) fn sensor_login(a: &Authority, app: &App) -> WalletSession {
    wallet_login(
        a,
        &format!("sensor01@{}", app.id.as_str()),
        "wallet password 1",
        T0,
    )
    .unwrap()
}

/// The one-shot operations: production runs them in steps, with the hash on the hashing
/// gate's threads in between.
impl Authority {
    /// Creates a user and a first session: [`Authority::hash_password`] and
    /// [`Authority::register`] in one go.
    ///
    /// # Errors
    /// As [`Authority::register`], and as [`Authority::hash_password`].
    pub fn register_with_password(
        &self,
        email: &Email,
        username: &Username,
        password: &Password,
        now: UnixTime,
    ) -> Result<UserSession, AuthError> {
        let hash = self.hash_password(password)?;
        self.register(email, username, hash, &SessionOrigin::default(), now)
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
        self.finish_login(attempt, &SessionOrigin::default(), now)
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
        self.finish_wallet_login(attempt, &SessionOrigin::default(), now)
    }

    /// Creates a wallet in an app.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown app; [`AuthError::AccountExists`] when the
    /// app has a wallet of that username; [`AuthError::Store`].
    pub fn create_wallet_with_password(
        &self,
        app: &AppId,
        username: &Username,
        password: &Password,
        role: WalletRole,
        now: UnixTime,
    ) -> Result<Wallet, AuthError> {
        self.app(app)?;
        let hash = self.hash_password(password)?;
        self.create_wallet(app, username, hash, role, now)
    }

    /// Replaces a wallet's password and ends all its sessions. Returns how many sessions
    /// were revoked.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Store`].
    pub fn rotate_wallet_password_to(
        &self,
        app: &AppId,
        id: &str,
        password: &Password,
        now: UnixTime,
    ) -> Result<u64, AuthError> {
        self.wallet(app, id)?;
        let hash = self.hash_password(password)?;
        self.rotate_wallet_password(app, id, hash, now)
    }
}

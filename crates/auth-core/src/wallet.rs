//! Apps and their wallets: operational identities (sensors, services, bots) that log in
//! as `walletUsername@appId` and receive short JWTs whose claims other services read.
//!
//! A wallet has no refresh token. Its access token can be exchanged once for a new one:
//! the token's `jti` is the current link of its session's rotation chain, so exchange
//! follows exactly the rules of [`crate::session`] (single use, retry grace, reuse
//! detection, an absolute session lifetime).

use serde::{Deserialize, Serialize};

use crate::{AuthError, PasswordHash, StoreError, UnixTime, Username};

/// Whether an app or wallet may authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// May authenticate.
    Active,
    /// Refused with `ACCOUNT_INACTIVE` (after a correct password); its sessions are revoked.
    Suspended,
}

impl Status {
    /// Both statuses.
    pub const ALL: [Status; 2] = [Self::Active, Self::Suspended];

    /// The contract's name (`active`, `suspended`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the contract's name.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for anything else.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            _ => Err(AuthError::InvalidRequest(
                "status must be \"active\" or \"suspended\"".into(),
            )),
        }
    }
}

/// An app's id: `app_` and 128 random bits in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppId(String);

impl AppId {
    /// A new random id.
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("app_{}", uuid::Uuid::new_v4().simple()))
    }

    /// Accepts an id from a path or a login name if it has the shape of one.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when it is not `app_` followed by 1–64 characters of
    /// `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let ok = s.strip_prefix("app_").is_some_and(|rest| {
            (1..=64).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(
                "appId must look like app_…".into(),
            ))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An app that owns wallets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Its id.
    pub id: AppId,
    /// A human name, 1–100 characters.
    pub name: String,
    /// Whether its wallets may authenticate.
    pub status: Status,
    /// When it was created.
    pub created_at: UnixTime,
}

impl App {
    /// A new active app.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when the name is empty, longer than 100 characters or
    /// contains control characters.
    pub fn new(name: &str, now: UnixTime) -> Result<Self, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AuthError::InvalidRequest(
                "name must be 1-100 printable characters".into(),
            ));
        }
        Ok(Self {
            id: AppId::generate(),
            name: name.to_owned(),
            status: Status::Active,
            created_at: now,
        })
    }
}

/// A wallet's role, from its metadata: 1–32 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletRole(String);

impl WalletRole {
    /// Parses a role.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when it is empty, too long or uses other characters.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(
                "role must be 1-32 characters of A-Z, a-z, 0-9, '_', '.', '-'".into(),
            ))
        }
    }

    /// The role as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A wallet's login name, `walletUsername@appId`, split at the last `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletLogin {
    /// The wallet's username within its app.
    pub username: Username,
    /// The app.
    pub app_id: AppId,
}

impl WalletLogin {
    /// Parses `sensor01@app_1a2b3c4d`.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] without an `@`, or when either side is malformed.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let (username, app) = s.rsplit_once('@').ok_or_else(|| {
            AuthError::InvalidRequest("username must be of the form walletUsername@appId".into())
        })?;
        Ok(Self {
            username: Username::parse(username)?,
            app_id: AppId::parse(app)?,
        })
    }
}

/// A wallet's id: `wal_` and a random UUID (the `sub` of its tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WalletId(String);

impl WalletId {
    fn generate() -> Self {
        Self(format!("wal_{}", uuid::Uuid::new_v4()))
    }

    /// Wraps an id read from storage or a verified token.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// An id given by a client (an admin's path): `None` unless it has the shape of a
    /// wallet id, so text no wallet can have is answered without a lookup.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        s.strip_prefix("wal_")
            .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
            .then(|| Self(s.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for WalletId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A wallet as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    /// Its id (the `sub` of its tokens).
    pub id: WalletId,
    /// The app it belongs to.
    pub app_id: AppId,
    /// Its username within the app, as chosen.
    pub username: String,
    /// Argon2id hash of its password.
    pub password_hash: PasswordHash,
    /// Its role (the `role` claim).
    pub role: WalletRole,
    /// Whether it may authenticate.
    pub status: Status,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it last changed.
    pub updated_at: UnixTime,
}

impl Wallet {
    /// A new active wallet.
    #[must_use]
    pub fn new(
        app_id: AppId,
        username: &Username,
        password_hash: PasswordHash,
        role: WalletRole,
        now: UnixTime,
    ) -> Self {
        Self {
            id: WalletId::generate(),
            app_id,
            username: username.as_str().to_owned(),
            password_hash,
            role,
            status: Status::Active,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the wallet may authenticate under `app`, the app it belongs to (`None` when
    /// that app is gone): both must be active, since suspending an app suspends its wallets.
    #[must_use]
    pub fn may_authenticate(&self, app: Option<&App>) -> bool {
        self.status == Status::Active && app.is_some_and(|app| app.status == Status::Active)
    }
}

/// The fields of a wallet to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletChange {
    /// A new status.
    pub status: Option<Status>,
    /// A new role.
    pub role: Option<WalletRole>,
    /// A new password hash.
    pub password_hash: Option<PasswordHash>,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most items to return (1–200).
    pub limit: u32,
    /// Items to skip.
    pub offset: u32,
}

impl Page {
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// A page, checked.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when `limit` is outside 1–200.
    pub fn new(limit: u32, offset: u32) -> Result<Self, AuthError> {
        if (1..=Self::MAX_LIMIT).contains(&limit) {
            Ok(Self { limit, offset })
        } else {
            Err(AuthError::InvalidRequest(
                "limit must be between 1 and 200".into(),
            ))
        }
    }
}

/// Persistence of apps and wallets.
pub trait WalletStore: Send + Sync {
    /// Stores a new app.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn create_app(&self, app: &App) -> Result<(), StoreError>;

    /// The app with this id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn app(&self, id: &AppId) -> Result<Option<App>, StoreError>;

    /// A page of apps, oldest first, and the total count.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn list_apps(&self, page: Page) -> Result<(Vec<App>, u64), StoreError>;

    /// Sets an app's status; when suspending, revokes every session of its wallets at `at`.
    /// Returns whether the app exists.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing changes then.
    fn set_app_status(&self, id: &AppId, status: Status, at: UnixTime) -> Result<bool, StoreError>;

    /// Stores a new wallet.
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`] when the app already has a wallet with the
    /// same username ignoring ASCII case; [`StoreError`] when storage fails.
    fn create_wallet(&self, wallet: &Wallet) -> Result<(), StoreError>;

    /// The wallet of `app` with this username (compared ignoring ASCII case).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn wallet_by_username(
        &self,
        app: &AppId,
        username: &Username,
    ) -> Result<Option<Wallet>, StoreError>;

    /// The wallet with this id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn wallet(&self, id: &str) -> Result<Option<Wallet>, StoreError>;

    /// A page of an app's wallets, oldest first, and the total count.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn list_wallets(&self, app: &AppId, page: Page) -> Result<(Vec<Wallet>, u64), StoreError>;

    /// Applies `change` to the wallet `id` (only the fields it sets, so concurrent changes
    /// of different fields do not undo each other) and, when `revoke` is set, revokes all
    /// its sessions at `at`, in one transaction. Returns how many sessions were revoked, or
    /// `None` when the wallet does not exist.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing changes then.
    fn update_wallet(
        &self,
        id: &str,
        change: &WalletChange,
        revoke: bool,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError>;

    /// Replaces a wallet's password hash `from` by `to` (a rehash at login), only if the
    /// stored hash is still `from`; sessions are untouched. Returns whether it was
    /// replaced.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn rehash_wallet_password(
        &self,
        id: &str,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Deletes a wallet with its sessions. Returns whether it existed.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing changes then.
    fn delete_wallet(&self, id: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_logins_split_at_the_last_at_sign() {
        let login = WalletLogin::parse("sensor01@app_1a2b3c4d").unwrap();
        assert_eq!(login.username.as_str(), "sensor01");
        assert_eq!(login.app_id.as_str(), "app_1a2b3c4d");
        // An @ inside the username part makes that part invalid, not a different app.
        assert!(WalletLogin::parse("a@b@app_x1").is_err());
        for bad in [
            "sensor01",
            "sensor01@",
            "@app_x",
            "sensor01@app_",
            "sensor01@notanapp",
            "s@app_x",
        ] {
            assert!(WalletLogin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_prefixed_and_unguessable() {
        let a = AppId::generate();
        assert!(a.as_str().starts_with("app_") && a.as_str().len() == 36);
        assert_ne!(a, AppId::generate());
        assert!(AppId::parse(a.as_str()).is_ok());
        let w = Wallet::new(
            a,
            &Username::parse("sensor01").unwrap(),
            PasswordHash::from_stored(String::new()),
            WalletRole::parse("device").unwrap(),
            UnixTime(0),
        );
        let id = w.id.as_str();
        assert!(id.starts_with("wal_") && uuid::Uuid::parse_str(&id[4..]).is_ok());
        assert_eq!(WalletId::parse(id), Some(w.id.clone()));
        for not_an_id in ["wal_x", "wal_\0", "sensor01", &id[4..], ""] {
            assert!(WalletId::parse(not_an_id).is_none(), "{not_an_id:?}");
        }
    }

    #[test]
    fn a_wallet_authenticates_only_while_it_and_its_app_are_active() {
        let mut app = App::new("Sensors", UnixTime(0)).unwrap();
        let mut w = Wallet::new(
            app.id.clone(),
            &Username::parse("sensor01").unwrap(),
            PasswordHash::from_stored(String::new()),
            WalletRole::parse("device").unwrap(),
            UnixTime(0),
        );
        assert!(w.may_authenticate(Some(&app)));
        assert!(!w.may_authenticate(None), "its app is gone");
        app.status = Status::Suspended;
        assert!(!w.may_authenticate(Some(&app)), "its app is suspended");
        app.status = Status::Active;
        w.status = Status::Suspended;
        assert!(!w.may_authenticate(Some(&app)), "it is suspended");
    }

    #[test]
    fn roles_are_short_identifiers() {
        assert!(WalletRole::parse("device").is_ok());
        assert!(WalletRole::parse("reader.v2").is_ok());
        for bad in ["", "has space", &"r".repeat(33), "ünï"] {
            assert!(WalletRole::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_and_names_are_checked() {
        assert_eq!(Status::parse("suspended").unwrap(), Status::Suspended);
        assert!(Status::parse("Suspended").is_err());
        assert!(App::new("  Sensors ", UnixTime(0)).is_ok_and(|a| a.name == "Sensors"));
        assert!(App::new("", UnixTime(0)).is_err());
        assert!(App::new(&"n".repeat(101), UnixTime(0)).is_err());
        assert!(
            Page::new(0, 0).is_err() && Page::new(201, 0).is_err() && Page::new(200, 5).is_ok()
        );
    }
}

//! People who log in with email and password.

use crate::{Email, PasswordHash, Role, Session, SessionId, StoreError, UnixTime, Username};

/// A user's id: a random UUID, unguessable and stable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// A new random id.
    #[must_use]
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wraps an id read from storage or a verified token.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// An id given by a client (an admin's path): `None` unless it has the shape of an id
    /// authd hands out, so text no user can have never reaches the database.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok().map(|_| Self(s.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a user may authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// May log in and refresh.
    Active,
    /// Refused with `ACCOUNT_INACTIVE` after a correct password.
    Suspended,
}

impl UserStatus {
    /// The stable name used in storage.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
        }
    }

    /// Parses the name written by [`UserStatus::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(UserStatus::Active),
            "suspended" => Some(UserStatus::Suspended),
            _ => None,
        }
    }
}

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Email as registered (trimmed).
    pub email: String,
    /// Email as compared: ASCII letters lower-cased.
    pub email_normalized: String,
    /// Username as chosen.
    pub username: String,
    /// Username as compared: ASCII letters lower-cased.
    pub username_normalized: String,
    /// Argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// Roles, `USER` at least.
    pub roles: Vec<Role>,
    /// Whether the user may authenticate.
    pub status: UserStatus,
    /// Whether the user has shown they receive mail at their address: they used a
    /// verification link, or reset their password from a mailed link.
    pub email_verified: bool,
    /// When the account was created.
    pub created_at: UnixTime,
    /// When the account last changed.
    pub updated_at: UnixTime,
}

impl User {
    /// A new active user with role `USER`.
    #[must_use]
    pub fn new(
        email: &Email,
        username: &Username,
        password_hash: PasswordHash,
        now: UnixTime,
    ) -> Self {
        Self {
            id: UserId::generate(),
            email: email.as_str().to_owned(),
            email_normalized: email.normalized().to_owned(),
            username: username.as_str().to_owned(),
            username_normalized: username.normalized(),
            password_hash,
            roles: Role::parse(Role::USER).into_iter().collect(),
            status: UserStatus::Active,
            email_verified: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The role names, for tokens and responses.
    #[must_use]
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.as_str().to_owned()).collect()
    }
}

/// Persistence of user accounts.
pub trait UserStore: Send + Sync {
    /// Stores a new user together with their first session, all or nothing: a failure
    /// never leaves an account whose registration the client was not told about.
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`], storing nothing, when another user has
    /// the same normalized email or normalized username (also under concurrent inserts);
    /// [`StoreError`] when storage fails, storing nothing.
    fn create_user(&self, user: &User, session: &Session) -> Result<(), StoreError>;

    /// The user with this normalized email.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn user_by_email(&self, email_normalized: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// The session with this id, and its user when the session is a user's and the user
    /// still exists: what checking a user's access token and describing the user read,
    /// in one lookup.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn find_user_session(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<User>)>, StoreError>;

    /// Suspends or reactivates a user. Sessions are kept: authd refuses a suspended user on
    /// every route it serves, and reactivation restores access without a new login.
    /// Returns whether the user exists.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn set_status(&self, id: &UserId, status: UserStatus, at: UnixTime)
    -> Result<bool, StoreError>;

    /// Replaces a user's roles (they take effect in tokens issued from now on). Returns
    /// whether the user exists.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn set_roles(&self, id: &UserId, roles: &[Role], at: UnixTime) -> Result<bool, StoreError>;

    /// Replaces a user's password hash `from` by `to` (a rehash at login at current
    /// parameters), only if the stored hash is still `from`: an upgrade never overwrites
    /// a password set meanwhile. Returns whether it was replaced.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn update_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError>;
}

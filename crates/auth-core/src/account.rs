//! A person's account after registration: a new password while logged in, deletion, the
//! live sessions a principal can see and end, and the operators' list of users.
//!
//! (Changes made with a mailed token, a reset or a new address, are [`crate::OneTimeStore`]'s.)

use crate::{
    Page, PasswordHash, PrincipalKind, Session, SessionId, StoreError, UnixTime, User, UserId,
};

/// Persistence of the account changes a logged-in person or an operator makes.
pub trait AccountStore: Send + Sync {
    /// Stores a new user without a session (a registration that must verify its address
    /// before it logs in).
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`], storing nothing, when another user has
    /// the same normalized email or username; [`StoreError`] when storage fails.
    fn create_pending_user(&self, user: &User) -> Result<(), StoreError>;

    /// Whether a user has this normalized username.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn username_taken(&self, username_normalized: &str) -> Result<bool, StoreError>;

    /// Replaces the user's password hash `from` by `to` and revokes every live session of
    /// the user except `keep`, in one transaction. Returns how many sessions ended, or
    /// `None`, changing nothing, when the stored hash is no longer `from` (the password
    /// changed since it was checked) or the user is gone.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is changed then.
    fn change_password(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        keep: &SessionId,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError>;

    /// Deletes the user with their sessions (and refresh records) and one-time tokens,
    /// unlinks their devices and ends those devices' sessions, in one transaction.
    /// Returns whether the user existed.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is changed then.
    fn delete_user(&self, id: &UserId, at: UnixTime) -> Result<bool, StoreError>;

    /// A page of users, oldest first, and how many there are in all; with `email`, only
    /// those whose normalized address contains it (it is lower-cased by the caller).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn list_users(&self, email: Option<&str>, page: Page) -> Result<(Vec<User>, u64), StoreError>;

    /// A page of the live sessions (not revoked, not past their absolute end at `now`) of
    /// one principal, newest first, and how many it has in all.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn live_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        now: UnixTime,
        page: Page,
    ) -> Result<(Vec<Session>, u64), StoreError>;

    /// Revokes the session `id` if it is a live session of this principal. Returns
    /// whether it was: another principal's session is left alone and reported as none.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn revoke_own_session(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        id: &SessionId,
        at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of this principal except `keep`, returning how many.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn revoke_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        keep: Option<&SessionId>,
        at: UnixTime,
    ) -> Result<u64, StoreError>;
}

/// When a session last got tokens: its latest refresh, or its start. authd does not
/// write on every request an access token is used for, so this is as fresh as the
/// access-token lifetime.
#[must_use]
pub fn last_used_at(session: &Session) -> UnixTime {
    session.rotated_at.unwrap_or(session.created_at)
}

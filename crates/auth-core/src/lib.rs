//! The rules of authd, without I/O.
//!
//! `auth-core` owns everything that decides whether someone is who they claim to be:
//! credentials ([`Email`], [`Username`], [`Password`]), password hashing
//! ([`PasswordHasher`]), access tokens ([`TokenSigner`], [`AccessClaims`]), signing keys
//! and their JWKS ([`KeyRing`]), and the refresh-token rotation state machine
//! ([`session`]). Services that only check tokens use [`TokenVerifier`] with authd's JWKS
//! or shared secret. It never reads the wall clock, a socket or a database: time comes in as
//! [`UnixTime`] from a [`Clock`] owned by the caller, and storage goes through the
//! [`UserStore`], [`SessionStore`] and [`KeyStore`] traits that `auth-store` implements.
//!
//! [`Authority`] ties these together into the operations the HTTP layer exposes.

// No system calls, no unsafe code: the huge-page advice for Argon2 lives with the hashing
// threads (auth-http), installed through `advise_working_memory`.
#![forbid(unsafe_code)]

mod account;
mod audit;
mod authority;
mod clock;
mod common_passwords;
mod credentials;
mod device;
mod device_link;
mod error;
mod key_cipher;
mod keys;
mod mail;
#[cfg(test)]
mod memory;
mod one_time;
mod outbox;
mod password;
mod principal;
mod purge;
mod rate_limit;
pub mod session;
mod signature_cache;
mod throttle;
mod token;
mod user;
mod verifier;
mod wallet;

pub use account::{AccountStore, last_used_at};
pub use audit::{AuditEvent, AuditFilter, AuditStore, purge_audit_events};
pub use authority::{
    Authority, DeviceSession, IssuedTokens, LoginAttempt, LoginTicket, UserSession, WalletSession,
};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use common_passwords::common_password_count;
pub use credentials::{Email, Password, Username};
pub use device::{ClientDeviceId, Device, DeviceId, DeviceStore, Platform, purge_inactive_devices};
pub use device_link::{DeviceLink, DeviceLinks};
pub use error::{AuthError, StoreError};
pub use key_cipher::KeyCipher;
pub use keys::{Jwk, Jwks, KeyRing, KeyStore, SigningAlgorithm, StoredSigningKey, keys_in_use};
pub use mail::{ComposedMail, MailAccounts, MailContent, MailTemplate, compose};
pub use one_time::{
    EXPIRED_ONE_TIME_KEPT_SECS, OneTimePolicy, OneTimePurpose, OneTimeRecord, OneTimeStore,
    OneTimeToken, PasswordReset, Redemption, purge_one_time_tokens,
};
pub use outbox::{MAX_MAIL_ATTEMPTS, MailKind, MailOutbox, OutboxMail, retry_delay_secs};
pub use password::{
    MemoryAdvice, PasswordHash, PasswordHasher, PasswordVerification, advise_working_memory,
};
pub use principal::{PrincipalKind, Role};
use rate_limit::rate_instant;
pub use rate_limit::{RateLimitStore, RateQuota, RateStanding, RateTake};
pub use session::{
    CredentialGuard, FoundRefresh, RefreshRecord, RefreshToken, RotationOutcome, RotationSecret,
    Session, SessionId, SessionOrigin, SessionPrincipal, SessionStore, TokenHash, TokenPolicy,
};
pub use throttle::{
    AccountFailures, AttemptKey, AttemptRecord, ThrottleKeys, ThrottlePolicy, ThrottleState,
    ThrottleStore, client_network,
};
pub use token::{AccessClaims, Attributes, TokenSigner};
pub use verifier::TokenVerifier;

/// Deletes what no longer matters, in bounded batches: sessions that ended or were revoked
/// over a day ago (with their refresh records), login-throttle records that no longer
/// count (see [`ThrottlePolicy`]) and shared rate-limit buckets that are full again.
/// Returns (sessions, throttle records and buckets) deleted. `between_batches` is called
/// after each full batch: the caller paces the purge there (authd pauses as long as the
/// batch took), so that it never crowds out requests.
///
/// # Errors
/// [`AuthError::Store`] when storage fails.
pub fn purge_expired(
    store: &dyn Store,
    now: UnixTime,
    between_batches: &mut dyn FnMut(),
) -> Result<(usize, usize), AuthError> {
    let sessions = session::purge_ended_sessions(store, now, between_batches)?;
    let attempts = purge::in_batches(1_000, between_batches, |batch| {
        throttle::purge(store, now, batch)
    })?;
    // A bucket full again is as good as none.
    let buckets = purge::in_batches(1_000, between_batches, |batch| {
        store.purge_rates(rate_instant(now), batch)
    })?;
    Ok((sessions, attempts + buckets))
}
pub use user::{User, UserId, UserStatus, UserStore};
pub use wallet::{
    App, AppId, Page, Status, Wallet, WalletChange, WalletId, WalletLogin, WalletRole, WalletStore,
};

/// Whether the storage answers at all.
pub trait Readiness: Send + Sync {
    /// Checks that the database answers a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    fn ping(&self) -> Result<(), StoreError>;

    /// Connections held by the pool: (open, idle).
    fn pool_usage(&self) -> (u32, u32);

    /// Sessions neither revoked nor past their absolute lifetime at `now`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn live_sessions(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Everything `Authority` needs from persistence, as one object.
pub trait Store:
    UserStore
    + AccountStore
    + OneTimeStore
    + MailOutbox
    + DeviceStore
    + DeviceLinks
    + WalletStore
    + SessionStore
    + KeyStore
    + ThrottleStore
    + RateLimitStore
    + Readiness
{
}

impl<T> Store for T where
    T: UserStore
        + AccountStore
        + OneTimeStore
        + MailOutbox
        + DeviceStore
        + DeviceLinks
        + WalletStore
        + SessionStore
        + KeyStore
        + ThrottleStore
        + RateLimitStore
        + Readiness
{
}

/// Compares two secrets (an admin token, say) in time that depends on neither: both are
/// hashed first, so not even their lengths leak.
#[must_use]
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// Fails only when the OS refuses to produce randomness, which authd treats as fatal for
/// the request at hand.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Internal(format!("OS randomness failed: {e}")))
}

//! The rules of authd, without I/O.
//!
//! `auth-core` owns everything that decides whether someone is who they claim to be:
//! credentials ([`Email`], [`Username`], [`Password`]), password hashing
//! ([`PasswordHasher`]), access tokens ([`TokenSigner`], [`AccessClaims`]), signing keys
//! and their JWKS ([`KeyRing`]), and the refresh-token rotation state machine
//! ([`session`]). It never reads the wall clock, a socket or a database: time comes in as
//! [`UnixTime`] from a [`Clock`] owned by the caller, and storage goes through the
//! [`UserStore`], [`SessionStore`] and [`KeyStore`] traits that `auth-store` implements.
//!
//! [`Authority`] ties these together into the operations the HTTP layer exposes.

mod authority;
mod clock;
mod credentials;
mod device;
mod error;
mod keys;
#[cfg(test)]
mod memory;
mod password;
mod principal;
pub mod session;
mod token;
mod user;

pub use authority::{Authority, DeviceSession, IssuedTokens, UserSession};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use credentials::{Email, Password, Username};
pub use device::{Device, DeviceId, DeviceStore, Platform, purge_inactive_devices};
pub use error::{AuthError, StoreError};
pub use keys::{Jwk, Jwks, KeyRing, KeyStore, SigningAlgorithm, StoredSigningKey};
pub use password::{PasswordHash, PasswordHasher, PasswordVerification};
pub use principal::{PrincipalKind, Role};
pub use session::{
    RefreshRecord, RefreshToken, RotationOutcome, Session, SessionId, SessionStore, TokenHash,
    TokenPolicy,
};
pub use token::{AccessClaims, Attributes, TokenSigner};
pub use user::{User, UserId, UserStatus, UserStore};

/// Everything `Authority` needs from persistence, as one object.
pub trait Store: UserStore + DeviceStore + SessionStore + KeyStore + Send + Sync {}

impl<T: UserStore + DeviceStore + SessionStore + KeyStore + Send + Sync> Store for T {}

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// Fails only when the OS refuses to produce randomness, which authd treats as fatal for
/// the request at hand.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Internal(format!("OS randomness failed: {e}")))
}

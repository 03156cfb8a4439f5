//! The tokens a client holds, and where it keeps them between uses.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The kind of principal a session belongs to; it decides how the session is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A person: refreshed with its refresh token at `/api/auth/refresh`.
    User,
    /// A mobile device: refreshed at `/api/auth/device/refresh`.
    Device,
    /// A wallet: its unexpired access token is exchanged at `/v2/auth/wallet/refresh`.
    Wallet,
}

/// One session's tokens, as authd issued them. `Debug` never shows the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Whose session this is.
    pub kind: Kind,
    /// The JWT sent as `Authorization: Bearer`.
    pub access_token: String,
    /// The single-use refresh token (users and devices; wallets have none).
    pub refresh_token: Option<String>,
    /// When the access token was received.
    pub issued_at: SystemTime,
    /// When authd said the access token expires.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("kind", &self.kind)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Whether the access token should be renewed at `now`: within `ahead` of its expiry,
    /// but never in the first half of its life (so a short-lived token is not renewed on
    /// every use).
    #[must_use]
    pub fn due_for_renewal(&self, now: SystemTime, ahead: Duration) -> bool {
        let lifetime = self
            .expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default();
        let ahead = ahead.min(lifetime / 2);
        self.expires_at
            .checked_sub(ahead)
            .is_none_or(|renew_at| now >= renew_at)
    }

    /// Whether the access token has expired at `now`.
    #[must_use]
    pub fn expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }
}

/// Where a client keeps its tokens: in memory by default; a device that must survive a
/// restart without logging in again implements this over a file or a keychain.
///
/// Called on every token use and renewal, so implementations should be quick. They must
/// never log the tokens.
pub trait TokenStore: Send + Sync {
    /// The tokens saved last, if any.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn load(&self) -> std::io::Result<Option<Tokens>>;

    /// Replaces the saved tokens.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn save(&self, tokens: &Tokens) -> std::io::Result<()>;

    /// Forgets the tokens (after logout, or when the session has ended).
    ///
    /// # Errors
    /// When the store cannot be written.
    fn clear(&self) -> std::io::Result<()>;
}

/// Tokens kept in this process only.
#[derive(Default)]
pub struct MemoryTokenStore(Mutex<Option<Tokens>>);

impl MemoryTokenStore {
    /// A store that starts with `tokens` (restored from elsewhere).
    #[must_use]
    pub fn with(tokens: Tokens) -> Self {
        Self(Mutex::new(Some(tokens)))
    }
}

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryTokenStore")
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> std::io::Result<Option<Tokens>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn save(&self, tokens: &Tokens) -> std::io::Result<()> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tokens.clone());
        Ok(())
    }

    fn clear(&self) -> std::io::Result<()> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(at: SystemTime, ttl_secs: u64) -> Tokens {
        Tokens {
            kind: Kind::User,
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
            issued_at: at,
            expires_at: at + Duration::from_secs(ttl_secs),
        }
    }

    #[test]
    fn an_hour_long_token_is_renewed_a_minute_before_it_expires() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tokens = issued(t0, 3_600);
        let minute = Duration::from_secs(60);
        assert!(!tokens.due_for_renewal(t0 + Duration::from_secs(3_539), minute));
        assert!(tokens.due_for_renewal(t0 + Duration::from_secs(3_540), minute));
        assert!(!tokens.expired(t0 + Duration::from_secs(3_599)));
        assert!(tokens.expired(t0 + Duration::from_secs(3_600)));
    }

    #[test]
    fn a_short_lived_token_is_used_for_half_its_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tokens = issued(t0, 10);
        let minute = Duration::from_secs(60);
        assert!(!tokens.due_for_renewal(t0, minute));
        assert!(!tokens.due_for_renewal(t0 + Duration::from_millis(4_999), minute));
        assert!(tokens.due_for_renewal(t0 + Duration::from_secs(5), minute));
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let shown = format!("{:?}", issued(SystemTime::UNIX_EPOCH, 60));
        assert!(!shown.contains("secret"), "{shown}");
    }
}

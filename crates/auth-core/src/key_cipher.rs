//! Encryption of stored private signing keys (`AUTHD_KEY_ENCRYPTION_KEY`).
//!
//! A sealed key is `enc:v1:` followed by base64url(nonce ‖ ciphertext) under
//! ChaCha20-Poly1305, with a key derived from the configured secret by HKDF-SHA256 and the
//! key's `kid` as associated data, so a sealed value cannot be moved to another row.
//! Keys stored before encryption was configured stay readable.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::AuthError;

const SEALED_PREFIX: &str = "enc:v1:";
/// Shortest encryption secret accepted, in bytes.
const MIN_SECRET: usize = 32;

/// The cipher that seals and opens stored private keys.
#[derive(Clone)]
pub struct KeyCipher {
    key: [u8; 32],
}

impl fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyCipher(<redacted>)")
    }
}

impl KeyCipher {
    /// A cipher from the configured secret.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when the secret is shorter than 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET {
            return Err(AuthError::InvalidRequest(format!(
                "the key encryption key must be at least {MIN_SECRET} bytes"
            )));
        }
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"authd"), secret.as_bytes())
            .expand(b"signing-key encryption v1", &mut key)
            .map_err(|_| AuthError::Internal("HKDF output length".into()))?;
        Ok(Self { key })
    }

    fn aead(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.key))
    }

    /// The secret that keys new sessions' refresh chains (see
    /// [`crate::session::RotationSecret`]), derived from the same configured secret.
    #[must_use]
    pub fn rotation_secret(&self) -> crate::session::RotationSecret {
        let mut bytes = [0u8; 32];
        // 32 bytes is a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(Some(b"authd"), &self.key)
            .expand(b"session rotation keys v1", &mut bytes);
        crate::session::RotationSecret::new(bytes)
    }

    /// Whether a stored value was sealed by [`KeyCipher::seal`] (rather than stored plain).
    #[must_use]
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED_PREFIX)
    }

    /// Seals a private seed for the key `kid`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply a nonce.
    pub fn seal(&self, kid: &str, seed: &[u8]) -> Result<String, AuthError> {
        let mut nonce = [0u8; 12];
        crate::random_bytes(&mut nonce)?;
        let sealed = self
            .aead()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Internal("sealing a signing key failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed by [`KeyCipher::seal`] for `kid`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when it was sealed with another secret, for another kid, or
    /// was tampered with.
    pub fn open(&self, kid: &str, stored: &str) -> Result<Vec<u8>, AuthError> {
        let refused = || {
            AuthError::Internal(format!(
                "signing key {kid} cannot be decrypted with AUTHD_KEY_ENCRYPTION_KEY"
            ))
        };
        let raw = stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|r| r.len() > 12)
            .ok_or_else(refused)?;
        let (nonce, sealed) = raw.split_at(12);
        self.aead()
            .decrypt(
                &Nonce::from(<[u8; 12]>::try_from(nonce).map_err(|_| refused())?),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a key encryption key of at least 32 bytes";

    #[test]
    fn a_sealed_seed_opens_only_with_the_same_secret_and_kid() {
        let cipher = KeyCipher::from_secret(SECRET).unwrap();
        let sealed = cipher.seal("kid-1", &[7u8; 32]).unwrap();
        assert!(KeyCipher::is_sealed(&sealed));
        assert!(!sealed.contains(&URL_SAFE_NO_PAD.encode([7u8; 32])));
        assert_eq!(cipher.open("kid-1", &sealed).unwrap(), vec![7u8; 32]);
        assert!(cipher.open("kid-2", &sealed).is_err(), "bound to its kid");
        let other = KeyCipher::from_secret("another key encryption key, also 32+ bytes").unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        assert!(cipher.open("kid-1", &tampered).is_err());
        assert_ne!(
            sealed,
            cipher.seal("kid-1", &[7u8; 32]).unwrap(),
            "fresh nonce each time"
        );
        assert!(KeyCipher::from_secret("short").is_err());
        assert!(!format!("{cipher:?}").contains(SECRET));
    }
}

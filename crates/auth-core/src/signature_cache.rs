//! Access tokens this process has already verified, so that a client presenting the same
//! token on every request for an hour pays for its signature check once.
//!
//! Only tokens that passed every check are remembered, by the SHA-256 of their exact text,
//! with their claims and the id of the key that signed them; a token that differs in one
//! byte is a different token and is checked in full. On every use a remembered token still
//! goes through the time rules at the caller's clock, and its key must still be in the
//! ring, so a withdrawn key stops being honoured exactly when it would without this
//! memory. [`crate::TokenSigner`] also empties it when the set of keys changes. It is
//! bounded: a full shard is emptied rather than grown.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use crate::AccessClaims;

/// Shards, so that concurrent requests rarely wait for one another.
const SHARDS: usize = 16;

/// Tokens remembered per shard (8,192 in all, a few MiB at most).
const PER_SHARD: usize = 512;

/// The SHA-256 of a token's text.
pub(crate) type TokenDigest = [u8; 32];

/// What was verified: the claims, and the key that signed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) kid: String,
    pub(crate) claims: AccessClaims,
}

/// Verified tokens by the digest of the token.
#[derive(Debug, Default)]
pub(crate) struct SignatureCache {
    shards: [Mutex<HashMap<TokenDigest, Verified>>; SHARDS],
}

impl SignatureCache {
    /// The key a token is remembered by.
    pub(crate) fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// A token verified before, if it is remembered.
    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<Verified> {
        self.shard(digest).get(digest).cloned()
    }

    /// Remembers a token that passed every check.
    pub(crate) fn remember(&self, digest: TokenDigest, verified: Verified) {
        let mut shard = self.shard(&digest);
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(digest, verified);
    }

    /// Forgets every token (the keys they were checked against have changed).
    pub(crate) fn forget_all(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn shard(&self, digest: &TokenDigest) -> MutexGuard<'_, HashMap<TokenDigest, Verified>> {
        self.shards[usize::from(digest[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessClaims, Attributes, PrincipalKind};

    #[test]
    fn memory_stays_bounded_however_many_tokens_are_verified() {
        let claims = AccessClaims {
            iss: "authd".into(),
            sub: "user-1".into(),
            sid: "ses_1".into(),
            jti: "jti".into(),
            iat: 0,
            exp: 3_600,
            nbf: None,
            kind: PrincipalKind::User,
            attributes: Attributes::default(),
        };
        let entry = Verified {
            kid: "k1".into(),
            claims,
        };
        let verified = SignatureCache::default();
        for i in 0..3 * SHARDS * PER_SHARD {
            verified.remember(SignatureCache::digest(&format!("token-{i}")), entry.clone());
        }
        assert!(verified.len() <= SHARDS * PER_SHARD, "{}", verified.len());
        let last = SignatureCache::digest(&format!("token-{}", 3 * SHARDS * PER_SHARD - 1));
        assert_eq!(verified.get(&last), Some(entry));
    }
}

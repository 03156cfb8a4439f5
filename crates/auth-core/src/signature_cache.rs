//! Access tokens this process has already verified, so that a client presenting the same
//! token on every request for an hour pays for its signature check once. authd's own
//! [`crate::TokenSigner`] and the resource servers' [`crate::TokenVerifier`] both verify
//! through [`SignatureCache::verify`].
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

use crate::keys::VerifyingKey;
use crate::token::{HeaderRules, check_time, verify_token};
use crate::{AccessClaims, AuthError, UnixTime};

/// Shards, so that concurrent requests rarely wait for one another.
const SHARDS: usize = 16;

/// Tokens remembered per shard (8,192 in all, a few MiB at most).
const PER_SHARD: usize = 512;

/// The most tokens remembered at once.
#[cfg(test)]
pub(crate) const CAPACITY: usize = SHARDS * PER_SHARD;

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
    /// Verifies `token` at `now` under `rules` and `issuer` with the key `key` finds for
    /// a `kid`, or finds it verified before: then only the time rules are applied, at
    /// `now`, and its key must still be found. Remembers a token that passes.
    ///
    /// # Errors
    /// As [`verify_token`]: [`AuthError::TokenExpired`] past `exp`,
    /// [`AuthError::InvalidToken`] for anything else wrong with the token.
    pub(crate) fn verify<'k>(
        &self,
        token: &str,
        now: UnixTime,
        rules: HeaderRules,
        issuer: &str,
        key: impl Fn(&str) -> Option<&'k VerifyingKey>,
    ) -> Result<AccessClaims, AuthError> {
        let digest = Self::digest(token);
        if let Some(known) = self.get(&digest)
            && key(&known.kid).is_some()
        {
            check_time(&known.claims, now)?;
            return Ok(known.claims);
        }
        let mut signed_by = None;
        let claims = verify_token(token, now, rules, issuer, |kid| {
            signed_by = Some(kid.to_owned());
            key(kid)
        })?;
        if let Some(kid) = signed_by {
            self.remember(
                digest,
                Verified {
                    kid,
                    claims: claims.clone(),
                },
            );
        }
        Ok(claims)
    }

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

    #[test]
    fn a_remembered_token_whose_key_is_withdrawn_is_refused() {
        use crate::{KeyRing, SessionId, StoredSigningKey, TokenSigner};
        let now = UnixTime(1_800_000_000);
        let key = StoredSigningKey::generate_ed25519(now).unwrap();
        let authd = TokenSigner::new(KeyRing::ed25519(&[key]).unwrap(), "authd");
        let claims = authd.claims(
            PrincipalKind::User,
            "user-1",
            &SessionId::from_stored("ses_1".into()),
            Attributes::default(),
            now,
            3_600,
        );
        let token = authd.sign(&claims).unwrap();
        let ring = authd.keys();
        let rules = HeaderRules {
            algorithm: ring.algorithm(),
            legacy_type: false,
        };
        let memory = SignatureCache::default();
        let held = |kid: &str| ring.verifying_key(kid);
        assert!(memory.verify(&token, now, rules, "authd", held).is_ok());
        assert_eq!(memory.len(), 1);
        let withdrawn = |_: &str| None;
        assert!(matches!(
            memory.verify(&token, now, rules, "authd", withdrawn),
            Err(AuthError::InvalidToken(_))
        ));
    }
}

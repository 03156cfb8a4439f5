//! The signing keys: publishing them, reloading them after a rotation, and verifying
//! access tokens against them.

use super::*;

impl Authority {
    /// The public signing keys in use.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        self.signer.keys().jwks().clone()
    }

    /// Reloads the signing keys from the store, picking up a rotation made by the command
    /// line or another process. A no-op for HMAC keys, which come from the configuration.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails; the keys in use stay as they were.
    pub fn reload_keys(&self, now: UnixTime) -> Result<(), AuthError> {
        if self.signer.keys().algorithm() != SigningAlgorithm::EdDSA {
            return Ok(());
        }
        let retain = self
            .policy
            .access_ttl_secs
            .saturating_add(KEY_RETENTION_MARGIN_SECS);
        let _one_at_a_time = self
            .key_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.signer.replace_keys(KeyRing::load(
            self.store.as_ref(),
            now,
            retain,
            self.key_cipher.as_ref(),
        )?);
        self.last_key_reload.store(now.secs(), Ordering::SeqCst);
        Ok(())
    }

    /// Verifies an access token; a token naming a key this process does not know yet
    /// (another process rotated) triggers one reload, at most every few seconds, so forged
    /// kids cannot make authd hammer its database.
    pub(super) fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AuthError> {
        match self.signer.verify(token, now) {
            Err(e) if is_unknown_kid(&e) && self.may_reload(now) => {
                self.reload_keys(now)?;
                self.signer.verify(token, now)
            }
            other => other,
        }
    }

    pub(super) fn may_reload(&self, now: UnixTime) -> bool {
        let last = self.last_key_reload.load(Ordering::SeqCst);
        now.secs() - last >= MIN_KEY_RELOAD_INTERVAL_SECS
            && self
                .last_key_reload
                .compare_exchange(last, now.secs(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn a_rotation_by_another_process_is_picked_up_at_the_first_unknown_kid() {
        let (a, store) = authority();
        let old = register(&a, "alice@example.com", "alice").unwrap();
        // Another process, on the same store, rotates and reloads.
        let b = Authority::new(
            store.clone(),
            TokenSigner::new(
                KeyRing::load_or_create(store.as_ref(), T0).unwrap(),
                "authd",
            ),
            PasswordHasher::with_params(1024, 1, 1).unwrap(),
            TokenPolicy::default(),
        );
        let new_key = KeyRing::rotate(store.as_ref(), T0, None).unwrap();
        b.reload_keys(T0.plus_secs(20)).unwrap();
        let fresh = login(&b, "alice@example.com", "correct horse battery").unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh.tokens.access_token)
                .unwrap()
                .kid
                .as_deref(),
            Some(new_key.kid.as_str())
        );
        // The first process has never seen the new key, and learns it from the token.
        assert!(
            a.authenticate(&fresh.tokens.access_token, T0.plus_secs(20))
                .is_ok()
        );
        assert!(a.jwks().keys.iter().any(|k| k.kid == new_key.kid));
        // Tokens signed before the rotation stay valid on both.
        assert!(
            b.authenticate(&old.tokens.access_token, T0.plus_secs(21))
                .is_ok()
        );
    }
}

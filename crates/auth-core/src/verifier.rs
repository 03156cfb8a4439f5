//! Checking authd access tokens outside authd: in a resource server that holds only the
//! public keys (authd's JWKS) or the shared HMAC secret, and no database.
//!
//! The rules are exactly authd's own (see [`TokenSigner::verify`](crate::TokenSigner)):
//! the algorithm comes from the verifier, not the token; the header may carry only `alg`,
//! `typ` and `kid`; the `kid` must name a known key; `iss` must match; `exp` is required;
//! the leeway is [`TokenSigner::LEEWAY_SECS`](crate::TokenSigner::LEEWAY_SECS).
//!
//! A verifier remembers the tokens it has verified, as authd does (see
//! [`SignatureCache`]): a token presented again is matched by the SHA-256 of its exact
//! text, its time rules are applied again at every use, and its key must still be held.
//! Clones share that memory, so one verifier serves every worker of a server.
//!
//! What a verifier cannot know is whether the session was revoked since the token was
//! issued: only authd can tell. A resource server that must refuse a logged-out token at
//! once asks authd (`GET /api/auth/me`); otherwise revocation takes effect when the access
//! token expires.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::keys::VerifyingKey;
use crate::signature_cache::SignatureCache;
use crate::token::{HeaderRules, UNKNOWN_KID, checked_kid};
use crate::{AccessClaims, AuthError, KeyRing, SigningAlgorithm, UnixTime};

/// Verifies authd access tokens with public keys or a shared secret; it cannot sign.
///
/// ```
/// use auth_core::{Clock, Platform, PrincipalKind, SystemClock, TokenVerifier};
/// # use auth_core::{Attributes, KeyRing, SessionId, StoredSigningKey, TokenSigner};
/// # let now = SystemClock.now();
/// # let authd = TokenSigner::new(KeyRing::ed25519(&[StoredSigningKey::generate_ed25519(now)?])?, "authd");
/// # let jwks = serde_json::to_vec(authd.keys().jwks()).unwrap();
/// # let attributes = Attributes { platform: Some(Platform::Ios), ..Attributes::default() };
/// # let session = SessionId::from_stored("ses_1".into());
/// # let token = authd.sign(&authd.claims(PrincipalKind::Device, "dev_1", &session, attributes, now, 3600))?;
///
/// // `jwks` is the body of authd's `GET /.well-known/jwks.json`, fetched however the
/// // service likes; `token` comes from the request's `Authorization: Bearer` header.
/// let verifier = TokenVerifier::from_jwks(&jwks, "authd")?;
/// let claims = verifier.verify(&token, SystemClock.now())?;
/// assert_eq!(claims.kind, PrincipalKind::Device);
/// assert_eq!(claims.sub, "dev_1");
/// assert_eq!(claims.attributes.platform, Some(Platform::Ios));
///
/// // Anything else is refused: AuthError::InvalidToken or AuthError::TokenExpired.
/// assert!(verifier.verify("eyJhbGciOiJub25lIn0.e30.", SystemClock.now()).is_err());
/// # Ok::<(), auth_core::AuthError>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    algorithm: SigningAlgorithm,
    issuer: String,
    keys: HashMap<String, VerifyingKey>,
    legacy_type: bool,
    /// Tokens verified by this verifier or its clones.
    verified: Arc<SignatureCache>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("remembered", &self.verified.len())
            .finish()
    }
}

/// One key of a JWKS as published, read leniently so that keys of other types are skipped
/// rather than spoiling the set.
#[derive(Deserialize)]
struct PublishedKey {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

#[derive(Deserialize)]
struct PublishedSet {
    keys: Vec<PublishedKey>,
}

impl TokenVerifier {
    /// A verifier for EdDSA tokens of `issuer`, with the Ed25519 signing keys of a JWKS
    /// document (authd's `GET /.well-known/jwks.json`). Keys of other types or uses are
    /// ignored.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when the document is not a JWKS or holds no usable
    /// Ed25519 signing key.
    pub fn from_jwks(jwks: &[u8], issuer: impl Into<String>) -> Result<Self, AuthError> {
        let set: PublishedSet = serde_json::from_slice(jwks)
            .map_err(|e| AuthError::InvalidRequest(format!("not a JWKS document: {e}")))?;
        let keys: HashMap<String, VerifyingKey> = set
            .keys
            .into_iter()
            .filter_map(|key| {
                let usable = key.kty == "OKP"
                    && key.crv.as_deref() == Some("Ed25519")
                    && key.alg.as_deref().is_none_or(|a| a == "EdDSA")
                    && key.use_.as_deref().is_none_or(|u| u == "sig");
                if !usable {
                    return None;
                }
                let x: [u8; 32] = URL_SAFE_NO_PAD.decode(key.x?).ok()?.try_into().ok()?;
                let public = ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?;
                Some((key.kid?, VerifyingKey::Ed25519(public)))
            })
            .collect();
        if keys.is_empty() {
            return Err(AuthError::InvalidRequest(
                "the JWKS holds no Ed25519 signing key".into(),
            ));
        }
        Ok(Self {
            algorithm: SigningAlgorithm::EdDSA,
            issuer: issuer.into(),
            keys,
            legacy_type: false,
            verified: Arc::default(),
        })
    }

    /// A verifier for HS256 or HS512 tokens of `issuer`, with authd's `AUTHD_JWT_SECRET`.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when `algorithm` is not HMAC or the secret is shorter
    /// than 32 bytes.
    pub fn hmac(
        algorithm: SigningAlgorithm,
        secret: &[u8],
        issuer: impl Into<String>,
    ) -> Result<Self, AuthError> {
        Ok(Self::with_ring(&KeyRing::hmac(algorithm, secret)?, issuer))
    }

    /// A verifier with the verifying halves of a key ring (for embedding next to authd's
    /// own key store).
    #[must_use]
    pub fn with_ring(ring: &KeyRing, issuer: impl Into<String>) -> Self {
        Self {
            algorithm: ring.algorithm(),
            issuer: issuer.into(),
            keys: ring.verifying_keys().clone(),
            legacy_type: false,
            verified: Arc::default(),
        }
    }

    /// Also accepts tokens typed `JWT`, as authd signed them before it typed its access
    /// tokens `at+jwt` (RFC 9068). For the length of an upgrade only (see
    /// `docs/upgrading.md`): without it, a token of the previous release is refused.
    #[must_use]
    pub fn accepting_legacy_type(mut self) -> Self {
        self.legacy_type = true;
        // What a stricter clone remembered was checked under other rules, and what this
        // one remembers must not reach a stricter clone.
        self.verified = Arc::default();
        self
    }

    fn rules(&self) -> HeaderRules {
        HeaderRules {
            algorithm: self.algorithm,
            legacy_type: self.legacy_type,
        }
    }

    /// Verifies a compact JWT at `now` and returns its claims.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for a correctly signed token past `exp` (plus leeway);
    /// [`AuthError::InvalidToken`] for everything else that is wrong with it, including a
    /// `kid` this verifier does not know (see [`TokenVerifier::lacks_key_for`]).
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AuthError> {
        self.verified
            .verify(token, now, self.rules(), &self.issuer, |kid| {
                self.keys.get(kid)
            })
    }

    /// Whether `token` is well-formed for this verifier but names a key it does not hold:
    /// the one case where fetching the JWKS again could change the answer (after authd
    /// rotated its keys).
    #[must_use]
    pub fn lacks_key_for(&self, token: &str) -> bool {
        checked_kid(token, self.rules()).is_ok_and(|kid| !self.keys.contains_key(&kid))
    }

    /// The `kid` a token names, after the header rules for `algorithm` but before any
    /// signature check: lets a caller that has no keys yet refuse a malformed token at once.
    /// `legacy_type` is as for [`TokenVerifier::accepting_legacy_type`].
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a token that is not three parts, or whose header is
    /// malformed, names another algorithm or type, carries a forbidden field or no `kid`.
    pub fn header_kid(
        token: &str,
        algorithm: SigningAlgorithm,
        legacy_type: bool,
    ) -> Result<String, AuthError> {
        checked_kid(
            token,
            HeaderRules {
                algorithm,
                legacy_type,
            },
        )
    }

    /// The issuer tokens must carry.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The ids of the keys this verifier holds.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Whether `error` is the refusal of a token whose `kid` is unknown.
pub(crate) fn is_unknown_kid(error: &AuthError) -> bool {
    matches!(error, AuthError::InvalidToken(why) if *why == UNKNOWN_KID)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attributes, PrincipalKind, SessionId, StoredSigningKey, TokenSigner};

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn authd() -> TokenSigner {
        let key = StoredSigningKey::generate_ed25519(NOW).unwrap();
        TokenSigner::new(KeyRing::ed25519(&[key]).unwrap(), "authd")
    }

    fn token(signer: &TokenSigner) -> String {
        let claims = signer.claims(
            PrincipalKind::Wallet,
            "wal_1",
            &SessionId::from_stored("ses_1".into()),
            Attributes {
                username: Some("sensor01".into()),
                app_id: Some("app_1".into()),
                role: Some("device".into()),
                ..Attributes::default()
            },
            NOW,
            3_600,
        );
        signer.sign(&claims).unwrap()
    }

    fn published(signer: &TokenSigner) -> Vec<u8> {
        serde_json::to_vec(signer.keys().jwks()).unwrap()
    }

    /// The token as the previous release signed it: the same claims, typed `JWT`.
    fn legacy(signer: &TokenSigner, token: &str) -> String {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let ring = signer.keys();
        let crate::keys::SigningKey::Ed25519(key) = ring.signing_key() else {
            unreachable!("an Ed25519 ring")
        };
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": ring.signing_kid()});
        let payload = token.split('.').nth(1).unwrap();
        let message = format!(
            "{}.{payload}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
        );
        let signature = ed25519_dalek::Signer::sign(key, message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    #[test]
    fn a_resource_server_accepts_the_previous_releases_tokens_only_when_told_to() {
        let authd = authd();
        let old = legacy(&authd, &token(&authd));
        let strict = TokenVerifier::from_jwks(&published(&authd), "authd").unwrap();
        assert!(strict.verify(&old, NOW).is_err());
        assert!(TokenVerifier::header_kid(&old, SigningAlgorithm::EdDSA, false).is_err());
        let upgrading = strict.clone().accepting_legacy_type();
        assert_eq!(upgrading.verify(&old, NOW).unwrap().sub, "wal_1");
        assert!(TokenVerifier::header_kid(&old, SigningAlgorithm::EdDSA, true).is_ok());
        assert!(upgrading.verify(&token(&authd), NOW).is_ok());
    }

    #[test]
    fn a_resource_server_with_the_jwks_reads_what_authd_signed() {
        let authd = authd();
        let verifier = TokenVerifier::from_jwks(&published(&authd), "authd").unwrap();
        let claims = verifier.verify(&token(&authd), NOW.plus_secs(5)).unwrap();
        assert_eq!(claims.kind, PrincipalKind::Wallet);
        assert_eq!(claims.sub, "wal_1");
        assert_eq!(claims.attributes.app_id.as_deref(), Some("app_1"));
        assert_eq!(claims.attributes.role.as_deref(), Some("device"));
    }

    #[test]
    fn the_same_strict_rules_hold_as_in_authd() {
        let authd = authd();
        let verifier = TokenVerifier::from_jwks(&published(&authd), "authd").unwrap();
        let token = token(&authd);
        assert!(matches!(
            verifier.verify(&token, NOW.plus_secs(3_605)),
            Err(AuthError::TokenExpired)
        ));
        let elsewhere = TokenVerifier::from_jwks(&published(&authd), "other").unwrap();
        assert!(matches!(
            elsewhere.verify(&token, NOW),
            Err(AuthError::InvalidToken(_))
        ));
        let (head, rest) = token.split_once('.').unwrap();
        let tampered = format!("{head}.e{rest}");
        assert!(matches!(
            verifier.verify(&tampered, NOW),
            Err(AuthError::InvalidToken(_))
        ));
        // The key-confusion attack: HS256 under the Ed25519 kid, keyed with the public key.
        let published = authd.keys().jwks().keys[0].clone();
        let public = URL_SAFE_NO_PAD.decode(&published.x).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(published.kid.clone());
        let claims = verifier.verify(&token, NOW).unwrap();
        for secret in [public.as_slice(), published.x.as_bytes()] {
            let forged = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert!(matches!(
                verifier.verify(&forged, NOW),
                Err(AuthError::InvalidToken(_))
            ));
            assert!(!verifier.lacks_key_for(&forged), "no refetch for it either");
        }
    }

    #[test]
    fn a_token_under_a_key_not_yet_fetched_is_told_apart_from_garbage() {
        let old = authd();
        let rotated = authd();
        let verifier = TokenVerifier::from_jwks(&published(&old), "authd").unwrap();
        let fresh = token(&rotated);
        let refused = verifier.verify(&fresh, NOW).unwrap_err();
        assert!(is_unknown_kid(&refused));
        assert!(verifier.lacks_key_for(&fresh));
        assert!(!verifier.lacks_key_for(&token(&old)));
        assert!(!verifier.lacks_key_for("garbage"));
        assert_eq!(
            TokenVerifier::header_kid(&fresh, SigningAlgorithm::EdDSA, false).unwrap(),
            rotated.keys().signing_kid()
        );
        assert!(TokenVerifier::header_kid("garbage", SigningAlgorithm::EdDSA, false).is_err());
        let hs = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS256, &[7; 32]).unwrap(),
            "authd",
        );
        assert!(
            !verifier.lacks_key_for(&token(&hs)),
            "wrong alg: no refetch"
        );
    }

    #[test]
    fn keys_of_other_types_are_skipped_and_an_empty_set_is_refused() {
        let authd = authd();
        let mut set: serde_json::Value = serde_json::from_slice(&published(&authd)).unwrap();
        let keys = set["keys"].as_array_mut().unwrap();
        keys.push(serde_json::json!({"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"}));
        keys.push(
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "use": "enc",
            "kid": "enc", "x": authd.keys().jwks().keys[0].x}),
        );
        let verifier =
            TokenVerifier::from_jwks(&serde_json::to_vec(&set).unwrap(), "authd").unwrap();
        assert_eq!(verifier.key_ids().count(), 1);
        assert!(verifier.verify(&token(&authd), NOW).is_ok());
        for bad in [&b"{\"keys\":[]}"[..], b"[]", b"not json", b"{}"] {
            assert!(matches!(
                TokenVerifier::from_jwks(bad, "authd"),
                Err(AuthError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn a_shared_secret_verifies_hmac_tokens() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let authd = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS512, secret).unwrap(),
            "authd",
        );
        let verifier = TokenVerifier::hmac(SigningAlgorithm::HS512, secret, "authd").unwrap();
        assert_eq!(verifier.verify(&token(&authd), NOW).unwrap().sub, "wal_1");
        let wrong = TokenVerifier::hmac(SigningAlgorithm::HS512, &[1; 32], "authd").unwrap();
        assert!(wrong.verify(&token(&authd), NOW).is_err());
    }

    /// A resource server's verifier of `authd`'s tokens, with a token it has verified once
    /// and so remembers.
    fn remembering() -> (TokenSigner, TokenVerifier, String) {
        let authd = authd();
        let verifier = TokenVerifier::from_jwks(&published(&authd), "authd").unwrap();
        let token = token(&authd);
        assert_eq!(verifier.verify(&token, NOW).unwrap().sub, "wal_1");
        assert_eq!(verifier.verified.len(), 1, "remembered");
        (authd, verifier, token)
    }

    #[test]
    fn a_remembered_token_is_answered_from_memory_by_every_clone() {
        let (_, verifier, token) = remembering();
        let worker = verifier.clone();
        assert_eq!(
            worker.verify(&token, NOW.plus_secs(60)).unwrap().sub,
            "wal_1"
        );
        assert_eq!(worker.verified.len(), 1, "one memory for all clones");
    }

    #[test]
    fn a_remembered_token_past_its_expiry_is_refused() {
        let (_, verifier, token) = remembering();
        let exp = NOW.plus_secs(3_600);
        assert!(
            verifier
                .verify(&token, exp.plus_secs(TokenSigner::LEEWAY_SECS - 1))
                .is_ok()
        );
        assert!(matches!(
            verifier.verify(&token, exp.plus_secs(TokenSigner::LEEWAY_SECS)),
            Err(AuthError::TokenExpired)
        ));
        // A token not yet valid is refused from memory too, the way back.
        assert!(verifier.verify(&token, NOW.plus_secs(-60)).is_err());
    }

    #[test]
    fn a_token_one_byte_away_from_a_remembered_one_is_checked_in_full() {
        let (_, verifier, token) = remembering();
        let signature_at = token.rfind('.').unwrap() + 1;
        let payload_at = token.find('.').unwrap() + 5;
        for at in [signature_at, payload_at, token.len() - 1] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(
                matches!(
                    verifier.verify(&altered, NOW),
                    Err(AuthError::InvalidToken(_))
                ),
                "byte {at} changed"
            );
        }
        // Nor is a longer text, the same token with something after it.
        assert!(verifier.verify(&format!("{token}A"), NOW).is_err());
        assert_eq!(
            verifier.verified.len(),
            1,
            "refused tokens are not remembered"
        );
    }

    #[test]
    fn a_verifier_accepting_legacy_tokens_keeps_its_memory_apart() {
        let (authd, strict, token) = remembering();
        let old = legacy(&authd, &token);
        let upgrading = strict.clone().accepting_legacy_type();
        assert!(upgrading.verify(&old, NOW).is_ok());
        assert!(
            strict.verify(&old, NOW).is_err(),
            "not from the other's memory"
        );
    }

    #[test]
    fn the_memory_never_grows_past_its_bound() {
        // HMAC, so that signing tens of thousands of tokens stays quick in a debug build.
        let authd = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS256, &[9u8; 32]).unwrap(),
            "authd",
        );
        let verifier = TokenVerifier::hmac(SigningAlgorithm::HS256, &[9u8; 32], "authd").unwrap();
        let bound = crate::signature_cache::CAPACITY;
        for _ in 0..3 * bound {
            let token = token(&authd);
            verifier.verify(&token, NOW).unwrap();
            assert!(verifier.verified.len() <= bound);
        }
        assert!(verifier.verified.len() > bound / 4, "and it does remember");
    }
}

//! Signing keys: the Ed25519 keys authd creates and keeps, or an HMAC secret from the
//! configuration, and the JWKS that publishes the public halves.
//!
//! Invariant: a [`KeyRing`] signs with exactly one key and algorithm, chosen by the
//! server's configuration, and verifies only tokens whose `kid` names one of its keys.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{AuthError, KeyCipher, StoreError, UnixTime};

/// The algorithm access tokens are signed with, fixed by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// Ed25519 signatures with keys authd generates and stores (the default).
    EdDSA,
    /// HMAC-SHA256 with a configured shared secret.
    HS256,
    /// HMAC-SHA512 with a configured shared secret.
    HS512,
}

impl SigningAlgorithm {
    /// Parses the names used by `AUTHD_JWT_ALG`: `EdDSA`, `HS256`, `HS512`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Self::EdDSA),
            "HS256" => Some(Self::HS256),
            "HS512" => Some(Self::HS512),
            _ => None,
        }
    }

    /// The JOSE `alg` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS512 => "HS512",
        }
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::HS256 => Algorithm::HS256,
            Self::HS512 => Algorithm::HS512,
        }
    }
}

/// An Ed25519 signing key as persisted by a [`KeyStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// Key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// The JOSE algorithm name (`EdDSA`).
    pub algorithm: String,
    /// The 32-byte private seed, unpadded base64url.
    pub private_key: String,
    /// The 32-byte public key, unpadded base64url.
    pub public_key: String,
    /// When the key was created.
    pub created_at: UnixTime,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl StoredSigningKey {
    /// Generates a new Ed25519 key from the OS CSPRNG.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply randomness.
    pub fn generate_ed25519(now: UnixTime) -> Result<Self, AuthError> {
        let mut seed = [0u8; 32];
        crate::random_bytes(&mut seed)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        Ok(Self {
            kid: okp_thumbprint(&x),
            algorithm: SigningAlgorithm::EdDSA.as_str().to_owned(),
            private_key: URL_SAFE_NO_PAD.encode(seed),
            public_key: x,
            created_at: now,
        })
    }
}

impl StoredSigningKey {
    /// A new key whose private half is sealed with `cipher` when one is configured.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply randomness.
    pub fn generate_sealed(now: UnixTime, cipher: Option<&KeyCipher>) -> Result<Self, AuthError> {
        let mut key = Self::generate_ed25519(now)?;
        if let Some(cipher) = cipher {
            let seed = URL_SAFE_NO_PAD
                .decode(&key.private_key)
                .map_err(|_| AuthError::Internal("fresh key is not base64".into()))?;
            key.private_key = cipher.seal(&key.kid, &seed)?;
        }
        Ok(key)
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key: a stable, collision-free `kid`.
fn okp_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public key in JWK form, as published at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Key type (`OKP`).
    pub kty: &'static str,
    /// Curve (`Ed25519`).
    pub crv: &'static str,
    /// The public key, unpadded base64url.
    pub x: String,
    /// Key id, matching the `kid` header of tokens it signed.
    pub kid: String,
    /// Algorithm (`EdDSA`).
    pub alg: &'static str,
    /// Use (`sig`).
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    /// The published keys. Empty when tokens are HMAC-signed: a shared secret is never
    /// published.
    pub keys: Vec<Jwk>,
}

/// The key new tokens are signed with.
///
/// Ed25519 keys are held parsed: jsonwebtoken re-reads a key from its encoding for every
/// signature and verification, which cost more than the signature itself (53 µs per
/// signature instead of 18). HMAC secrets go through jsonwebtoken.
#[derive(Clone)]
pub(crate) enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    Hmac(EncodingKey),
}

/// A key tokens are verified with.
#[derive(Clone)]
pub(crate) enum VerifyingKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac(DecodingKey),
}

/// The keys one authd process signs and verifies with.
#[derive(Clone)]
pub struct KeyRing {
    algorithm: SigningAlgorithm,
    signing_kid: String,
    /// The base64url JOSE header of every token this ring signs.
    signing_header: String,
    signing_key: SigningKey,
    verifying: HashMap<String, VerifyingKey>,
    jwks: Jwks,
}

/// The base64url header `{"typ":"at+jwt","alg":…,"kid":…}`.
fn encoded_header(algorithm: SigningAlgorithm, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(algorithm.jose());
    header.typ = Some(crate::token::ACCESS_TOKEN_TYPE.into());
    header.kid = Some(kid.to_owned());
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default())
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("algorithm", &self.algorithm)
            .field("signing_kid", &self.signing_kid)
            .field("kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Shortest HMAC secret accepted, in bytes.
const MIN_HMAC_SECRET: usize = 32;

impl KeyRing {
    /// A key ring that signs and verifies with a shared HMAC secret.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when `algorithm` is not an HMAC algorithm or the secret
    /// is shorter than 32 bytes.
    pub fn hmac(algorithm: SigningAlgorithm, secret: &[u8]) -> Result<Self, AuthError> {
        if algorithm == SigningAlgorithm::EdDSA {
            return Err(AuthError::InvalidRequest(
                "EdDSA keys are generated, not configured".into(),
            ));
        }
        if secret.len() < MIN_HMAC_SECRET {
            return Err(AuthError::InvalidRequest(format!(
                "the JWT secret must be at least {MIN_HMAC_SECRET} bytes"
            )));
        }
        // The kid names the secret without revealing it.
        let mut digest = Sha256::new();
        digest.update(b"authd hmac kid\0");
        digest.update(secret);
        let kid = URL_SAFE_NO_PAD.encode(&digest.finalize()[..12]);
        let mut verifying = HashMap::new();
        verifying.insert(
            kid.clone(),
            VerifyingKey::Hmac(DecodingKey::from_secret(secret)),
        );
        Ok(Self {
            algorithm,
            signing_header: encoded_header(algorithm, &kid),
            signing_kid: kid,
            signing_key: SigningKey::Hmac(EncodingKey::from_secret(secret)),
            verifying,
            jwks: Jwks::default(),
        })
    }

    /// A key ring over stored Ed25519 keys: it signs with the newest (the active key after
    /// a rotation; ties broken by kid so every process agrees) and verifies with all of
    /// them.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when `keys` is empty or a key is corrupt.
    pub fn ed25519(keys: &[StoredSigningKey]) -> Result<Self, AuthError> {
        Self::ed25519_with(keys, None)
    }

    /// As [`KeyRing::ed25519`], opening private keys sealed with `cipher`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when `keys` is empty, a key is corrupt, or the active key is
    /// sealed and `cipher` is missing or wrong.
    pub fn ed25519_with(
        keys: &[StoredSigningKey],
        cipher: Option<&KeyCipher>,
    ) -> Result<Self, AuthError> {
        let corrupt = |kid: &str| AuthError::Internal(format!("signing key {kid} is corrupt"));
        let mut sorted: Vec<&StoredSigningKey> = keys
            .iter()
            .filter(|k| k.algorithm == SigningAlgorithm::EdDSA.as_str())
            .collect();
        sorted.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        let Some(signing) = sorted.last() else {
            return Err(AuthError::Internal(
                "no Ed25519 signing key is stored".into(),
            ));
        };
        let mut verifying = HashMap::new();
        let mut jwks = Jwks::default();
        for key in &sorted {
            let public = URL_SAFE_NO_PAD
                .decode(&key.public_key)
                .map_err(|_| corrupt(&key.kid))?;
            let public: [u8; 32] = public.try_into().map_err(|_| corrupt(&key.kid))?;
            if okp_thumbprint(&key.public_key) != key.kid {
                return Err(corrupt(&key.kid));
            }
            let public =
                ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| corrupt(&key.kid))?;
            verifying.insert(key.kid.clone(), VerifyingKey::Ed25519(public));
            jwks.keys.push(Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: key.public_key.clone(),
                kid: key.kid.clone(),
                alg: "EdDSA",
                use_: "sig",
            });
        }
        let seed_bytes = if KeyCipher::is_sealed(&signing.private_key) {
            let cipher = cipher.ok_or_else(|| {
                AuthError::Internal(format!(
                    "signing key {} is encrypted: set AUTHD_KEY_ENCRYPTION_KEY",
                    signing.kid
                ))
            })?;
            cipher.open(&signing.kid, &signing.private_key)?
        } else {
            URL_SAFE_NO_PAD
                .decode(&signing.private_key)
                .map_err(|_| corrupt(&signing.kid))?
        };
        let seed: [u8; 32] = seed_bytes.try_into().map_err(|_| corrupt(&signing.kid))?;
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);
        if URL_SAFE_NO_PAD.encode(signing_key.verifying_key().to_bytes()) != signing.public_key {
            return Err(corrupt(&signing.kid));
        }
        Ok(Self {
            algorithm: SigningAlgorithm::EdDSA,
            signing_header: encoded_header(SigningAlgorithm::EdDSA, &signing.kid),
            signing_kid: signing.kid.clone(),
            signing_key: SigningKey::Ed25519(signing_key),
            verifying,
            jwks,
        })
    }

    /// Loads the stored Ed25519 keys, creating the first one if there is none.
    ///
    /// Safe when several processes start at once on one database: the store inserts a
    /// first key only while none exists, so they all load and sign with the same one.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails, [`AuthError::Internal`] for corrupt keys.
    pub fn load_or_create(store: &dyn KeyStore, now: UnixTime) -> Result<Self, AuthError> {
        let mut keys = store.signing_keys()?;
        if keys.is_empty() {
            store.insert_first_signing_key(&StoredSigningKey::generate_ed25519(now)?)?;
            keys = store.signing_keys()?;
        }
        Self::ed25519(&keys)
    }

    /// Loads the keys in use at `now`: the active (newest) key, and each older key until
    /// `retain_secs` after it was superseded (long enough for every token it signed to
    /// expire). Creates the first key if there is none.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails, [`AuthError::Internal`] for corrupt keys.
    pub fn load(
        store: &dyn KeyStore,
        now: UnixTime,
        retain_secs: i64,
        cipher: Option<&KeyCipher>,
    ) -> Result<Self, AuthError> {
        let mut keys = store.signing_keys()?;
        if keys.is_empty() {
            store.insert_first_signing_key(&StoredSigningKey::generate_sealed(now, cipher)?)?;
            keys = store.signing_keys()?;
        }
        Self::ed25519_with(&keys_in_use(keys, now, retain_secs), cipher)
    }

    /// Makes a new key the active one: stored now, it signs every token issued after the
    /// processes reload their keys, while the previous keys stay published until the tokens
    /// they signed have expired.
    ///
    /// Without `cipher`, a rotation is refused once any stored key is sealed: a plaintext
    /// key beside sealed ones would be the one servers sign with, readable by anyone with a
    /// copy of the database.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for a plaintext rotation among sealed keys;
    /// [`AuthError::Store`] when storage fails.
    pub fn rotate(
        store: &dyn KeyStore,
        now: UnixTime,
        cipher: Option<&KeyCipher>,
    ) -> Result<StoredSigningKey, AuthError> {
        let stored = store.signing_keys()?;
        if cipher.is_none() && stored.iter().any(|k| KeyCipher::is_sealed(&k.private_key)) {
            return Err(AuthError::InvalidRequest(
                "the stored signing keys are sealed: set AUTHD_KEY_ENCRYPTION_KEY to rotate".into(),
            ));
        }
        let newest = stored.iter().map(|k| k.created_at).max();
        // The new key must sort after every existing one, even within the same second.
        let created = newest.map_or(now, |n| now.max(n.plus_secs(1)));
        let key = StoredSigningKey::generate_sealed(created, cipher)?;
        store.insert_signing_key(&key)?;
        Ok(key)
    }

    /// Seals every stored private key that is still plaintext (stored before a
    /// key-encryption key was configured), so that a copy of the database holds no key
    /// that can sign. Returns how many were sealed.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails; [`AuthError::Internal`] when sealing does.
    pub fn seal_plaintext_keys(
        store: &dyn KeyStore,
        cipher: &KeyCipher,
    ) -> Result<usize, AuthError> {
        let mut sealed = 0;
        for key in store.signing_keys()? {
            if KeyCipher::is_sealed(&key.private_key) {
                continue;
            }
            let seed = URL_SAFE_NO_PAD.decode(&key.private_key).map_err(|_| {
                AuthError::Internal(format!("signing key {} is malformed", key.kid))
            })?;
            let value = cipher.seal(&key.kid, &seed)?;
            if store.seal_signing_key(&key.kid, &key.private_key, &value)? {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// The algorithm this ring signs and verifies with.
    #[must_use]
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The `kid` new tokens are signed under.
    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// The public keys to publish.
    #[must_use]
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    pub(crate) fn signing_header(&self) -> &str {
        &self.signing_header
    }

    pub(crate) fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.get(kid)
    }

    pub(crate) fn verifying_keys(&self) -> &HashMap<String, VerifyingKey> {
        &self.verifying
    }
}

/// The keys still in use at `now`: the newest, and every older key until `retain_secs`
/// after its successor was created.
#[must_use]
pub fn keys_in_use(
    mut keys: Vec<StoredSigningKey>,
    now: UnixTime,
    retain_secs: i64,
) -> Vec<StoredSigningKey> {
    keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    let successors: Vec<Option<UnixTime>> = keys
        .iter()
        .skip(1)
        .map(|k| Some(k.created_at))
        .chain(std::iter::once(None))
        .collect();
    keys.into_iter()
        .zip(successors)
        .filter(|(_, superseded)| superseded.is_none_or(|at| now < at.plus_secs(retain_secs)))
        .map(|(k, _)| k)
        .collect()
}

/// Persistence of signing keys.
pub trait KeyStore: Send + Sync {
    /// Every stored signing key.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// Stores a new key.
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`] when the `kid` exists; [`StoreError`] when
    /// storage fails.
    fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError>;

    /// Stores `key` only if no signing key exists yet. Returns whether it was stored.
    ///
    /// MUST be atomic across processes sharing the database: of concurrent calls on an
    /// empty store, exactly one stores its key.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn insert_first_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError>;

    /// Replaces the private half of key `kid` by `sealed`, only if it is still `plain`.
    /// Returns whether it was replaced.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn seal_signing_key(&self, kid: &str, plain: &str, sealed: &str) -> Result<bool, StoreError>;

    /// The secret stored under `name`, storing `candidate` first if there is none, so that
    /// every process on the database uses the same one.
    ///
    /// MUST be atomic across processes: of concurrent calls with different candidates,
    /// all return the one value stored.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        at: UnixTime,
    ) -> Result<String, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[test]
    fn the_first_start_creates_a_key_and_later_starts_reuse_it() {
        let store = MemoryStore::default();
        let first = KeyRing::load_or_create(&store, UnixTime(100)).unwrap();
        let again = KeyRing::load_or_create(&store, UnixTime(200)).unwrap();
        assert_eq!(first.signing_kid(), again.signing_kid());
        assert_eq!(store.signing_keys().unwrap().len(), 1);
        assert_eq!(first.jwks().keys.len(), 1);
        assert_eq!(first.jwks().keys[0].kid, first.signing_kid());
    }

    #[test]
    fn every_process_signs_with_the_newest_key_whatever_the_order() {
        let older = StoredSigningKey::generate_ed25519(UnixTime(100)).unwrap();
        let newer = StoredSigningKey::generate_ed25519(UnixTime(101)).unwrap();
        let a = KeyRing::ed25519(&[newer.clone(), older.clone()]).unwrap();
        let b = KeyRing::ed25519(&[older.clone(), newer.clone()]).unwrap();
        assert_eq!(a.signing_kid(), newer.kid);
        assert_eq!(b.signing_kid(), newer.kid);
        assert_eq!(a.jwks().keys.len(), 2);
    }

    #[test]
    fn a_superseded_key_stays_published_until_its_tokens_expired() {
        let store = MemoryStore::default();
        let first = KeyRing::load(&store, UnixTime(100), 3_660, None).unwrap();
        let rotated = KeyRing::rotate(&store, UnixTime(100), None).unwrap();
        assert!(
            rotated.created_at > UnixTime(100),
            "sorts after the old key even in the same second"
        );
        let during = KeyRing::load(&store, UnixTime(200), 3_660, None).unwrap();
        assert_eq!(during.signing_kid(), rotated.kid);
        assert_eq!(during.jwks().keys.len(), 2);
        assert!(during.verifying_key(first.signing_kid()).is_some());
        let after =
            KeyRing::load(&store, rotated.created_at.plus_secs(3_660), 3_660, None).unwrap();
        assert_eq!(after.jwks().keys.len(), 1);
        assert!(after.verifying_key(first.signing_kid()).is_none());
    }

    #[test]
    fn plaintext_keys_are_sealed_once_a_cipher_is_configured() {
        let store = MemoryStore::default();
        let before = KeyRing::load(&store, UnixTime(100), 3_660, None).unwrap();
        let cipher = KeyCipher::from_secret("a key encryption key of at least 32 bytes").unwrap();
        assert_eq!(KeyRing::seal_plaintext_keys(&store, &cipher).unwrap(), 1);
        assert_eq!(KeyRing::seal_plaintext_keys(&store, &cipher).unwrap(), 0);
        assert!(
            store
                .signing_keys()
                .unwrap()
                .iter()
                .all(|k| KeyCipher::is_sealed(&k.private_key))
        );
        let after = KeyRing::load(&store, UnixTime(100), 3_660, Some(&cipher)).unwrap();
        assert_eq!(
            before.signing_kid(),
            after.signing_kid(),
            "the same key, sealed"
        );
        assert!(KeyRing::load(&store, UnixTime(100), 3_660, None).is_err());
    }

    #[test]
    fn a_plaintext_rotation_among_sealed_keys_is_refused() {
        let store = MemoryStore::default();
        let cipher = KeyCipher::from_secret("a key encryption key of at least 32 bytes").unwrap();
        KeyRing::load(&store, UnixTime(100), 3_660, Some(&cipher)).unwrap();
        assert!(matches!(
            KeyRing::rotate(&store, UnixTime(200), None),
            Err(AuthError::InvalidRequest(_))
        ));
        assert_eq!(store.signing_keys().unwrap().len(), 1, "nothing was stored");
        let sealed = KeyRing::rotate(&store, UnixTime(200), Some(&cipher)).unwrap();
        assert!(KeyCipher::is_sealed(&sealed.private_key));
        // Without any sealed key, a plaintext deployment rotates as before.
        let plain = MemoryStore::default();
        KeyRing::load(&plain, UnixTime(100), 3_660, None).unwrap();
        assert!(KeyRing::rotate(&plain, UnixTime(200), None).is_ok());
    }

    #[test]
    fn sealed_keys_sign_with_the_cipher_and_refuse_without_it() {
        let store = MemoryStore::default();
        let cipher = KeyCipher::from_secret("a key encryption key of at least 32 bytes").unwrap();
        let ring = KeyRing::load(&store, UnixTime(100), 3_660, Some(&cipher)).unwrap();
        let stored = store.signing_keys().unwrap();
        assert!(
            stored[0].private_key.starts_with("enc:v1:"),
            "stored sealed"
        );
        assert_eq!(ring.signing_kid(), stored[0].kid);
        let without = KeyRing::load(&store, UnixTime(100), 3_660, None).unwrap_err();
        assert!(
            without.to_string().contains("AUTHD_KEY_ENCRYPTION_KEY"),
            "{without}"
        );
        let wrong = KeyCipher::from_secret("the wrong key encryption key, 32+ bytes").unwrap();
        assert!(KeyRing::load(&store, UnixTime(100), 3_660, Some(&wrong)).is_err());
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        assert_eq!(
            okp_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_corrupt_stored_key_is_reported_not_used() {
        let mut key = StoredSigningKey::generate_ed25519(UnixTime(1)).unwrap();
        key.private_key = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(matches!(
            KeyRing::ed25519(&[key]),
            Err(AuthError::Internal(_))
        ));
        assert!(KeyRing::ed25519(&[]).is_err());
    }

    #[test]
    fn debug_output_never_contains_private_key_material() {
        let key = StoredSigningKey::generate_ed25519(UnixTime(1)).unwrap();
        assert!(!format!("{key:?}").contains(&key.private_key));
    }
}

//! Password hashing with Argon2id, verification that costs the same for unknown accounts,
//! and detection of hashes made with outdated parameters.

use std::fmt;

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::phc;
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::{AuthError, Password};

/// A PHC-format Argon2 hash string as stored in the database.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored hash string.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The PHC string to store.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Length of the hashes authd writes, in bytes.
const OUTPUT_LEN: usize = 32;

thread_local! {
    /// Argon2's working memory (19 MiB at the production parameters), kept by each thread
    /// that hashes. Allocating it afresh for every hash costs thousands of page faults per
    /// hash, and the allocator keeps the freed blocks of every thread that ever hashed, so
    /// the process grows far beyond one block per hashing thread.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes an Argon2 hash in this thread's reusable working memory.
fn with_memory(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|memory| {
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            *memory = Vec::with_capacity(blocks);
            // Advised before the first write, so that the pages are huge from the start.
            if let Some(advice) = ADVICE.get() {
                let region = memory.spare_capacity_mut();
                advice(region.as_mut_ptr().cast(), size_of_val(region));
            }
            memory.resize(blocks, Block::new());
        }
        argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..blocks])
    })
}

/// Advice for Argon2's working memory: called with its address and length in bytes when a
/// thread allocates it, before it is first written. The owner of the hashing threads
/// (auth-http) installs one that asks Linux for huge pages; this crate makes no system
/// calls.
pub type MemoryAdvice = fn(*mut u8, usize);

static ADVICE: OnceLock<MemoryAdvice> = OnceLock::new();

/// Installs `advice` for the working memory of every hasher in the process; the first
/// call wins.
pub fn advise_working_memory(advice: MemoryAdvice) {
    let _ = ADVICE.set(advice);
}

/// Whether `password` hashes to the stored PHC hash, with the algorithm, version and
/// parameters recorded in it; the outputs are compared in constant time.
fn matches_stored(password: &[u8], stored: &phc::PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version {
        Some(v) => match Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let expected = expected.as_bytes();
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    with_memory(&argon2, password, salt.as_ref(), &mut computed).is_ok()
        && bool::from(subtle::ConstantTimeEq::ct_eq(computed.as_slice(), expected))
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordVerification {
    /// The password matches and the hash uses the current parameters.
    Valid,
    /// The password matches but the hash was made with other parameters: store a new hash.
    ValidNeedsRehash,
    /// The password does not match (or the stored hash is unreadable).
    Invalid,
}

/// Hashes and verifies passwords with Argon2id at fixed parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy: PasswordHash,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

impl PasswordHasher {
    /// OWASP's recommended Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply randomness for the dummy hash.
    pub fn recommended() -> Result<Self, AuthError> {
        Self::with_params(19_456, 2, 1)
    }

    /// A hasher with explicit Argon2id parameters (memory in KiB, passes, lanes).
    ///
    /// # Errors
    /// [`AuthError::Internal`] when the parameters are out of Argon2's range or the OS
    /// cannot supply randomness.
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, AuthError> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        let mut hasher = Self {
            params,
            dummy: PasswordHash(String::new()),
        };
        // A real hash of a random password: verifying against it costs exactly what a
        // real verification costs, so an unknown account is not faster to reject.
        let mut random = [0u8; 32];
        crate::random_bytes(&mut random)?;
        hasher.dummy = hasher.hash_bytes(&random)?;
        // The thread that builds a hasher is rarely one that hashes: give its working
        // memory back.
        MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_bytes(&self, password: &[u8]) -> Result<PasswordHash, AuthError> {
        let mut salt = [0u8; 16];
        crate::random_bytes(&mut salt)?;
        let mut output = [0u8; OUTPUT_LEN];
        with_memory(&self.argon2(), password, &salt, &mut output)
            .map_err(|e| AuthError::Internal(format!("argon2 hash: {e}")))?;
        let encoded = phc::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: phc::ParamsString::try_from(&self.params)
                .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?,
            salt: Some(
                phc::Salt::new(&salt)
                    .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?,
            ),
            hash: Some(
                phc::Output::new(&output)
                    .map_err(|e| AuthError::Internal(format!("argon2 output: {e}")))?,
            ),
        };
        Ok(PasswordHash(encoded.to_string()))
    }

    /// Hashes a password with a fresh random salt.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply randomness.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, AuthError> {
        self.hash_bytes(password.expose())
    }

    /// Verifies a password against a stored hash, using the parameters recorded in the
    /// hash, and says whether the hash should be replaced by one at current parameters.
    #[must_use]
    pub fn verify(&self, password: &Password, stored: &PasswordHash) -> PasswordVerification {
        let Ok(parsed) = phc::PasswordHash::new(stored.as_str()) else {
            return PasswordVerification::Invalid;
        };
        if !matches_stored(password.expose(), &parsed) {
            // A hash made before passwords were normalised holds the bytes as typed: honour
            // it once, and have it replaced by a hash of the NFC form.
            return match password.as_typed() {
                Some(typed) if matches_stored(typed, &parsed) => {
                    PasswordVerification::ValidNeedsRehash
                }
                _ => PasswordVerification::Invalid,
            };
        }
        let current = parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            });
        if current {
            PasswordVerification::Valid
        } else {
            PasswordVerification::ValidNeedsRehash
        }
    }

    /// Spends the time of a verification without an account, so that "no such account"
    /// and "wrong password" cannot be told apart by timing (two hashes, as for a real
    /// account, when the password was not typed in NFC form).
    pub fn verify_dummy(&self, password: &Password) {
        let _ = self.verify(password, &self.dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::with_params(1024, 1, 1).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = fast();
        let pw = Password::new("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(hasher.verify(&pw, &hash), PasswordVerification::Valid);
        let wrong = Password::presented("correct horse batterY").unwrap();
        assert_eq!(hasher.verify(&wrong, &hash), PasswordVerification::Invalid);
    }

    #[test]
    fn a_hash_of_a_password_as_typed_before_normalisation_verifies_and_asks_for_a_rehash() {
        let hasher = fast();
        let decomposed = "cafe\u{301} au lait";
        let legacy = hasher.hash_bytes(decomposed.as_bytes()).unwrap();
        let typed_again = Password::presented(decomposed).unwrap();
        assert_eq!(
            hasher.verify(&typed_again, &legacy),
            PasswordVerification::ValidNeedsRehash
        );
        let rehashed = hasher.hash(&typed_again).unwrap();
        let composed = Password::presented("caf\u{e9} au lait").unwrap();
        assert_eq!(
            hasher.verify(&composed, &rehashed),
            PasswordVerification::Valid
        );
        assert_eq!(
            hasher.verify(&typed_again, &rehashed),
            PasswordVerification::Valid
        );
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let hasher = fast();
        let pw = Password::new("correct horse battery").unwrap();
        assert_ne!(hasher.hash(&pw).unwrap(), hasher.hash(&pw).unwrap());
    }

    #[test]
    fn hashes_with_old_parameters_still_verify_but_ask_for_a_rehash() {
        let old = PasswordHasher::with_params(1024, 1, 1).unwrap();
        let new = PasswordHasher::with_params(2048, 1, 1).unwrap();
        let pw = Password::new("correct horse battery").unwrap();
        let hash = old.hash(&pw).unwrap();
        assert_eq!(
            new.verify(&pw, &hash),
            PasswordVerification::ValidNeedsRehash
        );
        let wrong = Password::presented("incorrect horse").unwrap();
        assert_eq!(new.verify(&wrong, &hash), PasswordVerification::Invalid);
    }

    #[test]
    fn hashes_are_interchangeable_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = fast();
        let pw = Password::new("correct horse battery").unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        // A hash stored by an earlier authd (the crate's own hasher) still verifies...
        let stored = reference
            .hash_password_with_salt(pw.expose(), b"sixteen byte sal")
            .unwrap();
        let stored = PasswordHash::from_stored(stored.to_string());
        assert_eq!(ours.verify(&pw, &stored), PasswordVerification::Valid);
        // ...and what authd writes now verifies with the crate.
        let written = ours.hash(&pw).unwrap();
        let parsed = phc::PasswordHash::new(written.as_str()).unwrap();
        assert!(reference.verify_password(pw.expose(), &parsed).is_ok());
        let wrong = Password::presented("correct horse batterz").unwrap();
        assert!(reference.verify_password(wrong.expose(), &parsed).is_err());
        // An argon2i hash (another algorithm) is verified with its own algorithm and
        // asks for a rehash.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(pw.expose(), b"sixteen byte sal")
        .unwrap();
        assert_eq!(
            ours.verify(&pw, &PasswordHash::from_stored(argon2i.to_string())),
            PasswordVerification::ValidNeedsRehash
        );
    }

    #[test]
    fn recommended_parameters_are_owasp_argon2id() {
        let hasher = PasswordHasher::recommended().unwrap();
        let hash = hasher
            .hash(&Password::new("correct horse battery").unwrap())
            .unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash:?}"
        );
    }

    #[test]
    fn garbage_in_the_database_never_verifies() {
        let hasher = fast();
        let pw = Password::new("correct horse battery").unwrap();
        let garbage = PasswordHash::from_stored("not a hash".into());
        assert_eq!(hasher.verify(&pw, &garbage), PasswordVerification::Invalid);
        hasher.verify_dummy(&pw);
    }
}

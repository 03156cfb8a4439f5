//! Login throttling that an attacker cannot turn against the owner, and that concurrent
//! guesses cannot outrun.
//!
//! Two counts, both kept by the store for every process on the database:
//!
//! ```text
//!  per (account, client network)            per account, from everywhere
//!  ─────────────────────────────            ────────────────────────────
//!  admitted      → failures += 1 (reserved)  failure → failures in this hour += 1
//!                  failures ≥ max → locked for min(2^(failures-max) s, max_delay)
//!  right password → failures = 0, lock gone, the network is "known" for 30 days
//!  wrong password → the reservation stays; the lock is dated from the verdict
//!  never judged   → the reservation is given back (shed before hashing)
//!  attempt while locked → 429, nothing counted (knocking cannot extend a lock)
//!  no attempt for 24 h  → the streak is forgotten
//!
//!  account past `account_max_failures_per_hour` in its hour:
//!      attempts from networks that are not known → 429 until the hour ends
//! ```
//!
//! Because an attempt is counted when it is admitted, not when its hash says it failed,
//! `max_failures` is also the most attempts of one network that can be judged at once.
//! The owner, logging in from another network, or from one that logged in before, is
//! not delayed by someone else's guesses. A client network is an IPv4 address or an IPv6
//! /64 (see [`client_network`]). Accounts are keyed by their normalised login name whether
//! or not they exist, so throttling reveals nothing about which accounts are real, and
//! every key is stored as a keyed hash ([`ThrottleKeys`]): a database reader learns
//! neither the addresses nor the names.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{AuthError, StoreError, UnixTime};

/// The throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Consecutive failures from one network before its attempts on the account are
    /// delayed (`AUTHD_LOGIN_MAX_FAILURES`).
    pub max_failures: u32,
    /// Longest delay in seconds (`AUTHD_LOGIN_MAX_DELAY_SECS`).
    pub max_delay_secs: i64,
    /// Failures of one account within an hour, from all networks, before networks that
    /// are not known are delayed (`AUTHD_ACCOUNT_MAX_FAILURES_PER_HOUR`).
    pub account_max_failures_per_hour: u32,
}

impl Default for ThrottlePolicy {
    /// 5 failures, then delays of 1 s, 2 s, 4 s … up to 15 minutes; 100 failures an hour
    /// per account.
    fn default() -> Self {
        Self {
            max_failures: 5,
            max_delay_secs: 900,
            account_max_failures_per_hour: 100,
        }
    }
}

/// A failure streak with no attempt for this long is forgotten.
pub(crate) const FORGET_AFTER_SECS: i64 = 86_400;
/// A network that logged in to an account stays known to it this long.
pub(crate) const KNOWN_FOR_SECS: i64 = 30 * 86_400;
/// The window of the per-account count.
const ACCOUNT_WINDOW_SECS: i64 = 3_600;

/// What is remembered of one network's attempts on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Attempts admitted since the last success: failures and those still being judged.
    pub failures: u32,
    /// The latest admitted attempt.
    pub last_attempt_at: UnixTime,
    /// Until when attempts are refused.
    pub locked_until: Option<UnixTime>,
    /// The latest success from this network, which makes it known to the account.
    pub last_success_at: Option<UnixTime>,
}

/// The failures of one account in its current hour, from every network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFailures {
    /// When the hour began.
    pub window_start: UnixTime,
    /// Failures since.
    pub failures: u32,
}

/// The keys under which one login attempt is counted: keyed hashes (hex), so that the
/// store never holds an address or a login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    /// The account: `user:<email>` or `wallet:<app>:<name>`, hashed.
    pub account: String,
    /// The account together with the client network, hashed.
    pub network: String,
}

/// The secret that keys the throttle's hashes. Every process on a database must use the
/// same one (authd keeps it in the database, sealed when a key-encryption key is set).
#[derive(Clone)]
pub struct ThrottleKeys([u8; 32]);

impl std::fmt::Debug for ThrottleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThrottleKeys(<redacted>)")
    }
}

impl ThrottleKeys {
    /// Keys from a 32-byte secret.
    #[must_use]
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// A fresh random secret, to be stored and shared.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the OS cannot supply randomness.
    pub fn generate() -> Result<[u8; 32], AuthError> {
        let mut secret = [0u8; 32];
        crate::random_bytes(&mut secret)?;
        Ok(secret)
    }

    /// The keys every process on the database shares: created by the first process that
    /// asks and stored, sealed with `cipher` when one is configured (so that a copy of the
    /// database alone cannot confirm a guessed address).
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails; [`AuthError::Internal`] when the stored
    /// secret is sealed and `cipher` is absent or another, or is malformed.
    pub fn load(
        store: &dyn crate::KeyStore,
        cipher: Option<&crate::KeyCipher>,
        now: UnixTime,
    ) -> Result<Self, AuthError> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        const NAME: &str = "login-throttle";
        let fresh = Self::generate()?;
        let candidate = match cipher {
            Some(cipher) => cipher.seal(NAME, &fresh)?,
            None => URL_SAFE_NO_PAD.encode(fresh),
        };
        let stored = store.shared_secret(NAME, &candidate, now)?;
        let bytes = if crate::KeyCipher::is_sealed(&stored) {
            let cipher = cipher.ok_or_else(|| {
                AuthError::Internal(
                    "the login-throttle secret is sealed: AUTHD_KEY_ENCRYPTION_KEY is required"
                        .into(),
                )
            })?;
            cipher.open(NAME, &stored)?
        } else {
            URL_SAFE_NO_PAD
                .decode(&stored)
                .map_err(|_| AuthError::Internal("the login-throttle secret is malformed".into()))?
        };
        let secret = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| AuthError::Internal("the login-throttle secret is malformed".into()))?;
        Ok(Self(secret))
    }

    fn hash(&self, parts: &[&str]) -> String {
        use std::fmt::Write as _;
        // A 32-byte key is always a valid HMAC key.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        let mut hex = String::with_capacity(64);
        for byte in mac.finalize().into_bytes() {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// The key of `client`'s network in the shared rate limit of route `family`.
    #[must_use]
    pub fn rate(&self, family: &str, client: Option<IpAddr>) -> String {
        self.hash(&["rate", family, &client_network(client)])
    }

    /// The shared rate-limit bucket of mail sent on request to one address (normalized).
    #[must_use]
    pub fn mail_rate(&self, email_normalized: &str) -> String {
        self.hash(&["mail", email_normalized])
    }

    /// The keys of an attempt on `account` from `client`.
    #[must_use]
    pub fn attempt(&self, account: &str, client: Option<IpAddr>) -> AttemptKey {
        AttemptKey {
            account: self.hash(&["account", account]),
            network: self.hash(&["network", account, &client_network(client)]),
        }
    }
}

/// The network a client is counted by: its IPv4 address, or the /64 of its IPv6 address
/// (one subscriber's allocation: counting by /128 would let a client rotate through 2^64
/// addresses). IPv4-mapped IPv6 addresses count as IPv4.
#[must_use]
pub fn client_network(client: Option<IpAddr>) -> String {
    match client {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// What the store read for an attempt, for [`ThrottlePolicy::admit`] to judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleState {
    /// This network's record on the account.
    pub attempts: Option<AttemptRecord>,
    /// The account's failures this hour.
    pub account: Option<AccountFailures>,
}

impl ThrottlePolicy {
    /// Admits an attempt at `now` and returns the record with it reserved, or refuses it.
    ///
    /// # Errors
    /// The seconds to wait: while this network is locked out of the account, or while
    /// the account is past its hourly ceiling and this network is not known to it.
    pub fn admit(&self, state: &ThrottleState, now: UnixTime) -> Result<AttemptRecord, i64> {
        let current = state.attempts;
        if let Some(until) = current.and_then(|r| r.locked_until)
            && now < until
        {
            return Err(until.secs() - now.secs());
        }
        let known = current
            .and_then(|r| r.last_success_at)
            .is_some_and(|at| now.secs() - at.secs() < KNOWN_FOR_SECS);
        if !known
            && let Some(account) = state.account
            && now.secs() - account.window_start.secs() < ACCOUNT_WINDOW_SECS
            && account.failures >= self.account_max_failures_per_hour
        {
            return Err((account.window_start.secs() + ACCOUNT_WINDOW_SECS - now.secs()).max(1));
        }
        let previous = current
            .filter(|r| now.secs() - r.last_attempt_at.secs() < FORGET_AFTER_SECS)
            .map_or(0, |r| r.failures);
        let failures = previous.saturating_add(1);
        Ok(AttemptRecord {
            failures,
            last_attempt_at: now,
            locked_until: self.lock_after(failures, now),
            last_success_at: current.and_then(|r| r.last_success_at),
        })
    }

    /// The record after an admitted attempt failed, judged at `now`: the attempt stays
    /// counted, and a lock it earned runs from the verdict (hashing may have taken a
    /// while), never shorter than the one set at admission.
    #[must_use]
    pub fn after_failure(&self, record: Option<&AttemptRecord>, now: UnixTime) -> AttemptRecord {
        let record = record.copied().unwrap_or(AttemptRecord {
            failures: 1,
            last_attempt_at: now,
            locked_until: None,
            last_success_at: None,
        });
        let locked_until = record
            .locked_until
            .max(self.lock_after(record.failures, now));
        AttemptRecord {
            locked_until,
            ..record
        }
    }

    /// The record after an admitted attempt succeeded at `now`: the streak and any lock
    /// are gone, and the network is known to the account.
    #[must_use]
    pub fn after_success(&self, now: UnixTime) -> AttemptRecord {
        AttemptRecord {
            failures: 0,
            last_attempt_at: now,
            locked_until: None,
            last_success_at: Some(now),
        }
    }

    /// The record after an admitted attempt was never judged (shed before hashing): its
    /// reservation is given back, with the lock it would have earned.
    #[must_use]
    pub fn after_release(&self, record: Option<&AttemptRecord>) -> Option<AttemptRecord> {
        let record = record?;
        let failures = record.failures.saturating_sub(1);
        let locked_until = if failures >= self.max_failures {
            record.locked_until
        } else {
            None
        };
        Some(AttemptRecord {
            failures,
            locked_until,
            ..*record
        })
    }

    /// The account's count after a failure at `now`.
    #[must_use]
    pub fn account_after_failure(
        &self,
        account: Option<&AccountFailures>,
        now: UnixTime,
    ) -> AccountFailures {
        match account {
            Some(a) if now.secs() - a.window_start.secs() < ACCOUNT_WINDOW_SECS => {
                AccountFailures {
                    window_start: a.window_start,
                    failures: a.failures.saturating_add(1),
                }
            }
            _ => AccountFailures {
                window_start: now,
                failures: 1,
            },
        }
    }

    /// The lock earned by the `failures`-th consecutive failure at `now`.
    fn lock_after(&self, failures: u32, now: UnixTime) -> Option<UnixTime> {
        (failures >= self.max_failures).then(|| {
            let step = failures - self.max_failures;
            let delay = if step >= 30 {
                self.max_delay_secs
            } else {
                (1_i64 << step).min(self.max_delay_secs)
            };
            now.plus_secs(delay)
        })
    }
}

/// Persistence of login attempts, shared by every process on the database. Each method
/// is atomic with respect to the others on the same keys, also across processes.
pub trait ThrottleStore: Send + Sync {
    /// Reads the state of `key`, asks `admit` for the verdict and, when it admits, stores
    /// the record it returns, all atomically (two processes cannot both read the same
    /// count and both be admitted past it).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails. The verdict itself is the inner result.
    fn reserve_attempt(
        &self,
        key: &AttemptKey,
        admit: &dyn Fn(&ThrottleState) -> Result<AttemptRecord, i64>,
    ) -> Result<Result<(), i64>, StoreError>;

    /// Records an admitted attempt's failure: the network's record becomes
    /// `attempts(current)` and the account's count `account(current)`, atomically.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn record_failure(
        &self,
        key: &AttemptKey,
        attempts: &dyn Fn(Option<&AttemptRecord>) -> AttemptRecord,
        account: &dyn Fn(Option<&AccountFailures>) -> AccountFailures,
    ) -> Result<(), StoreError>;

    /// Stores `record` as the network's record on the account (after a success).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn record_success(&self, key: &AttemptKey, record: &AttemptRecord) -> Result<(), StoreError>;

    /// Gives back an attempt that was never judged: the record becomes `next(current)`
    /// (deleted when `None`).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn release_attempt(
        &self,
        key: &AttemptKey,
        next: &dyn Fn(Option<&AttemptRecord>) -> Option<AttemptRecord>,
    ) -> Result<(), StoreError>;

    /// Deletes up to `limit` records that no longer matter: networks with no attempt
    /// since `attempted_before` and no success since `succeeded_before`, and account
    /// counts whose hour began before `window_before`. Returns how many were deleted.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_attempts(
        &self,
        attempted_before: UnixTime,
        succeeded_before: UnixTime,
        window_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError>;
}

/// Deletes throttle records that no longer matter at `now`, `limit` at a time.
///
/// # Errors
/// [`StoreError`] when storage fails.
pub(crate) fn purge(
    store: &dyn ThrottleStore,
    now: UnixTime,
    limit: usize,
) -> Result<usize, StoreError> {
    store.purge_attempts(
        now.plus_secs(-FORGET_AFTER_SECS),
        now.plus_secs(-KNOWN_FOR_SECS),
        now.plus_secs(-ACCOUNT_WINDOW_SECS),
        limit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixTime = UnixTime(1_800_000_000);

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::default()
    }

    /// `n` attempts admitted and failed, each after the previous lock expired.
    fn fail_times(p: &ThrottlePolicy, n: u32, mut now: UnixTime) -> AttemptRecord {
        let mut record: Option<AttemptRecord> = None;
        for _ in 0..n {
            let state = ThrottleState {
                attempts: record,
                account: None,
            };
            let admitted = p.admit(&state, now).unwrap();
            let failed = p.after_failure(Some(&admitted), now);
            now = failed.locked_until.unwrap_or(now).plus_secs(1);
            record = Some(failed);
        }
        record.unwrap()
    }

    #[test]
    fn the_first_failures_are_free_then_delays_double_up_to_the_cap() {
        let p = policy();
        for (failures, delay) in [
            (4, None),
            (5, Some(1)),
            (6, Some(2)),
            (7, Some(4)),
            (14, Some(512)),
            (15, Some(900)),
            (60, Some(900)),
        ] {
            let r = fail_times(&p, failures, T);
            let got = r.locked_until.map(|u| u.secs() - r.last_attempt_at.secs());
            assert_eq!(got, delay, "after {failures} failures");
        }
    }

    #[test]
    fn admission_reserves_so_concurrent_attempts_cannot_pass_the_count() {
        let p = policy();
        let mut state = ThrottleState::default();
        let mut admitted = 0;
        // 24 attempts arrive before any is judged.
        for _ in 0..24 {
            if let Ok(record) = p.admit(&state, T) {
                admitted += 1;
                state.attempts = Some(record);
            }
        }
        assert_eq!(admitted, 5);
    }

    #[test]
    fn a_lock_refuses_until_it_expires_and_says_how_long() {
        let p = policy();
        let r = fail_times(&p, 7, T);
        let until = r.locked_until.unwrap();
        let state = ThrottleState {
            attempts: Some(r),
            account: None,
        };
        assert_eq!(p.admit(&state, until.plus_secs(-3)), Err(3));
        assert!(p.admit(&state, until).is_ok());
        assert!(p.admit(&ThrottleState::default(), T).is_ok());
    }

    #[test]
    fn a_success_clears_the_streak_and_a_release_gives_the_attempt_back() {
        let p = policy();
        let ok = p.after_success(T);
        assert_eq!((ok.failures, ok.locked_until), (0, None));
        let fifth = p
            .admit(
                &ThrottleState {
                    attempts: Some(fail_times(&p, 4, T)),
                    account: None,
                },
                T.plus_secs(10),
            )
            .unwrap();
        assert!(fifth.locked_until.is_some());
        let released = p.after_release(Some(&fifth)).unwrap();
        assert_eq!((released.failures, released.locked_until), (4, None));
    }

    #[test]
    fn an_old_streak_is_forgotten() {
        let p = policy();
        let r = fail_times(&p, 4, T);
        let state = ThrottleState {
            attempts: Some(r),
            account: None,
        };
        let next = p
            .admit(&state, r.last_attempt_at.plus_secs(FORGET_AFTER_SECS))
            .unwrap();
        assert_eq!(next.failures, 1);
        assert_eq!(next.locked_until, None);
    }

    #[test]
    fn past_the_hourly_ceiling_only_known_networks_get_in() {
        let p = ThrottlePolicy {
            account_max_failures_per_hour: 3,
            ..policy()
        };
        let mut account = None;
        for _ in 0..3 {
            account = Some(p.account_after_failure(account.as_ref(), T));
        }
        let stranger = ThrottleState {
            attempts: None,
            account,
        };
        assert_eq!(p.admit(&stranger, T.plus_secs(600)), Err(3_000));
        let owner = ThrottleState {
            attempts: Some(p.after_success(T.plus_secs(-86_400))),
            account,
        };
        assert!(p.admit(&owner, T.plus_secs(600)).is_ok());
        let long_ago = ThrottleState {
            attempts: Some(p.after_success(T.plus_secs(-KNOWN_FOR_SECS))),
            account,
        };
        assert!(p.admit(&long_ago, T.plus_secs(600)).is_err());
        assert!(
            p.admit(&stranger, T.plus_secs(ACCOUNT_WINDOW_SECS)).is_ok(),
            "the hour ends"
        );
    }

    #[test]
    fn every_process_loads_the_same_keys_sealed_when_a_cipher_is_set() {
        let store = crate::memory::MemoryStore::default();
        let cipher = crate::KeyCipher::from_secret(&"k".repeat(32)).unwrap();
        let first = ThrottleKeys::load(&store, Some(&cipher), T).unwrap();
        let second = ThrottleKeys::load(&store, Some(&cipher), T).unwrap();
        assert_eq!(first.0, second.0);
        let stored = crate::KeyStore::shared_secret(&store, "login-throttle", "x", T).unwrap();
        assert!(crate::KeyCipher::is_sealed(&stored), "{stored}");
        assert!(ThrottleKeys::load(&store, None, T).is_err());
        let plain = crate::memory::MemoryStore::default();
        let a = ThrottleKeys::load(&plain, None, T).unwrap();
        assert_eq!(a.0, ThrottleKeys::load(&plain, None, T).unwrap().0);
    }

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_64s_and_keys_hide_them() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_network(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(client_network(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa::1")),
            client_network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:3::1"))
        );
        let keys = ThrottleKeys::new([7; 32]);
        let a = keys.attempt("user:alice@example.com", ip("192.0.2.1"));
        let b = keys.attempt("user:alice@example.com", ip("192.0.2.2"));
        assert_eq!(a.account, b.account);
        assert_ne!(a.network, b.network);
        assert_eq!(a.network.len(), 64);
        assert!(a.network.bytes().all(|b| b.is_ascii_hexdigit()));
        let other = ThrottleKeys::new([8; 32]).attempt("user:alice@example.com", ip("192.0.2.1"));
        assert_ne!(a, other);
    }
}

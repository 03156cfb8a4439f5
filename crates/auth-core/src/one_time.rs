//! One-time tokens mailed to people: verifying an email address, resetting a forgotten
//! password, confirming a new address.
//!
//! A token is 256 random bits that travel only in a mail (and back in a request body); the
//! store keeps its SHA-256 and finds it by that, so a database leak gives nobody a usable
//! token. Each serves one [`OneTimePurpose`]; issuing a user a new one of a purpose
//! replaces the old one; using one deletes it in the same transaction as the change it
//! makes, so of two concurrent uses one wins.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::session::TokenHash;
use crate::user::UserId;
use crate::{AuthError, PasswordHash, StoreError, UnixTime};

/// Prefix of every one-time token, so that leaked-secret scanners can recognise them.
const ONE_TIME_PREFIX: &str = "authd_ot_";
/// Characters after the prefix: 32 bytes in unpadded base64url.
const ONE_TIME_SECRET_LEN: usize = 43;

/// What a one-time token may be used for. A token of one purpose never serves another:
/// a reset link cannot verify an email, nor the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OneTimePurpose {
    /// Proves the user receives mail at their address.
    VerifyEmail,
    /// Sets a new password without the old one.
    ResetPassword,
    /// Moves the account to the new address it was mailed to.
    ChangeEmail,
}

impl OneTimePurpose {
    /// Every purpose.
    pub const ALL: [OneTimePurpose; 3] = [
        OneTimePurpose::VerifyEmail,
        OneTimePurpose::ResetPassword,
        OneTimePurpose::ChangeEmail,
    ];

    /// The stable name used in storage.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OneTimePurpose::VerifyEmail => "verify_email",
            OneTimePurpose::ResetPassword => "reset_password",
            OneTimePurpose::ChangeEmail => "change_email",
        }
    }

    /// Parses the name written by [`OneTimePurpose::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// How long the tokens of each purpose live, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimePolicy {
    /// A verification link: 24 hours by default.
    pub verify_email_secs: i64,
    /// A password-reset link: 1 hour by default, as it replaces the password.
    pub reset_password_secs: i64,
    /// A link confirming a new address: 24 hours by default.
    pub change_email_secs: i64,
}

impl Default for OneTimePolicy {
    fn default() -> Self {
        Self {
            verify_email_secs: 24 * 3600,
            reset_password_secs: 3600,
            change_email_secs: 24 * 3600,
        }
    }
}

impl OneTimePolicy {
    /// The lifetime of a token of `purpose`.
    #[must_use]
    pub fn lifetime_secs(&self, purpose: OneTimePurpose) -> i64 {
        match purpose {
            OneTimePurpose::VerifyEmail => self.verify_email_secs,
            OneTimePurpose::ResetPassword => self.reset_password_secs,
            OneTimePurpose::ChangeEmail => self.change_email_secs,
        }
    }

    /// A new token of `purpose` for `user`, and the record the store keeps of it.
    /// `new_email` is the address an email change moves to (`None` for other purposes).
    ///
    /// # Errors
    /// [`AuthError::Internal`] when the OS gives no randomness.
    pub fn issue(
        &self,
        user: &UserId,
        purpose: OneTimePurpose,
        new_email: Option<String>,
        now: UnixTime,
    ) -> Result<(OneTimeToken, OneTimeRecord), AuthError> {
        let mut bytes = [0u8; 32];
        crate::random_bytes(&mut bytes)?;
        let token = OneTimeToken(format!(
            "{ONE_TIME_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ));
        let record = OneTimeRecord {
            hash: token.hash(),
            user_id: user.clone(),
            purpose,
            new_email,
            created_at: now,
            expires_at: now.plus_secs(self.lifetime_secs(purpose)),
        };
        Ok((token, record))
    }
}

/// A one-time token as mailed: the secret itself. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeToken(String);

impl OneTimeToken {
    /// Accepts a token presented by a client if it has the shape authd issues.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] otherwise: such a token cannot exist, so no lookup is
    /// needed.
    pub fn parse(presented: &str) -> Result<Self, AuthError> {
        let well_formed = presented
            .strip_prefix(ONE_TIME_PREFIX)
            .is_some_and(|secret| {
                secret.len() == ONE_TIME_SECRET_LEN
                    && secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !well_formed {
            return Err(AuthError::InvalidToken("one-time token is malformed"));
        }
        Ok(Self(presented.to_owned()))
    }

    /// The token as it goes into the mail.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the store knows this token.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of_secret(&self.0)
    }
}

impl fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeToken(<redacted>)")
    }
}

/// What the store keeps of a one-time token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeRecord {
    /// SHA-256 of the token: all the store ever sees of it.
    pub hash: TokenHash,
    /// Whose token it is.
    pub user_id: UserId,
    /// What it may be used for.
    pub purpose: OneTimePurpose,
    /// The address an email change moves to, as the user typed it.
    pub new_email: Option<String>,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops being accepted.
    pub expires_at: UnixTime,
}

/// What presenting a one-time token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption<T> {
    /// The token was valid; it is now used up and its change is made.
    Redeemed(T),
    /// The token was issued but is past its lifetime: refused with `TOKEN_EXPIRED`.
    Expired,
    /// No such token of this purpose (never issued, used, replaced, or of another
    /// purpose): refused with `INVALID_TOKEN`.
    Unknown,
}

/// What a password reset changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// Whose password it was.
    pub user_id: UserId,
    /// How many live sessions of the user ended with it.
    pub revoked_sessions: u64,
}

/// Persistence of one-time tokens, and the changes they make, each in one transaction with
/// the token's use.
pub trait OneTimeStore: Send + Sync {
    /// Stores `record`, replacing the user's earlier token of the same purpose (which is
    /// then refused as unknown).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails (nothing is then changed).
    fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError>;

    /// Uses an email-verification token: marks the user's email verified.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails (the token is then still unused).
    fn verify_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError>;

    /// Uses a password-reset token: sets `password_hash`, marks the email verified (the
    /// user just read a mail sent to it) and revokes every live session of the user.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails (nothing is then changed).
    fn reset_password(
        &self,
        hash: &TokenHash,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Redemption<PasswordReset>, StoreError>;

    /// Uses an email-change token: moves the user to the address it was issued for,
    /// verified.
    ///
    /// # Errors
    /// MUST fail with [`StoreError::Duplicate`], leaving the token unused, when another
    /// user has that address by now; [`StoreError`] when storage fails.
    fn change_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError>;

    /// Deletes tokens that expired before `before`, at most `limit`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_one_time(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError>;
}

/// How long an expired one-time token is kept: presented within it, it is refused as
/// expired (the user asks for a new mail) rather than as unknown.
pub const EXPIRED_ONE_TIME_KEPT_SECS: i64 = 86_400;

/// Tokens the purge deletes per batch.
const PURGE_BATCH: usize = 100;

/// Deletes one-time tokens expired over [`EXPIRED_ONE_TIME_KEPT_SECS`] before `now`, in
/// batches, calling `between_batches` after each full one (where the caller paces the
/// purge). Returns how many were deleted.
///
/// # Errors
/// [`AuthError::Store`] when storage fails.
pub fn purge_one_time_tokens(
    store: &dyn OneTimeStore,
    now: UnixTime,
    between_batches: &mut dyn FnMut(),
) -> Result<usize, AuthError> {
    let before = now.plus_secs(-EXPIRED_ONE_TIME_KEPT_SECS);
    Ok(crate::purge::in_batches(
        PURGE_BATCH,
        between_batches,
        |batch| store.purge_one_time(before, batch),
    )?)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Expiry instants of stored tokens; nothing else is needed to purge them.
    #[derive(Default)]
    struct Expiries(Mutex<Vec<UnixTime>>);

    impl OneTimeStore for Expiries {
        fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(record.expires_at);
            Ok(())
        }
        fn verify_email(
            &self,
            _: &TokenHash,
            _: UnixTime,
        ) -> Result<Redemption<UserId>, StoreError> {
            Ok(Redemption::Unknown)
        }
        fn reset_password(
            &self,
            _: &TokenHash,
            _: &PasswordHash,
            _: UnixTime,
        ) -> Result<Redemption<PasswordReset>, StoreError> {
            Ok(Redemption::Unknown)
        }
        fn change_email(
            &self,
            _: &TokenHash,
            _: UnixTime,
        ) -> Result<Redemption<UserId>, StoreError> {
            Ok(Redemption::Unknown)
        }
        fn purge_one_time(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError> {
            let mut expiries = self.0.lock().unwrap();
            let doomed = expiries.iter().filter(|e| **e < before).count().min(limit);
            expiries.sort();
            expiries.drain(..doomed);
            Ok(doomed)
        }
    }

    #[test]
    fn the_purge_keeps_expired_tokens_a_day_and_pauses_between_full_batches() {
        let store = Expiries::default();
        let policy = OneTimePolicy::default();
        let user = UserId::generate();
        for i in 0..250 {
            let (_, record) = policy
                .issue(&user, OneTimePurpose::ResetPassword, None, UnixTime(i))
                .unwrap();
            store.issue_one_time(&record).unwrap();
        }
        let last_expiry = UnixTime(249 + policy.reset_password_secs);
        let mut pauses = 0;
        let within_the_day = last_expiry.plus_secs(EXPIRED_ONE_TIME_KEPT_SECS - 100);
        assert_eq!(
            purge_one_time_tokens(&store, within_the_day, &mut || pauses += 1).unwrap(),
            149,
            "the 100 that expired last are kept a day"
        );
        assert_eq!(pauses, 1);
        let after_the_day = last_expiry.plus_secs(EXPIRED_ONE_TIME_KEPT_SECS + 1);
        assert_eq!(
            purge_one_time_tokens(&store, after_the_day, &mut || {}).unwrap(),
            101
        );
    }

    #[test]
    fn an_issued_token_parses_back_and_hashes_to_its_record() {
        let user = UserId::generate();
        let (token, record) = OneTimePolicy::default()
            .issue(&user, OneTimePurpose::ResetPassword, None, UnixTime(1_000))
            .unwrap();
        let parsed = OneTimeToken::parse(token.expose()).unwrap();
        assert_eq!(parsed.hash(), record.hash);
        assert_eq!(record.expires_at, UnixTime(1_000 + 3600));
        assert!(!format!("{token:?}{record:?}").contains(token.expose()));
    }

    #[test]
    fn two_tokens_never_coincide_and_malformed_ones_are_refused() {
        let policy = OneTimePolicy::default();
        let user = UserId::generate();
        let (a, _) = policy
            .issue(&user, OneTimePurpose::VerifyEmail, None, UnixTime(0))
            .unwrap();
        let (b, _) = policy
            .issue(&user, OneTimePurpose::VerifyEmail, None, UnixTime(0))
            .unwrap();
        assert_ne!(a.expose(), b.expose());
        for bad in [
            "",
            "authd_ot_",
            &a.expose()[1..],
            &format!("{}=", a.expose()),
            &a.expose().replace("authd_ot_", "authd_rt_"),
        ] {
            assert!(OneTimeToken::parse(bad).is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn purposes_round_trip_through_their_stored_names() {
        for purpose in OneTimePurpose::ALL {
            assert_eq!(OneTimePurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(OneTimePurpose::parse("login"), None);
    }
}

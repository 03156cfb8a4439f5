//! Accounts: verifying an email address and recovering a forgotten password, by mail.

use std::num::NonZeroU32;

use super::*;
use crate::rate_limit::{RateQuota, RateTake, rate_instant};
use crate::{MailKind, OneTimeToken, OutboxMail, PasswordReset, Redemption};

/// Mails one address may be sent on request per hour (any route, any requester): enough
/// for a user who asks again, too few to bomb the address.
const MAIL_REQUESTS_PER_HOUR: u32 = 5;

impl Authority {
    /// Queues a password-reset mail to `email`, whether or not it has an account: the
    /// mail worker finds out (and sends nothing for none), so the answer and its timing
    /// say nothing about the account. At most 5 requests per address and hour are
    /// queued, across every process on the database.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] past that; [`AuthError::Store`].
    pub fn request_password_reset(&self, email: &Email, now: UnixTime) -> Result<(), AuthError> {
        self.queue_mail_request(MailKind::ResetPassword, email, now)
    }

    /// Sets the password `hash` (of a password that passed the policy) with a reset
    /// token: the email counts as verified and every session of the user ends, in one
    /// transaction; a notice is mailed to the account's address.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for a token past its hour; [`AuthError::InvalidToken`]
    /// for an unknown, used, replaced or other-purpose token; [`AuthError::Store`].
    pub fn reset_password(
        &self,
        token: &OneTimeToken,
        hash: crate::PasswordHash,
        now: UnixTime,
    ) -> Result<PasswordReset, AuthError> {
        let reset = match self.store.reset_password(&token.hash(), &hash, now)? {
            Redemption::Redeemed(reset) => reset,
            Redemption::Expired => return Err(AuthError::TokenExpired),
            Redemption::Unknown => {
                return Err(AuthError::InvalidToken("unknown or used reset token"));
            }
        };
        // The password is set: a notice that cannot be queued is logged, not failed.
        match self.store.user_by_id(&reset.user_id) {
            Ok(Some(user)) => {
                self.queue_notice(MailKind::PasswordChanged, &user.email, &user.id, None, now);
            }
            Ok(None) => {}
            Err(e) => log::warn!("the password-changed notice could not be queued: {e}"),
        }
        Ok(reset)
    }

    /// Queues a verification mail to `email`, whether or not it has an account (and
    /// whether or not it is verified already): the mail worker sends one only to an
    /// unverified account, so the answer says nothing. Limited like
    /// [`Authority::request_password_reset`], with which it shares the address's count.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`]; [`AuthError::Store`].
    pub fn request_verification(&self, email: &Email, now: UnixTime) -> Result<(), AuthError> {
        self.queue_mail_request(MailKind::VerifyEmail, email, now)
    }

    /// Marks the email of the token's user verified, and returns the user.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for a token past its day; [`AuthError::InvalidToken`]
    /// for an unknown, used, replaced or other-purpose token (or a user deleted since);
    /// [`AuthError::Store`].
    pub fn verify_email(&self, token: &OneTimeToken, now: UnixTime) -> Result<User, AuthError> {
        let user_id = match self.store.verify_email(&token.hash(), now)? {
            Redemption::Redeemed(user_id) => user_id,
            Redemption::Expired => return Err(AuthError::TokenExpired),
            Redemption::Unknown => {
                return Err(AuthError::InvalidToken(
                    "unknown or used verification token",
                ));
            }
        };
        self.store
            .user_by_id(&user_id)?
            .ok_or(AuthError::InvalidToken("the token's account is gone"))
    }

    /// Queues a mail of `kind` requested for `email` (as typed), once the request is
    /// counted against `MAIL_REQUESTS_PER_HOUR`.
    fn queue_mail_request(
        &self,
        kind: MailKind,
        email: &Email,
        now: UnixTime,
    ) -> Result<(), AuthError> {
        self.take_mail_request(email, now)?;
        self.store
            .queue_mail(&OutboxMail::new(kind, email.as_str(), None, None, now))?;
        Ok(())
    }

    /// Counts a request for mail to `email` against `MAIL_REQUESTS_PER_HOUR`.
    pub(super) fn take_mail_request(&self, email: &Email, now: UnixTime) -> Result<(), AuthError> {
        let quota =
            RateQuota::per_hour(NonZeroU32::new(MAIL_REQUESTS_PER_HOUR).unwrap_or(NonZeroU32::MIN));
        let at = rate_instant(now);
        let key = self.throttle_keys.mail_rate(email.normalized());
        match self.store.take_rate(&key, quota, at)? {
            RateTake::Taken(_) => Ok(()),
            refused @ RateTake::Refused(_) => {
                let standing = quota.standing(refused, at);
                Err(AuthError::RateLimited {
                    retry_after_secs: i64::try_from(standing.reset_secs).unwrap_or(i64::MAX),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::{OneTimePolicy, OneTimePurpose, OneTimeStore};

    #[test]
    fn a_reset_request_queues_one_mail_for_known_and_unknown_addresses_alike() {
        let (authority, store) = authority();
        register(&authority, "alice@example.com", "alice").unwrap();
        for email in ["alice@example.com", "nobody@example.com"] {
            authority
                .request_password_reset(&Email::parse(email).unwrap(), T0)
                .unwrap();
        }
        assert_eq!(
            crate::MailOutbox::outbox_depth(&*store).unwrap(),
            (3, 0),
            "registration's verification mail and the two requests"
        );
    }

    #[test]
    fn registration_mails_a_link_that_verifies_the_address_once() {
        let (authority, store) = authority();
        let alice = register(&authority, "alice@example.com", "alice").unwrap();
        assert!(!alice.user.email_verified);
        let mail = crate::MailOutbox::claim_mail(&*store, T0, 60, 10)
            .unwrap()
            .pop()
            .expect("the verification mail");
        assert_eq!(mail.kind, MailKind::VerifyEmail);
        assert_eq!(mail.user_id.as_ref(), Some(&alice.user.id));
        let content = crate::MailContent::new("https://app.example.com", OneTimePolicy::default());
        let sent = crate::compose(&mail, &*store, &content, T0)
            .unwrap()
            .unwrap();
        let token = sent.text.split("#token=").nth(1).unwrap();
        let token = OneTimeToken::parse(token.split_whitespace().next().unwrap()).unwrap();

        let verified = authority.verify_email(&token, T0).unwrap();
        assert!(verified.email_verified);
        assert!(matches!(
            authority.verify_email(&token, T0),
            Err(AuthError::InvalidToken(_))
        ));
        // Verified now: asking again sends nothing, and says nothing about it.
        authority
            .request_verification(&Email::parse("alice@example.com").unwrap(), T0)
            .unwrap();
        let again = crate::MailOutbox::claim_mail(&*store, T0, 60, 10)
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(crate::compose(&again, &*store, &content, T0).unwrap(), None);
    }

    #[test]
    fn with_verified_email_required_registration_says_nothing_about_the_address() {
        let (authority, store) = authority();
        let authority = authority.requiring_verified_email(true);
        let register = |email: &str, name: &str| {
            let hash = authority
                .hash_password(&Password::new("correct horse battery").unwrap())
                .unwrap();
            authority.register_unverified(
                &Email::parse(email).unwrap(),
                &Username::parse(name).unwrap(),
                hash,
                T0,
            )
        };
        register("alice@example.com", "alice").unwrap();
        register("ALICE@example.com", "someone").unwrap();
        assert!(matches!(
            register("bob@example.com", "Alice"),
            Err(AuthError::AccountExists)
        ));
        let mails: Vec<_> = crate::MailOutbox::claim_mail(&*store, T0, 60, 10)
            .unwrap()
            .into_iter()
            .map(|m| (m.kind, m.recipient))
            .collect();
        assert_eq!(
            mails,
            [
                (MailKind::VerifyEmail, "alice@example.com".to_owned()),
                (MailKind::AccountExists, "alice@example.com".to_owned()),
            ]
        );
        assert_eq!(store.session_count(), 0, "no session before verification");

        // The right password of the unverified account opens nothing.
        assert!(matches!(
            login(&authority, "alice@example.com", "correct horse battery"),
            Err(AuthError::EmailNotVerified)
        ));
        assert!(matches!(
            login(&authority, "alice@example.com", "wrong password"),
            Err(AuthError::InvalidCredentials)
        ));
        let alice = store.user_by_email("alice@example.com").unwrap().unwrap();
        let (token, record) = OneTimePolicy::default()
            .issue(&alice.id, OneTimePurpose::VerifyEmail, None, T0)
            .unwrap();
        store.issue_one_time(&record).unwrap();
        authority.verify_email(&token, T0).unwrap();
        assert!(login(&authority, "alice@example.com", "correct horse battery").is_ok());
    }

    #[test]
    fn one_address_gets_at_most_five_requests_an_hour() {
        let (authority, _store) = authority();
        let email = Email::parse("alice@example.com").unwrap();
        for _ in 0..MAIL_REQUESTS_PER_HOUR {
            authority.request_password_reset(&email, T0).unwrap();
        }
        let refused = authority.request_password_reset(&email, T0);
        assert!(
            matches!(
                refused,
                Err(AuthError::RateLimited {
                    retry_after_secs: 720
                })
            ),
            "{refused:?}"
        );
        let other = Email::parse("bob@example.com").unwrap();
        authority.request_password_reset(&other, T0).unwrap();
        authority
            .request_password_reset(&email, T0.plus_secs(720))
            .unwrap();
    }

    #[test]
    fn a_reset_token_sets_the_password_once_and_mails_a_notice() {
        let (authority, store) = authority();
        let alice = register(&authority, "alice@example.com", "alice").unwrap();
        let (token, record) = OneTimePolicy::default()
            .issue(&alice.user.id, OneTimePurpose::ResetPassword, None, T0)
            .unwrap();
        store.issue_one_time(&record).unwrap();
        let hash = crate::PasswordHash::from_stored("$argon2id$new".into());

        let reset = authority.reset_password(&token, hash.clone(), T0).unwrap();
        assert_eq!(reset.revoked_sessions, 1);
        assert_eq!(
            crate::MailOutbox::outbox_depth(&*store).unwrap(),
            (2, 0),
            "registration's verification mail and the notice"
        );
        assert!(matches!(
            authority.reset_password(&token, hash.clone(), T0),
            Err(AuthError::InvalidToken(_))
        ));

        let (late, record) = OneTimePolicy::default()
            .issue(&alice.user.id, OneTimePurpose::ResetPassword, None, T0)
            .unwrap();
        store.issue_one_time(&record).unwrap();
        assert!(matches!(
            authority.reset_password(&late, hash, T0.plus_secs(3_600)),
            Err(AuthError::TokenExpired)
        ));
    }
}

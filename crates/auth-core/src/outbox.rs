//! Mail that authd has promised to send, kept in the database until it is sent.
//!
//! A route that sends mail only adds a row to the outbox, in the same request as the
//! change it reports; a worker claims due rows, sends them and deletes them. A mail
//! accepted by authd therefore survives a restart of authd and an outage of the mail
//! server (it is retried with backoff). Rows name what to send, never a token: the
//! worker issues a mail's one-time token when it sends it, so no token is ever stored in
//! plain text, and a "send me a mail" route does the same single insert whether or not
//! the address has an account (the worker finds out, and sends nothing for none).
//!
//! A claim pushes the row's next attempt past a lease: several processes claiming at once
//! on one PostgreSQL database never get the same row, and a row whose worker died
//! becomes due again when the lease runs out.

use crate::user::UserId;
use crate::{StoreError, UnixTime};

/// Attempts after which a mail is given up (about a day of retries; see
/// [`retry_delay_secs`]).
pub const MAX_MAIL_ATTEMPTS: i64 = 30;

/// What a mail says; each has its own template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A link that verifies the address (to an unverified account of this address).
    VerifyEmail,
    /// A link that resets the password (to the account of this address, if any).
    ResetPassword,
    /// A link confirming a new address (sent to the new address).
    ConfirmEmailChange,
    /// A notice to the old address that a change to another was asked for.
    EmailChangeRequested,
    /// A notice that the password was reset or changed.
    PasswordChanged,
    /// A notice to the owner of an address that someone tried to register it again.
    AccountExists,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 6] = [
        MailKind::VerifyEmail,
        MailKind::ResetPassword,
        MailKind::ConfirmEmailChange,
        MailKind::EmailChangeRequested,
        MailKind::PasswordChanged,
        MailKind::AccountExists,
    ];

    /// The stable name used in storage, templates and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::ResetPassword => "reset_password",
            MailKind::ConfirmEmailChange => "confirm_email_change",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::PasswordChanged => "password_changed",
            MailKind::AccountExists => "account_exists",
        }
    }

    /// Parses the name written by [`MailKind::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One mail in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// A UUIDv7 of when it was queued: mails go out in the order they were asked for.
    pub id: String,
    /// What it says.
    pub kind: MailKind,
    /// The address it goes to, as typed.
    pub recipient: String,
    /// The account it concerns, when the route knew it (`None` for "send me a mail"
    /// requests, resolved from `recipient` when it is sent).
    pub user_id: Option<UserId>,
    /// The address an email change moves to.
    pub new_email: Option<String>,
    /// When it was queued.
    pub created_at: UnixTime,
    /// Attempts so far, the current one included once claimed.
    pub attempts: i64,
}

impl OutboxMail {
    /// A mail queued at `now`.
    #[must_use]
    pub fn new(
        kind: MailKind,
        recipient: &str,
        user_id: Option<UserId>,
        new_email: Option<String>,
        now: UnixTime,
    ) -> Self {
        Self {
            id: crate::clock::uuid_v7(now).to_string(),
            kind,
            recipient: recipient.to_owned(),
            user_id,
            new_email,
            created_at: now,
            attempts: 0,
        }
    }
}

/// How long to wait after failed attempt number `attempts` (1 for the first): 30 s,
/// doubling, at most an hour.
#[must_use]
pub fn retry_delay_secs(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 7)).unwrap_or(7);
    (30_i64 << doublings).min(3_600)
}

/// Persistence of the outbox.
pub trait MailOutbox: Send + Sync {
    /// Queues `mail`, due at once.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails (nothing is queued).
    fn queue_mail(&self, mail: &OutboxMail) -> Result<(), StoreError>;

    /// Claims up to `limit` mails due at `now`, oldest first, and makes each due again
    /// only after `lease_secs` (its attempt counted): no other claim gets them meanwhile,
    /// from this process or another.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails (nothing is claimed).
    fn claim_mail(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMail>, StoreError>;

    /// Removes a mail that was sent (or that turned out to have nothing to send).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn mail_sent(&self, id: &str) -> Result<(), StoreError>;

    /// Records an attempt that failed at `now` with `error` (which must hold no secret):
    /// the mail is due again at `retry_at`, or, with `None`, given up (kept, never
    /// claimed again, for operators to see).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn mail_failed(
        &self,
        id: &str,
        error: &str,
        now: UnixTime,
        retry_at: Option<UnixTime>,
    ) -> Result<(), StoreError>;

    /// Mails waiting to be sent, and mails given up.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn outbox_depth(&self) -> Result<(u64, u64), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_to_an_hour_and_span_about_a_day() {
        let delays: Vec<i64> = (1..=8).map(retry_delay_secs).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600]);
        assert_eq!(retry_delay_secs(1_000), 3_600);
        let total: i64 = (1..MAX_MAIL_ATTEMPTS).map(retry_delay_secs).sum();
        assert!(
            (20 * 3600..30 * 3600).contains(&total),
            "{total} s of retries"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::parse("spam"), None);
    }
}

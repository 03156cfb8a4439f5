//! [`OneTimeStore`] on both backends: each token's use and the change it makes are one
//! transaction, and the use is a `DELETE` that only one of several concurrent uses can
//! make.

use auth_core::{
    Email, OneTimePurpose, OneTimeRecord, OneTimeStore, PasswordHash, PasswordReset, PrincipalKind,
    Redemption, StoreError, TokenHash, UnixTime, UserId,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::{DbConnection, on_backend};
use crate::schema::{one_time_tokens, users};

/// What using a token found, before the change it makes.
enum Claim {
    /// The token was live and is now deleted: its user and the address it carries.
    Claimed(UserId, Option<String>),
    Expired,
    Unknown,
}

/// Deletes the live token `hash` of `purpose`, or says why it cannot be used. Of two
/// concurrent uses, the one whose `DELETE` finds the row already gone sees it as unknown.
fn claim(
    conn: &mut DbConnection,
    hash: &TokenHash,
    purpose: OneTimePurpose,
    now: UnixTime,
) -> QueryResult<Claim> {
    let found: Option<(String, Option<String>, i64)> =
        on_backend!(conn, |c| one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(hash.as_str()))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .select((
                one_time_tokens::user_id,
                one_time_tokens::new_email,
                one_time_tokens::expires_at,
            ))
            .get_result(c)
            .optional())?;
    let Some((user_id, new_email, expires_at)) = found else {
        return Ok(Claim::Unknown);
    };
    if expires_at <= now.secs() {
        return Ok(Claim::Expired);
    }
    let deleted = on_backend!(conn, |c| diesel::delete(
        one_time_tokens::table.filter(one_time_tokens::token_hash.eq(hash.as_str()))
    )
    .execute(c))?;
    Ok(if deleted == 1 {
        Claim::Claimed(UserId::from_stored(user_id), new_email)
    } else {
        Claim::Unknown
    })
}

impl OneTimeStore for Database {
    fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError> {
        let values = (
            one_time_tokens::token_hash.eq(record.hash.as_str()),
            one_time_tokens::user_id.eq(record.user_id.as_str()),
            one_time_tokens::purpose.eq(record.purpose.as_str()),
            one_time_tokens::new_email.eq(record.new_email.as_deref()),
            one_time_tokens::created_at.eq(record.created_at.secs()),
            one_time_tokens::expires_at.eq(record.expires_at.secs()),
        );
        let replace = (
            one_time_tokens::token_hash.eq(record.hash.as_str()),
            one_time_tokens::new_email.eq(record.new_email.as_deref()),
            one_time_tokens::created_at.eq(record.created_at.secs()),
            one_time_tokens::expires_at.eq(record.expires_at.secs()),
        );
        // One statement: the earlier token of this user and purpose is replaced by the
        // new one, never both live at once.
        self.in_transaction(|conn| {
            on_backend!(conn, |c| diesel::insert_into(one_time_tokens::table)
                .values(values)
                .on_conflict((one_time_tokens::user_id, one_time_tokens::purpose))
                .do_update()
                .set(replace)
                .execute(c))
        })
        .map(|_| ())
    }

    fn verify_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError> {
        self.in_transaction(|conn| {
            let user = match claim(conn, hash, OneTimePurpose::VerifyEmail, now)? {
                Claim::Claimed(user, _) => user,
                Claim::Expired => return Ok(Redemption::Expired),
                Claim::Unknown => return Ok(Redemption::Unknown),
            };
            on_backend!(conn, |c| diesel::update(users::table.find(user.as_str()))
                .set((
                    users::email_verified.eq(true),
                    users::updated_at.eq(now.secs()),
                ))
                .execute(c))?;
            Ok(Redemption::Redeemed(user))
        })
    }

    fn reset_password(
        &self,
        hash: &TokenHash,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Redemption<PasswordReset>, StoreError> {
        self.in_transaction(|conn| {
            let user = match claim(conn, hash, OneTimePurpose::ResetPassword, now)? {
                Claim::Claimed(user, _) => user,
                Claim::Expired => return Ok(Redemption::Expired),
                Claim::Unknown => return Ok(Redemption::Unknown),
            };
            on_backend!(conn, |c| diesel::update(users::table.find(user.as_str()))
                .set((
                    users::password_hash.eq(password_hash.as_str()),
                    users::email_verified.eq(true),
                    users::updated_at.eq(now.secs()),
                ))
                .execute(c))?;
            let revoked = crate::accounts::revoke_sessions(
                conn,
                PrincipalKind::User,
                user.as_str(),
                None,
                now,
            )?;
            Ok(Redemption::Redeemed(PasswordReset {
                user_id: user,
                revoked_sessions: revoked,
            }))
        })
    }

    fn change_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError> {
        self.in_transaction(|conn| {
            let (user, new_email) = match claim(conn, hash, OneTimePurpose::ChangeEmail, now)? {
                Claim::Claimed(user, Some(new_email)) => (user, new_email),
                Claim::Claimed(user, None) => {
                    return Err(corrupt(&user, "an email change without an address"));
                }
                Claim::Expired => return Ok(Redemption::Expired),
                Claim::Unknown => return Ok(Redemption::Unknown),
            };
            let email = Email::parse(&new_email)
                .map_err(|_| corrupt(&user, "an email change to an invalid address"))?;
            // Another account holding the address by now fails the unique index: the
            // transaction, and the token's use with it, is rolled back.
            on_backend!(conn, |c| diesel::update(users::table.find(user.as_str()))
                .set((
                    users::email.eq(email.as_str()),
                    users::email_normalized.eq(email.normalized()),
                    users::email_verified.eq(true),
                    users::updated_at.eq(now.secs()),
                ))
                .execute(c))?;
            Ok(Redemption::Redeemed(user))
        })
    }

    fn purge_one_time(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.in_transaction(|conn| {
            let hashes: Vec<String> = on_backend!(conn, |c| one_time_tokens::table
                .filter(one_time_tokens::expires_at.lt(before.secs()))
                .order(one_time_tokens::expires_at)
                .select(one_time_tokens::token_hash)
                .limit(limit)
                .load(c))?;
            on_backend!(conn, |c| diesel::delete(
                one_time_tokens::table.filter(one_time_tokens::token_hash.eq_any(&hashes))
            )
            .execute(c))
        })
    }
}

/// A stored token that authd could not have written: the transaction is rolled back.
fn corrupt(user: &UserId, what: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!("one-time token of user {}: {what}", user.as_str()).into(),
    )
}

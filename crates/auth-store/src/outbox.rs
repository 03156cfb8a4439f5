//! [`MailOutbox`] on both backends. On PostgreSQL a claim locks the rows it takes with
//! `FOR UPDATE SKIP LOCKED`, so processes claiming at once take different rows without
//! waiting for each other; on SQLite the claim's write transaction already serialises
//! them.

use auth_core::{MailKind, MailOutbox, OutboxMail, StoreError, UnixTime, UserId};
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::Database;
use crate::connection::{DbConnection, on_backend};
use crate::error::store_error;
use crate::schema::mail_outbox;

#[derive(Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
struct OutboxRow {
    id: String,
    kind: String,
    recipient: String,
    user_id: Option<String>,
    new_email: Option<String>,
    created_at: i64,
    attempts: i64,
}

impl TryFrom<OutboxRow> for OutboxMail {
    type Error = StoreError;

    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        let kind = MailKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Backend(format!("mail {}: corrupt kind", r.id)))?;
        Ok(OutboxMail {
            id: r.id,
            kind,
            recipient: r.recipient,
            user_id: r.user_id.map(UserId::from_stored),
            new_email: r.new_email,
            created_at: UnixTime(r.created_at),
            attempts: r.attempts,
        })
    }
}

impl MailOutbox for Database {
    fn queue_mail(&self, mail: &OutboxMail) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::id.eq(&mail.id),
                mail_outbox::kind.eq(mail.kind.as_str()),
                mail_outbox::recipient.eq(&mail.recipient),
                mail_outbox::user_id.eq(mail.user_id.as_ref().map(UserId::as_str)),
                mail_outbox::new_email.eq(mail.new_email.as_deref()),
                mail_outbox::created_at.eq(mail.created_at.secs()),
                mail_outbox::attempts.eq(mail.attempts),
                mail_outbox::next_attempt_at.eq(mail.created_at.secs()),
            ))
            .execute(c))
        .map(|_| ())
        .map_err(store_error)
    }

    fn claim_mail(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.in_transaction(|conn| {
            // A macro, not a closure: the selection's type names its backend.
            macro_rules! due {
                () => {
                    mail_outbox::table
                        .filter(mail_outbox::gave_up_at.is_null())
                        .filter(mail_outbox::next_attempt_at.le(now.secs()))
                        .order((mail_outbox::next_attempt_at, mail_outbox::id))
                        .limit(limit)
                        .select(OutboxRow::as_select())
                };
            }
            let mut rows: Vec<OutboxRow> = match conn {
                DbConnection::Postgres(c) => due!().for_update().skip_locked().load(c)?,
                DbConnection::Sqlite(c) => due!().load(c)?,
            };
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            on_backend!(conn, |c| diesel::update(
                mail_outbox::table.filter(mail_outbox::id.eq_any(&ids))
            )
            .set((
                mail_outbox::next_attempt_at.eq(now.plus_secs(lease_secs).secs()),
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            ))
            .execute(c))?;
            for row in &mut rows {
                row.attempts += 1;
            }
            Ok(rows)
        })?;
        rows.into_iter().map(OutboxMail::try_from).collect()
    }

    fn mail_sent(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| diesel::delete(mail_outbox::table.find(id))
            .execute(c))
        .map(|_| ())
        .map_err(store_error)
    }

    fn mail_failed(
        &self,
        id: &str,
        error: &str,
        now: UnixTime,
        retry_at: Option<UnixTime>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let target = mail_outbox::table.find(id);
        let updated = match retry_at {
            Some(at) => on_backend!(&mut *conn, |c| diesel::update(target)
                .set((
                    mail_outbox::last_error.eq(error),
                    mail_outbox::next_attempt_at.eq(at.secs()),
                ))
                .execute(c)),
            None => on_backend!(&mut *conn, |c| diesel::update(target)
                .set((
                    mail_outbox::last_error.eq(error),
                    mail_outbox::gave_up_at.eq(now.secs()),
                ))
                .execute(c)),
        };
        updated.map(|_| ()).map_err(store_error)
    }

    fn outbox_depth(&self) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn()?;
        let waiting: i64 = on_backend!(&mut *conn, |c| mail_outbox::table
            .filter(mail_outbox::gave_up_at.is_null())
            .select(count_star())
            .get_result(c))
        .map_err(store_error)?;
        let given_up: i64 = on_backend!(&mut *conn, |c| mail_outbox::table
            .filter(mail_outbox::gave_up_at.is_not_null())
            .select(count_star())
            .get_result(c))
        .map_err(store_error)?;
        Ok((
            u64::try_from(waiting).unwrap_or(0),
            u64::try_from(given_up).unwrap_or(0),
        ))
    }
}

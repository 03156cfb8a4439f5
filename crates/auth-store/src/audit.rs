//! [`AuditStore`] on both backends.

use auth_core::{AuditEvent, AuditFilter, AuditStore, Page, StoreError, UnixTime};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::connection::on_backend;
use crate::error::store_error;
use crate::schema::audit_events;
use crate::{Backend, Database, postgres, sqlite};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
// An absent field is bound as NULL rather than written as DEFAULT, so the INSERT's text
// never varies and each connection prepares it once instead of parsing it for every event.
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct EventRow {
    id: String,
    at: i64,
    event: String,
    outcome: String,
    code: Option<String>,
    principal: Option<String>,
    actor: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    count: i64,
}

impl From<&AuditEvent> for EventRow {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.clone(),
            at: e.at.secs(),
            event: e.event.clone(),
            outcome: e.outcome.clone(),
            code: e.code.clone(),
            principal: e.principal.clone(),
            actor: e.actor.clone(),
            client_addr: e.client_addr.clone(),
            user_agent: e.user_agent.clone(),
            count: i64::try_from(e.count).unwrap_or(i64::MAX),
        }
    }
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            id: r.id,
            at: UnixTime(r.at),
            event: r.event,
            outcome: r.outcome,
            code: r.code,
            principal: r.principal,
            actor: r.actor,
            client_addr: r.client_addr,
            user_agent: r.user_agent,
            count: u64::try_from(r.count).unwrap_or(0),
        }
    }
}

/// The filter as a boxed diesel query, reused for the page and the count.
fn filtered(
    filter: &AuditFilter,
) -> audit_events::BoxedQuery<'_, <DbConnection as Connection>::Backend> {
    let mut query = audit_events::table.into_boxed();
    if let Some(p) = &filter.principal {
        query = query.filter(audit_events::principal.eq(p));
    }
    if let Some(e) = &filter.event {
        query = query.filter(audit_events::event.eq(e));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::at.ge(since.secs()));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::at.lt(until.secs()));
    }
    query
}

impl AuditStore for Database {
    fn record_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = events.iter().map(EventRow::from).collect();
        if self.backend() == Backend::Sqlite {
            return self.group_write(move |conn| sqlite::record_events(conn.sqlite()?, &rows));
        }
        self.on_postgres(|pg| postgres::record_events(pg, &rows))
    }

    fn add_repeats(&self, repeats: &[(String, u64)]) -> Result<(), StoreError> {
        let repeats = repeats.to_vec();
        let add = move |conn: &mut DbConnection| {
            repeats.iter().try_for_each(|(id, n)| {
                let n = i64::try_from(*n).unwrap_or(i64::MAX);
                on_backend!(&mut *conn, |c| diesel::update(audit_events::table.find(id))
                    .set(audit_events::count.eq(audit_events::count + n))
                    .execute(c)
                    .map(drop))
            })
        };
        if self.backend() == Backend::Sqlite {
            return self.group_write(add);
        }
        let mut conn = self.conn()?;
        add(&mut conn).map_err(store_error)
    }

    fn purge_events(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let ids: Vec<String> = on_backend!(&mut *conn, |c| audit_events::table
            .filter(audit_events::at.lt(before.secs()))
            .select(audit_events::id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(c))
        .map_err(store_error)?;
        if ids.is_empty() {
            return Ok(0);
        }
        on_backend!(&mut *conn, |c| diesel::delete(
            audit_events::table.filter(audit_events::id.eq_any(&ids))
        )
        .execute(c))
        .map_err(store_error)
    }

    fn list_events(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEvent>, u64), StoreError> {
        let mut conn = self.conn()?;
        let rows = filtered(filter)
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .offset(i64::from(page.offset))
            .limit(i64::from(page.limit))
            .select(EventRow::as_select())
            .load(&mut *conn)
            .map_err(store_error)?;
        let total: i64 = filtered(filter)
            .count()
            .get_result(&mut *conn)
            .map_err(store_error)?;
        Ok((
            rows.into_iter().map(AuditEvent::from).collect(),
            u64::try_from(total).unwrap_or(0),
        ))
    }
}

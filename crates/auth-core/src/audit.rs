//! The audit trail: one record per authentication event (logins, refreshes, reuse
//! detected, logouts, throttling, administrative changes), with when, who, from where and
//! the outcome. Never a password, a token or a token hash.

use crate::{Page, StoreError, UnixTime};

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unique id.
    pub id: String,
    /// When it happened.
    pub at: UnixTime,
    /// What happened (`login`, `refresh`, `wallet_login`, `admin.update_wallet`, …).
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The contract error code of a failure (`INVALID_CREDENTIALS`, `RATE_LIMITED`, …).
    pub code: Option<String>,
    /// The account concerned: an id, or the login name that was tried.
    pub principal: Option<String>,
    /// Who acted, when not the principal itself (the administrator of an admin change).
    pub actor: Option<String>,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The client's user agent (at most 200 characters).
    pub user_agent: Option<String>,
    /// How many identical failures this event stands for: repeats of the same failure
    /// (event, code, principal) from the same client network within a minute are counted
    /// here, not stored again.
    pub count: u64,
}

impl AuditEvent {
    /// A new event at `at` with a fresh id.
    #[must_use]
    pub fn new(at: UnixTime, event: &str, outcome: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            at,
            event: event.to_owned(),
            outcome: outcome.to_owned(),
            code: None,
            principal: None,
            actor: None,
            client_addr: None,
            user_agent: None,
            count: 1,
        }
    }

    /// An administrator's change: `admin.<action>` done by `actor` to `target`, whichever
    /// front end (the admin API, the command line) made it.
    #[must_use]
    pub fn admin_change(at: UnixTime, action: &str, target: &str, actor: &str) -> Self {
        let mut event = Self::new(at, &format!("admin.{action}"), "success");
        event.principal = Some(target.to_owned());
        event.actor = Some(actor.to_owned());
        event
    }
}

/// Events deleted per statement by [`purge_audit_events`].
const PURGE_BATCH: usize = 1_000;

/// Deletes the events older than `retention_secs` at `now`, in batches of a thousand so
/// that no statement holds the table for long, calling `between_batches` after each full
/// one (where the caller paces the purge). Returns how many were deleted.
///
/// # Errors
/// [`StoreError`] when storage fails; the batches deleted before stay deleted.
pub fn purge_audit_events(
    store: &dyn AuditStore,
    retention_secs: i64,
    now: UnixTime,
    between_batches: &mut dyn FnMut(),
) -> Result<usize, StoreError> {
    let before = now.plus_secs(-retention_secs);
    crate::purge::in_batches(PURGE_BATCH, between_batches, |batch| {
        store.purge_events(before, batch)
    })
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this principal.
    pub principal: Option<String>,
    /// Only this event.
    pub event: Option<String>,
    /// Only events at or after this instant.
    pub since: Option<UnixTime>,
    /// Only events before this instant.
    pub until: Option<UnixTime>,
}

/// Persistence of the audit trail.
pub trait AuditStore: Send + Sync {
    /// Appends events.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; then none of the batch is stored.
    fn record_events(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// Adds `n` to the count of each event `id` listed (repeats of a recorded failure).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn add_repeats(&self, repeats: &[(String, u64)]) -> Result<(), StoreError>;

    /// Deletes up to `limit` events from before `before`. Returns how many were deleted.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_events(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError>;

    /// A page of matching events, newest first, and how many match in all.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn list_events(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEvent>, u64), StoreError>;
}

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

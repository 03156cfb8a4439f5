//! The audit trail as the HTTP layer writes it: one log line and one `audit_events` row per
//! authentication outcome (what, who, from where, result). Never a password, a token or a
//! token hash.
//!
//! Rows are written by one background thread in batches, so a request never waits for
//! the audit write; if the queue is full an event is dropped with a warning rather than
//! stalling authentication.
//!
//! A failure repeated within a minute (same event, code and principal, from the same
//! client network: an IPv4 address or an IPv6 /64) is one row whose `count` grows, so a
//! client sending garbage tokens as fast as it can adds one row a minute, not one per
//! request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use auth_core::{AuditEvent, AuditStore, AuthError, UnixTime};

use crate::{ApiError, AuthState, ClientInfo};

/// Events waiting to be written, at most.
const QUEUE: usize = 10_000;
/// Events written at once, at most.
const BATCH: usize = 256;
/// How long the writer waits after an event for more to write with it. A transaction per
/// event cost PostgreSQL a commit per login, 4-5 % of the login rate; waiting this long
/// shares the commit among the events of that time, and no request waits for it.
const LINGER: Duration = Duration::from_millis(50);
/// How often the writer looks for more events while it lingers.
const LOOK_EVERY: Duration = Duration::from_millis(5);
/// How long the writer waits before it tries a failed batch again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Repeats of a failure within this many seconds of its first occurrence are counted.
const REPEAT_WINDOW_SECS: i64 = 60;
/// Most failures whose repeats are counted at once; beyond, failures are written as they
/// come (each still bounded by the queue).
const MAX_OPEN_WINDOWS: usize = 10_000;

/// The failures being counted: per (event, code, principal, client network), the row
/// written for the first one and the repeats not yet added to it.
#[derive(Default)]
struct Repeats {
    open: HashMap<(String, String, String, String), Window>,
}

struct Window {
    start: UnixTime,
    id: String,
    unwritten: u64,
}

impl Repeats {
    /// Whether `event` is to be written: false when it repeats a failure counted now.
    fn admit(&mut self, event: &AuditEvent) -> bool {
        if event.outcome != "failure" {
            return true;
        }
        let network = event
            .client_addr
            .as_deref()
            .and_then(|a| a.parse().ok())
            .map(|a| auth_core::client_network(Some(a)))
            .unwrap_or_default();
        let key = (
            event.event.clone(),
            event.code.clone().unwrap_or_default(),
            event.principal.clone().unwrap_or_default(),
            network,
        );
        if let Some(window) = self.open.get_mut(&key)
            && event.at.secs() - window.start.secs() < REPEAT_WINDOW_SECS
        {
            window.unwritten += 1;
            return false;
        }
        if self.open.len() >= MAX_OPEN_WINDOWS {
            self.close_before(event.at);
        }
        if self.open.len() < MAX_OPEN_WINDOWS {
            self.open.insert(
                key,
                Window {
                    start: event.at,
                    id: event.id.clone(),
                    unwritten: 0,
                },
            );
        }
        true
    }

    /// The counts to add to written rows; they are then taken as written.
    fn take_unwritten(&mut self) -> Vec<(String, u64)> {
        self.open
            .values_mut()
            .filter(|w| w.unwritten > 0)
            .map(|w| (w.id.clone(), std::mem::take(&mut w.unwritten)))
            .collect()
    }

    /// Forgets windows that ended before `now`, once their counts are written.
    fn close_before(&mut self, now: UnixTime) {
        self.open
            .retain(|_, w| w.unwritten > 0 || now.secs() - w.start.secs() < REPEAT_WINDOW_SECS);
    }
}

/// The writer of audit rows, and the store they can be read back from.
#[derive(Clone)]
pub struct AuditTrail {
    sender: SyncSender<AuditEvent>,
    store: Arc<dyn AuditStore>,
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditTrail")
    }
}

impl AuditTrail {
    /// Starts the writer thread over `store`. It stops when every clone is dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(store: Arc<dyn AuditStore>) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(QUEUE);
        let writer = store.clone();
        let pending = Arc::new(AtomicUsize::new(0));
        let written = pending.clone();
        std::thread::Builder::new()
            .name("authd-audit".into())
            .spawn(move || write_batches(&receiver, writer.as_ref(), &written))?;
        Ok(Self {
            sender,
            store,
            pending,
        })
    }

    /// Waits (up to `limit`) until every event pushed so far has been written: called at
    /// shutdown so that a graceful stop loses nothing. Returns whether the queue drained.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.pending.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Where the trail is read from.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    pub(crate) fn push(&self, event: AuditEvent) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        match self.sender.try_send(event) {
            Ok(()) => return,
            Err(TrySendError::Full(e)) => {
                log::warn!(
                    "audit queue full; dropped event {} of {:?}",
                    e.event,
                    e.principal
                );
            }
            Err(TrySendError::Disconnected(_)) => log::warn!("audit writer has stopped"),
        }
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

fn write_batches(receiver: &Receiver<AuditEvent>, store: &dyn AuditStore, pending: &AtomicUsize) {
    let mut repeats = Repeats::default();
    while let Ok(first) = receiver.recv() {
        let until = Instant::now() + LINGER;
        let mut batch = vec![first];
        loop {
            batch.extend(receiver.try_iter().take(BATCH - batch.len()));
            let left = until.saturating_duration_since(Instant::now());
            if batch.len() >= BATCH || left.is_zero() {
                break;
            }
            // Short sleeps, not a wait on the channel: a waiting receiver is woken by every
            // event sent, a futex call on the request's path and a context switch per
            // request. Looking every few milliseconds still writes a full batch about
            // when it fills.
            std::thread::sleep(left.min(LOOK_EVERY));
        }
        // One retry, a second later, covers a momentary database hiccup (an unreachable
        // database answers at once, so an immediate retry would fail too); past that the
        // log keeps the record.
        let taken = batch.len();
        let latest = batch.iter().map(|e| e.at).max();
        batch.retain(|event| repeats.admit(event));
        let counted = repeats.take_unwritten();
        let write = || {
            if !batch.is_empty() {
                store.record_events(&batch)?;
            }
            if !counted.is_empty() {
                store.add_repeats(&counted)?;
            }
            Ok::<(), auth_core::StoreError>(())
        };
        if let Err(e) = write().or_else(|_| {
            std::thread::sleep(RETRY_AFTER);
            write()
        }) {
            log::warn!("could not write {} audit event(s): {e}", batch.len());
        }
        if let Some(latest) = latest {
            repeats.close_before(latest);
        }
        pending.fetch_sub(taken, Ordering::SeqCst);
    }
}

/// Logs the outcome of an authentication event and adds it to the audit trail.
/// `principal` names the account when known (an id, or the login name that was tried).
pub(crate) fn record<T>(
    state: &AuthState,
    event: &str,
    principal: Option<&str>,
    client: &ClientInfo,
    result: &Result<T, ApiError>,
) {
    let addr = client
        .addr
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    let who = principal.unwrap_or("-");
    let rid = client.request_id.as_deref().unwrap_or("-");
    let mut row = AuditEvent::new(state.clock.now(), event, "success");
    match result {
        Ok(_) => {
            log::info!(target: "authd::auth", "event={event} outcome=success principal={who} client={addr}")
        }
        Err(e) => {
            let reason = match e {
                ApiError::Auth(AuthError::InvalidToken(why)) => why,
                _ => "",
            };
            log::info!(
                target: "authd::auth",
                "request_id={rid} event={event} outcome=failure code={} principal={who} client={addr} reason={reason:?}",
                e.code()
            );
            "failure".clone_into(&mut row.outcome);
            row.code = Some(e.code().to_owned());
        }
    }
    row.principal = principal.map(str::to_owned);
    row.client_addr = client.addr.map(|a| a.to_string());
    row.user_agent.clone_from(&client.user_agent);
    state
        .metrics
        .auth_event(event, &row.outcome, row.code.as_deref().unwrap_or(""));
    state.audit.push(row);
}

/// Records an administrative change: `admin` did `action` to `target`.
pub(crate) fn record_admin(
    state: &AuthState,
    admin: &str,
    action: &str,
    target: &str,
    client: &ClientInfo,
) {
    log::info!(
        target: "authd::admin",
        "request_id={} admin={admin} action={action} target={target}",
        client.request_id.as_deref().unwrap_or("-")
    );
    let mut row = AuditEvent::admin_change(state.clock.now(), action, target, admin);
    row.client_addr = client.addr.map(|a| a.to_string());
    row.user_agent.clone_from(&client.user_agent);
    state.audit.push(row);
}

/// Logs the outcome of checking a bearer token: failures at info and in the trail,
/// successes at debug only (a busy resource route would otherwise drown both).
pub(crate) fn record_bearer_check<T>(
    state: &AuthState,
    client: &ClientInfo,
    principal: Option<&str>,
    result: &Result<T, ApiError>,
) {
    if result.is_ok() {
        let addr = client
            .addr
            .map_or_else(|| "-".to_owned(), |a| a.to_string());
        log::debug!(target: "authd::auth", "event=bearer outcome=success principal={} client={addr}", principal.unwrap_or("-"));
    } else {
        record(state, "bearer", principal, client, result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use auth_core::{AuditFilter, Page, StoreError, UnixTime};

    use super::*;

    /// A store that keeps the size of every batch it was given.
    #[derive(Default)]
    struct Batches(Mutex<Vec<usize>>);

    impl AuditStore for Batches {
        fn record_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(events.len());
            Ok(())
        }

        fn add_repeats(&self, _: &[(String, u64)]) -> Result<(), StoreError> {
            Ok(())
        }

        fn purge_events(&self, _: UnixTime, _: usize) -> Result<usize, StoreError> {
            Ok(0)
        }

        fn list_events(
            &self,
            _: &AuditFilter,
            _: Page,
        ) -> Result<(Vec<AuditEvent>, u64), StoreError> {
            Ok((Vec::new(), 0))
        }
    }

    fn failure(at: i64, addr: &str) -> AuditEvent {
        let mut e = AuditEvent::new(UnixTime(1_800_000_000 + at), "bearer", "failure");
        e.code = Some("INVALID_TOKEN".into());
        e.client_addr = Some(addr.into());
        e
    }

    #[test]
    fn repeated_failures_of_one_network_within_a_minute_are_one_row() {
        let mut repeats = Repeats::default();
        assert!(repeats.admit(&failure(0, "203.0.113.9")));
        for at in 1..60 {
            assert!(!repeats.admit(&failure(at, "203.0.113.9")));
        }
        // One IPv6 client across its /64 is one network.
        assert!(repeats.admit(&failure(0, "2001:db8::1")));
        assert!(!repeats.admit(&failure(1, "2001:db8::2")));
        // Another address, code or principal, or a success, is written.
        assert!(repeats.admit(&failure(0, "198.51.100.1")));
        let mut someone = failure(1, "203.0.113.9");
        someone.principal = Some("usr_1".into());
        assert!(repeats.admit(&someone));
        let mut other = failure(0, "203.0.113.9");
        other.code = Some("TOKEN_EXPIRED".into());
        assert!(repeats.admit(&other));
        assert!(repeats.admit(&AuditEvent::new(
            UnixTime(1_800_000_000),
            "bearer",
            "success"
        )));
        let mut counted = repeats.take_unwritten();
        counted.sort_by_key(|(_, n)| *n);
        assert_eq!(counted.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [1, 59]);
        assert!(repeats.take_unwritten().is_empty(), "counts are added once");
        // A minute after the first, the next failure starts a new row.
        assert!(repeats.admit(&failure(60, "203.0.113.9")));
    }

    fn trail_with_batches() -> (AuditTrail, Arc<Batches>) {
        let batches = Arc::new(Batches::default());
        (AuditTrail::start(batches.clone()).unwrap(), batches)
    }

    fn push(trail: &AuditTrail, events: i64) {
        for n in 0..events {
            trail.push(AuditEvent::new(
                UnixTime(1_800_000_000 + n),
                "refresh",
                "success",
            ));
        }
    }

    #[test]
    fn events_of_the_same_moment_share_one_write() {
        let (trail, batches) = trail_with_batches();
        push(&trail, 10);
        assert!(trail.flush(Duration::from_secs(5)));
        assert_eq!(*batches.0.lock().unwrap(), [10]);
    }

    #[test]
    fn a_burst_is_written_in_full_batches() {
        let (trail, batches) = trail_with_batches();
        push(&trail, 600);
        assert!(trail.flush(Duration::from_secs(5)));
        assert_eq!(*batches.0.lock().unwrap(), [BATCH, BATCH, 88]);
    }

    #[test]
    fn events_a_linger_apart_are_written_apart() {
        let (trail, batches) = trail_with_batches();
        push(&trail, 3);
        assert!(trail.flush(Duration::from_secs(5)));
        push(&trail, 2);
        assert!(trail.flush(Duration::from_secs(5)));
        assert_eq!(*batches.0.lock().unwrap(), [3, 2]);
    }
}

//! Prometheus metrics, in the text exposition format at `GET /metrics`: request counts and
//! latency histograms per route and status, authentication outcomes, live sessions, the
//! hashing queue and the time per password hash, and the database pool.
//!
//! Every label value comes from a fixed set, so no request can add a series: routes are
//! labelled by their pattern (`/v2/apps/{app_id}`) and unmatched paths by `unmatched`,
//! methods by their standard name or `other`, statuses by their code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use auth_core::UnixTime;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::hashing::{HASH_BUCKETS, HashTimes};
use crate::{ApiError, AuthState};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Latency {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters and histograms of one process.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), Latency>>,
    auth: Mutex<BTreeMap<(String, String, String), u64>>,
    purged: Mutex<BTreeMap<PurgedTable, u64>>,
    mail: Mutex<MailCounts>,
    /// The live sessions last counted, and when.
    active_sessions: Mutex<Option<(UnixTime, u64)>>,
}

/// What the outbox worker did, and the outbox as it last saw it.
#[derive(Default)]
struct MailCounts {
    sent: u64,
    dropped: u64,
    retried: u64,
    given_up: u64,
    waiting: u64,
    abandoned: u64,
}

/// How long a count of live sessions is reported before it is counted again: counting is
/// a scan of every live session (8.4 M in the scale benchmark), too much for every scrape.
const ACTIVE_SESSIONS_FOR_SECS: i64 = 60;

/// What the scheduled purge deletes, as labelled in `authd_purged_rows_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PurgedTable {
    /// Ended and long-revoked sessions, with their refresh tokens.
    Sessions,
    /// Login-throttle records that no longer count.
    LoginThrottle,
    /// Audit events past their retention.
    AuditEvents,
    /// Mailed one-time tokens expired over a day ago.
    OneTimeTokens,
}

impl PurgedTable {
    fn label(self) -> &'static str {
        match self {
            PurgedTable::Sessions => "sessions",
            PurgedTable::LoginThrottle => "login_throttle",
            PurgedTable::AuditEvents => "audit_events",
            PurgedTable::OneTimeTokens => "one_time_tokens",
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// The live sessions counted less than a minute before `now`, if any.
    fn recent_active_sessions(&self, now: UnixTime) -> Option<u64> {
        lock(&self.active_sessions)
            .filter(|(at, _)| now.secs() - at.secs() < ACTIVE_SESSIONS_FOR_SECS)
            .map(|(_, count)| count)
    }

    fn observe(&self, route: String, method: &'static str, status: u16, seconds: f64) {
        let mut requests = lock(&self.requests);
        let entry = requests.entry((route, method, status)).or_default();
        entry.count += 1;
        entry.sum += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// Counts rows the scheduled purge deleted (its rate is the purge's rate).
    pub fn purged(&self, table: PurgedTable, rows: usize) {
        *lock(&self.purged).entry(table).or_default() += rows as u64;
    }

    /// Counts one round of the outbox worker: mails sent, dropped (nothing to send),
    /// failed and to be retried, and given up.
    pub fn mail_round(&self, sent: u64, dropped: u64, retried: u64, given_up: u64) {
        let mut mail = lock(&self.mail);
        mail.sent += sent;
        mail.dropped += dropped;
        mail.retried += retried;
        mail.given_up += given_up;
    }

    /// Records the outbox as the worker last saw it: mails waiting, and mails given up
    /// and kept.
    pub fn mail_queue(&self, waiting: u64, given_up: u64) {
        let mut mail = lock(&self.mail);
        mail.waiting = waiting;
        mail.abandoned = given_up;
    }

    /// Counts an authentication outcome (`code` empty on success).
    pub(crate) fn auth_event(&self, event: &str, outcome: &str, code: &str) {
        *lock(&self.auth)
            .entry((event.to_owned(), outcome.to_owned(), code.to_owned()))
            .or_default() += 1;
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP authd_http_requests_total HTTP requests served."
        );
        let _ = writeln!(out, "# TYPE authd_http_requests_total counter");
        let requests = lock(&self.requests);
        for ((route, method, status), l) in requests.iter() {
            let _ = writeln!(
                out,
                "authd_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                l.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP authd_http_request_duration_seconds Time to answer a request."
        );
        let _ = writeln!(out, "# TYPE authd_http_request_duration_seconds histogram");
        for ((route, method, status), l) in requests.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            write_histogram(
                out,
                "authd_http_request_duration_seconds",
                &labels,
                &BUCKETS,
                &l.buckets,
                l.sum,
                l.count,
            );
        }
        drop(requests);
        let _ = writeln!(
            out,
            "# HELP authd_auth_events_total Authentication outcomes by event, outcome and error code."
        );
        let _ = writeln!(out, "# TYPE authd_auth_events_total counter");
        for ((event, outcome, code), n) in lock(&self.auth).iter() {
            let _ = writeln!(
                out,
                "authd_auth_events_total{{event=\"{event}\",outcome=\"{outcome}\",code=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP authd_purged_rows_total Rows deleted by the scheduled purge, by table."
        );
        let _ = writeln!(out, "# TYPE authd_purged_rows_total counter");
        let purged = lock(&self.purged);
        for table in [
            PurgedTable::Sessions,
            PurgedTable::LoginThrottle,
            PurgedTable::AuditEvents,
            PurgedTable::OneTimeTokens,
        ] {
            let n = purged.get(&table).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "authd_purged_rows_total{{table=\"{}\"}} {n}",
                table.label()
            );
        }
        drop(purged);
        let mail = lock(&self.mail);
        let _ = writeln!(
            out,
            "# HELP authd_mail_total Mails handled by the outbox worker, by outcome."
        );
        let _ = writeln!(out, "# TYPE authd_mail_total counter");
        for (outcome, n) in [
            ("sent", mail.sent),
            ("dropped", mail.dropped),
            ("retried", mail.retried),
            ("given_up", mail.given_up),
        ] {
            let _ = writeln!(out, "authd_mail_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP authd_mail_queue Mails in the outbox: waiting to be sent, or given up."
        );
        let _ = writeln!(out, "# TYPE authd_mail_queue gauge");
        let _ = writeln!(
            out,
            "authd_mail_queue{{state=\"waiting\"}} {}",
            mail.waiting
        );
        let _ = writeln!(
            out,
            "authd_mail_queue{{state=\"given_up\"}} {}",
            mail.abandoned
        );
    }
}

/// Middleware (for `middleware::from_fn`) that times every request.
///
/// # Errors
/// Only what the wrapped service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let state = req.app_data::<web::Data<AuthState>>().cloned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        state.metrics.observe(
            route,
            method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// The label of a request method: one of the nine standard methods, else `other` (a
/// request may carry any token as its method).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

fn render_hash_times(times: &HashTimes, out: &mut String) {
    let (buckets, sum, count) = times.snapshot();
    let _ = writeln!(
        out,
        "# HELP authd_password_hash_seconds Time a hashing thread took to hash or verify one password."
    );
    let _ = writeln!(out, "# TYPE authd_password_hash_seconds histogram");
    write_histogram(
        out,
        "authd_password_hash_seconds",
        "",
        &HASH_BUCKETS,
        &buckets,
        sum,
        count,
    );
}

/// Writes one histogram series in Prometheus' text format: the cumulative `buckets` under
/// their `bounds`, then `+Inf`, the sum and the count. `labels` is empty or
/// `name="value",…`.
fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    buckets: &[u64],
    sum: f64,
    count: u64,
) {
    let le = if labels.is_empty() {
        String::new()
    } else {
        format!("{labels},")
    };
    for (bound, n) in bounds.iter().zip(buckets) {
        let _ = writeln!(out, "{name}_bucket{{{le}le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{le}le=\"+Inf\"}} {count}");
    let series = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{series} {sum}");
    let _ = writeln!(out, "{name}_count{series} {count}");
}

/// The metrics of this process, for Prometheus to scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(state: web::Data<AuthState>) -> Result<HttpResponse, ApiError> {
    let mut out = String::new();
    state.metrics.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP authd_hashing_queue_depth Requests waiting for a password-hashing slot."
    );
    let _ = writeln!(out, "# TYPE authd_hashing_queue_depth gauge");
    let _ = writeln!(
        out,
        "authd_hashing_queue_depth {}",
        state.hashing.queue_depth()
    );
    render_hash_times(state.hashing.hash_times(), &mut out);
    let now = state.clock.now();
    let inner = state.clone();
    let counted = state.metrics.recent_active_sessions(now);
    let gauges = match counted {
        Some(sessions) => Ok((sessions, state.authority.pool_usage())),
        None => crate::blocking::blocking(move || inner.authority.gauges(now)).await,
    };
    if let Ok((sessions, (open, idle))) = gauges {
        if counted.is_none() {
            *lock(&state.metrics.active_sessions) = Some((now, sessions));
        }
        let _ = writeln!(
            out,
            "# HELP authd_active_sessions Sessions neither revoked nor ended (counted at most once a minute)."
        );
        let _ = writeln!(out, "# TYPE authd_active_sessions gauge");
        let _ = writeln!(out, "authd_active_sessions {sessions}");
        let _ = writeln!(
            out,
            "# HELP authd_db_connections Database connections held by the pool."
        );
        let _ = writeln!(out, "# TYPE authd_db_connections gauge");
        let _ = writeln!(out, "authd_db_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "authd_db_connections{{state=\"in_use\"}} {}",
            open.saturating_sub(idle)
        );
    }
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(out))
}

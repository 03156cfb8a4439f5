//! Request ids: every response carries `X-Request-Id`, taken from the request when it is
//! well formed (1–64 characters of `A-Z a-z 0-9 . _ -`, so it cannot smuggle anything into
//! logs) and generated otherwise; the log lines of the request name it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new id: this process's random 64-bit prefix, drawn once, and a count of the ids it
/// has made, in 32 hex digits. Ids of different processes differ by their prefix, and the
/// count makes one without a system call for random bytes on every request (a request id
/// correlates log lines; it is not a secret).
fn generated() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static MADE: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!("{prefix:016x}{:016x}", MADE.fetch_add(1, Ordering::Relaxed))
}

/// Middleware (for `middleware::from_fn`) that assigns and returns the request id.
///
/// # Errors
/// Only what the wrapped service returns.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(generated, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.call(req).await?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    if response.status().is_server_error() {
        log::warn!(target: "authd::http", "request_id={id} status={}", response.status().as_u16());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_ids_are_well_formed_and_never_repeat() {
        use super::{generated, well_formed};
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| generated()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 32 && well_formed(id)));
    }

    #[test]
    fn only_plain_short_ids_are_taken_from_the_client() {
        use super::well_formed;
        assert!(well_formed("abc-123_X.y"));
        for bad in ["", &"a".repeat(65), "has space", "new\nline", "quote\"d"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}

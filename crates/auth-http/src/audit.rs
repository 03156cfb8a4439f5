//! One log line per authentication outcome: what happened, to whom, from where, and the
//! result. Never a password, a token or a token hash.

use auth_core::AuthError;

use crate::{ApiError, ClientInfo};

/// Logs the outcome of checking a bearer token: failures at info, successes at debug (a
/// busy resource route would otherwise drown the log).
pub(crate) fn record_bearer_check<T>(
    client: &ClientInfo,
    principal: Option<&str>,
    result: &Result<T, ApiError>,
) {
    if result.is_ok() && !log::log_enabled!(target: "authd::auth", log::Level::Debug) {
        return;
    }
    if result.is_ok() {
        let addr = client
            .addr
            .map_or_else(|| "-".to_owned(), |a| a.to_string());
        log::debug!(target: "authd::auth", "event=bearer outcome=success principal={} client={addr}", principal.unwrap_or("-"));
    } else {
        record("bearer", principal, client, result);
    }
}

/// Logs the outcome of an authentication event. `principal` names the account when known
/// (a user id, or the normalized email that was tried).
pub(crate) fn record<T>(
    event: &str,
    principal: Option<&str>,
    client: &ClientInfo,
    result: &Result<T, ApiError>,
) {
    let addr = client
        .addr
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    let who = principal.unwrap_or("-");
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
                "event={event} outcome=failure code={} principal={who} client={addr} reason={reason:?}",
                e.code()
            );
        }
    }
}

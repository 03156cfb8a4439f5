//! One log line per authentication outcome: what happened, to whom, from where, and the
//! result. Never a password, a token or a token hash.

use auth_core::AuthError;

use crate::{ApiError, ClientInfo};

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

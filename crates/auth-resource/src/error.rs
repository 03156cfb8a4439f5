//! Why a request was refused, and the contract's answer for it: the one place this crate
//! turns failures into HTTP responses.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthError, Clock as _, SystemClock};
use serde::Serialize;

/// A request a resource server refused, answered in the contract's shape: the token
/// refusals this crate makes, and the few a service needs for its own routes so that
/// every answer looks like authd's.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The request body or parameters are malformed: 400 `INVALID_REQUEST` with this
    /// message (never echo a secret in it).
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// The body is larger than the route allows: 413 `PAYLOAD_TOO_LARGE`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// No such route or resource: 404 `NOT_FOUND`.
    #[error("not found")]
    NotFound,
    /// No token, or one that is malformed, forged, of another issuer, signed by a key that
    /// is not published, or of another kind than required: 401 `INVALID_TOKEN`.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A genuine token past its `exp`: 401 `TOKEN_EXPIRED`.
    #[error("token expired")]
    TokenExpired,
    /// A genuine token whose principal lacks the role: 403 `FORBIDDEN`.
    #[error("forbidden")]
    Forbidden,
    /// No keys to check tokens with: authd's JWKS could not be fetched (503, retry later).
    #[error("no signing keys: the JWKS could not be fetched")]
    KeysUnavailable,
    /// A mistake in the service's set-up (no [`crate::AccessVerifier`] registered): logged,
    /// answered 500.
    #[error("misconfigured: {0}")]
    Misconfigured(&'static str),
}

impl From<AuthError> for ResourceError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::TokenExpired => ResourceError::TokenExpired,
            AuthError::Forbidden => ResourceError::Forbidden,
            AuthError::InvalidToken(why) => ResourceError::InvalidToken(why),
            // A verifier refuses tokens with nothing else; anything more is a bad token.
            _ => ResourceError::InvalidToken("token refused"),
        }
    }
}

/// The contract's error body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    timestamp: String,
}

impl ResourceError {
    fn contract(&self) -> (StatusCode, &'static str, &str) {
        match self {
            ResourceError::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST", message.as_str())
            }
            ResourceError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body is too large",
            ),
            ResourceError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", "Not found"),
            ResourceError::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                "INVALID_TOKEN",
                "Invalid or revoked token",
            ),
            ResourceError::TokenExpired => (
                StatusCode::UNAUTHORIZED,
                "TOKEN_EXPIRED",
                "Token has expired",
            ),
            ResourceError::Forbidden => (
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Insufficient permissions",
            ),
            ResourceError::KeysUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Token keys are unavailable; retry shortly",
            ),
            ResourceError::Misconfigured(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Internal server error",
            ),
        }
    }

    /// The contract code of this refusal (for logs and metrics).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.contract().1
    }
}

impl ResponseError for ResourceError {
    fn status_code(&self) -> StatusCode {
        self.contract().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.contract();
        if status.is_server_error() {
            log::error!("request failed with {code}: {self}");
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ResourceError::InvalidToken(_) | ResourceError::TokenExpired => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            ResourceError::KeysUnavailable => {
                response.insert_header((header::RETRY_AFTER, "10"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: message,
            code,
            timestamp: SystemClock.now().rfc3339(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_refusals_ask_for_a_new_token() {
        for (error, status, challenge) in [
            (ResourceError::InvalidToken("x"), 401, true),
            (ResourceError::TokenExpired, 401, true),
            (ResourceError::Forbidden, 403, false),
            (ResourceError::KeysUnavailable, 503, false),
        ] {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers().contains_key(header::WWW_AUTHENTICATE),
                challenge
            );
        }
    }
}

//! The one place where failures become HTTP responses.
//!
//! Every non-2xx response has the contract's shape,
//! `{"error": message, "code": CODE, "timestamp": RFC 3339}`, with
//! `Content-Type: application/json`. Internal details go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthError, StoreError};
use serde::Serialize;

/// A failed request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure of a domain operation.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request body or parameters are malformed.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// The body is larger than the route allows.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The request head is larger than the HTTP server reads (answered 431).
    #[error("request headers too large")]
    HeadersTooLarge,
    /// The request head did not arrive within the client timeout (answered 408).
    #[error("request timeout")]
    RequestTimeout,
    /// No route matches the path.
    #[error("not found")]
    NotFound,
    /// The path exists but not with this method; the value lists the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// Too much password hashing is queued; the request was shed.
    #[error("overloaded: password hashing queue is full")]
    Overloaded,
    /// A bug: the message is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

/// Every code an error response can carry, as the contract lists them.
pub(crate) const CODES: [&str; 15] = [
    "INVALID_REQUEST",
    "WEAK_PASSWORD",
    "INVALID_CREDENTIALS",
    "INVALID_TOKEN",
    "TOKEN_EXPIRED",
    "REFRESH_TOKEN_REUSED",
    "ACCOUNT_INACTIVE",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "ACCOUNT_EXISTS",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
];

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(title = "Error")]
pub(crate) struct ErrorBody<'a> {
    /// A human-readable message; never echoes a password or a token.
    #[schema(example = "Invalid username or password")]
    error: &'a str,
    /// The machine-readable contract code.
    #[schema(schema_with = codes)]
    code: &'static str,
    /// When the error happened: RFC 3339 UTC, to the second.
    #[schema(format = DateTime, example = "2026-08-04T10:30:00Z")]
    timestamp: String,
}

impl<'a> ErrorBody<'a> {
    /// The body of an error happening now.
    fn now(error: &'a str, code: &'static str) -> Self {
        Self {
            error,
            code,
            timestamp: crate::timestamp::now(),
        }
    }
}

fn codes() -> utoipa::openapi::ObjectBuilder {
    crate::openapi::one_of(&CODES)
}

impl ApiError {
    /// The status, contract code and client-facing message.
    fn contract(&self) -> (StatusCode, &'static str, String) {
        use AuthError as A;
        let (status, code, message): (StatusCode, &'static str, String) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", m.clone()),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body is too large".into(),
            ),
            ApiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "INVALID_REQUEST",
                "Request headers are too large".into(),
            ),
            ApiError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "INVALID_REQUEST",
                "Request was not received in time".into(),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", "Not found".into()),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed".into(),
            ),
            ApiError::Internal(_) => internal(),
            ApiError::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Service is busy; retry shortly".into(),
            ),
            ApiError::Auth(e) => match e {
                A::InvalidRequest(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", capitalise(m)),
                A::WeakPassword(m) => (StatusCode::BAD_REQUEST, "WEAK_PASSWORD", capitalise(m)),
                A::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "INVALID_CREDENTIALS",
                    "Invalid username or password".into(),
                ),
                A::InvalidToken(_) => (
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    "Invalid or revoked token".into(),
                ),
                A::TokenExpired => (
                    StatusCode::UNAUTHORIZED,
                    "TOKEN_EXPIRED",
                    "Token has expired".into(),
                ),
                A::RefreshTokenReused => (
                    StatusCode::UNAUTHORIZED,
                    "REFRESH_TOKEN_REUSED",
                    "Refresh token was already used; the session has been revoked".into(),
                ),
                A::RateLimited { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    "Too many attempts; retry later".into(),
                ),
                A::AccountInactive => (
                    StatusCode::FORBIDDEN,
                    "ACCOUNT_INACTIVE",
                    "Account is inactive".into(),
                ),
                A::EmailNotVerified => (
                    StatusCode::FORBIDDEN,
                    "EMAIL_NOT_VERIFIED",
                    "Email address is not verified".into(),
                ),
                A::Forbidden => (
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "Insufficient permissions".into(),
                ),
                A::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", "Not found".into()),
                A::AccountExists => (
                    StatusCode::CONFLICT,
                    "ACCOUNT_EXISTS",
                    "An account with this email or username already exists".into(),
                ),
                A::DeviceLinked => (
                    StatusCode::CONFLICT,
                    "DEVICE_LINKED",
                    "The device is linked to another user".into(),
                ),
                A::Store(StoreError::Unavailable(_)) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "Service temporarily unavailable; retry shortly".into(),
                ),
                A::Store(_) | A::Internal(_) => internal(),
            },
        };
        (status, code, message)
    }

    /// The contract code of this error (for logs and metrics).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.contract().1
    }

    /// The JSON body of this error's response, for answers written below actix-web
    /// (the connection's own, see `connection.rs`).
    pub(crate) fn json_body(&self) -> Vec<u8> {
        let (_, code, message) = self.contract();
        serde_json::to_vec(&ErrorBody::now(&message, code)).unwrap_or_default()
    }
}

fn internal() -> (StatusCode, &'static str, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "Internal server error".into(),
    )
}

fn capitalise(m: &str) -> String {
    let mut chars = m.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl ResponseError for ApiError {
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
            ApiError::Auth(
                AuthError::InvalidToken(_)
                | AuthError::TokenExpired
                | AuthError::RefreshTokenReused,
            ) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            ApiError::Auth(AuthError::InvalidCredentials) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"authd\""),
                ));
            }
            ApiError::Auth(AuthError::Store(StoreError::Unavailable(_))) => {
                response.insert_header((header::RETRY_AFTER, "2"));
            }
            ApiError::Overloaded => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Auth(AuthError::RateLimited { retry_after_secs }) => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            ApiError::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        response.json(ErrorBody::now(&message, code))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("blocking task failed: {e}"))
    }
}

/// Turns a failure to read a raw body (an optional JSON body read by hand) into the
/// contract's 413 or 400.
pub(crate) fn body_error(e: &actix_web::Error) -> ApiError {
    if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest("Request body could not be read".into())
    }
}

/// A description of a JSON error that names fields but never shows values.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => "Request body is not valid JSON".into(),
        Category::Data => {
            let text = e.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            if text.starts_with("missing field") || text.starts_with("unknown field") {
                capitalise(text)
            } else {
                "A field is missing or has the wrong type".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_name_fields_but_never_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Login {
            email: String,
            password: String,
        }
        let e = serde_json::from_str::<Login>(r#"{"email": "a@b.co", "password": 12345678}"#)
            .unwrap_err();
        let m = describe_json_error(&e);
        assert!(!m.contains("12345678"), "{m}");
        let e = serde_json::from_str::<Login>(r#"{"email": "a@b.co"}"#).unwrap_err();
        assert_eq!(describe_json_error(&e), "Missing field `password`");
        let e = serde_json::from_str::<Login>(r#"{"email": "#).unwrap_err();
        assert_eq!(describe_json_error(&e), "Request body is not valid JSON");
    }
}

//! The one error enum of the domain, and the error storage adapters report through the ports.

/// Why an authentication operation did not succeed.
///
/// Each variant is something a client can be told (the HTTP layer maps it to the
/// contract's status and code) except [`AuthError::Store`] and [`AuthError::Internal`],
/// whose details are for the log only.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request is malformed: a field is missing or has the wrong form.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The password is outside the password policy.
    #[error("weak password: {0}")]
    WeakPassword(&'static str),
    /// Unknown account or wrong password; the two are never distinguished.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The token is missing, malformed, forged, of the wrong kind, revoked or unknown.
    /// The reason is for logs, never for the client.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A correctly signed access token past `exp`, or an expired refresh token or session.
    #[error("token expired")]
    TokenExpired,
    /// A rotated refresh token was presented again outside the retry grace; its session has
    /// been revoked.
    #[error("refresh token reused; session revoked")]
    RefreshTokenReused,
    /// Too many attempts: try again after `retry_after_secs`.
    #[error("rate limited; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until an attempt may succeed.
        retry_after_secs: i64,
    },
    /// The account is suspended.
    #[error("account inactive")]
    AccountInactive,
    /// The password was right, but the address must be verified first.
    #[error("email address not verified")]
    EmailNotVerified,
    /// Authenticated, but without the role the operation needs.
    #[error("forbidden")]
    Forbidden,
    /// The resource does not exist.
    #[error("not found")]
    NotFound,
    /// The device is linked to another user.
    #[error("device linked to another user")]
    DeviceLinked,
    /// The email or username is already taken.
    #[error("account exists")]
    AccountExists,
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A bug or an environment failure (randomness, key material) that the client cannot fix.
    #[error("internal: {0}")]
    Internal(String),
}

/// What a storage adapter reports through the ports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (an email, username or key id already exists).
    #[error("duplicate")]
    Duplicate,
    /// The database cannot be reached or is too busy to answer now; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure: a bug or corrupted data.
    #[error("database error: {0}")]
    Backend(String),
}

//! What can go wrong talking to authd.

/// A failure of the client. Messages never contain a password or a token.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// authd answered with an error of its contract (`code` is one of its codes, such as
    /// `INVALID_CREDENTIALS`, `ACCOUNT_INACTIVE` or `RATE_LIMITED`).
    #[error("authd refused: {status} {code}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The contract's error code.
        code: String,
        /// authd's message.
        message: String,
    },
    /// The session ended (logged out, revoked, expired, or its refresh token was reused)
    /// and the client has no credentials to log in again. The stored tokens were cleared.
    #[error("the session has ended ({code}); log in again")]
    SessionEnded {
        /// The code authd gave when refusing to renew the session.
        code: String,
    },
    /// The client holds no tokens and has no credentials to log in with.
    #[error("not logged in")]
    NotLoggedIn,
    /// authd could not be reached, after the configured retries.
    #[error("could not reach authd: {0}")]
    Network(#[source] reqwest::Error),
    /// authd answered something that is not its contract.
    #[error("unexpected answer from authd: {0}")]
    Protocol(String),
    /// The token store failed.
    #[error("token store: {0}")]
    Store(#[source] std::io::Error),
}

impl ClientError {
    /// The contract code, when authd refused.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } | ClientError::SessionEnded { code } => Some(code),
            _ => None,
        }
    }
}

//! A Rust client for authd, for programs and devices that must stay logged in for years.
//!
//! An [`AuthClient`] logs in a user, a device or a wallet, keeps the access token fresh
//! (renewed a minute before it expires, one renewal at a time however many tasks ask),
//! retries authd calls that fail on the network with exponential backoff, renews and
//! retries once when a request is answered 401, and logs in again when the session can no
//! longer be refreshed. Tokens live in a [`TokenStore`] (in memory unless you plug in your
//! own) and are never logged.
//!
//! ```no_run
//! use auth_client::{AuthClient, Credentials};
//!
//! # async fn run() -> Result<(), auth_client::ClientError> {
//! let client = AuthClient::builder("http://127.0.0.1:8080")
//!     .credentials(Credentials::wallet("sensor01@app_1a2b3c4d", "sensor password"))
//!     .build()?;
//!
//! // Any request, with the current token; renewed and retried once on a 401.
//! let response = client
//!     .send(|http| http.get("http://127.0.0.1:8081/v2/objects"))
//!     .await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! `https://` URLs need a TLS backend in reqwest: this crate's `rustls` feature, or a
//! `reqwest::Client` of your own passed to [`AuthClientBuilder::http_client`].

mod client;
mod clock;
mod credentials;
mod error;
mod tokens;

pub use client::{AuthClient, AuthClientBuilder, Backoff, REFRESH_RETRY_WINDOW, TRY_TIMEOUT};
pub use clock::{Clock, SystemClock};
pub use credentials::{Credentials, Platform};
pub use error::ClientError;
pub use tokens::{Kind, MemoryTokenStore, TokenStore, Tokens};

/// The Rust examples of the workspace README, compiled as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;

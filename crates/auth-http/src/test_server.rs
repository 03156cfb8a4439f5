//! A real authd for the integration tests of services and clients that talk to it
//! (feature `test-support`).

// Test scaffolding: failing loudly is the point.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::web;
use auth_core::{Authority, KeyRing, PasswordHasher, SystemClock, TokenPolicy, TokenSigner};
use auth_store::test_support::TestDatabase;

use crate::{AuditTrail, AuthState};

/// authd's full route table on an ephemeral port of 127.0.0.1, over a throwaway SQLite
/// database, with the system clock: what a client sees of a deployed authd, with the
/// lifetimes of `policy`. Stopped when dropped.
///
/// Passwords are hashed with cheap Argon2id parameters so suites stay fast; everything
/// else is as shipped. The per-address rate limit is off.
pub struct TestServer {
    url: String,
    server: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
    _database: TestDatabase,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .finish()
    }
}

impl TestServer {
    /// The bootstrap admin token the server accepts on the admin routes.
    pub const ADMIN_TOKEN: &'static str = "test-server-bootstrap-admin-token-0123";

    /// Starts authd with `policy` and waits until it accepts connections.
    ///
    /// # Panics
    /// When the database or the socket cannot be set up.
    #[must_use]
    pub fn start(policy: TokenPolicy) -> Self {
        let database = TestDatabase::sqlite();
        let store = database.open();
        let keys = KeyRing::load_or_create(&store, auth_core::Clock::now(&SystemClock))
            .expect("creating the signing key");
        let audit = AuditTrail::start(Arc::new(store.clone())).expect("starting the audit");
        let authority = Authority::new(
            Arc::new(store),
            TokenSigner::new(keys, "authd"),
            PasswordHasher::with_params(1024, 1, 1).expect("Argon2id parameters"),
            policy,
        );
        let state = web::Data::new(
            AuthState::new(authority, Arc::new(SystemClock), audit)
                .with_admin_token(Some(Self::ADMIN_TOKEN.into())),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a test port");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the test port's address")
        );
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let options = crate::ServerOptions {
                    workers: 2,
                    // actix-web's default for two workers.
                    blocking_threads: 256,
                    shutdown_timeout_secs: 1,
                    signals: false,
                };
                let server = crate::serve(&state, vec![listener], &options)
                    .expect("listening on the test port")
                    .server;
                let _ = handle_tx.send(server.handle());
                let _ = server.await;
            });
        });
        let server = handle_rx.recv().expect("the test server started");
        Self {
            url,
            server,
            thread: Some(thread),
            _database: database,
        }
    }

    /// The base URL, such as `http://127.0.0.1:40123`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let stopping = self.server.stop(false);
        // Stopping is a future; this may be dropped inside another runtime, so it is driven
        // on a thread of its own.
        let _ = std::thread::spawn(move || actix_web::rt::System::new().block_on(stopping)).join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! The client against a real authd on a socket, through a proxy that records every
//! request and can break a connection on purpose.

// Test code: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod refresh;
mod sessions;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_client::{AuthClient, AuthClientBuilder, Backoff, Clock, Credentials, MemoryTokenStore};
use auth_core::TokenPolicy;
use auth_http::TestServer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The clients' clock: the tests move it forward instead of sleeping. authd itself runs
/// on the system clock, so its tokens stay valid while the clients think time has passed.
#[derive(Debug)]
pub(crate) struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    fn new() -> Self {
        Self(Mutex::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000)))
    }

    /// Moves the clients' time forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// authd, and the proxy every client of a test talks to it through.
pub(crate) struct Authd {
    server: TestServer,
    pub(crate) proxy: Proxy,
    /// The clients' clock.
    pub(crate) clock: Arc<ManualClock>,
}

impl Authd {
    /// authd with the contract's token lifetimes (access tokens: 1 h).
    pub(crate) async fn start() -> Self {
        let server = TestServer::start(TokenPolicy::default());
        let proxy = Proxy::start(server.url().trim_start_matches("http://")).await;
        Self {
            server,
            proxy,
            clock: Arc::new(ManualClock::new()),
        }
    }

    /// A client through the proxy, on the test's clock, that renews tokens a minute before
    /// they expire (the default) and retries quickly.
    pub(crate) fn client(&self, credentials: Credentials) -> AuthClient {
        self.builder().credentials(credentials).build().unwrap()
    }

    /// A client through the proxy that keeps its tokens in `store`, with `credentials`
    /// or none.
    pub(crate) fn client_storing(
        &self,
        store: &Arc<MemoryTokenStore>,
        credentials: Option<Credentials>,
    ) -> AuthClient {
        let builder = self.builder().token_store(store.clone());
        match credentials {
            Some(credentials) => builder.credentials(credentials),
            None => builder,
        }
        .build()
        .unwrap()
    }

    fn builder(&self) -> AuthClientBuilder {
        AuthClient::builder(&self.proxy.url)
            .clock(self.clock.clone())
            .backoff(Backoff {
                attempts: 5,
                initial: Duration::from_millis(50),
                max: Duration::from_secs(1),
            })
    }

    /// Calls authd directly (not through the proxy); expects success.
    pub(crate) async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Value {
        let (status, body) = self.try_post(path, bearer, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// Calls authd directly (not through the proxy): the status and JSON body.
    pub(crate) async fn try_post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.server.url()))
            .json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers a person; returns credentials for it.
    pub(crate) async fn user(&self, name: &str) -> Credentials {
        let email = format!("{name}@example.com");
        self.post(
            "/api/auth/register",
            None,
            json!({"email": email, "username": name, "password": PASSWORD}),
        )
        .await;
        Credentials::user(email, PASSWORD)
    }

    /// Creates an app and a wallet with role `device` in it; returns credentials for it.
    pub(crate) async fn wallet(&self) -> Credentials {
        let admin = Some(TestServer::ADMIN_TOKEN);
        let app = self
            .post("/v2/apps", admin, json!({"name": "Sensors"}))
            .await;
        let app_id = app["appId"].as_str().unwrap();
        self.post(
            &format!("/v2/apps/{app_id}/wallets"),
            admin,
            json!({"username": "sensor01", "password": PASSWORD, "metadata": {"role": "device"}}),
        )
        .await;
        Credentials::wallet(format!("sensor01@{app_id}"), PASSWORD)
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery";

/// `GET /api/auth/me` through `client`: the principal it is logged in as (authd checks
/// the session too).
pub(crate) async fn me(client: &AuthClient, authd: &Authd) -> Value {
    let url = format!("{}/api/auth/me", authd.proxy.url);
    let response = client.send(|http| http.get(&url)).await.unwrap();
    assert_eq!(response.status(), 200, "{response:?}");
    response.json().await.unwrap()
}

/// A TCP proxy in front of authd: it records the request line of every request, can
/// swallow the answer to the next refresh (authd has rotated, the client never hears),
/// and can refuse connections.
pub(crate) struct Proxy {
    pub(crate) url: String,
    faults: Arc<Faults>,
}

#[derive(Default)]
struct Faults {
    requests: Mutex<Vec<String>>,
    swallow_next_refresh: AtomicBool,
    refuse_connections: AtomicUsize,
    busy_pages: AtomicUsize,
}

/// What a load balancer answers while authd restarts: 503 with an HTML page.
const BUSY_PAGE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\n\
content-length: 40\r\n\r\n<html><body>503 Bad Gateway</body></html>";

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Faults::default());
        let upstream = upstream.to_owned();
        let shared = Arc::clone(&faults);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let refused = shared
                    .refuse_connections
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if refused {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let faults = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, &faults).await;
                });
            }
        });
        Self { url, faults }
    }

    /// How many requests so far began with `request_line` (such as `POST /api/auth/refresh`).
    pub(crate) fn count(&self, request_line: &str) -> usize {
        self.faults
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with(&format!("{request_line} ")))
            .count()
    }

    /// The next refresh reaches authd, but its answer is lost with the connection.
    pub(crate) fn swallow_next_refresh(&self) {
        self.faults
            .swallow_next_refresh
            .store(true, Ordering::SeqCst);
    }

    /// The next `n` connections are closed as soon as they are accepted.
    pub(crate) fn refuse_connections(&self, n: usize) {
        self.faults.refuse_connections.store(n, Ordering::SeqCst);
    }

    /// How many of the connections to refuse have not been tried yet.
    pub(crate) fn refusals_left(&self) -> usize {
        self.faults.refuse_connections.load(Ordering::SeqCst)
    }

    /// The next `n` requests are answered with a load balancer's HTML 503 page.
    pub(crate) fn answer_busy(&self, n: usize) {
        self.faults.busy_pages.store(n, Ordering::SeqCst);
    }
}

async fn relay(client: TcpStream, upstream: &str, faults: &Faults) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut upstream = BufReader::new(TcpStream::connect(upstream).await?);
    while let Some(request) = read_message(&mut client).await? {
        let line = String::from_utf8_lossy(&request)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        faults.requests.lock().unwrap().push(line.clone());
        let busy = faults
            .busy_pages
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if busy {
            client.get_mut().write_all(BUSY_PAGE).await?;
            continue;
        }
        upstream.get_mut().write_all(&request).await?;
        let Some(response) = read_message(&mut upstream).await? else {
            return Ok(());
        };
        if line.contains("/refresh ") && faults.swallow_next_refresh.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        client.get_mut().write_all(&response).await?;
    }
    Ok(())
}

/// One HTTP/1.1 message with a `Content-Length` body (all authd and the client send).
async fn read_message<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        message.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let length = String::from_utf8_lossy(&message)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    message.extend_from_slice(&body);
    Ok(Some(message))
}

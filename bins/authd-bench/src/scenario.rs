//! The scenarios: what each virtual client does, request after request. Every client keeps
//! its own session, so refresh chains rotate as real clients rotate them.

use std::io;

use serde_json::{Value, json};

use crate::http::{Connection, Response};

/// A scenario of the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Log in again and again as pre-registered users (one Argon2 verification each).
    Login,
    /// Rotate a refresh chain, each request with the token the previous one returned.
    Refresh,
    /// Authenticate a new device each time (registration with its first session).
    Device,
    /// Rotate a registered device's refresh chain, as a mobile app keeps its session.
    DeviceRefresh,
    /// `GET /api/auth/me` with an access token (signature and session check).
    Me,
    /// Log in again and again as wallets of one app.
    WalletLogin,
    /// Exchange a wallet access token for the next, along the chain.
    WalletRefresh,
    /// 1 % login, 9 % refresh, 90 % me.
    Mixed,
    /// Refresh and `/healthz` measured while logins arrive at a multiple of the hashing
    /// capacity; excess logins must be shed with 503.
    Flood,
    /// Logins from every client as fast as they are answered, each 503 retried at once (a
    /// client that ignores `Retry-After`), while one client refreshes and one calls `me`
    /// 50 times a second each and `/healthz` is probed 50 times a second.
    LoginStorm,
    /// `GET /v2/objects` on a resource server (`--resource-url`), each request with a
    /// wallet token picked at random from a pool of [`TOKEN_POOL`]: the token checked by
    /// `AccessVerifier` and `RequireRole`.
    Resource,
    /// An unknown path on the same resource server: its JSON 404, no token checked.
    ResourceUnauthenticated,
}

impl Scenario {
    /// Whether the scenario's clients talk to a resource server rather than authd.
    pub fn is_resource(self) -> bool {
        matches!(self, Scenario::Resource | Scenario::ResourceUnauthenticated)
    }
}

/// Wallet tokens a resource scenario picks from.
pub const TOKEN_POOL: usize = 100;

/// The kinds of request, reported separately where a scenario mixes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Login,
    Refresh,
    Device,
    DeviceRefresh,
    Me,
    WalletLogin,
    WalletRefresh,
    Health,
    Resource,
    ResourceNotFound,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::Login,
        Op::Refresh,
        Op::Device,
        Op::DeviceRefresh,
        Op::Me,
        Op::WalletLogin,
        Op::WalletRefresh,
        Op::Health,
        Op::Resource,
        Op::ResourceNotFound,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Login => "login",
            Op::Refresh => "refresh",
            Op::Device => "device",
            Op::DeviceRefresh => "device-refresh",
            Op::Me => "me",
            Op::WalletLogin => "wallet-login",
            Op::WalletRefresh => "wallet-refresh",
            Op::Health => "healthz",
            Op::Resource => "resource",
            Op::ResourceNotFound => "resource-404",
        }
    }
}

pub const PASSWORD: &str = "bench-password-7f3a9c";

/// The credentials and tokens of one virtual client.
pub struct Client {
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub wallet: String,
    pub counter: u64,
    pub index: usize,
    pub run: String,
    /// The wallet tokens of a resource scenario, shared by its clients.
    pub tokens: std::sync::Arc<[String]>,
}

/// Why a request did not get the answer the scenario expects.
#[derive(Debug)]
pub enum Failure {
    /// Connection-level failure.
    Io(io::Error),
    /// An unexpected status (and the contract code, when there is one).
    Status(u16, String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "I/O: {e}"),
            Failure::Status(s, code) => write!(f, "HTTP {s} {code}"),
        }
    }
}

fn expect(response: Response, status: u16) -> Result<Value, Failure> {
    if response.status == status {
        Ok(response.json())
    } else {
        let code = response.json()["code"].as_str().unwrap_or("").to_owned();
        Err(Failure::Status(response.status, code))
    }
}

fn field(body: &Value, name: &str) -> String {
    body[name].as_str().unwrap_or_default().to_owned()
}

/// Sends a hashing request, waiting out 503s (setup only: it must not give up when many
/// clients register at once).
fn patiently(
    conn: &mut Connection,
    path: &str,
    bearer: Option<&str>,
    body: &str,
    status: u16,
) -> Result<Value, Failure> {
    loop {
        let response = conn.send("POST", path, bearer, Some(body))?;
        if response.status == 503 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        return expect(response, status);
    }
}

/// Creates one app for a run's wallets; returns its id.
pub fn create_app(conn: &mut Connection, admin_token: &str, run: &str) -> Result<String, Failure> {
    let body = json!({ "name": format!("bench {run}") }).to_string();
    let app = expect(
        conn.send("POST", "/v2/apps", Some(admin_token), Some(&body))?,
        201,
    )?;
    Ok(field(&app, "appId"))
}

/// Prepares client `index`: a registered user with a session, and for wallet scenarios a
/// wallet of `app` with a first access token.
pub fn prepare(
    conn: &mut Connection,
    scenario: Scenario,
    index: usize,
    run: &str,
    app: Option<(&str, &str)>,
) -> Result<Client, Failure> {
    let mut client = Client {
        email: format!("bench-{run}-{index}@example.com"),
        access: String::new(),
        refresh: String::new(),
        wallet: String::new(),
        counter: index as u64 * 37,
        index,
        run: run.to_owned(),
        tokens: Vec::new().into(),
    };
    match scenario {
        Scenario::Login
        | Scenario::LoginStorm
        | Scenario::Refresh
        | Scenario::Me
        | Scenario::Mixed
        | Scenario::Flood => {
            let body = json!({
                "email": client.email,
                "password": PASSWORD,
                "username": format!("b{run}-{index}"),
            })
            .to_string();
            let session = patiently(conn, "/api/auth/register", None, &body, 201)?;
            client.access = field(&session, "accessToken");
            client.refresh = field(&session, "refreshToken");
        }
        Scenario::WalletLogin | Scenario::WalletRefresh => {
            let Some((app, admin_token)) = app else {
                return Err(Failure::Status(
                    0,
                    "wallet scenarios need --admin-token".into(),
                ));
            };
            let username = format!("wallet{index:03}");
            let body = json!({
                "username": username,
                "password": PASSWORD,
                "metadata": { "role": "sensor" },
            })
            .to_string();
            patiently(
                conn,
                &format!("/v2/apps/{app}/wallets"),
                Some(admin_token),
                &body,
                201,
            )?;
            client.wallet = format!("{username}@{app}");
            if scenario == Scenario::WalletRefresh {
                let body = json!({ "username": client.wallet, "password": PASSWORD }).to_string();
                let reply = patiently(conn, "/v2/auth/wallet/login", None, &body, 200)?;
                client.access = field(&reply, "accessToken");
            }
        }
        Scenario::DeviceRefresh => {
            let body = json!({
                "deviceId": format!("bench-{run}-{index}"),
                "platform": "IOS",
            })
            .to_string();
            let session = patiently(conn, "/api/auth/device", None, &body, 200)?;
            client.refresh = field(&session, "refreshToken");
        }
        Scenario::Device | Scenario::Resource | Scenario::ResourceUnauthenticated => {}
    }
    Ok(client)
}

/// The pool of a resource scenario: [`TOKEN_POOL`] wallets of `app` with the role the
/// example resource server requires (`device`), each logged in once at authd.
pub fn wallet_tokens(
    conn: &mut Connection,
    app: &str,
    admin_token: &str,
) -> Result<Vec<String>, Failure> {
    (0..TOKEN_POOL)
        .map(|i| {
            let username = format!("reader{i:03}");
            let body = json!({
                "username": username,
                "password": PASSWORD,
                "metadata": { "role": "device" },
            })
            .to_string();
            let path = format!("/v2/apps/{app}/wallets");
            patiently(conn, &path, Some(admin_token), &body, 201)?;
            let body = json!({ "username": format!("{username}@{app}"), "password": PASSWORD })
                .to_string();
            let reply = patiently(conn, "/v2/auth/wallet/login", None, &body, 200)?;
            Ok(field(&reply, "accessToken"))
        })
        .collect()
}

fn wallet_login(conn: &mut Connection, wallet: &str) -> Result<String, Failure> {
    let body = json!({ "username": wallet, "password": PASSWORD }).to_string();
    let reply = expect(
        conn.send("POST", "/v2/auth/wallet/login", None, Some(&body))?,
        200,
    )?;
    Ok(field(&reply, "accessToken"))
}

/// The request a client of `scenario` sends next.
pub fn next_op(scenario: Scenario, client: &Client) -> Op {
    match scenario {
        Scenario::Login | Scenario::LoginStorm => Op::Login,
        Scenario::Refresh | Scenario::Flood => Op::Refresh,
        Scenario::Device => Op::Device,
        Scenario::DeviceRefresh => Op::DeviceRefresh,
        Scenario::Me => Op::Me,
        Scenario::WalletLogin => Op::WalletLogin,
        Scenario::WalletRefresh => Op::WalletRefresh,
        Scenario::Resource => Op::Resource,
        Scenario::ResourceUnauthenticated => Op::ResourceNotFound,
        Scenario::Mixed => match client.counter % 100 {
            0 => Op::Login,
            1..=9 => Op::Refresh,
            _ => Op::Me,
        },
    }
}

/// Sends one request of kind `op` for `client`, and keeps what it returns.
pub fn perform(conn: &mut Connection, op: Op, client: &mut Client) -> Result<(), Failure> {
    client.counter += 1;
    match op {
        Op::Login => {
            let body = json!({ "email": client.email, "password": PASSWORD }).to_string();
            let session = expect(
                conn.send("POST", "/api/auth/login", None, Some(&body))?,
                200,
            )?;
            client.access = field(&session, "accessToken");
            client.refresh = field(&session, "refreshToken");
        }
        Op::Refresh => {
            let body = json!({ "refreshToken": client.refresh }).to_string();
            let session = expect(
                conn.send("POST", "/api/auth/refresh", None, Some(&body))?,
                200,
            )?;
            client.access = field(&session, "accessToken");
            client.refresh = field(&session, "refreshToken");
        }
        Op::Device => {
            let body = json!({
                "deviceId": format!("bench-{}-{}-{:x}", client.run, client.index, client.counter),
                "platform": "ANDROID",
            })
            .to_string();
            let session = expect(
                conn.send("POST", "/api/auth/device", None, Some(&body))?,
                200,
            )?;
            if session["newDevice"] != true {
                return Err(Failure::Status(200, "device was not new".into()));
            }
        }
        Op::DeviceRefresh => {
            let body = json!({ "refreshToken": client.refresh }).to_string();
            let session = expect(
                conn.send("POST", "/api/auth/device/refresh", None, Some(&body))?,
                200,
            )?;
            client.refresh = field(&session, "refreshToken");
        }
        Op::Me => {
            expect(
                conn.send("GET", "/api/auth/me", Some(&client.access), None)?,
                200,
            )?;
        }
        Op::WalletLogin => {
            wallet_login(conn, &client.wallet)?;
        }
        Op::WalletRefresh => {
            let reply = expect(
                conn.send(
                    "POST",
                    "/v2/auth/wallet/refresh",
                    Some(&client.access),
                    None,
                )?,
                200,
            )?;
            client.access = field(&reply, "accessToken");
        }
        Op::Health => {
            expect(conn.send("GET", "/healthz", None, None)?, 200)?;
        }
        Op::Resource => {
            // A random pick (xorshift on the client's counter), so that successive
            // requests of a client present different tokens.
            let mut x = client.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let token = &client.tokens[(x % client.tokens.len() as u64) as usize];
            expect(conn.send("GET", "/v2/objects", Some(token), None)?, 200)?;
        }
        Op::ResourceNotFound => {
            expect(conn.send("GET", "/v2/nothing-here", None, None)?, 404)?;
        }
    }
    Ok(())
}

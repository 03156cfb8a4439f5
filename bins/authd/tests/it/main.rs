//! The `authd` binary, started as an operator would, and driven over real HTTP.

// The process harness below is test code; clippy's test allowances do not reach impl blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod connection;
mod devices;
mod durability;
mod guessing;
mod keys;
mod lifecycle;
mod mail;
mod outage;
mod overload;
mod processes;
mod upgrade;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

/// A running `authd` process.
pub(crate) struct Authd {
    child: Child,
    pub(crate) base: String,
    log: Arc<Mutex<String>>,
}

impl Authd {
    /// Starts `authd serve` on a free port with `env`, and waits until it listens.
    pub(crate) fn start(env: &[(&str, &str)]) -> Authd {
        Self::try_start(env).unwrap_or_else(|log| panic!("authd did not start:\n{log}"))
    }

    /// Starts authd; on failure returns what it logged.
    pub(crate) fn try_start(env: &[(&str, &str)]) -> Result<Authd, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("AUTHD_JWT_ALG")
            .env_remove("AUTHD_JWT_SECRET")
            .env("RUST_LOG", "info")
            // Mail of tests goes to a scratch directory, not the working directory.
            .env(
                "AUTHD_MAIL_DIR",
                std::env::temp_dir().join(format!("authd-test-mail-{}", std::process::id())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn authd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("authd listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => Ok(Authd { child, base, log }),
            Err(_) => {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().clone())
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "authd ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL: no shutdown, no flushing, nothing.
    pub(crate) fn kill(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        let _ = self.child.wait();
    }

    /// Everything the process has logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// POSTs JSON (with an optional bearer token); returns status and body.
    pub(crate) fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = agent().post(&format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.set("authorization", &format!("Bearer {token}"));
        }
        read(req.send_json(body))
    }

    /// POSTs JSON; returns status, the headers (names in lower case) and body.
    pub(crate) fn post_with_headers(
        &self,
        path: &str,
        body: Value,
    ) -> (u16, BTreeMap<String, String>, Value) {
        let response = match agent()
            .post(&format!("{}{path}", self.base))
            .send_json(body)
        {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                let value = response.header(&name)?.to_owned();
                Some((name.to_ascii_lowercase(), value))
            })
            .collect();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// GETs with an optional bearer token; returns status and body.
    pub(crate) fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = agent().get(&format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.set("authorization", &format!("Bearer {token}"));
        }
        read(req.call())
    }

    /// The text of `GET /metrics`.
    pub(crate) fn metrics_text(&self) -> String {
        agent()
            .get(&format!("{}/metrics", self.base))
            .call()
            .expect("GET /metrics")
            .into_string()
            .expect("metrics text")
    }

    /// Registers a user and returns the session body.
    pub(crate) fn register(&self, email: &str, username: &str) -> Value {
        let (status, body) = self.post(
            "/api/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "username": username}),
        );
        assert_eq!(status, 201, "{body}");
        body
    }
}

impl Drop for Authd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery";

/// An HTTP client that gives up after 30 s, so a hanging server fails a test instead of
/// stalling it.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

fn read(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A string field of a JSON body.
pub(crate) fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

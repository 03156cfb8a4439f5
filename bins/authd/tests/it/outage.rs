//! The database goes away under a running authd, and comes back.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, PASSWORD, field};

/// A TCP relay to the database that the test can cut and restore.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (accepting, tracked) = (open.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !accepting.load(Ordering::SeqCst) {
                    drop(client); // refused: the connection closes at once
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut streams = tracked.lock().unwrap();
                streams.push(client.try_clone().unwrap());
                streams.push(server.try_clone().unwrap());
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(Shutdown::Both);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Both);
                });
            }
        });
        Relay { port, open, live }
    }

    /// The database "restarts": every connection is cut and new ones are refused.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by the relay's; returns (url, original host:port).
fn through_relay(url: &str, port: u16) -> (String, String) {
    let at = url.rfind('@').unwrap() + 1;
    let slash = at + url[at..].find('/').unwrap();
    let target = url[at..slash].to_owned();
    (
        format!("{}127.0.0.1:{port}{}", &url[..at], &url[slash..]),
        target,
    )
}

#[test]
fn a_vanished_database_gives_prompt_503s_and_authd_recovers_by_itself() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (_, target) = through_relay(db.url(), 0);
    let relay = Relay::start(target);
    let (url, _) = through_relay(db.url(), relay.port);
    // Two connections, so two requests at a time do database work: the outage must still
    // be answered promptly to many clients at once.
    let authd = Arc::new(Authd::start(&[
        ("AUTHD_DATABASE_URL", &url),
        ("AUTHD_DATABASE_POOL_SIZE", "2"),
    ]));
    let session = authd.register("alice@example.com", "alice");
    assert_eq!(authd.get("/readyz", None).0, 200);

    relay.cut();
    let login = || {
        authd.post(
            "/api/auth/login",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
    };
    let (status, body) = login();
    assert_eq!(
        (status, body["code"].clone()),
        (503, json!("SERVICE_UNAVAILABLE")),
        "{body}"
    );
    let (status, _) = authd.get("/readyz", None);
    assert_eq!(status, 503, "readiness reports the outage");

    // 24 clients at once: were each to wait out the 5 s acquire timeout, two at a time,
    // the last would wait a minute.
    let started = Instant::now();
    let clients: Vec<_> = (0..24)
        .map(|_| {
            let authd = authd.clone();
            std::thread::spawn(move || {
                authd.post(
                    "/api/auth/login",
                    None,
                    json!({"email": "alice@example.com", "password": PASSWORD}),
                )
            })
        })
        .collect();
    for client in clients {
        let (status, body) = client.join().unwrap();
        assert_eq!(
            (status, &body["code"]),
            (503, &json!("SERVICE_UNAVAILABLE"))
        );
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "24 clients had their 503 after {waited:?}"
    );
    assert_eq!(
        authd.get("/healthz", None).0,
        200,
        "the process itself is alive"
    );

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while authd.get("/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "authd did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, _) = login();
    assert_eq!(status, 200);
    let (status, _) = authd.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&session, "refreshToken")}),
    );
    assert_eq!(status, 200, "state from before the outage is intact");
}

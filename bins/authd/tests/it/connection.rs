//! What a client gets when its request never reaches a route: a request that is not
//! HTTP, a head too large to read, a head that does not arrive in time. Each answer is
//! the contract's JSON error, like every other.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Authd;

/// Starts authd on a fresh SQLite file.
fn authd() -> (Authd, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("authd-conn-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("authd.db").display());
    (Authd::start(&[("AUTHD_DATABASE_URL", &url)]), dir)
}

/// Sends raw bytes on a new connection and reads until authd closes it: the status, the
/// head's lines and the body.
fn exchange(authd: &Authd, request: &[u8]) -> (u16, String, Vec<u8>) {
    let address = authd.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // authd may answer and close before it has read everything sent.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8(answer).expect("the answer is text");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.as_bytes().to_vec())
}

/// Asserts the contract's JSON error: its status, code and content type.
fn assert_contract_error(answer: &(u16, String, Vec<u8>), status: u16) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    let body: Value = serde_json::from_slice(body).expect("a JSON body");
    assert_eq!(body["code"], "INVALID_REQUEST", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
}

#[test]
fn a_request_that_is_not_http_gets_a_json_400() {
    let (authd, dir) = authd();
    let answer = exchange(&authd, b"HELLO authd\r\n\r\n");
    assert_contract_error(&answer, 400);
    let answer = exchange(
        &authd,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    );
    assert_contract_error(&answer, 400);
    // The connections before it, and the server, are unharmed.
    assert_eq!(authd.get("/healthz", None).0, 200);
    drop(authd);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_request_head_too_large_to_read_gets_a_json_431() {
    let (authd, dir) = authd();
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for n in 0..200 {
        request.extend_from_slice(format!("X-Header-{n}: value\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let answer = exchange(&authd, &request);
    assert_contract_error(&answer, 431);
    drop(authd);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_request_head_that_never_completes_gets_a_json_408() {
    let (authd, dir) = authd();
    let started = Instant::now();
    let answer = exchange(&authd, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert_contract_error(&answer, 408);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "answered only once the client's time was up"
    );
    drop(authd);
    let _ = std::fs::remove_dir_all(dir);
}

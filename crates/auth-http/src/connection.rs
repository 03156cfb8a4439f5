//! Client connections whose every error answer has the contract's JSON body.
//!
//! actix-http answers three failures by itself, before any route runs and with an empty
//! body: a request it cannot parse (400), a request head over its size limit (431) and a
//! request that does not arrive within the client timeout (408). No hook of actix-web
//! reaches those answers, so authd serves each connection through [`ContractStream`],
//! which recognises the three canned answers in what actix-http writes and gives them the
//! body every other error has (built by [`ApiError`], like every other error body).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use memchr::memmem;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ApiError;

/// The status lines of actix-http's own error answers.
const CANNED: [&[u8]; 3] = [BAD_REQUEST, HEADERS_TOO_LARGE, REQUEST_TIMEOUT];
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\n";
const HEADERS_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n";
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n";

/// The error authd answers in place of the canned answer with `status_line`.
fn contract_error(status_line: &[u8]) -> ApiError {
    match status_line {
        HEADERS_TOO_LARGE => ApiError::HeadersTooLarge,
        REQUEST_TIMEOUT => ApiError::RequestTimeout,
        _ => ApiError::BadRequest("Request is not valid HTTP/1.1".into()),
    }
}

/// What follows a canned answer's status line at once: its empty body's length.
const EMPTY_BODY: &[u8] = b"content-length: 0\r\n";

/// A client connection that passes reads through and rewrites actix-http's bodiless
/// error answers into the contract's JSON errors on their way out.
///
/// Only those answers are touched: they are the only ones whose status line is followed
/// directly by `content-length: 0`, since every error authd's routes answer has a body,
/// and a JSON body cannot contain the line break that would make one appear inside it.
#[derive(Debug)]
pub struct ContractStream<T> {
    io: T,
    /// Bytes rewritten and accepted from the writer but not yet written to `io`.
    pending: Vec<u8>,
    /// How much of `pending` is written.
    sent: usize,
}

impl<T> ContractStream<T> {
    /// Wraps a client connection.
    pub fn new(io: T) -> Self {
        Self {
            io,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> ContractStream<T> {
    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// `buf` with actix-http's canned error answer in it given the contract's body, or `None`
/// when it holds none.
fn with_contract_bodies(buf: &[u8]) -> Option<Vec<u8>> {
    let (status_end, status_line) = memmem::find_iter(buf, EMPTY_BODY).find_map(|at| {
        CANNED
            .iter()
            .find(|status_line| buf[..at].ends_with(status_line))
            .map(|status_line| (at, *status_line))
    })?;
    let head_end = memmem::find(&buf[status_end..], b"\r\n\r\n").map(|end| status_end + end + 4)?;
    let body = contract_error(status_line).json_body();
    let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
    out.extend_from_slice(&buf[..status_end]);
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"content-type: application/json\r\ncache-control: no-store\r\n");
    out.extend_from_slice(&buf[status_end + EMPTY_BODY.len()..head_end]);
    out.extend_from_slice(&body);
    // Whatever follows (nothing: actix-http closes the connection after these answers).
    out.extend_from_slice(&buf[head_end..]);
    Some(out)
}

impl<T: AsyncRead + Unpin> AsyncRead for ContractStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ContractStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        match with_contract_bodies(buf) {
            None => Pin::new(&mut this.io).poll_write(cx, buf),
            Some(rewritten) => {
                // Taken whole: written out here or by the flush that follows.
                this.pending = rewritten;
                if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"date: Fri, 04 Dec 2026 14:36:33 GMT\r\n\r\n";

    fn answer(status_line: &[u8]) -> Vec<u8> {
        [
            status_line,
            b"content-length: 0\r\nconnection: close\r\n",
            DATE,
        ]
        .concat()
    }

    /// The head and the JSON body of a rewritten answer.
    fn split(answer: &[u8]) -> (String, serde_json::Value) {
        let end = memmem::find(answer, b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8(answer[..end].to_vec()).unwrap();
        let body = serde_json::from_slice(&answer[end..]).unwrap();
        (head, body)
    }

    #[test]
    fn actix_https_bodiless_errors_get_the_contract_body() {
        for (status_line, status, message) in [
            (
                &b"HTTP/1.1 400 Bad Request\r\n"[..],
                "400",
                "Request is not valid HTTP/1.1",
            ),
            (
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
                "431",
                "Request headers are too large",
            ),
            (
                b"HTTP/1.1 408 Request Timeout\r\n",
                "408",
                "Request was not received in time",
            ),
        ] {
            let rewritten = with_contract_bodies(&answer(status_line)).unwrap();
            let (head, body) = split(&rewritten);
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            let length = serde_json::to_vec(&body).unwrap().len();
            assert!(
                head.contains(&format!("\r\ncontent-length: {length}\r\n")),
                "{head}"
            );
            assert!(head.contains("\r\ncontent-type: application/json\r\n"));
            assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
            assert_eq!(body["code"], "INVALID_REQUEST");
            assert_eq!(body["error"], message);
            assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        }
    }

    #[test]
    fn answers_of_the_routes_pass_untouched() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
        let no_content = b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n";
        let error = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 90\r\ncontent-type: \
                      application/json\r\n\r\n{\"error\":\"HTTP/1.1 400 Bad Request\"}";
        for answer in [&ok[..], no_content, error] {
            assert_eq!(with_contract_bodies(answer), None);
        }
    }

    #[test]
    fn answers_written_before_a_canned_one_stay_as_they_were() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        let both = [ok.clone(), answer(b"HTTP/1.1 400 Bad Request\r\n")].concat();
        let rewritten = with_contract_bodies(&both).unwrap();
        assert!(rewritten.starts_with(&ok));
        let (_, body) = split(&rewritten[ok.len()..]);
        assert_eq!(body["code"], "INVALID_REQUEST");
    }

    /// A writer that takes at most `chunk` bytes a call.
    struct Trickle {
        written: Vec<u8>,
        chunk: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.chunk);
            self.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_rewritten_answer_reaches_a_slow_socket_whole() {
        let mut stream = ContractStream::new(Trickle {
            written: Vec::new(),
            chunk: 7,
        });
        let canned = answer(b"HTTP/1.1 408 Request Timeout\r\n");
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let taken = Pin::new(&mut stream).poll_write(&mut cx, &canned);
        assert!(matches!(taken, Poll::Ready(Ok(n)) if n == canned.len()));
        assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_ready());
        let (head, body) = split(&stream.io.written);
        assert!(head.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(body["error"], "Request was not received in time");
    }
}

//! A small SMTP server on 127.0.0.1 that keeps what it receives, so the tests read real
//! mail delivered over a real connection.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A received mail: its envelope recipients and its data as sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    pub data: String,
}

/// The receiver; it stops accepting when dropped (its thread ends with the next
/// connection or the process).
pub struct SmtpReceiver {
    pub port: u16,
    mails: Arc<Mutex<Vec<Received>>>,
}

impl SmtpReceiver {
    /// Listens on a free port.
    pub fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
    }

    /// Listens on `port` (one that was free a moment ago).
    pub fn start_on(port: u16) -> Self {
        Self::on(TcpListener::bind(("127.0.0.1", port)).expect("bind the port again"))
    }

    fn on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &kept);
                });
            }
        });
        Self { port, mails }
    }

    /// Mails received so far.
    pub fn mails(&self) -> Vec<Received> {
        self.mails.lock().unwrap().clone()
    }
}

/// One SMTP session: greeting, EHLO, MAIL, RCPT, DATA, QUIT.
fn serve(stream: TcpStream, kept: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 127.0.0.1 ESMTP test receiver\r\n")?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            out.write_all(b"250-127.0.0.1\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if command.starts_with("RCPT TO") {
            let to = line.trim_end()[8..]
                .trim()
                .trim_matches(['<', '>'])
                .to_owned();
            recipients.push(to);
            out.write_all(b"250 OK\r\n")?;
        } else if command == "DATA" {
            out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            kept.lock().unwrap().push(Received {
                recipients: std::mem::take(&mut recipients),
                data,
            });
            out.write_all(b"250 OK queued\r\n")?;
        } else if command == "QUIT" {
            out.write_all(b"221 Bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"250 OK\r\n")?;
        }
    }
}

//! A small SMTP server on 127.0.0.1 that keeps what it receives, so that tests of authd
//! and of services embedding it read real mail delivered over a real connection.
//! (Feature `test-support`.)

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

/// A received mail: its envelope recipients and its data as sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// `RCPT TO` addresses.
    pub recipients: Vec<String>,
    /// The message as sent (headers and quoted-printable bodies).
    pub data: String,
}

impl Received {
    /// The message with quoted-printable soft line breaks removed and `=XX` escapes
    /// decoded, as a mail client shows it.
    #[must_use]
    pub fn decoded(&self) -> String {
        let joined = self.data.replace("=\r\n", "").replace("=\n", "");
        let mut out = Vec::with_capacity(joined.len());
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'=')
                .then(|| joined.get(i + 1..i + 3))
                .flatten()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match escaped {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether the subject is `subject`.
    #[must_use]
    pub fn has_subject(&self, subject: &str) -> bool {
        self.data.contains(&format!("Subject: {subject}\r\n"))
    }

    /// The one-time token of the mail's link (after `#token=`), if it has one.
    #[must_use]
    pub fn link_token(&self) -> Option<String> {
        let decoded = self.decoded();
        let rest = decoded.split("#token=").nth(1)?;
        rest.split(|c: char| !(c.is_ascii_alphanumeric() || "_-".contains(c)))
            .next()
            .map(str::to_owned)
    }
}

/// The receiver; it accepts connections for as long as the process runs.
pub struct SmtpReceiver {
    /// The port it listens on.
    pub port: u16,
    mails: Arc<Mutex<Vec<Received>>>,
}

impl SmtpReceiver {
    /// Listens on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> std::io::Result<Self> {
        Self::on(TcpListener::bind("127.0.0.1:0")?)
    }

    /// Listens on `port` (one that was free a moment ago).
    ///
    /// # Errors
    /// When the port is taken.
    pub fn start_on(port: u16) -> std::io::Result<Self> {
        Self::on(TcpListener::bind(("127.0.0.1", port))?)
    }

    fn on(listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
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
        Ok(Self { port, mails })
    }

    /// `smtp://127.0.0.1:PORT?tls=none`: the `AUTHD_SMTP_URL` of this receiver.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Mails received so far.
    #[must_use]
    pub fn mails(&self) -> Vec<Received> {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
            let to = line
                .trim_end()
                .get(8..)
                .unwrap_or_default()
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
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Received {
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

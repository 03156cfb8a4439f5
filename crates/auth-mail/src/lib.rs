//! Delivery of authd's queued mail.
//!
//! A [`Mailer`] sends a [`ComposedMail`] over SMTP (`AUTHD_SMTP_URL`: STARTTLS by default,
//! implicit TLS with `smtps://`, a plain local relay with `?tls=none`) or, without a mail
//! server, writes it as an `.eml` file (`AUTHD_MAIL_DIR`). [`deliver_due`] is one round of
//! the outbox worker: it claims the mails due, composes each as it is sent (issuing its
//! one-time token then), sends it, and records the outcome, retrying with backoff what
//! failed for now and giving up on what failed for good.

mod templates;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use templates::load_templates;

use auth_core::{
    ComposedMail, MAX_MAIL_ATTEMPTS, MailAccounts, MailContent, MailOutbox, StoreError, UnixTime,
    compose, retry_delay_secs,
};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{FileTransport, Message, Transport};

/// How long one SMTP command may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Mails one round claims at most.
pub const ROUND_MAILS: usize = 10;

/// How long a claimed mail is another sender's to leave alone: longer than any round. A
/// server answering each of a mail's 7 commands just inside the 20 s timeout holds a
/// round of 10 mails 1,400 s at most; a sender that dies leaves its mails to others
/// after this long.
pub const CLAIM_LEASE_SECS: i64 = 30 * 60;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `AUTHD_SMTP_URL` cannot be used.
    #[error("AUTHD_SMTP_URL is not usable: {0}")]
    Url(String),
    /// `AUTHD_MAIL_FROM` is not an address.
    #[error("AUTHD_MAIL_FROM is not an address: {0}")]
    From(String),
    /// The mail directory cannot be created.
    #[error("the mail directory {0} cannot be created: {1}")]
    Directory(PathBuf, String),
    /// The mail can never be sent as it is (its recipient is not an address, or the
    /// server refused it for good).
    #[error("the mail cannot be sent: {0}")]
    Permanent(String),
    /// The mail could not be sent now (server unreachable, busy, disk full, …).
    #[error("the mail could not be sent now: {0}")]
    Transient(String),
    /// `AUTHD_SMTP_CA_FILE` is not a PEM certificate.
    #[error("AUTHD_SMTP_CA_FILE is not usable: {0}")]
    Ca(String),
    /// `AUTHD_MAIL_TEMPLATES_DIR` cannot be used.
    #[error("AUTHD_MAIL_TEMPLATES_DIR: {0}: {1}")]
    Templates(String, String),
}

/// How mails leave authd.
enum Route {
    Smtp(SmtpTransport),
    Files(FileTransport),
}

/// Sends composed mails from one sender address.
pub struct Mailer {
    route: Route,
    from: Mailbox,
    described: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.described)
    }
}

impl Mailer {
    /// Sends through the mail server at `url`: `smtp://[user:pass@]host[:port]` with
    /// STARTTLS required (port 587 by default), `smtps://…` with TLS from the first byte
    /// (465), or `smtp://host[:port]?tls=none` for a relay on a trusted network.
    ///
    /// # Errors
    /// [`MailError::Url`] or [`MailError::From`].
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        Self::smtp_trusting(url, from, None)
    }

    /// [`Mailer::smtp`], trusting the certificate authority `ca_pem` (PEM) for the
    /// server's certificate besides the system's (`AUTHD_SMTP_CA_FILE`: a relay with a
    /// certificate of the organisation's own CA).
    ///
    /// # Errors
    /// [`MailError::Url`], [`MailError::From`], or [`MailError::Ca`] for a PEM that is not
    /// a certificate.
    pub fn smtp_trusting(url: &str, from: &str, ca_pem: Option<&[u8]>) -> Result<Self, MailError> {
        let (lettre_url, security) = lettre_url(url)?;
        let mut builder = SmtpTransport::from_url(&lettre_url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(pem) = ca_pem {
            let ca = Certificate::from_pem(pem).map_err(|e| MailError::Ca(e.to_string()))?;
            let params = TlsParameters::builder(host_of(url))
                .add_root_certificate(ca)
                .build_native()
                .map_err(|e| MailError::Ca(e.to_string()))?;
            builder = match security {
                "implicit TLS" => builder.tls(Tls::Wrapper(params)),
                "STARTTLS" => builder.tls(Tls::Required(params)),
                // A plain relay has no certificate to trust.
                _ => builder,
            };
        }
        let transport = builder.build();
        Ok(Self {
            route: Route::Smtp(transport),
            from: mailbox(from)?,
            described: format!("SMTP at {} ({security})", server_of(url)),
        })
    }

    /// Writes each mail as an `.eml` file in `dir` (created if missing) instead of
    /// delivering it.
    ///
    /// # Errors
    /// [`MailError::Directory`] or [`MailError::From`].
    pub fn files(dir: &Path, from: &str) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MailError::Directory(dir.to_owned(), e.to_string()))?;
        Ok(Self {
            route: Route::Files(FileTransport::new(dir)),
            from: mailbox(from)?,
            described: format!("files in {} (not delivered)", dir.display()),
        })
    }

    /// Where mail goes, without credentials: for authd's start-up message.
    #[must_use]
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Whether mail is really delivered (not written to files).
    #[must_use]
    pub fn delivers(&self) -> bool {
        matches!(self.route, Route::Smtp(_))
    }

    /// Sends `mail`.
    ///
    /// # Errors
    /// [`MailError::Permanent`] when it can never be sent as it is,
    /// [`MailError::Transient`] when it may be sent later.
    pub fn send(&self, mail: &ComposedMail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            // A Message-ID of this host's name, as mail servers and filters expect.
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(format!("message: {e}")))?;
        match &self.route {
            Route::Smtp(smtp) => smtp.send(&message).map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    MailError::Permanent(e.to_string())
                } else {
                    MailError::Transient(e.to_string())
                }
            }),
            Route::Files(files) => files
                .send(&message)
                .map(|_| ())
                .map_err(|e| MailError::Transient(e.to_string())),
        }
    }
}

fn mailbox(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|e| MailError::From(format!("{from}: {e}")))
}

/// The URL lettre understands for the contract's `url`, and what protects it: lettre reads
/// `smtp://` as unencrypted and `?tls=required` as STARTTLS, where the contract's
/// `smtp://` means STARTTLS and `?tls=none` a plain relay.
fn lettre_url(url: &str) -> Result<(String, &'static str), MailError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params
        .iter()
        .find_map(|p| p.strip_prefix("tls="))
        .map(str::to_owned);
    params.retain(|p| !p.starts_with("tls="));
    let security = if base.starts_with("smtps://") {
        if tls.is_some() {
            return Err(MailError::Url("smtps:// takes no tls= parameter".into()));
        }
        "implicit TLS"
    } else if base.starts_with("smtp://") {
        match tls.as_deref() {
            None | Some("required" | "starttls") => {
                params.push("tls=required");
                "STARTTLS"
            }
            Some("none") => "no TLS",
            Some(other) => {
                return Err(MailError::Url(format!(
                    "tls={other}: use tls=none for a plain relay, or leave it out for STARTTLS"
                )));
            }
        }
    } else {
        return Err(MailError::Url(
            "it must start with smtp:// or smtps://".into(),
        ));
    };
    let joined = if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    };
    Ok((joined, security))
}

/// The host of `url`, without credentials, port or brackets: the name its certificate
/// must carry.
fn host_of(url: &str) -> String {
    let server = server_of(url);
    if let Some(bracketed) = server.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed).to_owned();
    }
    server
        .rsplit_once(':')
        .map_or(server.as_str(), |(host, _)| host)
        .to_owned()
}

/// `host[:port]` of `url`, without credentials.
fn server_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// What one round of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Mails sent (or written).
    pub sent: u64,
    /// Mails with nothing to send (no such account, nothing left to verify).
    pub dropped: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Mails given up.
    pub given_up: u64,
}

/// Claims the mails due at `now` and sends them: one round of the outbox worker.
///
/// # Errors
/// [`StoreError`] when the outbox cannot be read or updated; mails claimed and not yet
/// recorded are then claimed again after their lease.
pub fn deliver_due(
    outbox: &dyn MailOutbox,
    accounts: &dyn MailAccounts,
    content: &MailContent,
    mailer: &Mailer,
    now: UnixTime,
) -> Result<DeliveryRound, StoreError> {
    let mut round = DeliveryRound::default();
    for mail in outbox.claim_mail(now, CLAIM_LEASE_SECS, ROUND_MAILS)? {
        let sent = match compose(&mail, accounts, content, now) {
            Ok(None) => {
                outbox.mail_sent(&mail.id)?;
                round.dropped += 1;
                continue;
            }
            Ok(Some(composed)) => mailer.send(&composed),
            Err(e) => Err(MailError::Transient(e.to_string())),
        };
        match sent {
            Ok(()) => {
                outbox.mail_sent(&mail.id)?;
                round.sent += 1;
            }
            Err(e) => {
                let give_up =
                    matches!(e, MailError::Permanent(_)) || mail.attempts >= MAX_MAIL_ATTEMPTS;
                let retry_at = (!give_up).then(|| now.plus_secs(retry_delay_secs(mail.attempts)));
                log::warn!(
                    "mail {} ({}) failed on attempt {}{}: {e}",
                    mail.id,
                    mail.kind.as_str(),
                    mail.attempts,
                    if give_up {
                        ", given up"
                    } else {
                        ", will retry"
                    }
                );
                outbox.mail_failed(&mail.id, &e.to_string(), now, retry_at)?;
                if give_up {
                    round.given_up += 1;
                } else {
                    round.retried += 1;
                }
            }
        }
    }
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_s_urls_become_lettre_s_with_the_security_they_promise() {
        assert_eq!(
            lettre_url("smtp://user:pass@mail.example.com:587").unwrap(),
            (
                "smtp://user:pass@mail.example.com:587?tls=required".into(),
                "STARTTLS"
            )
        );
        assert_eq!(
            lettre_url("smtps://user:pass@mail.example.com:465").unwrap(),
            (
                "smtps://user:pass@mail.example.com:465".into(),
                "implicit TLS"
            )
        );
        assert_eq!(
            lettre_url("smtp://127.0.0.1:25?tls=none").unwrap(),
            ("smtp://127.0.0.1:25".into(), "no TLS")
        );
        for bad in [
            "http://mail.example.com",
            "smtp://h?tls=maybe",
            "smtps://h?tls=none",
        ] {
            assert!(lettre_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_description_of_a_server_never_shows_its_password() {
        let mailer = Mailer::smtp(
            "smtp://user:s3cret@mail.example.com:587",
            "authd <no-reply@example.com>",
        )
        .unwrap();
        assert_eq!(mailer.describe(), "SMTP at mail.example.com:587 (STARTTLS)");
        assert!(!format!("{mailer:?}").contains("s3cret"));
        assert!(mailer.delivers());
    }
}

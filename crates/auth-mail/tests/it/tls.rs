//! Mail over TLS, against a mail server on 127.0.0.1 with a certificate of its own CA:
//! implicit TLS (`smtps://`), STARTTLS (`smtp://`, required), and the refusals that keep
//! credentials and mail off a connection that is not the server's or not encrypted.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use auth_mail::test_support::SmtpReceiver;
use auth_mail::{DeliveryRound, Mailer, deliver_due};
use auth_store::test_support::TestDatabase;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

use crate::{FROM, T0, alice, content, forgot_password};

/// A certificate for 127.0.0.1, its own authority, and its key.
fn certificate() -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "authd test mail server")
        .unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    cert.set_serial_number(&serial).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (cert.build(), key)
}

/// What the TLS server saw: each command, and whether the connection was encrypted then.
#[derive(Default)]
struct Seen {
    commands: Vec<(String, bool)>,
    delivered: usize,
}

/// A mail server speaking TLS from the first byte (`implicit`) or after STARTTLS, which
/// offers AUTH only once encrypted, as real ones do.
fn tls_server(implicit: bool) -> (u16, Vec<u8>, Arc<Mutex<Seen>>) {
    let (cert, key) = certificate();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_certificate(&cert).unwrap();
    acceptor.set_private_key(&key).unwrap();
    let acceptor = Arc::new(acceptor.build());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (acceptor, kept) = (acceptor.clone(), kept.clone());
            std::thread::spawn(move || {
                if implicit {
                    if let Ok(tls) = acceptor.accept(stream) {
                        let _ = session(tls, true, true, &kept);
                    }
                } else if let Ok(Some(raw)) = session(stream, false, true, &kept)
                    && let Ok(tls) = acceptor.accept(raw)
                {
                    let _ = session(tls, true, false, &kept);
                }
            });
        }
    });
    (port, cert.to_pem().unwrap(), seen)
}

/// One SMTP conversation on `stream`, opened with the greeting when `greet` (not after
/// an upgrade); `Some(stream)` when the client asked for STARTTLS (the caller upgrades
/// it and carries on).
fn session<S: Read + Write>(
    mut stream: S,
    encrypted: bool,
    greet: bool,
    seen: &Mutex<Seen>,
) -> std::io::Result<Option<S>> {
    if greet {
        stream.write_all(b"220 127.0.0.1 ESMTP\r\n")?;
    }
    let mut in_data = false;
    loop {
        let line = read_line(&mut stream)?;
        if line.is_empty() {
            return Ok(None);
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                seen.lock().unwrap().delivered += 1;
                stream.write_all(b"250 OK\r\n")?;
            }
            continue;
        }
        let command = line.trim_end().to_ascii_uppercase();
        seen.lock()
            .unwrap()
            .commands
            .push((command.clone(), encrypted));
        let reply: &[u8] = if command.starts_with("EHLO") {
            if encrypted {
                b"250-127.0.0.1\r\n250 AUTH PLAIN LOGIN\r\n"
            } else {
                b"250-127.0.0.1\r\n250 STARTTLS\r\n"
            }
        } else if command == "STARTTLS" {
            stream.write_all(b"220 Go ahead\r\n")?;
            return Ok(Some(stream));
        } else if command.starts_with("AUTH") {
            b"235 Accepted\r\n"
        } else if command == "DATA" {
            in_data = true;
            b"354 Go ahead\r\n"
        } else if command == "QUIT" {
            stream.write_all(b"221 Bye\r\n")?;
            return Ok(None);
        } else {
            b"250 OK\r\n"
        };
        stream.write_all(reply)?;
    }
}

fn read_line(stream: &mut impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte)? == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn one_reset_mail(mailer: &Mailer) -> DeliveryRound {
    let db = TestDatabase::sqlite();
    let store = db.open();
    alice(&store);
    forgot_password(&store, "alice@example.com");
    deliver_due(&store, &store, &content(), mailer, T0).unwrap()
}

#[test]
fn implicit_tls_delivers_to_a_server_with_a_trusted_certificate() {
    let (port, ca, seen) = tls_server(true);
    let url = format!("smtps://mailer:s3cret@127.0.0.1:{port}");
    let mailer = Mailer::smtp_trusting(&url, FROM, Some(&ca)).unwrap();
    assert_eq!(one_reset_mail(&mailer).sent, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.delivered, 1);
    assert!(seen.commands.iter().all(|(_, encrypted)| *encrypted));
    assert!(seen.commands.iter().any(|(c, _)| c.starts_with("AUTH")));
}

#[test]
fn starttls_upgrades_before_credentials_and_mail() {
    let (port, ca, seen) = tls_server(false);
    let url = format!("smtp://mailer:s3cret@127.0.0.1:{port}");
    let mailer = Mailer::smtp_trusting(&url, FROM, Some(&ca)).unwrap();
    assert_eq!(one_reset_mail(&mailer).sent, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.delivered, 1);
    let plain: Vec<_> = seen
        .commands
        .iter()
        .filter(|(_, encrypted)| !encrypted)
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(
        plain.len(),
        2,
        "only the greeting and the upgrade in clear: {plain:?}"
    );
    assert!(
        plain[0].starts_with("EHLO") && plain[1] == "STARTTLS",
        "{plain:?}"
    );
    assert!(
        seen.commands
            .iter()
            .any(|(c, encrypted)| c.starts_with("AUTH") && *encrypted)
    );
}

#[test]
fn a_certificate_nobody_vouches_for_gets_no_credentials_and_no_mail() {
    let (port, _, seen) = tls_server(true);
    let url = format!("smtps://mailer:s3cret@127.0.0.1:{port}");
    let mailer = Mailer::smtp(&url, FROM).unwrap();
    assert_eq!(one_reset_mail(&mailer).retried, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.delivered, 0);
    assert!(seen.commands.is_empty(), "{:?}", seen.commands);
}

#[test]
fn a_server_that_cannot_upgrade_gets_no_credentials_and_no_mail() {
    // The plain test receiver offers no STARTTLS; smtp:// requires it.
    let smtp = SmtpReceiver::start().unwrap();
    let url = format!("smtp://mailer:s3cret@127.0.0.1:{}", smtp.port);
    let mailer = Mailer::smtp(&url, FROM).unwrap();
    assert_eq!(one_reset_mail(&mailer).retried, 1);
    assert!(smtp.mails().is_empty());
}

#[test]
fn a_ca_file_that_is_no_certificate_is_refused() {
    let refused = Mailer::smtp_trusting("smtps://127.0.0.1:465", FROM, Some(b"not a pem"));
    assert!(
        matches!(refused, Err(auth_mail::MailError::Ca(_))),
        "{refused:?}"
    );
}

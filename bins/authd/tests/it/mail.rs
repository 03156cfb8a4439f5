use auth_store::test_support::TestDatabase;

use auth_mail::test_support::{Received, SmtpReceiver};
use serde_json::json;

use crate::{Authd, PASSWORD, field};

/// A fresh directory for a server's mail, removed when dropped.
struct MailDir(std::path::PathBuf);

impl MailDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("authd-mail-{}", uuid::Uuid::new_v4().simple())))
    }

    fn text(&self) -> String {
        self.0.display().to_string()
    }

    /// authd on `db`, without a mail server: its mail goes here as files, links under
    /// `https://app.example.com`.
    fn authd(&self, db: &TestDatabase) -> Authd {
        Authd::start(&[
            ("AUTHD_DATABASE_URL", db.url()),
            ("AUTHD_MAIL_DIR", &self.text()),
            ("AUTHD_PUBLIC_URL", "https://app.example.com"),
        ])
    }
}

impl Drop for MailDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `check` finds once the server has done it, checked every 100 ms for 45 s (a mail
/// whose first try failed goes again 30 s later).
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn without_a_mail_server_authd_says_at_start_where_mail_goes_instead() {
    let db = TestDatabase::sqlite();
    let dir = MailDir::new();
    let authd = dir.authd(&db);
    let log = authd.log();
    assert!(
        log.contains("mail is not being delivered") && log.contains(&dir.text()),
        "{log}"
    );
    assert!(dir.0.is_dir(), "the directory is there for the first mail");
}

#[test]
fn a_mail_server_url_it_cannot_use_stops_authd_naming_the_setting_but_not_its_password() {
    let db = TestDatabase::sqlite();
    for url in [
        "http://user:s3cret@mail.example.com",
        "smtp://user:s3cret@mail.example.com?tls=maybe",
    ] {
        let log = Authd::try_start(&[("AUTHD_DATABASE_URL", db.url()), ("AUTHD_SMTP_URL", url)])
            .err()
            .expect("authd refuses to start");
        assert!(log.contains("AUTHD_SMTP_URL"), "{log}");
        assert!(!log.contains("s3cret"), "{log}");
    }
}

#[test]
fn with_a_mail_server_authd_names_it_at_start_without_the_password() {
    let db = TestDatabase::sqlite();
    let authd = Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_SMTP_URL", "smtp://user:s3cret@127.0.0.1:2525"),
    ]);
    let log = authd.log();
    assert!(
        log.contains("mail goes out through SMTP at 127.0.0.1:2525 (STARTTLS)"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
}

#[test]
fn a_queued_mail_is_written_by_the_running_server_and_counted_in_metrics() {
    use auth_core::{Clock, MailKind, MailOutbox, OutboxMail, SystemClock};

    let db = TestDatabase::sqlite();
    let dir = MailDir::new();
    let authd = dir.authd(&db);
    authd.register("alice@example.com", "alice");
    // As "forgot password" will: a request naming only the address.
    db.open()
        .queue_mail(&OutboxMail::new(
            MailKind::ResetPassword,
            "alice@example.com",
            None,
            None,
            SystemClock.now(),
        ))
        .unwrap();

    let eml = wait_for("a reset mail", || {
        mails_with_subject(&dir.0, "Reset your password").pop()
    });
    assert!(eml.contains("To: alice@example.com"), "{eml}");
    assert!(
        eml.contains("https://app.example.com/reset-password#token=authd_ot_"),
        "{eml}"
    );
    let verification = mails_with_subject(&dir.0, "Verify your email address");
    assert_eq!(
        verification.len(),
        1,
        "registration mailed a verification link"
    );
    assert!(verification[0].contains("https://app.example.com/verify-email#token=authd_ot_"));

    let metrics = wait_for("both mails counted as sent", || {
        let metrics = authd.metrics_text();
        metrics
            .contains("authd_mail_total{outcome=\"sent\"} 2")
            .then_some(metrics)
    });
    assert!(
        metrics.contains("authd_mail_queue{state=\"waiting\"} 0"),
        "{metrics}"
    );
}

/// The `.eml` files in `dir` whose subject is `subject`, decoded from quoted-printable
/// as far as links need (soft line breaks, `=3D`).
fn mails_with_subject(dir: &std::path::Path, subject: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .map(|eml| {
                    eml.replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=")
                })
                .filter(|eml| eml.contains(&format!("Subject: {subject}")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_forgotten_password_is_reset_from_the_mailed_link_and_old_sessions_end() {
    let db = TestDatabase::sqlite();
    let dir = MailDir::new();
    let authd = dir.authd(&db);
    let session = authd.register("alice@example.com", "alice");
    let (status, _) = authd.post(
        "/api/auth/password/forgot",
        None,
        serde_json::json!({"email": "Alice@Example.com"}),
    );
    assert_eq!(status, 202);

    let mail = wait_for("a reset mail", || {
        mails_with_subject(&dir.0, "Reset your password").pop()
    });
    let token = mail
        .split("https://app.example.com/reset-password#token=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
        .expect("the link");
    let (status, body) = authd.post(
        "/api/auth/password/reset",
        None,
        serde_json::json!({"token": token, "password": "a brand new passphrase"}),
    );
    assert_eq!(status, 204, "{body}");

    let (status, _) = authd.post(
        "/api/auth/refresh",
        None,
        serde_json::json!({"refreshToken": crate::field(&session, "refreshToken")}),
    );
    assert_eq!(status, 401, "the session from before the reset is over");
    let (status, _) = authd.post(
        "/api/auth/login",
        None,
        serde_json::json!({"email": "alice@example.com", "password": "a brand new passphrase"}),
    );
    assert_eq!(status, 200, "the new password works");
    wait_for("a notice mail", || {
        mails_with_subject(&dir.0, "Your password was changed").pop()
    });
}

/// The newest mail `smtp` received for `to` with `subject`.
fn received(smtp: &SmtpReceiver, to: &str, subject: &str) -> Option<Received> {
    smtp.mails()
        .into_iter()
        .rev()
        .find(|m| m.recipients.iter().any(|r| r == to) && m.has_subject(subject))
}

fn people_keep_their_accounts_by_real_mail(db: &TestDatabase) {
    let smtp = SmtpReceiver::start().unwrap();
    let authd = Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_SMTP_URL", &smtp.url()),
        ("AUTHD_PUBLIC_URL", "https://app.example.com"),
    ]);

    // Register, and verify the address from the mailed link.
    let first = authd.register("alice@example.com", "alice");
    let verification = wait_for("the verification mail", || {
        received(&smtp, "alice@example.com", "Verify your email address")
    });
    assert!(
        verification
            .decoded()
            .contains("https://app.example.com/verify-email#token=authd_ot_")
    );
    let (status, verified) = authd.post(
        "/api/auth/email/verify",
        None,
        json!({"token": verification.link_token().unwrap()}),
    );
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["user"]["emailVerified"], true);

    // Forget the password, reset it from the mailed link: the old session is over.
    let (status, _) = authd.post(
        "/api/auth/password/forgot",
        None,
        json!({"email": "alice@example.com"}),
    );
    assert_eq!(status, 202);
    let reset = wait_for("the reset mail", || {
        received(&smtp, "alice@example.com", "Reset your password")
    });
    let (status, body) = authd.post(
        "/api/auth/password/reset",
        None,
        json!({"token": reset.link_token().unwrap(), "password": "a brand new passphrase"}),
    );
    assert_eq!(status, 204, "{body}");
    let (status, _) = authd.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&first, "refreshToken")}),
    );
    assert_eq!(status, 401, "the session from before the reset is over");
    let login = |email: &str, password: &str| {
        authd.post(
            "/api/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
    };
    assert_eq!(login("alice@example.com", PASSWORD).0, 401);
    let (status, session) = login("alice@example.com", "a brand new passphrase");
    assert_eq!(status, 200);
    wait_for("the password-changed notice", || {
        received(&smtp, "alice@example.com", "Your password was changed")
    });

    // Move to a new address: a link to the new one, a notice to the old one.
    let access = field(&session, "accessToken");
    let (status, _) = authd.post(
        "/api/auth/email/change",
        Some(&access),
        json!({"newEmail": "alice@new.example", "password": "a brand new passphrase"}),
    );
    assert_eq!(status, 202);
    wait_for("the notice to the old address", || {
        received(
            &smtp,
            "alice@example.com",
            "Your email address is being changed",
        )
    });
    let confirm = wait_for("the confirmation to the new address", || {
        received(&smtp, "alice@new.example", "Confirm your new email address")
    });
    let (status, moved) = authd.post(
        "/api/auth/email/change/confirm",
        None,
        json!({"token": confirm.link_token().unwrap()}),
    );
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["user"]["email"], "alice@new.example");
    assert_eq!(login("alice@new.example", "a brand new passphrase").0, 200);
}

#[test]
fn people_verify_recover_and_move_their_accounts_by_real_mail_on_sqlite() {
    people_keep_their_accounts_by_real_mail(&TestDatabase::sqlite());
}

#[test]
fn people_verify_recover_and_move_their_accounts_by_real_mail_on_postgres() {
    if let Some(db) = TestDatabase::postgres() {
        people_keep_their_accounts_by_real_mail(&db);
    }
}

#[test]
fn a_mail_accepted_before_authd_is_killed_is_delivered_after_it_restarts() {
    let db = TestDatabase::sqlite();
    // A port nobody listens on yet: the mail server is down while authd runs.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_SMTP_URL", url.as_str()),
    ];
    let authd = Authd::start(&env);
    authd.register("alice@example.com", "alice");
    let (status, _) = authd.post(
        "/api/auth/password/forgot",
        None,
        json!({"email": "alice@example.com"}),
    );
    assert_eq!(status, 202);
    authd.kill();

    let smtp = SmtpReceiver::start_on(port).unwrap();
    let _restarted = Authd::start(&env);
    let reset = wait_for("the reset mail, sent by the restarted authd", || {
        received(&smtp, "alice@example.com", "Reset your password")
    });
    assert!(reset.link_token().is_some());
    wait_for("the verification mail of the registration too", || {
        received(&smtp, "alice@example.com", "Verify your email address")
    });
}

#[test]
fn an_operators_templates_say_what_mails_say_and_where_links_lead() {
    let db = TestDatabase::sqlite();
    let dir = MailDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(
        dir.0.join("reset_password.subject"),
        "Mot de passe oublié ?\n",
    )
    .unwrap();
    std::fs::write(
        dir.0.join("reset_password.txt"),
        "Bonjour {{username}},\n{{public_url}}/compte/nouveau-mot-de-passe#token={{token}}\n",
    )
    .unwrap();
    let smtp = SmtpReceiver::start().unwrap();
    let env = [
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_SMTP_URL", &smtp.url()),
        ("AUTHD_PUBLIC_URL", "https://app.example.com"),
        ("AUTHD_MAIL_TEMPLATES_DIR", &dir.text()),
    ];
    let authd = Authd::start(&env);
    assert!(authd.log().contains("reset_password"), "{}", authd.log());
    authd.register("alice@example.com", "alice");
    authd.post(
        "/api/auth/password/forgot",
        None,
        json!({"email": "alice@example.com"}),
    );
    let mail = wait_for("the operator's reset mail", || {
        smtp.mails()
            .into_iter()
            .find(|m| m.decoded().contains("Bonjour alice,"))
    });
    assert!(
        mail.decoded()
            .contains("https://app.example.com/compte/nouveau-mot-de-passe#token=authd_ot_"),
        "{}",
        mail.decoded()
    );
    // Other kinds keep authd's own text.
    wait_for("registration's verification mail, in authd's words", || {
        received(&smtp, "alice@example.com", "Verify your email address")
    });
    drop(authd);

    std::fs::remove_file(dir.0.join("reset_password.txt")).unwrap();
    let refused = Authd::try_start(&env)
        .err()
        .expect("half a template stops authd");
    assert!(refused.contains("AUTHD_MAIL_TEMPLATES_DIR"), "{refused}");
}

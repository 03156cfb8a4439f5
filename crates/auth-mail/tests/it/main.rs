//! The outbox worker against a real store (SQLite always, PostgreSQL when
//! `AUTHD_TEST_POSTGRES_URL` names a server) and a real SMTP server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tls;

use auth_core::session::{self, TokenPolicy};
use auth_core::{
    Email, MailContent, MailKind, MailOutbox, OneTimePolicy, OneTimeStore, OneTimeToken,
    OutboxMail, PasswordHash, PrincipalKind, Redemption, UnixTime, User, UserStore, Username,
};
use auth_mail::test_support::{Received, SmtpReceiver};
use auth_mail::{DeliveryRound, Mailer, deliver_due};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

const T0: UnixTime = UnixTime(1_800_000_000);
const FROM: &str = "authd <no-reply@example.com>";

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&auth_store::test_support::TestDatabase::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(db) = auth_store::test_support::TestDatabase::postgres() else { return };
                    super::$name(&db);
                }
            )*
        }
    };
}

on_both_backends!(
    a_reset_request_is_mailed_over_smtp_and_its_link_resets_the_password,
    a_mail_queued_while_the_server_is_down_goes_out_when_it_is_back,
    a_request_for_an_unknown_address_sends_nothing,
    without_a_mail_server_mails_are_written_as_eml_files,
);

fn content() -> MailContent {
    MailContent::new("https://app.example.com", OneTimePolicy::default())
}

/// Alice, registered.
fn alice(store: &Database) -> User {
    let user = User::new(
        &Email::parse("alice@example.com").unwrap(),
        &Username::parse("alice").unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        T0,
    );
    let first = session::start(
        PrincipalKind::User,
        user.id.as_str(),
        T0,
        &TokenPolicy::default(),
    )
    .unwrap();
    store.create_user(&user, &first.session).unwrap();
    user
}

fn forgot_password(store: &Database, typed: &str) {
    store
        .queue_mail(&OutboxMail::new(
            MailKind::ResetPassword,
            typed,
            None,
            None,
            T0,
        ))
        .unwrap();
}

/// The one-time token in a mail's link.
fn token_in(mail: &Received) -> OneTimeToken {
    OneTimeToken::parse(&mail.link_token().expect("a link with a token")).unwrap()
}

fn plain_relay(port: u16) -> Mailer {
    Mailer::smtp(&format!("smtp://127.0.0.1:{port}?tls=none"), FROM).unwrap()
}

fn a_reset_request_is_mailed_over_smtp_and_its_link_resets_the_password(db: &TestDatabase) {
    let store = db.open();
    let alice = alice(&store);
    let smtp = SmtpReceiver::start().unwrap();
    forgot_password(&store, "Alice@Example.com");

    let round = deliver_due(&store, &store, &content(), &plain_relay(smtp.port), T0).unwrap();
    assert_eq!(
        round,
        DeliveryRound {
            sent: 1,
            ..DeliveryRound::default()
        }
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipients, ["Alice@Example.com"]);
    assert!(mails[0].data.contains("Subject: Reset your password"));
    assert!(mails[0].data.contains("From: authd <no-reply@example.com>"));
    assert!(mails[0].data.contains("Message-ID: <"), "{}", mails[0].data);

    let token = token_in(&mails[0]);
    let new_hash = PasswordHash::from_stored("$argon2id$new".into());
    let reset = store
        .reset_password(&token.hash(), &new_hash, T0.plus_secs(60))
        .unwrap();
    assert!(matches!(reset, Redemption::Redeemed(ref r) if r.user_id == alice.id));
    assert_eq!(store.outbox_depth().unwrap(), (0, 0), "the outbox is empty");
}

fn a_mail_queued_while_the_server_is_down_goes_out_when_it_is_back(db: &TestDatabase) {
    let store = db.open();
    alice(&store);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mailer = plain_relay(port);
    forgot_password(&store, "alice@example.com");

    let down = deliver_due(&store, &store, &content(), &mailer, T0).unwrap();
    assert_eq!(down.retried, 1, "{down:?}");
    assert_eq!(store.outbox_depth().unwrap(), (1, 0), "kept for later");

    let smtp = SmtpReceiver::start_on(port).unwrap();
    let early = deliver_due(&store, &store, &content(), &mailer, T0.plus_secs(29)).unwrap();
    assert_eq!(early, DeliveryRound::default(), "not before its retry");
    let back = deliver_due(&store, &store, &content(), &mailer, T0.plus_secs(30)).unwrap();
    assert_eq!(back.sent, 1, "{back:?}");
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(store.outbox_depth().unwrap(), (0, 0));
}

fn a_request_for_an_unknown_address_sends_nothing(db: &TestDatabase) {
    let store = db.open();
    alice(&store);
    let smtp = SmtpReceiver::start().unwrap();
    forgot_password(&store, "mallory@example.com");

    let round = deliver_due(&store, &store, &content(), &plain_relay(smtp.port), T0).unwrap();
    assert_eq!(round.dropped, 1, "{round:?}");
    assert!(smtp.mails().is_empty());
    assert_eq!(store.outbox_depth().unwrap(), (0, 0));
}

fn without_a_mail_server_mails_are_written_as_eml_files(db: &TestDatabase) {
    let store = db.open();
    alice(&store);
    // A random UUID: no other test run uses the directory.
    let dir = std::env::temp_dir().join(format!(
        "authd-mail-{}",
        auth_core::UserId::generate().as_str()
    ));
    let mailer = Mailer::files(&dir, FROM).unwrap();
    assert!(!mailer.delivers());
    forgot_password(&store, "alice@example.com");

    let round = deliver_due(&store, &store, &content(), &mailer, T0).unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("To: alice@example.com"));
    token_in(&Received {
        recipients: Vec::new(),
        data: eml,
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

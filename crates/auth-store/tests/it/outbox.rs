use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use auth_core::{MailKind, MailOutbox, OutboxMail, UnixTime};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::{T0, create, user};

crate::on_both_backends!(
    a_queued_mail_is_claimed_once_until_its_lease_runs_out,
    a_sent_mail_leaves_the_outbox,
    a_failed_mail_comes_back_when_its_retry_is_due_and_a_given_up_one_never,
    concurrent_claims_never_take_the_same_mail,
    mails_survive_reopening_the_database,
);

const LEASE: i64 = 60;

fn queue(store: &Database, kind: MailKind, to: &str, at: UnixTime) -> OutboxMail {
    let mail = OutboxMail::new(kind, to, None, None, at);
    store.queue_mail(&mail).unwrap();
    mail
}

fn a_queued_mail_is_claimed_once_until_its_lease_runs_out(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let mail = OutboxMail::new(
        MailKind::ConfirmEmailChange,
        "alice.new@example.com",
        Some(alice.id.clone()),
        Some("alice.new@example.com".into()),
        T0,
    );
    store.queue_mail(&mail).unwrap();

    let claimed = store.claim_mail(T0, LEASE, 10).unwrap();
    assert_eq!(
        claimed,
        vec![OutboxMail {
            attempts: 1,
            ..mail.clone()
        }]
    );
    assert!(
        store
            .claim_mail(T0.plus_secs(LEASE - 1), LEASE, 10)
            .unwrap()
            .is_empty()
    );
    // Its sender died: the mail is due again once the lease is over.
    let again = store.claim_mail(T0.plus_secs(LEASE), LEASE, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

fn a_sent_mail_leaves_the_outbox(db: &TestDatabase) {
    let store = db.open();
    let mail = queue(&store, MailKind::ResetPassword, "bob@example.com", T0);
    assert_eq!(store.outbox_depth().unwrap(), (1, 0));
    store.claim_mail(T0, LEASE, 10).unwrap();
    store.mail_sent(&mail.id).unwrap();
    assert_eq!(store.outbox_depth().unwrap(), (0, 0));
    assert!(
        store
            .claim_mail(T0.plus_secs(LEASE), LEASE, 10)
            .unwrap()
            .is_empty()
    );
}

fn a_failed_mail_comes_back_when_its_retry_is_due_and_a_given_up_one_never(db: &TestDatabase) {
    let store = db.open();
    let retried = queue(&store, MailKind::VerifyEmail, "carol@example.com", T0);
    let doomed = queue(&store, MailKind::VerifyEmail, "nobody@invalid.example", T0);
    assert_eq!(store.claim_mail(T0, LEASE, 10).unwrap().len(), 2);
    store
        .mail_failed(
            &retried.id,
            "connection refused",
            T0,
            Some(T0.plus_secs(30)),
        )
        .unwrap();
    store
        .mail_failed(&doomed.id, "550 no such user", T0, None)
        .unwrap();

    assert!(
        store
            .claim_mail(T0.plus_secs(29), LEASE, 10)
            .unwrap()
            .is_empty()
    );
    let due = store.claim_mail(T0.plus_secs(30), LEASE, 10).unwrap();
    assert_eq!(
        due.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [retried.id.as_str()]
    );
    assert_eq!(store.outbox_depth().unwrap(), (1, 1));
    assert!(
        store
            .claim_mail(T0.plus_secs(365 * 86_400), LEASE, 10)
            .unwrap()
            .iter()
            .all(|m| m.id != doomed.id)
    );
}

fn concurrent_claims_never_take_the_same_mail(db: &TestDatabase) {
    let store = Arc::new(db.open());
    let mails = 60;
    for i in 0..mails {
        queue(
            &store,
            MailKind::VerifyEmail,
            &format!("user{i}@example.com"),
            T0.plus_secs(i),
        );
    }
    let workers = 4;
    let barrier = Arc::new(Barrier::new(workers));
    let claimed: Vec<Vec<String>> = (0..workers)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_mail(T0.plus_secs(mails), LEASE, 5).unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|w| w.join().unwrap())
        .collect();
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    let per_worker: Vec<usize> = claimed.iter().map(Vec::len).collect();
    assert_eq!(distinct.len(), 60, "every mail claimed");
    assert_eq!(
        all.len(),
        60,
        "none twice (claims per worker: {per_worker:?})"
    );
}

fn mails_survive_reopening_the_database(db: &TestDatabase) {
    let mail = queue(
        &db.open(),
        MailKind::PasswordChanged,
        "dave@example.com",
        T0,
    );
    let reopened = db.open();
    let claimed = reopened.claim_mail(T0, LEASE, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, mail.id);
    assert_eq!(claimed[0].kind, MailKind::PasswordChanged);
}

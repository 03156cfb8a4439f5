use auth_core::session::{self, TokenPolicy};
use auth_core::{
    App, ClientDeviceId, Device, DeviceStore, PasswordHash, Platform, PrincipalKind, RefreshRecord,
    SessionId, SessionPrincipal, SessionStore, Status, TokenHash, UserStore, Username, Wallet,
    WalletRole, WalletStore,
};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::{T0, user};

crate::on_both_backends!(
    a_session_is_found_by_its_id,
    a_session_is_found_with_its_principal_in_one_lookup,
    a_wallets_app_comes_as_it_stands_now,
    a_token_from_before_tokens_named_their_session_is_found_by_its_record,
    advancing_is_a_compare_and_set_on_the_generation,
    a_revoked_session_cannot_advance,
    revoking_twice_reports_the_second_as_a_no_op,
    purging_deletes_ended_and_long_revoked_sessions_with_their_tokens,
);

fn a_session_is_found_by_its_id(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    assert_eq!(
        store.find_session_with_principal(&new.session.id).unwrap(),
        Some((new.session.clone(), None)),
        "user u1 does not exist"
    );
    assert_eq!(store.session(&new.session.id).unwrap(), Some(new.session));
    let none = SessionId::from_stored("ses_none".into());
    assert_eq!(store.session(&none).unwrap(), None);
    assert_eq!(store.find_session_with_principal(&none).unwrap(), None);
}

/// A record of `new`'s current token, as releases before located tokens stored one.
fn chain_record(new: &session::NewSession) -> RefreshRecord {
    RefreshRecord {
        hash: new.token.hash(),
        session_id: new.session.id.clone(),
        generation: 0,
        expires_at: new.session.current_expires_at,
    }
}

fn a_token_from_before_tokens_named_their_session_is_found_by_its_record(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    assert_eq!(
        store.find_refresh(&new.token.hash()).unwrap(),
        None,
        "sessions started now keep no chain records"
    );
    db.insert_chain_record(&chain_record(&new));
    assert_eq!(
        store
            .find_refresh_with_principal(&new.token.hash())
            .unwrap(),
        Some((chain_record(&new), new.session, None))
    );
    assert_eq!(
        store
            .find_refresh(&TokenHash::from_stored("00".into()))
            .unwrap(),
        None
    );
}

fn next_record(id: &SessionId, generation: i64) -> RefreshRecord {
    RefreshRecord {
        hash: TokenHash::from_stored(format!("hash-of-generation-{generation}")),
        session_id: id.clone(),
        generation,
        expires_at: T0.plus_secs(1_000),
    }
}

fn advancing_is_a_compare_and_set_on_the_generation(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    let id = &new.session.id;
    assert!(
        store
            .advance_session(&new.session, 0, &next_record(id, 1), T0.plus_secs(5))
            .unwrap()
    );
    // A second writer that read generation 0 loses and leaves no trace.
    let mut loser = next_record(id, 1);
    loser.hash = TokenHash::from_stored("loser".into());
    assert!(
        !store
            .advance_session(&new.session, 0, &loser, T0.plus_secs(5))
            .unwrap()
    );
    let s = store.session(id).unwrap().unwrap();
    assert_eq!(s.generation, 1);
    assert_eq!(s.current_hash, next_record(id, 1).hash);
    assert_eq!(s.rotated_at, Some(T0.plus_secs(5)));
    assert_eq!(s.current_expires_at, T0.plus_secs(1_000));
}

fn a_revoked_session_cannot_advance(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::Device, "d1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    assert!(
        store
            .revoke_session(&new.session.id, T0.plus_secs(1))
            .unwrap()
    );
    let id = &new.session.id;
    assert!(
        !store
            .advance_session(&new.session, 0, &next_record(id, 1), T0.plus_secs(2))
            .unwrap()
    );
    let s = store.session(id).unwrap().unwrap();
    assert_eq!(s.revoked_at, Some(T0.plus_secs(1)));
    assert!(!s.is_live(T0.plus_secs(2)));
}

fn revoking_twice_reports_the_second_as_a_no_op(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    assert!(
        store
            .revoke_session(&new.session.id, T0.plus_secs(1))
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(&new.session.id, T0.plus_secs(2))
            .unwrap()
    );
    assert_eq!(
        store.session(&new.session.id).unwrap().unwrap().revoked_at,
        Some(T0.plus_secs(1))
    );
}

fn purging_deletes_ended_and_long_revoked_sessions_with_their_tokens(db: &TestDatabase) {
    let store = db.open();
    let policy = TokenPolicy::default();
    let start = |at| {
        let new = session::start(PrincipalKind::User, "u1", at, &policy).unwrap();
        store.create_session(&new.session).unwrap();
        new
    };
    let now = T0.plus_secs(40 * 86_400);
    let ended = start(T0);
    db.insert_chain_record(&chain_record(&ended));
    let revoked_long_ago = start(now.plus_secs(-3 * 86_400));
    store
        .revoke_session(&revoked_long_ago.session.id, now.plus_secs(-2 * 86_400))
        .unwrap();
    let revoked_recently = start(now.plus_secs(-3_600));
    store
        .revoke_session(&revoked_recently.session.id, now.plus_secs(-60))
        .unwrap();
    let live = start(now.plus_secs(-3_600));
    // Past its lifetime, but revoked a minute ago: kept a day for investigation.
    let ended_and_revoked_recently = start(T0.plus_secs(1));
    store
        .revoke_session(&ended_and_revoked_recently.session.id, now.plus_secs(-60))
        .unwrap();

    let purged = auth_core::purge_expired(&store, now, &mut || {}).unwrap();
    assert_eq!(purged.0, 2);
    for gone in [&ended, &revoked_long_ago] {
        assert_eq!(store.session(&gone.session.id).unwrap(), None);
        assert_eq!(
            store.find_refresh(&gone.token.hash()).unwrap(),
            None,
            "chain records go too"
        );
    }
    for kept in [&revoked_recently, &ended_and_revoked_recently, &live] {
        assert!(store.session(&kept.session.id).unwrap().is_some());
    }
    assert_eq!(
        auth_core::purge_expired(&store, now, &mut || {}).unwrap(),
        (0, 0)
    );
}

/// A user, a device and a wallet (with its app), each with a session.
fn one_of_each(store: &Database) -> Vec<(session::NewSession, SessionPrincipal)> {
    let start = |kind, id: &str| session::start(kind, id, T0, &TokenPolicy::default()).unwrap();
    let ada = user("ada@example.com", "ada");
    let hers = start(PrincipalKind::User, ada.id.as_str());
    store.create_user(&ada, &hers.session).unwrap();

    let phone = Device::new(
        ClientDeviceId::parse("phone-0001").unwrap(),
        Platform::Ios,
        T0,
    );
    let its = start(PrincipalKind::Device, phone.id.as_str());
    store.create_device(&phone, &its.session).unwrap();

    let app = App::new("Sensors", T0).unwrap();
    store.create_app(&app).unwrap();
    let sensor = Wallet::new(
        app.id.clone(),
        &Username::parse("sensor01").unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        WalletRole::parse("device").unwrap(),
        T0,
    );
    store.create_wallet(&sensor).unwrap();
    let sensors = start(PrincipalKind::Wallet, sensor.id.as_str());
    store.create_session(&sensors.session).unwrap();

    vec![
        (hers, SessionPrincipal::User(ada)),
        (its, SessionPrincipal::Device(phone)),
        (sensors, SessionPrincipal::Wallet(sensor, Some(app))),
    ]
}

fn a_session_is_found_with_its_principal_in_one_lookup(db: &TestDatabase) {
    let store = db.open();
    let kinds = [
        PrincipalKind::User,
        PrincipalKind::Device,
        PrincipalKind::Wallet,
    ];
    for (new, principal) in one_of_each(&store) {
        assert_eq!(
            store.find_session_with_principal(&new.session.id).unwrap(),
            Some((new.session.clone(), Some(principal))),
            "{:?}",
            new.session.kind
        );
        // Sessions of the other kinds whose principal id happens to be this principal's
        // find no principal: ids are unique per table, not across them.
        for kind in kinds.into_iter().filter(|k| *k != new.session.kind) {
            let lookalike =
                session::start(kind, &new.session.principal_id, T0, &TokenPolicy::default())
                    .unwrap();
            store.create_session(&lookalike.session).unwrap();
            let (found, principal) = store
                .find_session_with_principal(&lookalike.session.id)
                .unwrap()
                .unwrap();
            assert_eq!((found.kind, principal), (kind, None));
        }
    }

    // A session whose principal is gone: the session, without a principal.
    for kind in kinds {
        let orphan = session::start(kind, "gone", T0, &TokenPolicy::default()).unwrap();
        store.create_session(&orphan.session).unwrap();
        assert_eq!(
            store
                .find_session_with_principal(&orphan.session.id)
                .unwrap(),
            Some((orphan.session, None))
        );
    }
}

fn a_wallets_app_comes_as_it_stands_now(db: &TestDatabase) {
    let store = db.open();
    let (sensors, principal) = one_of_each(&store).pop().unwrap();
    let SessionPrincipal::Wallet(_, Some(app)) = principal else {
        panic!("the wallet comes with its app");
    };
    store
        .set_app_status(&app.id, Status::Suspended, T0.plus_secs(5))
        .unwrap();
    let (_, found) = store
        .find_session_with_principal(&sensors.session.id)
        .unwrap()
        .unwrap();
    let Some(SessionPrincipal::Wallet(_, Some(now))) = found else {
        panic!("the wallet comes with its app: {found:?}");
    };
    assert_eq!(now.status, Status::Suspended);
}

#[test]
fn a_checkpoint_empties_sqlites_write_ahead_log() {
    let db = TestDatabase::sqlite();
    let store = db.open();
    start_sessions(&store, 50);
    assert!(wal_bytes(&db) > 0, "the writes are in the log");
    assert!(store.checkpoint(0).unwrap());
    assert_eq!(wal_bytes(&db), 0, "copied into the database and emptied");
    assert_eq!(
        auth_core::Readiness::live_sessions(&store, T0).unwrap(),
        50,
        "nothing lost"
    );
}

#[test]
fn a_checkpoint_empties_the_log_while_requests_keep_reading() {
    let db = TestDatabase::sqlite();
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Four readers that never pause: SQLite's own checkpoints never find a moment
        // without one.
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert!(store.session(&new.session.id).unwrap().is_some());
                }
            });
        }
        start_sessions(&store, 50);
        assert!(wal_bytes(&db) > 0, "the writes are in the log");
        // A checkpoint gives up when a request outlasts its short wait (a descheduled
        // reader on a busy machine); one of a few tries completes.
        let emptied = (0..20).any(|_| store.checkpoint(0).unwrap());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(emptied, "no checkpoint completed beside the readers");
    });
    assert_eq!(wal_bytes(&db), 0, "copied into the database and emptied");
}

/// Starts `n` sessions of users u0, u1, …
fn start_sessions(store: &Database, n: usize) {
    for k in 0..n {
        let new = session::start(
            PrincipalKind::User,
            &format!("u{k}"),
            T0,
            &TokenPolicy::default(),
        )
        .unwrap();
        store.create_session(&new.session).unwrap();
    }
}

/// The size of a SQLite test database's write-ahead log.
fn wal_bytes(db: &TestDatabase) -> u64 {
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len())
}

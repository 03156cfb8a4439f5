//! The refresh path production takes (`rotate_admitting` over
//! `find_refresh_with_principal` and `advance_session`) for each kind of principal, under contention from two processes,
//! and every value a rotation writes read back from its own column.

use std::sync::{Arc, Barrier};

use auth_core::session::{self, TokenPolicy};
use auth_core::{
    App, ClientDeviceId, Device, DeviceStore, PasswordHash, Platform, PrincipalKind, RefreshRecord,
    RefreshToken, SessionPrincipal, SessionStore, TokenHash, UserStore, Username, Wallet,
    WalletRole, WalletStore,
};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::{T0, user};

crate::on_both_backends!(
    a_user_refresh_rotates_once_across_two_processes,
    a_device_refresh_rotates_once_across_two_processes,
    a_wallet_exchange_rotates_once_across_two_processes,
    a_stored_session_reads_back_column_for_column,
    an_advance_writes_each_value_to_its_own_column,
);

/// A new session of principal `id`, started at `at` under the default policy.
fn started(kind: PrincipalKind, id: &str, at: auth_core::UnixTime) -> session::NewSession {
    session::start(kind, id, at, &TokenPolicy::default()).unwrap()
}

/// `rotate_admitting` from 16 threads over two processes; every caller must get the same
/// successor and the principal `expected` admits, and the chain must advance once.
fn rotate_from_two_processes(
    a: &Database,
    b: &Database,
    token: &RefreshToken,
    kind: PrincipalKind,
    expected: fn(&SessionPrincipal) -> bool,
) {
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (token, barrier) = (token.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                session::rotate_admitting(
                    &store,
                    &token,
                    kind,
                    T0.plus_secs(1),
                    &TokenPolicy::default(),
                    |_, principal| Ok(principal.as_ref().is_some_and(expected)),
                )
                .map(|(rotated, principal)| {
                    (
                        rotated.token.expose().to_owned(),
                        rotated.session.generation,
                        principal,
                    )
                })
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let first = results[0].as_ref().unwrap();
    for r in &results {
        assert_eq!(
            r.as_ref().unwrap(),
            first,
            "one successor for all: {results:?}"
        );
    }
    assert_eq!(first.1, 1, "the chain advanced exactly once");
    assert!(first.2, "the principal came with the token");
}

fn a_user_refresh_rotates_once_across_two_processes(db: &TestDatabase) {
    let (a, b) = (db.open(), db.open());
    let ada = user("ada@example.com", "ada");
    let new = started(PrincipalKind::User, ada.id.as_str(), T0);
    a.create_user(&ada, &new.session).unwrap();
    rotate_from_two_processes(&a, &b, &new.token, PrincipalKind::User, |p| {
        matches!(p, SessionPrincipal::User(_))
    });
}

fn a_device_refresh_rotates_once_across_two_processes(db: &TestDatabase) {
    let (a, b) = (db.open(), db.open());
    let device = Device::new(
        ClientDeviceId::parse("phone-0001").unwrap(),
        Platform::Ios,
        T0,
    );
    let new = started(PrincipalKind::Device, device.id.as_str(), T0);
    a.create_device(&device, &new.session).unwrap();
    rotate_from_two_processes(&a, &b, &new.token, PrincipalKind::Device, |p| {
        matches!(p, SessionPrincipal::Device(_))
    });
}

fn a_wallet_exchange_rotates_once_across_two_processes(db: &TestDatabase) {
    let (a, b) = (db.open(), db.open());
    let app = App::new("Sensors", T0).unwrap();
    a.create_app(&app).unwrap();
    let wallet = Wallet::new(
        app.id.clone(),
        &Username::parse("sensor01").unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        WalletRole::parse("device").unwrap(),
        T0,
    );
    a.create_wallet(&wallet).unwrap();
    let new = started(PrincipalKind::Wallet, wallet.id.as_str(), T0);
    a.create_session(&new.session).unwrap();
    rotate_from_two_processes(&a, &b, &new.token, PrincipalKind::Wallet, |p| {
        matches!(p, SessionPrincipal::Wallet(_, Some(_)))
    });
}

/// A session written by each statement that stores one (plain, with a user, with a new
/// device) reads back equal, column for column: a swapped bind would show here.
fn a_stored_session_reads_back_column_for_column(db: &TestDatabase) {
    let store = db.open();
    let plain = started(PrincipalKind::Wallet, "wal_1", T0);
    store.create_session(&plain.session).unwrap();
    let ada = user("ada@example.com", "ada");
    let with_user = started(PrincipalKind::User, ada.id.as_str(), T0.plus_secs(3));
    store.create_user(&ada, &with_user.session).unwrap();
    let device = Device::new(
        ClientDeviceId::parse("phone-0002").unwrap(),
        Platform::Web,
        T0,
    );
    let with_device = started(PrincipalKind::Device, device.id.as_str(), T0.plus_secs(7));
    store.create_device(&device, &with_device.session).unwrap();
    for new in [&plain, &with_user, &with_device] {
        let (session, _) = store
            .find_session_with_principal(&new.session.id)
            .unwrap()
            .unwrap();
        assert_eq!(session, new.session);
    }
}

/// Every value of an advance has a distinct number, so that a value bound to another
/// placeholder of the same type lands in the wrong column and is seen.
fn an_advance_writes_each_value_to_its_own_column(db: &TestDatabase) {
    let store = db.open();
    let device = Device::new(
        ClientDeviceId::parse("phone-0003").unwrap(),
        Platform::Android,
        T0,
    );
    let new = started(PrincipalKind::Device, device.id.as_str(), T0);
    store.create_device(&device, &new.session).unwrap();
    let next = RefreshRecord {
        hash: TokenHash::from_stored("next-token-hash".into()),
        session_id: new.session.id.clone(),
        generation: 1,
        expires_at: T0.plus_secs(777),
    };
    let rotated_at = T0.plus_secs(55);
    assert!(
        store
            .advance_session(&new.session, 0, &next, rotated_at)
            .unwrap()
    );
    let session = store.session(&new.session.id).unwrap().unwrap();
    assert_eq!(session.generation, 1);
    assert_eq!(session.current_hash, next.hash);
    assert_eq!(session.current_expires_at, T0.plus_secs(777));
    assert_eq!(session.rotated_at, Some(rotated_at));
    assert_eq!(
        (session.created_at, session.expires_at, session.revoked_at),
        (
            new.session.created_at,
            new.session.expires_at,
            new.session.revoked_at
        ),
        "what an advance does not change stays"
    );
    let seen = store.device_by_id(device.id.as_str()).unwrap().unwrap();
    assert_eq!(seen.last_seen_at, rotated_at);
    assert_eq!(seen.created_at, T0);
}

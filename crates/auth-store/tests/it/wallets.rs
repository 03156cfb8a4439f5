use auth_core::session::{self, TokenPolicy};
use auth_core::{
    App, Page, PasswordHash, PrincipalKind, SessionStore, Status, StoreError, Username, Wallet,
    WalletChange, WalletRole, WalletStore,
};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    apps_are_listed_in_pages_oldest_first,
    wallet_usernames_are_unique_per_app_ignoring_case,
    suspending_or_rotating_a_wallet_revokes_its_sessions,
    suspending_an_app_revokes_its_wallets_sessions,
    deleting_a_wallet_deletes_its_sessions,
    changes_to_different_fields_do_not_undo_each_other,
);

fn app(store: &Database, name: &str, at: i64) -> App {
    let app = App::new(name, T0.plus_secs(at)).unwrap();
    store.create_app(&app).unwrap();
    app
}

fn wallet(store: &Database, app: &App, username: &str) -> Wallet {
    let w = Wallet::new(
        app.id.clone(),
        &Username::parse(username).unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        WalletRole::parse("device").unwrap(),
        T0,
    );
    store.create_wallet(&w).unwrap();
    w
}

fn session_for(store: &Database, wallet: &Wallet) -> session::NewSession {
    let new = session::start(
        PrincipalKind::Wallet,
        wallet.id.as_str(),
        T0,
        &TokenPolicy::default(),
    )
    .unwrap();
    store.create_session(&new.session).unwrap();
    new
}

fn apps_are_listed_in_pages_oldest_first(db: &TestDatabase) {
    let store = db.open();
    let created: Vec<App> = (0..5)
        .map(|i| app(&store, &format!("app {i}"), i))
        .collect();
    let (first, total) = store.list_apps(Page::new(2, 0).unwrap()).unwrap();
    assert_eq!(total, 5);
    assert_eq!(first, created[..2].to_vec());
    let (last, _) = store.list_apps(Page::new(2, 4).unwrap()).unwrap();
    assert_eq!(last, created[4..].to_vec());
    assert_eq!(store.app(&created[3].id).unwrap(), Some(created[3].clone()));
}

fn wallet_usernames_are_unique_per_app_ignoring_case(db: &TestDatabase) {
    let store = db.open();
    let a = app(&store, "a", 0);
    let b = app(&store, "b", 1);
    let w = wallet(&store, &a, "sensor01");
    let mut twin = w.clone();
    twin.id = auth_core::WalletId::from_stored("wal_twin".into());
    twin.username = "SENSOR01".into();
    assert!(matches!(
        store.create_wallet(&twin),
        Err(StoreError::Duplicate)
    ));
    wallet(&store, &b, "sensor01");
    let found = store
        .wallet_by_username(&a.id, &Username::parse("Sensor01").unwrap())
        .unwrap();
    assert_eq!(found, Some(w.clone()));
    let (listed, total) = store
        .list_wallets(&a.id, Page::new(50, 0).unwrap())
        .unwrap();
    assert_eq!((listed, total), (vec![w], 1));
}

fn suspending_or_rotating_a_wallet_revokes_its_sessions(db: &TestDatabase) {
    let store = db.open();
    let a = app(&store, "a", 0);
    let w = wallet(&store, &a, "sensor01");
    let (s1, s2) = (session_for(&store, &w), session_for(&store, &w));
    let new_role = WalletChange {
        role: Some(WalletRole::parse("gateway").unwrap()),
        ..WalletChange::default()
    };
    assert_eq!(
        store
            .update_wallet(w.id.as_str(), &new_role, false, T0.plus_secs(1))
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        store.wallet(w.id.as_str()).unwrap().unwrap().role.as_str(),
        "gateway"
    );
    assert!(
        store
            .session(&s1.session.id)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let suspend = WalletChange {
        status: Some(Status::Suspended),
        ..WalletChange::default()
    };
    assert_eq!(
        store
            .update_wallet(w.id.as_str(), &suspend, true, T0.plus_secs(2))
            .unwrap(),
        Some(2)
    );
    for s in [&s1, &s2] {
        assert_eq!(
            store.session(&s.session.id).unwrap().unwrap().revoked_at,
            Some(T0.plus_secs(2))
        );
    }
    assert_eq!(
        store
            .update_wallet("wal_missing", &suspend, true, T0)
            .unwrap(),
        None
    );
}

fn changes_to_different_fields_do_not_undo_each_other(db: &TestDatabase) {
    let store = db.open();
    let a = app(&store, "a", 0);
    let w = wallet(&store, &a, "sensor01");
    // Two admins act on the same wallet from the same stale view.
    let new_password = WalletChange {
        password_hash: Some(PasswordHash::from_stored(
            "$argon2id$v=19$m=8,t=1,p=1$bmV3$bmV3".into(),
        )),
        ..WalletChange::default()
    };
    let new_role = WalletChange {
        role: Some(WalletRole::parse("gateway").unwrap()),
        ..WalletChange::default()
    };
    store
        .update_wallet(w.id.as_str(), &new_password, true, T0.plus_secs(1))
        .unwrap();
    store
        .update_wallet(w.id.as_str(), &new_role, false, T0.plus_secs(1))
        .unwrap();
    let stored = store.wallet(w.id.as_str()).unwrap().unwrap();
    assert_eq!(stored.role.as_str(), "gateway");
    assert_eq!(
        stored.password_hash,
        new_password.password_hash.unwrap(),
        "the role change kept the new password"
    );
    assert_eq!(stored.status, Status::Active);
}

fn suspending_an_app_revokes_its_wallets_sessions(db: &TestDatabase) {
    let store = db.open();
    let a = app(&store, "a", 0);
    let other = app(&store, "other", 1);
    let s = session_for(&store, &wallet(&store, &a, "sensor01"));
    let untouched = session_for(&store, &wallet(&store, &other, "sensor01"));
    assert!(
        store
            .set_app_status(&a.id, Status::Suspended, T0.plus_secs(5))
            .unwrap()
    );
    assert_eq!(store.app(&a.id).unwrap().unwrap().status, Status::Suspended);
    assert_eq!(
        store.session(&s.session.id).unwrap().unwrap().revoked_at,
        Some(T0.plus_secs(5))
    );
    assert!(
        store
            .session(&untouched.session.id)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        store
            .set_app_status(&a.id, Status::Active, T0.plus_secs(6))
            .unwrap()
    );
}

fn deleting_a_wallet_deletes_its_sessions(db: &TestDatabase) {
    let store = db.open();
    let a = app(&store, "a", 0);
    let w = wallet(&store, &a, "sensor01");
    let s = session_for(&store, &w);
    assert!(store.delete_wallet(w.id.as_str()).unwrap());
    assert_eq!(store.wallet(w.id.as_str()).unwrap(), None);
    assert_eq!(store.session(&s.session.id).unwrap(), None);
    assert!(!store.delete_wallet(w.id.as_str()).unwrap());
}

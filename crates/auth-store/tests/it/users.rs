use std::sync::{Arc, Barrier};

use auth_core::{PasswordHash, StoreError, UserStore};
use auth_store::test_support::TestDatabase;

use crate::{T0, create, user};

crate::on_both_backends!(
    a_user_reads_back_as_it_was_stored,
    emails_and_usernames_are_unique_ignoring_ascii_case,
    concurrent_registrations_of_one_email_create_one_account,
    a_password_hash_can_be_replaced,
    users_survive_reopening_the_database,
    a_refused_registration_leaves_no_session_behind,
    a_user_can_be_suspended_and_reactivated,
    a_session_is_found_with_its_user_in_one_lookup,
    a_closed_database_refuses_work_as_unavailable_and_leaves_the_data,
);

fn a_user_reads_back_as_it_was_stored(db: &TestDatabase) {
    let store = db.open();
    let alice = user("Alice@Example.com", "Alice");
    create(&store, &alice).unwrap();
    assert_eq!(
        store.user_by_email("alice@example.com").unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_id(&alice.id).unwrap(), Some(alice));
    assert_eq!(store.user_by_email("bob@example.com").unwrap(), None);
}

fn emails_and_usernames_are_unique_ignoring_ascii_case(db: &TestDatabase) {
    let store = db.open();
    create(&store, &user("alice@example.com", "alice")).unwrap();
    let same_email = create(&store, &user("ALICE@example.com", "alice2"));
    assert!(
        matches!(same_email, Err(StoreError::Duplicate)),
        "{same_email:?}"
    );
    let same_name = create(&store, &user("other@example.com", "ALICE"));
    assert!(
        matches!(same_name, Err(StoreError::Duplicate)),
        "{same_name:?}"
    );
    create(&store, &user("alıce@example.com", "alice3")).unwrap();
}

fn concurrent_registrations_of_one_email_create_one_account(db: &TestDatabase) {
    let store = db.open();
    let threads = 12;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                let u = user("race@example.com", &format!("racer{i}"));
                barrier.wait();
                create(&store, &u)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    let duplicates = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Duplicate)))
        .count();
    assert_eq!((created, duplicates), (1, threads - 1), "{results:?}");
}

fn a_password_hash_can_be_replaced(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let new_hash =
        PasswordHash::from_stored("$argon2id$v=19$m=16,t=1,p=1$bmV3c2FsdA$bmV3aGFzaA".into());
    assert!(
        store
            .update_password_hash(&alice.id, &alice.password_hash, &new_hash, T0.plus_secs(60))
            .unwrap()
    );
    let stored = store.user_by_id(&alice.id).unwrap().unwrap();
    assert_eq!(stored.password_hash, new_hash);
    assert_eq!(stored.updated_at, T0.plus_secs(60));
    // A replacement of a hash that is no longer stored changes nothing.
    assert!(
        !store
            .update_password_hash(&alice.id, &alice.password_hash, &alice.password_hash, T0)
            .unwrap()
    );
    assert_eq!(
        store.user_by_id(&alice.id).unwrap().unwrap().password_hash,
        new_hash
    );
}

fn users_survive_reopening_the_database(db: &TestDatabase) {
    let alice = user("alice@example.com", "alice");
    create(&db.open(), &alice).unwrap();
    assert_eq!(db.open().user_by_id(&alice.id).unwrap(), Some(alice));
}

fn a_refused_registration_leaves_no_session_behind(db: &TestDatabase) {
    use auth_core::SessionStore;
    let store = db.open();
    create(&store, &user("alice@example.com", "alice")).unwrap();
    let new = auth_core::session::start(
        auth_core::PrincipalKind::User,
        "someone",
        T0,
        &Default::default(),
    )
    .unwrap();
    let refused = store.create_user(&user("ALICE@example.com", "bob"), &new.session);
    assert!(matches!(refused, Err(StoreError::Duplicate)));
    assert_eq!(
        store.session(&new.session.id).unwrap(),
        None,
        "all or nothing"
    );
}

fn a_user_can_be_suspended_and_reactivated(db: &TestDatabase) {
    use auth_core::UserStatus;
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    assert!(
        store
            .set_status(&alice.id, UserStatus::Suspended, T0.plus_secs(1))
            .unwrap()
    );
    assert_eq!(
        store.user_by_id(&alice.id).unwrap().unwrap().status,
        UserStatus::Suspended
    );
    assert!(
        store
            .set_status(&alice.id, UserStatus::Active, T0.plus_secs(2))
            .unwrap()
    );
    assert_eq!(
        store.user_by_id(&alice.id).unwrap().unwrap().status,
        UserStatus::Active
    );
    let nobody = auth_core::UserId::from_stored("no-such-user".into());
    assert!(
        !store
            .set_status(&nobody, UserStatus::Suspended, T0)
            .unwrap()
    );
}

fn a_session_is_found_with_its_user_in_one_lookup(db: &TestDatabase) {
    use auth_core::session::{self, TokenPolicy};
    use auth_core::{PrincipalKind, SessionId, SessionStore};
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let policy = TokenPolicy::default();
    let hers = session::start(PrincipalKind::User, alice.id.as_str(), T0, &policy).unwrap();
    store.create_user(&alice, &hers.session).unwrap();
    assert_eq!(
        store.find_user_session(&hers.session.id).unwrap(),
        Some((hers.session, Some(alice.clone())))
    );

    let device = session::start(PrincipalKind::Device, alice.id.as_str(), T0, &policy).unwrap();
    store.create_session(&device.session).unwrap();
    assert_eq!(
        store.find_user_session(&device.session.id).unwrap(),
        Some((device.session, None)),
        "a device's session never finds a user"
    );

    assert_eq!(
        store
            .find_user_session(&SessionId::from_stored("ses_none".into()))
            .unwrap(),
        None
    );
}

fn a_closed_database_refuses_work_as_unavailable_and_leaves_the_data(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let clone = store.clone();
    store.close();
    for handle in [&store, &clone] {
        let refused = handle.user_by_id(&alice.id);
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
    }
    assert_eq!(db.open().user_by_id(&alice.id).unwrap(), Some(alice));
}

use std::net::IpAddr;

use auth_core::{
    AccountStore, MailOutbox, OneTimePolicy, OneTimePurpose, OneTimeStore, Page, PasswordHash,
    PrincipalKind, Redemption, SessionOrigin, SessionStore, UserStore,
};
use auth_store::test_support::TestDatabase;

use crate::{T0, create, user, user_session};

crate::on_both_backends!(
    a_password_change_ends_every_other_live_session_in_the_same_step,
    a_password_changed_meanwhile_is_not_overwritten,
    a_session_keeps_where_it_was_started_from,
    a_principal_lists_only_its_own_live_sessions_newest_first,
    a_principal_ends_only_its_own_sessions,
    a_deleted_user_leaves_nothing_behind,
    users_are_listed_and_searched_by_address,
);

fn page(limit: u32, offset: u32) -> Page {
    Page::new(limit, offset).unwrap()
}

fn a_password_change_ends_every_other_live_session_in_the_same_step(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let current = user_session(&alice);
    store.create_user(&alice, &current).unwrap();
    let other = user_session(&alice);
    store.create_session(&other).unwrap();
    let bob = user("bob@example.com", "bob");
    let bobs = user_session(&bob);
    store.create_user(&bob, &bobs).unwrap();
    let new = PasswordHash::from_stored("$argon2id$new".into());

    let revoked = store
        .change_password(&alice.id, &alice.password_hash, &new, &current.id, T0)
        .unwrap();

    assert_eq!(revoked, Some(1));
    assert!(store.session(&current.id).unwrap().unwrap().is_live(T0));
    assert!(!store.session(&other.id).unwrap().unwrap().is_live(T0));
    assert!(store.session(&bobs.id).unwrap().unwrap().is_live(T0));
    assert_eq!(
        store.user_by_id(&alice.id).unwrap().unwrap().password_hash,
        new
    );
}

fn a_password_changed_meanwhile_is_not_overwritten(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let current = user_session(&alice);
    store.create_user(&alice, &current).unwrap();
    let other = user_session(&alice);
    store.create_session(&other).unwrap();
    let stale = PasswordHash::from_stored("$argon2id$stale".into());
    let new = PasswordHash::from_stored("$argon2id$new".into());

    assert_eq!(
        store
            .change_password(&alice.id, &stale, &new, &current.id, T0)
            .unwrap(),
        None
    );
    assert!(store.session(&other.id).unwrap().unwrap().is_live(T0));
    assert_eq!(
        store.user_by_id(&alice.id).unwrap().unwrap().password_hash,
        alice.password_hash
    );
}

fn a_session_keeps_where_it_was_started_from(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let mut session = user_session(&alice);
    let ip: IpAddr = "2001:db8::7".parse().unwrap();
    session.origin = SessionOrigin::new(Some("Mozilla/5.0 (X11; Linux x86_64)"), Some(ip));
    store.create_user(&alice, &session).unwrap();
    let stored = store.session(&session.id).unwrap().unwrap();
    assert_eq!(
        stored.origin.user_agent.as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64)")
    );
    assert_eq!(stored.origin.ip_address.as_deref(), Some("2001:db8::7"));
}

fn a_principal_lists_only_its_own_live_sessions_newest_first(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let mut newer = user_session(&alice);
    newer.created_at = T0.plus_secs(10);
    store.create_session(&newer).unwrap();
    let ended = user_session(&alice);
    store.create_session(&ended).unwrap();
    store.revoke_session(&ended.id, T0).unwrap();
    let mut expired = user_session(&alice);
    expired.expires_at = T0.plus_secs(5);
    store.create_session(&expired).unwrap();
    create(&store, &user("bob@example.com", "bob")).unwrap();

    let (sessions, total) = store
        .live_sessions_of(
            PrincipalKind::User,
            alice.id.as_str(),
            T0.plus_secs(20),
            page(1, 0),
        )
        .unwrap();
    assert_eq!(total, 2, "the first session and the newer one");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, newer.id);
    let (rest, _) = store
        .live_sessions_of(
            PrincipalKind::User,
            alice.id.as_str(),
            T0.plus_secs(20),
            page(1, 1),
        )
        .unwrap();
    assert_ne!(rest[0].id, newer.id);
    assert_eq!(rest[0].principal_id, alice.id.as_str());
    let (none, total) = store
        .live_sessions_of(PrincipalKind::Device, alice.id.as_str(), T0, page(10, 0))
        .unwrap();
    assert!(none.is_empty() && total == 0, "kinds are apart");
}

fn a_principal_ends_only_its_own_sessions(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let first = user_session(&alice);
    store.create_user(&alice, &first).unwrap();
    let second = user_session(&alice);
    store.create_session(&second).unwrap();
    let bob = user("bob@example.com", "bob");
    let bobs = user_session(&bob);
    store.create_user(&bob, &bobs).unwrap();
    let alice_id = alice.id.as_str();

    assert!(
        !store
            .revoke_own_session(PrincipalKind::User, alice_id, &bobs.id, T0)
            .unwrap()
    );
    assert!(store.session(&bobs.id).unwrap().unwrap().is_live(T0));
    assert!(
        store
            .revoke_own_session(PrincipalKind::User, alice_id, &second.id, T0)
            .unwrap()
    );
    assert!(
        !store
            .revoke_own_session(PrincipalKind::User, alice_id, &second.id, T0)
            .unwrap(),
        "an ended session is no longer there to end"
    );
    assert_eq!(
        store
            .revoke_sessions_of(PrincipalKind::User, alice_id, None, T0)
            .unwrap(),
        1
    );
    assert!(!store.session(&first.id).unwrap().unwrap().is_live(T0));
    assert!(store.session(&bobs.id).unwrap().unwrap().is_live(T0));
}

fn a_deleted_user_leaves_nothing_behind(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    let session = user_session(&alice);
    store.create_user(&alice, &session).unwrap();
    let (token, record) = OneTimePolicy::default()
        .issue(&alice.id, OneTimePurpose::ResetPassword, None, T0)
        .unwrap();
    store.issue_one_time(&record).unwrap();
    store
        .queue_mail(&auth_core::OutboxMail::new(
            auth_core::MailKind::PasswordChanged,
            "alice@example.com",
            Some(alice.id.clone()),
            None,
            T0,
        ))
        .unwrap();

    assert!(store.delete_user(&alice.id, T0).unwrap());
    assert!(!store.delete_user(&alice.id, T0).unwrap());
    assert_eq!(store.user_by_id(&alice.id).unwrap(), None);
    assert_eq!(store.session(&session.id).unwrap(), None);
    assert_eq!(
        store
            .reset_password(&token.hash(), &alice.password_hash, T0)
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(auth_core::MailOutbox::outbox_depth(&store).unwrap(), (0, 0));
    // The address is free again.
    create(&store, &user("alice@example.com", "alice")).unwrap();
}

fn users_are_listed_and_searched_by_address(db: &TestDatabase) {
    let store = db.open();
    for (email, name) in [
        ("alice@example.com", "alice"),
        ("bob@example.org", "bob"),
        ("carol_x@example.com", "carol"),
        ("carolx@example.com", "carol2"),
    ] {
        create(&store, &user(email, name)).unwrap();
    }
    let (all, total) = store.list_users(None, page(2, 0)).unwrap();
    assert_eq!((all.len(), total), (2, 4));
    let (found, total) = store.list_users(Some("example.com"), page(10, 0)).unwrap();
    assert_eq!(total, 3);
    assert!(found.iter().all(|u| u.email.ends_with("example.com")));
    // `_` is a character to find, not a wildcard.
    let (found, total) = store.list_users(Some("carol_"), page(10, 0)).unwrap();
    assert_eq!(total, 1);
    assert_eq!(found[0].email, "carol_x@example.com");
}

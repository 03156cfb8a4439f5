use std::sync::{Arc, Barrier};

use auth_core::{
    AccountStore, DeviceLink, DeviceLinks, DeviceStore, Platform, SessionStore, UserStore,
};
use auth_store::test_support::TestDatabase;

use crate::devices::registered;
use crate::{T0, create, user};

crate::on_both_backends!(
    a_device_is_linked_to_one_user_and_unlinked_by_that_user_only,
    of_two_users_linking_one_device_at_once_one_gets_it,
    a_deleted_user_leaves_their_devices_unlinked_and_signed_out,
);

fn a_device_is_linked_to_one_user_and_unlinked_by_that_user_only(db: &TestDatabase) {
    let store = db.open();
    let (alice, bob) = (
        user("alice@example.com", "alice"),
        user("bob@example.com", "bob"),
    );
    create(&store, &alice).unwrap();
    create(&store, &bob).unwrap();
    let (phone, session) = registered(&store, "device-0001", Platform::Ios);
    let id = phone.id.as_str();

    let DeviceLink::Linked(linked) = store.link_device(id, &alice.id, T0).unwrap() else {
        panic!("not linked");
    };
    assert_eq!(linked.user_id.as_ref(), Some(&alice.id));
    assert_eq!(
        store.device_by_id(id).unwrap().unwrap().user_id.as_ref(),
        Some(&alice.id)
    );
    assert!(matches!(
        store.link_device(id, &alice.id, T0).unwrap(),
        DeviceLink::Linked(_)
    ));
    assert_eq!(
        store.link_device(id, &bob.id, T0).unwrap(),
        DeviceLink::LinkedToOther
    );
    assert_eq!(
        store.link_device("dev_none", &bob.id, T0).unwrap(),
        DeviceLink::Unknown
    );
    assert_eq!(store.linked_devices(&alice.id).unwrap().len(), 1);
    assert!(store.linked_devices(&bob.id).unwrap().is_empty());

    assert!(!store.unlink_device(&bob.id, id, T0).unwrap());
    assert!(
        store
            .session(&session.session.id)
            .unwrap()
            .unwrap()
            .is_live(T0)
    );
    assert!(store.unlink_device(&alice.id, id, T0).unwrap());
    assert!(
        !store
            .session(&session.session.id)
            .unwrap()
            .unwrap()
            .is_live(T0),
        "unlinking ends the device's sessions"
    );
    assert_eq!(store.device_by_id(id).unwrap().unwrap().user_id, None);
}

fn of_two_users_linking_one_device_at_once_one_gets_it(db: &TestDatabase) {
    let store = db.open();
    let users: Vec<_> = (0..4)
        .map(|n| {
            let u = user(&format!("user{n}@example.com"), &format!("user{n}"));
            create(&store, &u).unwrap();
            u
        })
        .collect();
    let (phone, _) = registered(&store, "device-0001", Platform::Android);
    let barrier = Arc::new(Barrier::new(users.len()));
    let handles: Vec<_> = users
        .into_iter()
        .map(|u| {
            let (store, barrier, id) = (store.clone(), barrier.clone(), phone.id.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.link_device(id.as_str(), &u.id, T0).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let linked = outcomes
        .iter()
        .filter(|o| matches!(o, DeviceLink::Linked(_)))
        .count();
    assert_eq!(linked, 1, "{outcomes:?}");
}

fn a_deleted_user_leaves_their_devices_unlinked_and_signed_out(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let (phone, session) = registered(&store, "device-0001", Platform::Web);
    store.link_device(phone.id.as_str(), &alice.id, T0).unwrap();

    assert!(store.delete_user(&alice.id, T0).unwrap());
    let phone = store.device_by_id(phone.id.as_str()).unwrap().unwrap();
    assert_eq!(phone.user_id, None);
    assert!(
        !store
            .session(&session.session.id)
            .unwrap()
            .unwrap()
            .is_live(T0)
    );
    assert_eq!(store.user_by_id(&alice.id).unwrap(), None);
}

use std::sync::{Arc, Barrier};

use auth_core::session::{self, TokenPolicy};
use auth_core::{
    Authority, ClientDeviceId, Device, DeviceStore, KeyRing, PasswordHasher, Platform,
    PrincipalKind, SessionStore, StoreError, TokenHash, TokenSigner, purge_inactive_devices,
};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    a_device_reads_back_by_key_and_by_id,
    one_platform_and_device_id_is_one_device,
    concurrent_first_calls_register_one_device,
    purging_deletes_idle_devices_with_their_sessions_and_tokens,
    a_device_is_seen_when_its_session_advances_and_only_then,
);

fn new_device(id: &str, platform: Platform) -> (Device, session::NewSession) {
    let device = Device::new(ClientDeviceId::parse(id).unwrap(), platform, T0);
    let new = session::start(
        PrincipalKind::Device,
        device.id.as_str(),
        T0,
        &TokenPolicy::default(),
    )
    .unwrap();
    (device, new)
}

/// A device stored with its first session.
pub(crate) fn registered(
    store: &Database,
    id: &str,
    platform: Platform,
) -> (Device, session::NewSession) {
    let (device, new) = new_device(id, platform);
    store.create_device(&device, &new.session).unwrap();
    (device, new)
}

fn a_device_reads_back_by_key_and_by_id(db: &TestDatabase) {
    let store = db.open();
    let (device, new) = registered(&store, "device-0001", Platform::Ios);
    assert_eq!(
        store
            .device_by_key(Platform::Ios, &device.device_id)
            .unwrap(),
        Some(device.clone())
    );
    assert_eq!(
        store.device_by_id(device.id.as_str()).unwrap(),
        Some(device.clone())
    );
    assert_eq!(
        store
            .device_by_key(Platform::Web, &device.device_id)
            .unwrap(),
        None
    );
    store
        .touch_device(device.id.as_str(), T0.plus_secs(30))
        .unwrap();
    assert_eq!(
        store
            .device_by_id(device.id.as_str())
            .unwrap()
            .unwrap()
            .last_seen_at,
        T0.plus_secs(30)
    );
    assert!(
        store.session(&new.session.id).unwrap().is_some(),
        "stored with its first session"
    );
}

fn one_platform_and_device_id_is_one_device(db: &TestDatabase) {
    let store = db.open();
    let (first, s1) = new_device("device-0001", Platform::Android);
    store.create_device(&first, &s1.session).unwrap();
    let (again, s2) = new_device("device-0001", Platform::Android);
    assert!(matches!(
        store.create_device(&again, &s2.session),
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.session(&s2.session.id).unwrap(),
        None,
        "all or nothing"
    );
    let (other_platform, s3) = new_device("device-0001", Platform::Web);
    store.create_device(&other_platform, &s3.session).unwrap();
}

fn concurrent_first_calls_register_one_device(db: &TestDatabase) {
    let threads = 12;
    let store = db.open();
    let keys = KeyRing::load_or_create(&store, T0).unwrap();
    let authority = Authority::new(
        Arc::new(store.clone()),
        TokenSigner::new(keys, "authd"),
        PasswordHasher::with_params(1024, 1, 1).unwrap(),
        TokenPolicy::default(),
    );
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (authority, barrier) = (authority.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                authority.authenticate_device(
                    &ClientDeviceId::parse("racing-device").unwrap(),
                    Platform::Ios,
                    &auth_core::SessionOrigin::default(),
                    T0,
                )
            })
        })
        .collect();
    let sessions: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        sessions.iter().filter(|s| s.new_device).count(),
        1,
        "exactly one call registered it"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s.device.id == sessions[0].device.id),
        "one device for all"
    );
    let mut sids: Vec<_> = sessions
        .iter()
        .map(|s| s.tokens.claims.sid.clone())
        .collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), threads, "one session per call");
}

fn purging_deletes_idle_devices_with_their_sessions_and_tokens(db: &TestDatabase) {
    let store = db.open();
    let (idle, idle_session) = registered(&store, "idle-device", Platform::Ios);
    let (busy, busy_session) = registered(&store, "busy-device", Platform::Ios);
    store
        .touch_device(busy.id.as_str(), T0.plus_secs(20 * 86_400))
        .unwrap();

    let purged = purge_inactive_devices(&store, 30 * 86_400, T0.plus_secs(40 * 86_400)).unwrap();
    assert_eq!(purged, 1);
    assert_eq!(store.device_by_id(idle.id.as_str()).unwrap(), None);
    assert_eq!(store.session(&idle_session.session.id).unwrap(), None);
    assert!(store.device_by_id(busy.id.as_str()).unwrap().is_some());
    assert!(store.session(&busy_session.session.id).unwrap().is_some());
    // Nothing left to purge.
    assert_eq!(
        purge_inactive_devices(&store, 30 * 86_400, T0.plus_secs(40 * 86_400)).unwrap(),
        0
    );
}

fn a_device_is_seen_when_its_session_advances_and_only_then(db: &TestDatabase) {
    let store = db.open();
    let (device, new) = registered(&store, "device-0001", Platform::Android);
    let (other, _) = registered(&store, "device-0002", Platform::Android);
    let last_seen = |id: &str| store.device_by_id(id).unwrap().unwrap().last_seen_at;
    let next = |generation: i64, hash: &str| auth_core::RefreshRecord {
        hash: TokenHash::from_stored(hash.into()),
        session_id: new.session.id.clone(),
        generation,
        expires_at: T0.plus_secs(1_000),
    };

    assert!(
        store
            .advance_session(&new.session, 0, &next(1, "first"), T0.plus_secs(60))
            .unwrap()
    );
    assert_eq!(last_seen(device.id.as_str()), T0.plus_secs(60));
    assert_eq!(last_seen(other.id.as_str()), T0, "no other device moves");

    // A rotation that loses the race changes nothing, last-seen time included.
    assert!(
        !store
            .advance_session(&new.session, 0, &next(1, "loser"), T0.plus_secs(90))
            .unwrap()
    );
    assert_eq!(last_seen(device.id.as_str()), T0.plus_secs(60));
}

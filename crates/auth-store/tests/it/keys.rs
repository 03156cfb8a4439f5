use std::sync::{Arc, Barrier};

use auth_core::{KeyRing, KeyStore, StoreError, StoredSigningKey};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    keys_are_kept_and_duplicates_refused,
    processes_starting_together_sign_with_one_key,
);

fn keys_are_kept_and_duplicates_refused(db: &TestDatabase) {
    let store = db.open();
    let key = StoredSigningKey::generate_ed25519(T0).unwrap();
    store.insert_signing_key(&key).unwrap();
    assert!(matches!(
        store.insert_signing_key(&key),
        Err(StoreError::Duplicate)
    ));
    assert_eq!(db.open().signing_keys().unwrap(), vec![key]);
}

fn processes_starting_together_sign_with_one_key(db: &TestDatabase) {
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (db.open(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                KeyRing::load_or_create(&store, T0).map(|ring| ring.signing_kid().to_owned())
            })
        })
        .collect();
    let kids: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(
        kids.iter().all(|k| k == &kids[0]),
        "every process signs with one key: {kids:?}"
    );
    assert_eq!(
        db.open().signing_keys().unwrap().len(),
        1,
        "exactly one key was created"
    );
}

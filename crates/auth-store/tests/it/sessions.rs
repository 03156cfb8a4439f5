use auth_core::session::{self, TokenPolicy};
use auth_core::{PrincipalKind, RefreshRecord, SessionId, SessionStore, TokenHash};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    a_session_is_found_by_the_hash_of_its_token,
    advancing_is_a_compare_and_set_on_the_generation,
    a_revoked_session_cannot_advance,
    revoking_twice_reports_the_second_as_a_no_op,
);

fn a_session_is_found_by_the_hash_of_its_token(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session, &new.first).unwrap();
    let (record, found) = store.find_refresh(&new.token.hash()).unwrap().unwrap();
    assert_eq!(record, new.first);
    assert_eq!(found, new.session);
    assert_eq!(store.session(&new.session.id).unwrap(), Some(new.session));
    assert_eq!(
        store
            .find_refresh(&TokenHash::from_stored("00".into()))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .session(&SessionId::from_stored("ses_none".into()))
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
    store.create_session(&new.session, &new.first).unwrap();
    let id = &new.session.id;
    assert!(
        store
            .advance_session(id, 0, &next_record(id, 1), T0.plus_secs(5))
            .unwrap()
    );
    // A second writer that read generation 0 loses and leaves no trace.
    let mut loser = next_record(id, 1);
    loser.hash = TokenHash::from_stored("loser".into());
    assert!(
        !store
            .advance_session(id, 0, &loser, T0.plus_secs(5))
            .unwrap()
    );
    assert_eq!(store.find_refresh(&loser.hash).unwrap(), None);
    let s = store.session(id).unwrap().unwrap();
    assert_eq!(s.generation, 1);
    assert_eq!(s.current_hash, next_record(id, 1).hash);
    assert_eq!(s.rotated_at, Some(T0.plus_secs(5)));
    assert_eq!(s.current_expires_at, T0.plus_secs(1_000));
    // The old token is still known, as generation 0, so that reuse can be recognised.
    let (old, _) = store.find_refresh(&new.token.hash()).unwrap().unwrap();
    assert_eq!(old.generation, 0);
}

fn a_revoked_session_cannot_advance(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::Device, "d1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session, &new.first).unwrap();
    assert!(
        store
            .revoke_session(&new.session.id, T0.plus_secs(1))
            .unwrap()
    );
    let id = &new.session.id;
    assert!(
        !store
            .advance_session(id, 0, &next_record(id, 1), T0.plus_secs(2))
            .unwrap()
    );
    let s = store.session(id).unwrap().unwrap();
    assert_eq!(s.revoked_at, Some(T0.plus_secs(1)));
    assert!(!s.is_live(T0.plus_secs(2)));
}

fn revoking_twice_reports_the_second_as_a_no_op(db: &TestDatabase) {
    let store = db.open();
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session, &new.first).unwrap();
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

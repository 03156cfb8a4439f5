//! The rotation rules of auth-core against real databases, under contention.

use std::sync::{Arc, Barrier};

use auth_core::session::{self, TokenPolicy};
use auth_core::{AuthError, PrincipalKind, RefreshToken, SessionStore};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    concurrent_refreshes_in_one_process_rotate_the_chain_once,
    concurrent_refreshes_from_two_processes_rotate_the_chain_once,
    reuse_after_the_grace_revokes_the_session,
    concurrent_refreshes_of_many_sessions_each_advance_their_own_chain,
);

fn begin(store: &Database) -> RefreshToken {
    let new = session::start(PrincipalKind::User, "u1", T0, &TokenPolicy::default()).unwrap();
    store.create_session(&new.session).unwrap();
    new.token
}

/// Refreshes `token` from `threads` threads at once, spread over `stores`.
fn refresh_concurrently(
    stores: &[Database],
    token: &RefreshToken,
    threads: usize,
) -> Vec<Result<(String, i64), String>> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let (token, barrier) = (token.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                session::rotate(
                    &store,
                    &token,
                    PrincipalKind::User,
                    T0.plus_secs(1),
                    &TokenPolicy::default(),
                )
                .map(|r| (r.token.expose().to_owned(), r.session.generation))
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn assert_one_successor(results: &[Result<(String, i64), String>]) {
    let first = results[0].as_ref().unwrap();
    for r in results {
        assert_eq!(
            r.as_ref().unwrap(),
            first,
            "every caller gets the same successor: {results:?}"
        );
    }
    assert_eq!(first.1, 1, "the chain advanced exactly once");
}

fn concurrent_refreshes_in_one_process_rotate_the_chain_once(db: &TestDatabase) {
    let store = db.open();
    let token = begin(&store);
    let results = refresh_concurrently(std::slice::from_ref(&store), &token, 16);
    assert_one_successor(&results);
}

fn concurrent_refreshes_from_two_processes_rotate_the_chain_once(db: &TestDatabase) {
    // Two independently opened databases share nothing but the database itself, as two
    // authd processes would.
    let a = db.open();
    let b = db.open();
    let token = begin(&a);
    let results = refresh_concurrently(&[a.clone(), b], &token, 16);
    assert_one_successor(&results);
    let session = a.session(&token.session_id().unwrap()).unwrap().unwrap();
    assert_eq!(session.generation, 1);
}

fn reuse_after_the_grace_revokes_the_session(db: &TestDatabase) {
    let store = db.open();
    let policy = TokenPolicy::default();
    let t0 = begin(&store);
    let r1 = session::rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(1), &policy).unwrap();
    let replay =
        session::rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(5), &policy).unwrap();
    assert_eq!(replay.token, r1.token);
    let reuse = session::rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(11), &policy);
    assert!(
        matches!(reuse, Err(AuthError::RefreshTokenReused)),
        "{reuse:?}"
    );
    let after = session::rotate(
        &store,
        &r1.token,
        PrincipalKind::User,
        T0.plus_secs(12),
        &policy,
    );
    assert!(
        matches!(after, Err(AuthError::InvalidToken(_))),
        "{after:?}"
    );
    assert!(
        store
            .session(&r1.session.id)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

fn concurrent_refreshes_of_many_sessions_each_advance_their_own_chain(db: &TestDatabase) {
    // Many clients refreshing at once is the load under which SQLite shares one commit
    // among several rotations: each must still see exactly its own chain advance.
    let store = db.open();
    let (clients, rounds) = (12, 8);
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let first = begin(&store);
            std::thread::spawn(move || {
                barrier.wait();
                let policy = TokenPolicy::default();
                let mut token = first.clone();
                let mut session_id = None;
                for round in 1..=rounds {
                    let now = T0.plus_secs(round);
                    let rotated =
                        session::rotate(&store, &token, PrincipalKind::User, now, &policy).unwrap();
                    assert_eq!(rotated.session.generation, round);
                    session_id = Some(rotated.session.id.clone());
                    token = rotated.token;
                }
                (first, token, session_id.unwrap())
            })
        })
        .collect();
    let chains: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    for (first, last, id) in &chains {
        let session = store.session(id).unwrap().unwrap();
        assert_eq!(
            session.current_hash,
            last.hash(),
            "the last token is its own session's current one"
        );
        assert_eq!(
            session.generation, rounds,
            "every rotation of the chain was kept"
        );
        assert!(session.revoked_at.is_none());
        assert_eq!(
            first.session_id().as_ref(),
            Some(id),
            "one chain from first to last"
        );
    }
    let sessions: std::collections::HashSet<_> = chains.iter().map(|(_, _, id)| id).collect();
    assert_eq!(sessions.len(), clients, "no two chains merged");
}

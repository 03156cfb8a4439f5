//! The audit trail as stored: what goes in comes back, however many events a batch holds.

use auth_core::{AuditEvent, AuditFilter, AuditStore, Page};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(
    a_batch_larger_than_one_statement_is_recorded_whole,
    repeats_add_to_a_recorded_event_and_old_events_are_purged,
    one_process_at_a_time_runs_the_purge,
);

fn a_batch_larger_than_one_statement_is_recorded_whole(db: &TestDatabase) {
    let store = db.open();
    // 300 events: more than one multi-row INSERT holds on PostgreSQL, and every other
    // event without its optional fields.
    let events: Vec<AuditEvent> = (0..300)
        .map(|i| {
            let mut event = AuditEvent::new(T0.plus_secs(i), "refresh", "success");
            if i % 2 == 0 {
                event.principal = Some(format!("usr_{i}"));
                event.client_addr = Some("192.0.2.7".into());
                event.user_agent = Some("bench/1".into());
            } else {
                event.outcome = "failure".into();
                event.code = Some("TOKEN_EXPIRED".into());
            }
            event
        })
        .collect();
    store.record_events(&events).unwrap();

    let newest_first: Vec<AuditEvent> = events.into_iter().rev().collect();
    let mut stored = Vec::new();
    for offset in [0, Page::MAX_LIMIT] {
        let page = Page {
            limit: Page::MAX_LIMIT,
            offset,
        };
        let (events, total) = store.list_events(&AuditFilter::default(), page).unwrap();
        assert_eq!(total, 300);
        stored.extend(events);
    }
    assert_eq!(
        stored, newest_first,
        "every field comes back, absent ones absent"
    );
}

fn repeats_add_to_a_recorded_event_and_old_events_are_purged(db: &TestDatabase) {
    let store = db.open();
    let old = AuditEvent::new(T0, "bearer", "failure");
    let new = AuditEvent::new(T0.plus_secs(100), "bearer", "failure");
    store.record_events(&[old.clone(), new.clone()]).unwrap();
    store
        .add_repeats(&[(new.id.clone(), 41), (new.id.clone(), 1)])
        .unwrap();
    let (events, _) = store
        .list_events(&AuditFilter::default(), Page::new(10, 0).unwrap())
        .unwrap();
    assert_eq!(events[0].count, 43);
    assert_eq!(events[1].count, 1);
    assert_eq!(
        auth_core::purge_audit_events(&store, 50, T0.plus_secs(100), &mut || {}).unwrap(),
        1
    );
    let (events, total) = store
        .list_events(&AuditFilter::default(), Page::new(10, 0).unwrap())
        .unwrap();
    assert_eq!((total, events[0].id.clone()), (1, new.id));
}

fn one_process_at_a_time_runs_the_purge(db: &TestDatabase) {
    let (first, second) = (db.open(), db.open());
    let nested = first
        .as_the_only_purger(|| second.as_the_only_purger(|| ()).unwrap())
        .unwrap();
    match first.backend() {
        // Another process is purging: the second skips its round.
        auth_store::Backend::Postgres => assert_eq!(nested, Some(None)),
        // SQLite has one process: it always purges.
        auth_store::Backend::Sqlite => assert_eq!(nested, Some(Some(()))),
    }
    assert_eq!(
        second.as_the_only_purger(|| 7).unwrap(),
        Some(7),
        "the lock was released"
    );
}

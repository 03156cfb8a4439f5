//! The audit trail as stored: what goes in comes back, however many events a batch holds.

use auth_core::{AuditEvent, AuditFilter, AuditStore, Page};
use auth_store::test_support::TestDatabase;

use crate::T0;

crate::on_both_backends!(a_batch_larger_than_one_statement_is_recorded_whole);

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

//! What one request costs in the database: rotating a refresh chain, looking a session up,
//! registering a device with its first session, on SQLite and on PostgreSQL.
//!
//! PostgreSQL is used when `AUTHD_TEST_POSTGRES_URL` names a server (each run creates and
//! drops its own database). Run with `cargo bench -p auth-store`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth_core::{
    ClientDeviceId, Device, DeviceStore, Platform, PrincipalKind, SessionStore, TokenPolicy,
    UnixTime, session,
};
use auth_store::test_support::TestDatabase;
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: UnixTime = UnixTime(1_800_000_000);

fn backends() -> Vec<(&'static str, TestDatabase)> {
    let mut backends = vec![("sqlite", TestDatabase::sqlite())];
    if let Some(pg) = TestDatabase::postgres() {
        backends.push(("postgres", pg));
    }
    backends
}

fn new_device(store: &auth_store::Database, n: u64, policy: &TokenPolicy) -> session::NewSession {
    let device = Device::new(
        ClientDeviceId::parse(&format!("bench-device-{n:012}")).unwrap(),
        Platform::Android,
        NOW,
    );
    let started = session::start(PrincipalKind::Device, device.id.as_str(), NOW, policy).unwrap();
    store.create_device(&device, &started.session).unwrap();
    started
}

fn store_operations(c: &mut Criterion) {
    let policy = TokenPolicy::default();
    for (backend, db) in backends() {
        let store = db.open();
        let mut group = c.benchmark_group(format!("store/{backend}"));

        let mut n = 0u64;
        group.bench_function("device_registration", |b| {
            b.iter(|| {
                n += 1;
                new_device(&store, n, &policy)
            });
        });

        let started = new_device(&store, u64::MAX / 2, &policy);
        let id = started.session.id.clone();
        group.bench_function("session_lookup", |b| {
            b.iter(|| store.session(black_box(&id)).unwrap().unwrap());
        });

        let mut current = started.token;
        group.bench_function("rotation", |b| {
            b.iter(|| {
                let rotated =
                    session::rotate(&store, &current, PrincipalKind::Device, NOW, &policy).unwrap();
                current = rotated.token;
            });
        });
        group.finish();
    }
}

criterion_group!(benches, store_operations);
criterion_main!(benches);

use std::process::Command;

use auth_core::{DeviceStore, UnixTime};
use auth_store::Database;
use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, field};

fn purge(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["devices", "purge"])
        .args(args)
        .env("AUTHD_DATABASE_URL", url)
        .output()
        .expect("run authd devices purge")
}

#[test]
fn purge_deletes_devices_idle_longer_than_asked_and_ends_their_sessions() {
    let db = TestDatabase::sqlite();
    let authd = Authd::start(&[("AUTHD_DATABASE_URL", db.url())]);
    let (_, idle) = authd.post(
        "/api/auth/device",
        None,
        json!({"deviceId": "idle-device-1", "platform": "IOS"}),
    );
    let (_, active) = authd.post(
        "/api/auth/device",
        None,
        json!({"deviceId": "active-device", "platform": "IOS"}),
    );

    // Nothing is a day old yet.
    let out = purge(db.url(), &["--inactive-days", "1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("purged 0 device(s)"),
        "{out:?}"
    );

    // Age one device by two days, as if it had not been seen since.
    let now = auth_core::Clock::now(&auth_core::SystemClock);
    let two_days_ago = UnixTime(now.secs() - 2 * 86_400);
    Database::open(db.url())
        .unwrap()
        .touch_device(idle["device"]["id"].as_str().unwrap(), two_days_ago)
        .unwrap();

    let out = purge(db.url(), &["--inactive-days", "1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("purged 1 device(s)"),
        "{out:?}"
    );

    let (status, _) = authd.get("/api/auth/me", Some(&field(&idle, "accessToken")));
    assert_eq!(status, 401, "the purged device's session is gone");
    let (status, _) = authd.get("/api/auth/me", Some(&field(&active, "accessToken")));
    assert_eq!(status, 200, "the active device is untouched");
    let (_, again) = authd.post(
        "/api/auth/device",
        None,
        json!({"deviceId": "idle-device-1", "platform": "IOS"}),
    );
    assert_eq!(again["newDevice"], true, "a purged device registers anew");
}

#[test]
fn purge_refuses_zero_days() {
    let db = TestDatabase::sqlite();
    let out = purge(db.url(), &["--inactive-days", "0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inactive-days"),
        "{out:?}"
    );
}

//! Nothing acknowledged is lost when authd is killed outright.

use auth_store::test_support::TestDatabase;
use serde_json::json;

use crate::{Authd, field};

fn acknowledged_tokens_survive_sigkill(db: &TestDatabase) {
    let env = [("AUTHD_DATABASE_URL", db.url())];
    let authd = Authd::start(&env);
    let session = authd.register("alice@example.com", "alice");
    let (status, rotated) = authd.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&session, "refreshToken")}),
    );
    assert_eq!(status, 200);
    let (status, device) = authd.post(
        "/api/auth/device",
        None,
        json!({"deviceId": "device-0001", "platform": "IOS"}),
    );
    assert_eq!(status, 200);
    authd.kill();

    let authd = Authd::start(&env);
    let (status, body) = authd.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&rotated, "refreshToken")}),
    );
    assert_eq!(
        status, 200,
        "the refresh token acknowledged just before the kill still works: {body}"
    );
    let (status, _) = authd.get("/api/auth/me", Some(&field(&rotated, "accessToken")));
    assert_eq!(status, 200);
    let (status, body) = authd.post(
        "/api/auth/device/refresh",
        None,
        json!({"refreshToken": field(&device, "refreshToken")}),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn acknowledged_tokens_survive_sigkill_on_sqlite() {
    acknowledged_tokens_survive_sigkill(&TestDatabase::sqlite());
}

#[test]
fn acknowledged_tokens_survive_sigkill_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    acknowledged_tokens_survive_sigkill(&db);
}

//! The administration commands, run as an operator would, against a live authd.

use std::io::Write;
use std::process::{Command, Stdio};

use auth_store::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::{Authd, field};

/// Runs `authd ARGS` on the database at `url`, feeding `stdin`; returns exit success and
/// the JSON lines it printed.
fn authd(url: &str, args: &[&str], stdin: &str) -> (bool, Vec<Value>, String) {
    authd_with(url, args, stdin, &[])
}

/// Like [`authd`], with `env` set (`Some`) or removed (`None`) besides.
fn authd_with(
    url: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, Option<&str>)],
) -> (bool, Vec<Value>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command
        .args(args)
        .env("AUTHD_DATABASE_URL", url)
        .env_remove("AUTHD_JWT_ALG");
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run authd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for authd");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_operator_manages_apps_wallets_and_admins_on_sqlite() {
    operator_story(&TestDatabase::sqlite());
}

#[test]
fn an_operator_manages_apps_wallets_and_admins_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    operator_story(&db);
}

fn operator_story(db: &TestDatabase) {
    let url = db.url();
    let (ok, out, err) = authd(url, &["app", "create", "--name", "Sensors"], "");
    assert!(ok, "{err}");
    let app = field(&out[0], "appId");

    let (ok, out, err) = authd(
        url,
        &[
            "wallet",
            "create",
            "--app",
            &app,
            "--username",
            "sensor01",
            "--role",
            "device",
        ],
        "sensor password 1\n",
    );
    assert!(ok, "{err}");
    let wallet = field(&out[0], "id");
    assert!(wallet.starts_with("wal_"));
    let (_, listed, _) = authd(url, &["wallet", "list", "--app", &app], "");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["username"], "sensor01");

    let server = Authd::start(&[("AUTHD_DATABASE_URL", url)]);
    let login = |password: &str| {
        server.post(
            "/v2/auth/wallet/login",
            None,
            json!({"username": format!("sensor01@{app}"), "password": password}),
        )
    };
    let (status, token) = login("sensor password 1");
    assert_eq!(status, 200, "{token}");

    let (ok, out, _) = authd(
        url,
        &["wallet", "suspend", "--app", &app, "--wallet", "sensor01"],
        "",
    );
    assert!(ok);
    assert_eq!(out[0]["status"], "suspended");
    assert_eq!(login("sensor password 1").0, 403);
    authd(
        url,
        &["wallet", "activate", "--app", &app, "--wallet", &wallet],
        "",
    );
    assert_eq!(login("sensor password 1").0, 200);

    let (ok, out, err) = authd(
        url,
        &[
            "wallet",
            "rotate-password",
            "--app",
            &app,
            "--wallet",
            &wallet,
        ],
        "sensor password 2\n",
    );
    assert!(ok, "{err}");
    assert!(out[0]["revokedSessions"].as_u64().unwrap() >= 1);
    assert_eq!(login("sensor password 1").0, 401);
    assert_eq!(login("sensor password 2").0, 200);

    // A weak password from stdin is refused, and nothing changes.
    let (ok, _, err) = authd(
        url,
        &[
            "wallet",
            "rotate-password",
            "--app",
            &app,
            "--wallet",
            &wallet,
        ],
        "short\n",
    );
    assert!(!ok && err.contains("at least 8"), "{err}");
    assert_eq!(login("sensor password 2").0, 200);

    // Passwords are never accepted on the command line.
    let (ok, _, err) = authd(
        url,
        &[
            "wallet",
            "create",
            "--app",
            &app,
            "--username",
            "x1x",
            "--role",
            "device",
            "--password",
            "pw",
        ],
        "",
    );
    assert!(!ok && err.contains("--password"), "{err}");

    // grant-role makes a registered user an administrator of the HTTP API.
    server.register("alice@example.com", "alice");
    let (ok, _, err) = authd(
        url,
        &[
            "user",
            "grant-role",
            "--email",
            "Alice@Example.com",
            "--role",
            "ADMIN",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (_, session) = server.post(
        "/api/auth/login",
        None,
        json!({"email": "alice@example.com", "password": crate::PASSWORD}),
    );
    let (status, apps) = server.get("/v2/apps", Some(&field(&session, "accessToken")));
    assert_eq!(status, 200, "{apps}");
    assert_eq!(apps["total"], 1);

    let (ok, _, _) = authd(
        url,
        &["wallet", "delete", "--app", &app, "--wallet", &wallet],
        "",
    );
    assert!(ok);
    assert_eq!(login("sensor password 2").0, 401);
    let (ok, _, err) = authd(
        url,
        &["wallet", "delete", "--app", &app, "--wallet", &wallet],
        "",
    );
    assert!(!ok && err.contains("no wallet"), "{err}");
}

#[test]
fn a_short_bootstrap_admin_token_is_refused_at_start() {
    let db = TestDatabase::sqlite();
    let err = Authd::try_start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_ADMIN_TOKEN", "short"),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("AUTHD_ADMIN_TOKEN must be at least 32 bytes"),
        "{err}"
    );
}

#[test]
fn an_allowed_origin_that_is_not_an_origin_is_refused_at_start() {
    let db = TestDatabase::sqlite();
    let err = Authd::try_start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        (
            "AUTHD_ALLOWED_ORIGINS",
            "https://app.example.com, https://app.example.com/login",
        ),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("AUTHD_ALLOWED_ORIGINS") && err.contains("https://app.example.com/login"),
        "{err}"
    );
    let browsers = Authd::start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_ALLOWED_ORIGINS", "https://app.example.com"),
    ]);
    let (status, _) = browsers.post(
        "/api/auth/register",
        None,
        serde_json::json!({"email": "a@example.com", "password": crate::PASSWORD, "username": "aaa"}),
    );
    assert_eq!(status, 201);
}

#[test]
fn a_database_pool_of_no_connections_is_refused_at_start() {
    let db = TestDatabase::sqlite();
    let err = Authd::try_start(&[
        ("AUTHD_DATABASE_URL", db.url()),
        ("AUTHD_DATABASE_POOL_SIZE", "0"),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("--database-pool-size") && err.contains("not in 1..=1024"),
        "{err}"
    );
}

#[test]
fn the_audit_trail_survives_a_graceful_stop_and_is_read_from_the_command_line() {
    let db = TestDatabase::sqlite();
    let server = Authd::start(&[("AUTHD_DATABASE_URL", db.url())]);
    server.register("alice@example.com", "alice");
    let (status, _) = server.post(
        "/api/auth/login",
        None,
        json!({"email": "alice@example.com", "password": "wrong password"}),
    );
    assert_eq!(status, 401);
    assert!(server.stop().success());

    let (ok, events, err) = authd(db.url(), &["audit", "--event", "login"], "");
    assert!(ok, "{err}");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "failure");
    assert_eq!(events[0]["code"], "INVALID_CREDENTIALS");
    assert_eq!(events[0]["principal"], "alice@example.com");
    let (_, all, _) = authd(db.url(), &["audit"], "");
    assert!(all.iter().any(|e| e["event"] == "register"));
}

/// Short-lived commands used to exit while the connection pool was still opening a
/// connection in the background, and libpq crashed (SIGSEGV) about once in eight runs.
#[test]
fn administration_commands_exit_cleanly_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    authd(db.url(), &["app", "create", "--name", "Sensors"], "");
    for run in 0..25 {
        let (ok, apps, err) = authd(db.url(), &["app", "list"], "");
        assert!(ok, "run {run}: {err}");
        assert_eq!(apps.len(), 1);
    }
}

#[test]
fn authd_openapi_prints_the_committed_description_without_touching_a_database() {
    let out = Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("openapi")
        .env("AUTHD_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("run authd openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("docs/openapi.json"),
    )
    .expect("committed JSON");
    assert!(printed == committed, "regenerate docs/openapi.json");
    assert_eq!(
        printed["paths"]["/api/auth/login"]["post"]["operationId"],
        "login"
    );
}

#[test]
fn what_the_admin_api_does_the_command_line_does_too_on_sqlite() {
    everything_from_the_command_line(&TestDatabase::sqlite());
}

#[test]
fn what_the_admin_api_does_the_command_line_does_too_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    everything_from_the_command_line(&db);
}

/// The contract: everything the admin API does is also reachable from the command line.
/// Here an operator reads and suspends an app, changes a wallet's role, suspends and
/// reactivates a user and takes a role back, and finds each change in the audit trail.
fn everything_from_the_command_line(db: &TestDatabase) {
    let url = db.url();
    let run = |args: &[&str]| {
        let (ok, out, err) = authd(url, args, "");
        assert!(ok, "authd {args:?}: {err}");
        out.into_iter().next().unwrap_or(Value::Null)
    };
    let created = run(&["app", "create", "--name", "Sensors"]);
    let app = field(&created, "appId");
    let shown = run(&["app", "show", "--app", &app]);
    assert_eq!(shown, created);
    assert!(
        shown["createdAt"].as_str().unwrap().ends_with('Z'),
        "{shown}"
    );
    let (ok, _, err) = authd(
        url,
        &[
            "wallet",
            "create",
            "--app",
            &app,
            "--username",
            "sensor01",
            "--role",
            "device",
        ],
        "sensor password 1\n",
    );
    assert!(ok, "{err}");

    let server = Authd::start(&[("AUTHD_DATABASE_URL", url)]);
    let wallet_login = || {
        server.post(
            "/v2/auth/wallet/login",
            None,
            json!({"username": format!("sensor01@{app}"), "password": "sensor password 1"}),
        )
    };
    assert_eq!(
        run(&["app", "suspend", "--app", &app])["status"],
        "suspended"
    );
    assert_eq!(run(&["app", "show", "--app", &app])["status"], "suspended");
    assert_eq!(
        wallet_login().0,
        403,
        "a suspended app's wallets cannot log in"
    );
    assert_eq!(run(&["app", "activate", "--app", &app])["status"], "active");

    let changed = run(&[
        "wallet", "set-role", "--app", &app, "--wallet", "sensor01", "--role", "gateway",
    ]);
    assert_eq!(changed["role"], "gateway");
    let shown = run(&[
        "wallet",
        "show",
        "--app",
        &app,
        "--wallet",
        &field(&changed, "id"),
    ]);
    assert_eq!(shown, changed);
    let (status, token) = wallet_login();
    assert_eq!(status, 200, "{token}");
    let (_, me) = server.get("/api/auth/me", Some(&field(&token, "accessToken")));
    assert_eq!(me["role"], "gateway", "{me}");

    let session = server.register("alice@example.com", "alice");
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    let login = || {
        server.post(
            "/api/auth/login",
            None,
            json!({"email": "alice@example.com", "password": crate::PASSWORD}),
        )
    };
    let suspended = run(&["user", "suspend", "--email", "alice@example.com"]);
    assert_eq!(
        (suspended["id"].as_str(), &suspended["status"]),
        (Some(id.as_str()), &json!("suspended"))
    );
    assert_eq!(login().0, 403);
    let (status, _) = server.post(
        "/api/auth/refresh",
        None,
        json!({"refreshToken": field(&session, "refreshToken")}),
    );
    assert!(
        status == 401 || status == 403,
        "a suspended user's session ended: {status}"
    );
    assert_eq!(run(&["user", "activate", "--id", &id])["status"], "active");
    assert_eq!(login().0, 200);

    assert_eq!(
        run(&["user", "grant-role", "--id", &id, "--role", "ADMIN"])["roles"],
        json!(["USER", "ADMIN"])
    );
    assert_eq!(
        run(&[
            "user",
            "revoke-role",
            "--email",
            "alice@example.com",
            "--role",
            "ADMIN"
        ])["roles"],
        json!(["USER"])
    );
    let (_, session) = login();
    let (status, _) = server.get("/v2/apps", Some(&field(&session, "accessToken")));
    assert_eq!(status, 403, "the revoked role no longer administers");

    let (_, trail, _) = authd(url, &["audit", "--principal", &id], "");
    let changes: Vec<_> = trail
        .iter()
        .filter(|e| e["event"] == "admin.update_user")
        .collect();
    assert_eq!(changes.len(), 4, "{trail:?}");
    assert!(changes.iter().all(|e| e["actor"] == "cli"), "{changes:?}");
    let (_, trail, _) = authd(url, &["audit", "--event", "admin.update_app"], "");
    assert_eq!(trail.len(), 2, "{trail:?}");

    // Mistakes are refused with a message, and change nothing.
    for (args, says) in [
        (
            &[
                "app",
                "show",
                "--app",
                "app_00000000000000000000000000000000",
            ][..],
            "no app",
        ),
        (&["app", "suspend", "--app", "not-an-app"], "app"),
        (&["user", "suspend", "--id", "not-a-uuid"], "UUID"),
        (
            &[
                "user",
                "suspend",
                "--email",
                "alice@example.com",
                "--id",
                &id,
            ],
            "cannot be used with",
        ),
        (&["user", "suspend"], "--email"),
        (
            &["user", "grant-role", "--id", &id, "--role", "admin"],
            "upper-case",
        ),
    ] {
        let (ok, _, err) = authd(url, args, "");
        assert!(!ok && err.contains(says), "authd {args:?}: {err}");
    }
    assert_eq!(login().0, 200);
}

#[test]
fn an_operator_looks_after_people_from_the_command_line_on_sqlite() {
    people_from_the_command_line(&TestDatabase::sqlite());
}

#[test]
fn an_operator_looks_after_people_from_the_command_line_on_postgres() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    people_from_the_command_line(&db);
}

/// `authd user list | show | sessions | revoke-sessions | delete`, in the shapes of the
/// admin API, each change in the audit trail.
fn people_from_the_command_line(db: &TestDatabase) {
    let url = db.url();
    let run = |args: &[&str]| {
        let (ok, out, err) = authd(url, args, "");
        assert!(ok, "authd {args:?}: {err}");
        out.into_iter().next().unwrap_or(Value::Null)
    };
    const ADMIN: &str = "an-operators-bootstrap-token-0123456789";
    let server = Authd::start(&[("AUTHD_DATABASE_URL", url), ("AUTHD_ADMIN_TOKEN", ADMIN)]);
    let alice = server.register("alice@example.com", "alice");
    server.register("bob@example.org", "bob");
    let id = field(&alice["user"], "id");

    let listed = run(&["user", "list", "--email", "EXAMPLE.com"]);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(run(&["user", "list"])["total"], 2);
    let shown = run(&["user", "show", "--email", "alice@example.com"]);
    let (_, over_http) = server.get(&format!("/api/admin/users/{id}"), Some(ADMIN));
    assert_eq!(shown, over_http, "the same shape as the admin API");

    let sessions = run(&["user", "sessions", "--id", &id]);
    assert_eq!(sessions["total"], 1, "{sessions}");
    assert_eq!(
        run(&["user", "revoke-sessions", "--id", &id]),
        json!({"revokedSessions": 1})
    );
    let (status, _) = server.get("/api/auth/me", Some(&field(&alice, "accessToken")));
    assert_eq!(status, 401);

    assert_eq!(
        run(&["user", "delete", "--email", "alice@example.com"]),
        json!({"deleted": id})
    );
    let (ok, _, err) = authd(url, &["user", "show", "--id", &id], "");
    assert!(!ok && err.contains("no user"), "{err}");

    let (_, trail, _) = authd(url, &["audit", "--principal", &id], "");
    for event in ["admin.revoke_user_sessions", "admin.delete_user"] {
        assert!(
            trail
                .iter()
                .any(|e| e["event"] == event && e["actor"] == "cli"),
            "{event} in {trail:?}"
        );
    }
}

#[test]
fn the_log_filter_is_a_flag_as_well_as_rust_log() {
    let db = TestDatabase::sqlite();
    let stderr = |args: &[&str], rust_log: Option<&str>| {
        let (ok, _, err) = authd_with(db.url(), args, "", &[("RUST_LOG", rust_log)]);
        assert!(ok, "{err}");
        err
    };
    assert!(
        stderr(&["app", "list"], None).contains("INFO"),
        "info by default"
    );
    assert!(!stderr(&["app", "list"], Some("warn")).contains("INFO"));
    assert!(!stderr(&["--rust-log", "warn", "app", "list"], None).contains("INFO"));
    assert!(
        !stderr(&["app", "list", "--rust-log", "error"], Some("info")).contains("INFO"),
        "the flag wins over the variable"
    );
}

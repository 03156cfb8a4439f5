use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use serde_json::Value;

use crate::*;

/// Every route of the contract, as `(method, OpenAPI path)`.
const CONTRACT_ROUTES: [(&str, &str); 44] = [
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/email/verify/send"),
    ("post", "/api/auth/email/verify"),
    ("post", "/api/auth/password/forgot"),
    ("post", "/api/auth/password/reset"),
    ("post", "/api/auth/password/change"),
    ("post", "/api/auth/email/change"),
    ("post", "/api/auth/email/change/confirm"),
    ("get", "/api/auth/me"),
    ("delete", "/api/auth/me"),
    ("get", "/api/auth/sessions"),
    ("delete", "/api/auth/sessions"),
    ("delete", "/api/auth/sessions/{id}"),
    ("post", "/api/auth/device"),
    ("post", "/api/auth/device/refresh"),
    ("post", "/api/auth/device/link"),
    ("get", "/api/auth/devices"),
    ("delete", "/api/auth/devices/{id}"),
    ("post", "/v2/auth/wallet/login"),
    ("post", "/v2/auth/wallet/refresh"),
    ("post", "/v2/apps"),
    ("get", "/v2/apps"),
    ("get", "/v2/apps/{appId}"),
    ("patch", "/v2/apps/{appId}"),
    ("post", "/v2/apps/{appId}/wallets"),
    ("get", "/v2/apps/{appId}/wallets"),
    ("get", "/v2/apps/{appId}/wallets/{walletId}"),
    ("patch", "/v2/apps/{appId}/wallets/{walletId}"),
    ("put", "/v2/apps/{appId}/wallets/{walletId}/password"),
    ("delete", "/v2/apps/{appId}/wallets/{walletId}"),
    ("get", "/api/admin/users"),
    ("get", "/api/admin/users/{id}"),
    ("patch", "/api/admin/users/{id}"),
    ("delete", "/api/admin/users/{id}"),
    ("get", "/api/admin/users/{id}/sessions"),
    ("delete", "/api/admin/users/{id}/sessions"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn served() -> Value {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = send(&app, TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.body
}

#[actix_web::test]
async fn the_served_description_is_the_committed_one() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json is committed");
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert!(
        served().await == committed,
        "docs/openapi.json is stale: regenerate it with \
         `cargo run -p authd -- openapi > docs/openapi.json`"
    );
}

#[actix_web::test]
async fn the_description_is_openapi_3_1_and_lists_every_contract_route() {
    let spec = served().await;
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        spec["openapi"]
    );
    for (method, path) in CONTRACT_ROUTES {
        assert!(
            spec["paths"][path][method].is_object(),
            "{} {path} is not described",
            method.to_uppercase()
        );
    }
    let described: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| METHODS.iter().filter(|m| item[**m].is_object()).count())
        .sum();
    // The audit trail is the one route beyond the contract.
    assert_eq!(described, CONTRACT_ROUTES.len() + 1);
}

/// A path of the description routed with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{appId}", "app_00000000")
        .replace("{walletId}", "wal_00000000")
        .replace("{id}", "00000000-0000-0000-0000-000000000000")
}

#[actix_web::test]
async fn every_described_path_is_served_with_exactly_the_described_methods() {
    let spec = served().await;
    let ctx = Ctx::new();
    let app = ctx.app().await;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let described: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| item[**m].is_object())
            .map(|m| m.to_uppercase())
            .collect();
        // A method no route has: a served path answers 405 with the methods it takes; an
        // unserved one would answer 404.
        let reply = send(
            &app,
            TestRequest::default()
                .method("OPTIONS".parse().unwrap())
                .uri(&concrete(path)),
        )
        .await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        let allowed: BTreeSet<String> = reply
            .header("allow")
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        assert_eq!(allowed, described, "{path}");
    }
}

#[actix_web::test]
async fn every_error_response_is_described_with_the_contract_error_body() {
    let spec = served().await;
    let codes = &spec["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"];
    assert!(
        codes
            .as_array()
            .is_some_and(|c| c.contains(&"REFRESH_TOKEN_REUSED".into())),
        "{codes}"
    );
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(responses) = item[method]["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
                if status == "401" {
                    assert!(
                        response["headers"]["WWW-Authenticate"].is_object(),
                        "{method} {path}"
                    );
                }
            }
        }
    }
    let login = &spec["paths"]["/api/auth/login"]["post"]["responses"];
    for status in ["200", "400", "401", "403", "413", "429", "500", "503"] {
        assert!(login[status].is_object(), "login {status}");
    }
}

#[actix_web::test]
async fn bearer_routes_say_so_and_public_ones_do_not() {
    let spec = served().await;
    let secured = |method: &str, path: &str| spec["paths"][path][method]["security"].is_array();
    assert!(secured("get", "/api/auth/me"));
    assert!(secured("post", "/v2/auth/wallet/refresh"));
    assert!(secured("post", "/v2/apps"));
    assert!(!secured("post", "/api/auth/login"));
    assert!(!secured("get", "/healthz"));
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[actix_web::test]
async fn the_routes_that_issue_refresh_tokens_describe_the_browser_cookie() {
    let spec = served().await;
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/device",
        "/api/auth/device/refresh",
    ] {
        let operation = &spec["paths"][path]["post"];
        let parameters = operation["parameters"].as_array().unwrap();
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "x-authd-session" && p["in"] == "header"),
            "{path}"
        );
        let success = if path == "/api/auth/register" {
            "201"
        } else {
            "200"
        };
        assert!(
            operation["responses"][success]["headers"]["set-cookie"].is_object(),
            "{path}"
        );
    }
    let refresh = &spec["paths"]["/api/auth/refresh"]["post"]["responses"]["403"];
    assert!(
        refresh["description"]
            .as_str()
            .unwrap()
            .starts_with("FORBIDDEN")
    );
}

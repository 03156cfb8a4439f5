//! The example resource server between a real authd and real clients: wallets file
//! objects with tokens authd issued, the service checks them against authd's JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::{App, HttpServer, web};
use auth_client::{AuthClient, Credentials};
use auth_core::TokenPolicy;
use auth_http::TestServer;
use auth_resource::AccessVerifier;
use resource_server::{Objects, not_found, routes};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// The example service on a socket, trusting `authd`'s JWKS.
fn serve_objects(authd: &TestServer) -> String {
    let verifier = web::Data::new(AccessVerifier::jwks(
        format!("{}/.well-known/jwks.json", authd.url()),
        "authd",
    ));
    let objects = web::Data::new(Objects::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(objects.clone())
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    url
}

async fn admin_post(authd: &TestServer, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", authd.url()))
        .bearer_auth(TestServer::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{path}");
    response.json().await.unwrap()
}

/// A wallet with `role` in a new app; returns its login.
async fn sensor(authd: &TestServer, role: &str) -> Credentials {
    let app = admin_post(authd, "/v2/apps", json!({"name": "Sensors"})).await;
    let app_id = app["appId"].as_str().unwrap();
    admin_post(
        authd,
        &format!("/v2/apps/{app_id}/wallets"),
        json!({"username": "sensor01", "password": PASSWORD, "metadata": {"role": role}}),
    )
    .await;
    Credentials::wallet(format!("sensor01@{app_id}"), PASSWORD)
}

fn client(authd: &TestServer, credentials: Credentials) -> AuthClient {
    AuthClient::builder(authd.url())
        .credentials(credentials)
        .build()
        .unwrap()
}

#[actix_web::test]
async fn a_sensor_files_objects_and_an_administrator_sees_them() {
    let authd = TestServer::start(TokenPolicy::default());
    let objects = serve_objects(&authd);
    let sensor = client(&authd, sensor(&authd, "device").await);

    let filed = sensor
        .send(|http| {
            http.post(format!("{objects}/v2/objects"))
                .json(&json!({"name": "reading-1"}))
        })
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let listed: Value = sensor
        .send(|http| http.get(format!("{objects}/v2/objects")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["objects"][0]["name"], "reading-1");
    assert_eq!(listed["objects"][0]["by"], "sensor01");

    // A person may not file objects, until made an administrator may read them all.
    let register = reqwest::Client::new()
        .post(format!("{}/api/auth/register", authd.url()))
        .json(&json!({"email": "ada@example.com", "username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let id = register.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = client(&authd, Credentials::user("ada@example.com", PASSWORD));
    let refused = ada
        .send(|http| http.get(format!("{objects}/v2/objects")))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "FORBIDDEN");

    let promoted = reqwest::Client::new()
        .patch(format!("{}/api/admin/users/{id}", authd.url()))
        .bearer_auth(TestServer::ADMIN_TOKEN)
        .json(&json!({"roles": ["USER", "ADMIN"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), 200);
    // Roles are read from the token: a new login carries the new role.
    ada.login().await.unwrap();
    let all: Value = ada
        .send(|http| http.get(format!("{objects}/admin/objects")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let apps = all.as_object().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps.values().next().unwrap()[0]["name"], "reading-1");
}

#[actix_web::test]
async fn requests_without_a_sensor_token_get_authds_error_shape() {
    let authd = TestServer::start(TokenPolicy::default());
    let objects = serve_objects(&authd);
    let http = reqwest::Client::new();

    let anonymous = http
        .get(format!("{objects}/v2/objects"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_TOKEN");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let gateway = client(&authd, sensor(&authd, "gateway").await);
    let refused = gateway
        .send(|http| http.get(format!("{objects}/v2/objects")))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let sensor = client(&authd, sensor(&authd, "device").await);
    let malformed = sensor
        .send(|http| {
            http.post(format!("{objects}/v2/objects"))
                .header("content-type", "application/json")
                .body("{not json")
        })
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["code"],
        "INVALID_REQUEST"
    );

    let oversized = sensor
        .send(|http| {
            http.post(format!("{objects}/v2/objects"))
                .json(&json!({"name": "x".repeat(20_000)}))
        })
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    let nowhere = http
        .get(format!("{objects}/v3/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(nowhere.json::<Value>().await.unwrap()["code"], "NOT_FOUND");
}

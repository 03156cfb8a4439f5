//! Runs the example resource server against a live authd.
//!
//! ```sh
//! cargo run -p authd                      # authd on 127.0.0.1:8080
//! cargo run -p resource-server            # this service on 127.0.0.1:8081
//! ```
//!
//! `AUTHD_JWKS_URL` (default `http://127.0.0.1:8080/.well-known/jwks.json`),
//! `AUTHD_ISSUER` (default `authd`) and `BIND` (default `127.0.0.1:8081`) configure it.

use actix_web::{App, HttpServer, web};
use auth_resource::AccessVerifier;
use resource_server::{Objects, not_found, routes};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let jwks_url = setting(
        "AUTHD_JWKS_URL",
        "http://127.0.0.1:8080/.well-known/jwks.json",
    );
    let verifier = web::Data::new(AccessVerifier::jwks(
        jwks_url,
        setting("AUTHD_ISSUER", "authd"),
    ));
    let objects = web::Data::new(Objects::default());
    let bind = setting("BIND", "127.0.0.1:8081");
    println!("resource server listening on http://{bind}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(objects.clone())
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .bind(bind)?
    .run()
    .await
}

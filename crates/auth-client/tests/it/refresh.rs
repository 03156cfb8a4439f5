//! Keeping a session's token fresh.

use std::sync::Arc;
use std::time::Duration;

use auth_client::{Clock as _, Kind, MemoryTokenStore, Tokens};

use crate::*;

/// Past the point where a one-hour token is due for renewal (a minute before expiry),
/// before it expires.
const INTO_RENEWAL: Duration = Duration::from_secs(3_550);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_renewed_before_it_expires_and_not_before_it_is_due() {
    let authd = Authd::start().await;
    let client = authd.client(authd.user("ada").await);

    let first = client.access_token().await.unwrap();
    assert_eq!(client.access_token().await.unwrap(), first);
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 0);

    authd.clock.advance(INTO_RENEWAL);
    let second = client.access_token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 1);
    assert_eq!(me(&client, &authd).await["username"], "ada");
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1, "no new login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_that_need_a_token_at_once_cause_one_refresh() {
    let authd = Authd::start().await;
    let client = authd.client(authd.user("ada").await);
    client.login().await.unwrap();
    authd.clock.advance(INTO_RENEWAL);

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap().unwrap());
    }
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 1);
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all got the new token"
    );
    assert_eq!(me(&client, &authd).await["username"], "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_answer_is_lost_is_retried_and_the_session_survives() {
    let authd = Authd::start().await;
    let client = authd.client(authd.user("ada").await);
    let first = client.access_token().await.unwrap();
    authd.clock.advance(INTO_RENEWAL);

    // authd rotates the refresh token, but the connection breaks before the answer
    // arrives. The retry presents the same refresh token within authd's grace and gets
    // the same successor, instead of tripping reuse detection.
    authd.proxy.swallow_next_refresh();
    let second = client.access_token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 2);
    assert_eq!(me(&client, &authd).await["username"], "ada");

    // The chain goes on: the session was not revoked as a reuse.
    authd.clock.advance(INTO_RENEWAL);
    let third = client.access_token().await.unwrap();
    assert_ne!(third, second);
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 3);
    assert_eq!(me(&client, &authd).await["username"], "ada");
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_401_is_renewed_once_and_sent_again() {
    let authd = Authd::start().await;
    let refresh_token = {
        // The session's refresh token, with an access token authd will refuse: what a
        // client holds when its clock runs behind authd's.
        let store = Arc::new(MemoryTokenStore::default());
        let client = authd.client_storing(&store, Some(authd.user("grace").await));
        client.login().await.unwrap();
        let mut tokens = store.load_tokens();
        tokens.access_token = "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl".into();
        tokens.expires_at = authd.clock.now() + Duration::from_secs(3_600);
        tokens
    };
    let store = Arc::new(MemoryTokenStore::with(refresh_token));
    let client = authd.client_storing(&store, None);

    assert_eq!(me(&client, &authd).await["username"], "grace");
    assert_eq!(authd.proxy.count("GET /api/auth/me"), 2);
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_wallets_stay_logged_in_through_their_own_routes() {
    let authd = Authd::start().await;
    let device = authd.client(auth_client::Credentials::device(
        "phone-0001",
        auth_client::Platform::Android,
    ));
    let first = device.access_token().await.unwrap();
    authd.clock.advance(INTO_RENEWAL);
    assert_ne!(device.access_token().await.unwrap(), first);
    assert_eq!(me(&device, &authd).await["platform"], "ANDROID");
    assert_eq!(authd.proxy.count("POST /api/auth/device/refresh"), 1);

    let wallet = authd.client(authd.wallet().await);
    let first = wallet.access_token().await.unwrap();
    authd.clock.advance(INTO_RENEWAL);
    assert_ne!(wallet.access_token().await.unwrap(), first);
    assert_eq!(me(&wallet, &authd).await["username"], "sensor01");
    assert_eq!(authd.proxy.count("POST /v2/auth/wallet/refresh"), 1);
    assert_eq!(authd.proxy.count("POST /v2/auth/wallet/login"), 1);
}

/// The test's view of a store.
trait Inspect {
    fn load_tokens(&self) -> Tokens;
}

impl Inspect for MemoryTokenStore {
    fn load_tokens(&self) -> Tokens {
        let tokens = auth_client::TokenStore::load(self).unwrap().unwrap();
        assert_eq!(tokens.kind, Kind::User);
        tokens
    }
}

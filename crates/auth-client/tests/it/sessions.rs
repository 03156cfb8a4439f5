//! When a session ends, and when authd cannot be reached.

use std::sync::Arc;

use auth_client::{ClientError, Credentials, MemoryTokenStore, TokenStore};

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_logged_out_session_fail_cleanly() {
    let authd = Authd::start().await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = authd.client_storing(&store, Some(authd.user("ada").await));
    client.login().await.unwrap();
    let kept = store.load().unwrap().unwrap();

    client.logout().await.unwrap();
    assert!(store.load().unwrap().is_none(), "logout forgets the tokens");
    assert_eq!(authd.proxy.count("POST /api/auth/logout"), 1);

    // Another copy of the same tokens, in a client that cannot log in by itself.
    let copy = Arc::new(MemoryTokenStore::with(kept));
    let leftover = authd.client_storing(&copy, None);
    let url = format!("{}/api/auth/me", authd.proxy.url);
    let ended = leftover.send(|http| http.get(&url)).await.unwrap_err();
    assert!(
        matches!(&ended, ClientError::SessionEnded { code } if code == "INVALID_TOKEN"),
        "{ended:?}"
    );
    assert!(copy.load().unwrap().is_none(), "dead tokens are forgotten");
    assert!(matches!(
        leftover.access_token().await,
        Err(ClientError::NotLoggedIn)
    ));
    assert_eq!(authd.proxy.count("POST /api/auth/refresh"), 1, "tried once");
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_credentials_logs_in_again_when_its_session_is_revoked() {
    let authd = Authd::start().await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = authd.client_storing(&store, Some(authd.user("ada").await));
    client.login().await.unwrap();
    let revoked = store.load().unwrap().unwrap();
    // Logged out elsewhere (another process holding the same session, say).
    authd
        .post(
            "/api/auth/logout",
            Some(&revoked.access_token),
            serde_json::json!({}),
        )
        .await;

    assert_eq!(me(&client, &authd).await["username"], "ada");
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 2);
    assert_ne!(
        store.load().unwrap().unwrap().access_token,
        revoked.access_token
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_and_not_retried() {
    let authd = Authd::start().await;
    authd.user("ada").await;
    let client = authd.client(Credentials::user("ada@example.com", "not the password"));
    let refused = client.access_token().await.unwrap_err();
    assert_eq!(refused.code(), Some("INVALID_CREDENTIALS"));
    assert!(!refused.to_string().contains("not the password"));
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_failures_are_retried_with_backoff() {
    let authd = Authd::start().await;
    let credentials = authd.user("ada").await;
    authd.proxy.refuse_connections(3);
    let client = authd.client(credentials);
    client.login().await.unwrap();
    assert_eq!(authd.proxy.refusals_left(), 0);
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);

    authd.proxy.answer_busy(2);
    client.login().await.unwrap();
    assert_eq!(
        authd.proxy.count("POST /api/auth/login"),
        4,
        "two busy pages, then authd"
    );

    authd.proxy.refuse_connections(10);
    let client = authd.client(authd.user("grace").await);
    assert!(matches!(client.login().await, Err(ClientError::Network(_))));
    assert_eq!(authd.proxy.refusals_left(), 5, "5 tries, all refused");
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_even_when_the_access_token_has_expired() {
    let authd = Authd::start().await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = authd.client_storing(&store, Some(authd.user("ada").await));
    client.login().await.unwrap();
    // An access token authd no longer accepts, as after a night asleep.
    let mut tokens = store.load().unwrap().unwrap();
    let refresh_token = tokens.refresh_token.clone().unwrap();
    tokens.access_token = "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl".into();
    tokens.expires_at = auth_client::Clock::now(&*authd.clock) - std::time::Duration::from_secs(1);
    store.save(&tokens).unwrap();

    client.logout().await.unwrap();
    assert_eq!(authd.proxy.count("POST /api/auth/logout"), 1);
    // The refresh token the client held is dead: not even its retry grace answers.
    let (status, body) = authd
        .try_post(
            "/api/auth/refresh",
            None,
            serde_json::json!({ "refreshToken": refresh_token }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );

    // Logged out means logged out, credentials or not, until login is called.
    assert!(matches!(
        client.access_token().await,
        Err(ClientError::NotLoggedIn)
    ));
    assert_eq!(authd.proxy.count("POST /api/auth/login"), 1);
    client.login().await.unwrap();
    assert_eq!(me(&client, &authd).await["username"], "ada");
}

use actix_web::test::TestRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::*;

#[actix_web::test]
async fn me_describes_the_user_behind_the_token() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reg = register(&app, "Alice@Example.com", "alice").await;
    let reply = me(&app, &reg.str("accessToken")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["type"], "user");
    assert_eq!(reply.body["id"], reg.body["user"]["id"]);
    assert_eq!(reply.body["email"], "Alice@Example.com");
    assert_eq!(reply.body["username"], "alice");
    assert_eq!(reply.body["roles"], json!(["USER"]));
    assert_eq!(
        reply.body["emailVerified"], false,
        "nobody has verified it yet"
    );
}

#[actix_web::test]
async fn me_without_a_bearer_token_is_401_with_a_challenge() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let reply = send(&app, TestRequest::get().uri("/api/auth/me")).await;
    reply.assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    let basic = TestRequest::get()
        .uri("/api/auth/me")
        .insert_header(("authorization", "Basic YTpi"));
    send(&app, basic).await.assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn tokens_in_the_query_string_are_ignored() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let token = register(&app, "alice@example.com", "alice")
        .await
        .str("accessToken");
    let req = TestRequest::get().uri(&format!("/api/auth/me?access_token={token}"));
    send(&app, req).await.assert_error(401, "INVALID_TOKEN");
}

#[actix_web::test]
async fn an_access_token_past_exp_is_token_expired() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let token = register(&app, "alice@example.com", "alice")
        .await
        .str("accessToken");
    ctx.clock.advance(3_600 + 5);
    me(&app, &token).await.assert_error(401, "TOKEN_EXPIRED");
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn encode(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[actix_web::test]
async fn forged_tokens_are_all_invalid() {
    let ctx = Ctx::new();
    let app = ctx.app().await;
    let genuine = register(&app, "alice@example.com", "alice")
        .await
        .str("accessToken");
    let [header, payload, signature]: [String; 3] = segments(&genuine).try_into().unwrap();
    let claims = decode(&payload);

    let mut forgeries = Vec::new();
    // alg "none", with and without a signature.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": ctx.key.kid});
    forgeries.push(format!("{}.{payload}.", encode(&none)));
    forgeries.push(format!("{}.{payload}.{signature}", encode(&none)));
    // HS256 signed with the published public key (algorithm confusion).
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(ctx.key.kid.clone());
    for secret in [
        URL_SAFE_NO_PAD.decode(&ctx.key.public_key).unwrap(),
        ctx.key.public_key.clone().into_bytes(),
    ] {
        forgeries.push(
            jsonwebtoken::encode(
                &hs,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap(),
        );
    }
    // A tampered payload under the genuine signature.
    let mut admin = claims.clone();
    admin["roles"] = json!(["ADMIN"]);
    forgeries.push(format!("{header}.{}.{signature}", encode(&admin)));
    // An unknown kid.
    let mut h = decode(&header);
    h["kid"] = json!("someone-elses-key");
    forgeries.push(format!("{}.{payload}.{signature}", encode(&h)));
    // A token signed by a key authd never had, naming our kid.
    let stranger = auth_core::StoredSigningKey::generate_ed25519(T0).unwrap();
    let mut stranger_key = stranger.clone();
    stranger_key.kid = ctx.key.kid.clone();
    let mut ed = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    ed.typ = Some("at+jwt".into());
    ed.kid = Some(ctx.key.kid.clone());
    let seed = URL_SAFE_NO_PAD.decode(&stranger.private_key).unwrap();
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    forgeries.push(
        jsonwebtoken::encode(&ed, &claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap(),
    );
    // The right key, but another issuer.
    let seed = URL_SAFE_NO_PAD.decode(&ctx.key.private_key).unwrap();
    let mut der = der[..16].to_vec();
    der.extend_from_slice(&seed);
    let mut foreign = claims.clone();
    foreign["iss"] = json!("not-authd");
    forgeries.push(
        jsonwebtoken::encode(&ed, &foreign, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap(),
    );
    // The right key and issuer, but not typed as an access token (RFC 9068): an ID token
    // or any other JWT signed with the same key is not accepted as one.
    for typ in [Some("JWT"), None] {
        let mut other = ed.clone();
        other.typ = typ.map(str::to_owned);
        forgeries.push(
            jsonwebtoken::encode(
                &other,
                &claims,
                &jsonwebtoken::EncodingKey::from_ed_der(&der),
            )
            .unwrap(),
        );
    }
    // The right key, but a header that tries to smuggle a key.
    let mut smuggle = decode(&header);
    smuggle["jku"] = json!("https://evil.example/jwks.json");
    forgeries.push(format!("{}.{payload}.{signature}", encode(&smuggle)));
    // Not a JWT at all.
    forgeries.push("not.a.jwt".into());

    for forged in &forgeries {
        me(&app, forged).await.assert_error(401, "INVALID_TOKEN");
    }
    // The genuine token still works: the forgeries changed nothing.
    assert_eq!(me(&app, &genuine).await.status, 200);

    // Control: the same signing path with our issuer does produce an accepted token, so
    // the issuer forgery above failed for its issuer alone.
    let ours =
        jsonwebtoken::encode(&ed, &claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap();
    assert_eq!(me(&app, &ours).await.status, 200);
}

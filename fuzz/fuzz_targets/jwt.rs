//! The access-token verifiers, authd's own and the resource servers', on arbitrary text:
//! header and claims parsing, the header rules, signatures and time checks. Every input
//! must be refused without a panic, except the two genuine tokens it was seeded with.
#![no_main]

use std::sync::OnceLock;

use auth_core::{
    Attributes, KeyRing, PrincipalKind, SessionId, SigningAlgorithm, StoredSigningKey, TokenSigner,
    TokenVerifier, UnixTime,
};
use libfuzzer_sys::fuzz_target;

const NOW: UnixTime = UnixTime(1_800_000_000);

struct Verifiers {
    ed25519: TokenSigner,
    hmac: TokenSigner,
    resource_server: TokenVerifier,
}

fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let key = StoredSigningKey::generate_ed25519(NOW).expect("a key");
        let ring = KeyRing::ed25519(&[key]).expect("a ring");
        let ed25519 = TokenSigner::new(ring, "authd");
        let jwks = serde_json::to_vec(ed25519.keys().jwks()).expect("a JWKS");
        let resource_server = TokenVerifier::from_jwks(&jwks, "authd").expect("a verifier");
        let secret = b"0123456789abcdef0123456789abcdef";
        let hmac = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS256, secret).expect("a ring"),
            "authd",
        );
        Verifiers {
            ed25519,
            hmac,
            resource_server,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let v = verifiers();
    // A genuine token for the signers' own keys can only come from them.
    assert!(v.ed25519.verify(token, NOW).is_err());
    assert!(v.hmac.verify(token, NOW).is_err());
    assert!(v.resource_server.verify(token, NOW).is_err());
    let _ = TokenVerifier::header_kid(token, SigningAlgorithm::EdDSA, true);
    let _ = v.resource_server.lacks_key_for(token);
    // And a genuine token with the fuzzer's bytes appended is refused too.
    let claims = v.ed25519.claims(
        PrincipalKind::User,
        "usr_1",
        &SessionId::from_stored("ses_1".into()),
        Attributes::default(),
        NOW,
        3_600,
    );
    let genuine = v.ed25519.sign(&claims).expect("signed");
    if !token.is_empty() {
        assert!(
            v.resource_server
                .verify(&format!("{genuine}{token}"), NOW)
                .is_err()
        );
    }
});

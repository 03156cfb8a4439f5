//! The costs authd pays on every request: signing and verifying access tokens, deciding a
//! refresh, and (on login only) hashing a password at the production parameters.
//!
//! Run with `cargo bench -p auth-core`; results are reported in `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth_core::{
    AccessClaims, Attributes, KeyRing, Password, PasswordHasher, PrincipalKind, RefreshRecord,
    RefreshToken, SessionId, SigningAlgorithm, StoredSigningKey, TokenPolicy, TokenSigner,
    TokenVerifier, UnixTime, session,
};
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: UnixTime = UnixTime(1_800_000_000);

/// Distinct tokens for the cost of a first check: over ten times what a memory of
/// verified tokens keeps (8,192), so that none is remembered when its turn comes again.
const FIRST_SEEN: usize = 100_000;

fn signers() -> Vec<(&'static str, TokenSigner)> {
    let ed = StoredSigningKey::generate_ed25519(NOW).unwrap();
    vec![
        (
            "EdDSA",
            TokenSigner::new(KeyRing::ed25519(&[ed]).unwrap(), "authd"),
        ),
        (
            "HS256",
            TokenSigner::new(
                KeyRing::hmac(SigningAlgorithm::HS256, &[7u8; 32]).unwrap(),
                "authd",
            ),
        ),
    ]
}

fn claims(signer: &TokenSigner) -> AccessClaims {
    let attributes = Attributes {
        roles: vec!["USER".into()],
        ..Attributes::default()
    };
    signer.claims(
        PrincipalKind::User,
        "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        &SessionId::generate(auth_core::UnixTime(1_800_000_000)),
        attributes,
        NOW,
        3_600,
    )
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_token");
    for (name, signer) in signers() {
        let claims = claims(&signer);
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| signer.sign(black_box(&claims)).unwrap());
        });
        // The full check, as for a token seen for the first time: more distinct tokens
        // than any memory of verified tokens holds, taken in turn.
        let verifier = TokenVerifier::with_ring(&signer.keys(), "authd");
        let unseen: Vec<String> = (0..FIRST_SEEN)
            .map(|_| signer.sign(&self::claims(&signer)).unwrap())
            .collect();
        let mut next = unseen.iter().cycle();
        group.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(next.next().unwrap()), NOW)
                    .unwrap()
            });
        });
        let token = signer.sign(&claims).unwrap();
        // A token TokenSigner has verified before: the time rules only.
        group.bench_function(format!("verify_remembered/{name}"), |b| {
            b.iter(|| signer.verify(black_box(&token), NOW).unwrap());
        });
    }
    group.finish();
}

fn rotation(c: &mut Criterion) {
    let policy = TokenPolicy::default();
    let started = session::start(PrincipalKind::Device, "device-1", NOW, &policy).unwrap();
    let presented = started.token.expose().to_owned();
    let record = RefreshRecord {
        hash: started.token.hash(),
        session_id: started.session.id.clone(),
        generation: 0,
        expires_at: started.session.current_expires_at,
    };
    let mut group = c.benchmark_group("rotation");
    group.bench_function("decide", |b| {
        b.iter(|| session::decide(black_box(&started.session), &record, NOW, &policy));
    });
    // What a refresh costs before it reaches the database: parse and hash the presented
    // token, then decide.
    group.bench_function("parse_hash_decide", |b| {
        b.iter(|| {
            let token = RefreshToken::parse(black_box(&presented)).unwrap();
            let hash = token.hash();
            black_box(hash);
            session::decide(&started.session, &record, NOW, &policy)
        });
    });
    group.finish();
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::recommended().unwrap();
    let password = Password::new("correct horse battery staple").unwrap();
    let stored = hasher.hash(&password).unwrap();
    let mut group = c.benchmark_group("password_argon2id_m19456_t2_p1");
    group.sample_size(20);
    group.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(&password))));
    group.bench_function("verify", |b| {
        b.iter(|| hasher.verify(black_box(&password), &stored));
    });
    group.finish();
}

criterion_group!(benches, tokens, rotation, passwords);
criterion_main!(benches);

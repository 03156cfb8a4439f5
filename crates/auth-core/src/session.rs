//! Sessions and the refresh-token rotation state machine.
//!
//! A session is one login of one principal. It owns a chain of single-use refresh tokens;
//! only the newest (generation `g`) may be rotated. A token names its session
//! (`authd_rt_<session>.<secret>`), and the store keeps only the SHA-256 of the current
//! one, in the session's row: an older token is recognised by walking the chain forward
//! from it (see below) until it reaches the current token, so that presenting it is
//! recognised as reuse without a row per token ever issued. Tokens issued before tokens
//! named their session (`authd_rt_<secret>`) are still found by their hash in the chain
//! records of those sessions.
//!
//! ```text
//!            present token of generation...
//!   ┌────────────────────────────────────────────────────────────────────────┐
//!   │ g   (current, unexpired)        ──► Rotate: g+1 becomes current         │
//!   │ g-1 (within grace of rotation)  ──► Replay: the same g token again      │
//!   │ g-1 after grace, or < g-1       ──► Reuse:  session revoked (terminal)  │
//!   │ any, session revoked            ──► Revoked                             │
//!   │ g past its expiry, or session   ──► Expired                             │
//!   │   past its absolute lifetime                                            │
//!   └────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The successor of a token is not random: it is `HMAC-SHA256(session rotation key,
//! presented token)`. A client whose response was lost can therefore retry within the grace
//! and receive the *same* successor, although the server never stored it in plain text.
//! Someone holding an old token cannot compute later ones without the rotation key, which
//! never leaves the server. The same derivation lets the server tell a spent token of the
//! chain (some number of successors of it hash to the current token) from a forgery
//! naming the session (none does), walking at most [`MAX_CHAIN_WALK`] generations back.
//!
//! Rotation is a compare-and-set on the session's generation ([`SessionStore::advance_session`]):
//! of many concurrent refreshes with one token, exactly one advances the chain; the others
//! read the new state and are answered by [`decide`] as replays.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{App, AuthError, Device, PrincipalKind, StoreError, UnixTime, User, Wallet};

/// Lifetimes that govern tokens and sessions, in seconds, and the secret new sessions'
/// refresh chains are keyed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Lifetime of an access token.
    pub access_ttl_secs: i64,
    /// Lifetime of one refresh token (each rotation issues a new one with a fresh lifetime).
    pub refresh_ttl_secs: i64,
    /// How long after a rotation the rotated token still answers with the same successor.
    pub reuse_grace_secs: i64,
    /// Absolute lifetime of a user or device session; no rotation extends it.
    pub session_max_secs: i64,
    /// Absolute lifetime of a wallet session.
    pub wallet_session_max_secs: i64,
    /// Mixed into the rotation key of every session started under this policy (see
    /// [`RotationSecret`]); `None` keeps the keys as stored.
    pub rotation_secret: Option<RotationSecret>,
}

/// A secret outside the database (derived from `AUTHD_KEY_ENCRYPTION_KEY`) that keys every
/// session's chain of refresh tokens together with the session's stored rotation key.
/// Without it, a copy of the database plus any spent refresh token of a session would
/// compute that session's live token; with it, the stored key alone predicts nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RotationSecret([u8; 32]);

impl RotationSecret {
    /// A secret of 32 bytes.
    #[must_use]
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for RotationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationSecret(<redacted>)")
    }
}

impl TokenPolicy {
    /// The policy wallet sessions follow: the same, with their own absolute lifetime.
    #[must_use]
    pub fn for_wallets(&self) -> Self {
        Self {
            session_max_secs: self.wallet_session_max_secs,
            ..*self
        }
    }
}

impl Default for TokenPolicy {
    /// The contract's defaults: 1 h, 7 d, 10 s, 30 d (wallets: 7 d).
    fn default() -> Self {
        Self {
            access_ttl_secs: 3_600,
            refresh_ttl_secs: 604_800,
            reuse_grace_secs: 10,
            session_max_secs: 2_592_000,
            wallet_session_max_secs: 604_800,
            rotation_secret: None,
        }
    }
}

/// The identifier of a session (the `sid` claim).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A new session id started at `now`: a UUIDv7 (its first 48 bits the time, the
    /// rest random), so that new sessions land at the end of the primary-key index
    /// instead of on a random page of it (on 10 M sessions, random pages meant a read
    /// and a full-page write to PostgreSQL's log for most new sessions).
    #[must_use]
    pub fn generate(now: UnixTime) -> Self {
        Self(format!("ses_{}", crate::clock::uuid_v7(now).simple()))
    }

    /// Wraps an id read from storage or from a verified token.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// An id given by a client (a path): `None` unless it is 1–64 characters of
    /// `A-Z a-z 0-9 _ -`, the shapes authd has handed out, so that other text never
    /// reaches the database.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a refresh token carries of this id, if the id has authd's shape.
    fn locator(&self) -> Option<&str> {
        self.0
            .strip_prefix(SESSION_PREFIX)
            .filter(|locator| is_locator(locator))
    }
}

/// A refresh token in plain text. It exists only between its creation and the response
/// that hands it to the client; it is never stored and its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

/// Prefix of every refresh token, so that leaked-secret scanners can recognise them.
const REFRESH_PREFIX: &str = "authd_rt_";
/// Characters of the secret: 32 bytes in unpadded base64url.
const REFRESH_SECRET_LEN: usize = 43;
/// The prefix of every session id; a token carries the 32 hex digits after it.
const SESSION_PREFIX: &str = "ses_";
/// Hex digits of the session a token names.
const LOCATOR_LEN: usize = 32;

impl RefreshToken {
    /// A token of `session` with secret `bytes`: `authd_rt_<session>.<secret>`. A session
    /// id not of authd's own shape (never generated so) gives a token without the session.
    fn of_session(session: &SessionId, bytes: &[u8; 32]) -> Self {
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        match session.locator() {
            Some(locator) => Self(format!("{REFRESH_PREFIX}{locator}.{secret}")),
            None => Self(format!("{REFRESH_PREFIX}{secret}")),
        }
    }

    /// The form tokens had before they named their session.
    fn unlocated(bytes: &[u8; 32]) -> Self {
        Self(format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a token presented by a client if it has the shape authd issues.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when it lacks the prefix or has the wrong length or
    /// alphabet: such a token cannot exist, so no lookup is needed.
    pub fn parse(presented: &str) -> Result<Self, AuthError> {
        let body = presented
            .strip_prefix(REFRESH_PREFIX)
            .ok_or(AuthError::InvalidToken("refresh token has no authd prefix"))?;
        let secret = match body.split_once('.') {
            Some((locator, secret)) if is_locator(locator) => secret,
            Some(_) => return Err(AuthError::InvalidToken("refresh token is malformed")),
            None => body,
        };
        let well_formed = secret.len() == REFRESH_SECRET_LEN
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(AuthError::InvalidToken("refresh token is malformed"));
        }
        Ok(Self(presented.to_owned()))
    }

    /// The session this token names, if it names one (tokens issued before tokens named
    /// their session do not).
    #[must_use]
    pub fn session_id(&self) -> Option<SessionId> {
        let body = self.0.strip_prefix(REFRESH_PREFIX)?;
        let (locator, _) = body.split_once('.')?;
        is_locator(locator).then(|| SessionId(format!("{SESSION_PREFIX}{locator}")))
    }

    /// The token as sent to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the store knows this token.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of_secret(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// Whether `s` is the part of a session id a token carries: 32 lower-case hex digits.
fn is_locator(s: &str) -> bool {
    s.len() == LOCATOR_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lower-case hex. Every refresh hashes two tokens; formatting each byte with `{:02x}` was
/// two thirds of the cost of a hash (callgrind).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The SHA-256 of a refresh token, hex encoded: all the store ever sees of a token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of a secret token (a refresh or one-time token).
    pub(crate) fn of_secret(secret: &str) -> Self {
        Self(hex(&Sha256::digest(secret.as_bytes())))
    }

    /// Wraps a hash read from storage.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The hash as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// The per-session secret from which successor tokens are derived.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationKey(String);

/// The prefix of a rotation key that is keyed with the [`RotationSecret`] too.
const KEYED_WITH_SECRET: &str = "k1:";

impl RotationKey {
    fn generate(secret: Option<&RotationSecret>) -> Result<Self, AuthError> {
        let mut bytes = [0u8; 32];
        crate::random_bytes(&mut bytes)?;
        let prefix = if secret.is_some() {
            KEYED_WITH_SECRET
        } else {
            ""
        };
        Ok(Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Wraps a key read from storage.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The MAC that keys this session's chain. A key stored with the `k1:` prefix is used
    /// only through `secret` (HMAC-SHA256 of the stored bytes under the secret); a key
    /// stored before a secret was configured is used as it is.
    fn chain_mac(&self, secret: Option<&RotationSecret>) -> Result<Hmac<Sha256>, AuthError> {
        let (stored, keyed) = match self.0.strip_prefix(KEYED_WITH_SECRET) {
            Some(rest) => (rest, true),
            None => (self.0.as_str(), false),
        };
        let mut key = URL_SAFE_NO_PAD
            .decode(stored)
            .map_err(|_| AuthError::Internal("stored rotation key is not base64".into()))?;
        if keyed {
            let secret = secret.ok_or_else(|| {
                AuthError::Internal(
                    "this session's refresh chain needs AUTHD_KEY_ENCRYPTION_KEY".into(),
                )
            })?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
                .map_err(|_| AuthError::Internal("rotation secret is unusable".into()))?;
            mac.update(&key);
            key = mac.finalize().into_bytes().to_vec();
        }
        Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|_| AuthError::Internal("stored rotation key is unusable".into()))
    }
}

/// A session's chain of tokens: the successor of each is derived from it with the
/// session's rotation key.
struct Chain<'a> {
    session: &'a SessionId,
    mac: Hmac<Sha256>,
}

impl<'a> Chain<'a> {
    fn of(session: &'a Session, secret: Option<&RotationSecret>) -> Result<Self, AuthError> {
        Ok(Self {
            session: &session.id,
            mac: session.rotation_key.chain_mac(secret)?,
        })
    }

    fn successor_bytes(&self, presented: &RefreshToken) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(presented.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The token that succeeds `presented`.
    fn successor(&self, presented: &RefreshToken) -> RefreshToken {
        RefreshToken::of_session(self.session, &self.successor_bytes(presented))
    }

    /// How many generations `presented`, not the current token itself, is behind the
    /// token whose hash is `current`, looking at most `max_behind` back; `None` when it is
    /// not in the chain that far.
    fn behind(
        &self,
        presented: &RefreshToken,
        current: &TokenHash,
        max_behind: i64,
    ) -> Option<i64> {
        let mut token = presented.clone();
        for behind in 1..=max_behind.clamp(0, MAX_CHAIN_WALK) {
            token = self.successor(&token);
            if token.hash().ct_eq(current) {
                return Some(behind);
            }
        }
        None
    }
}

/// How far back a presented token is looked for in its session's chain: a token more
/// rotations old than this is refused as unknown instead of revoking the session as reuse.
/// A month of hourly refreshes is 720 rotations; each step is two hashes (about 2 µs).
pub const MAX_CHAIN_WALK: i64 = 1_000;

impl fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationKey(<redacted>)")
    }
}

/// One session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id (`sid` in its access tokens).
    pub id: SessionId,
    /// The kind of principal the session belongs to.
    pub kind: PrincipalKind,
    /// The principal's id (a user id, device id or wallet id).
    pub principal_id: String,
    /// Generation of the current refresh token; the first token is generation 0.
    pub generation: i64,
    /// Hash of the current refresh token.
    pub current_hash: TokenHash,
    /// When the current refresh token expires.
    pub current_expires_at: UnixTime,
    /// When the previous token was rotated (start of its retry grace); `None` before the
    /// first rotation.
    pub rotated_at: Option<UnixTime>,
    /// Secret from which successors are derived.
    pub rotation_key: RotationKey,
    /// When the session began.
    pub created_at: UnixTime,
    /// Absolute end of the session.
    pub expires_at: UnixTime,
    /// When the session was revoked (logout, reuse detection, suspension).
    pub revoked_at: Option<UnixTime>,
    /// Where the session was started from.
    pub origin: SessionOrigin,
}

/// Where a session was started from, shown to its owner in their list of sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The client's `User-Agent`, at most [`SessionOrigin::MAX_USER_AGENT`] bytes.
    pub user_agent: Option<String>,
    /// The client's address as authd saw it (behind a trusted proxy, the forwarded one).
    pub ip_address: Option<String>,
}

impl SessionOrigin {
    /// Longest `User-Agent` kept: browsers send 100–150 bytes; the rest of a longer one
    /// would only grow every session row.
    pub const MAX_USER_AGENT: usize = 256;

    /// The origin of a request: its user agent (control characters dropped, cut to
    /// [`SessionOrigin::MAX_USER_AGENT`] bytes at a character boundary) and address.
    #[must_use]
    pub fn new(user_agent: Option<&str>, ip: Option<std::net::IpAddr>) -> Self {
        let user_agent = user_agent.map(|agent| {
            let mut kept = String::new();
            for c in agent.chars().filter(|c| !c.is_control()) {
                if kept.len() + c.len_utf8() > Self::MAX_USER_AGENT {
                    break;
                }
                kept.push(c);
            }
            kept
        });
        Self {
            user_agent: user_agent.filter(|agent| !agent.trim().is_empty()),
            ip_address: ip.map(|ip| ip.to_string()),
        }
    }
}

impl Session {
    /// Whether tokens of this session are still honoured at `now`.
    #[must_use]
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh token of a session's chain, as stored (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// Hash of the token.
    pub hash: TokenHash,
    /// The session the token belongs to.
    pub session_id: SessionId,
    /// Its place in the chain.
    pub generation: i64,
    /// When it stops being accepted.
    pub expires_at: UnixTime,
}

/// What presenting a refresh token does, decided from stored state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The token is current: the chain advances to `generation`, whose token expires at
    /// `expires_at`.
    Rotate {
        /// Generation of the successor.
        generation: i64,
        /// Expiry of the successor.
        expires_at: UnixTime,
    },
    /// The token was rotated moments ago: answer with the same successor again.
    Replay,
    /// The token was rotated before the grace, or is older still: revoke the session.
    Reuse,
    /// The token, or the whole session, has expired.
    Expired,
    /// The session was revoked.
    Revoked,
}

/// The rotation rule: what presenting `presented` (a token of `session`) at `now` does.
#[must_use]
pub fn decide(
    session: &Session,
    presented: &RefreshRecord,
    now: UnixTime,
    policy: &TokenPolicy,
) -> RotationOutcome {
    if session.revoked_at.is_some() {
        return RotationOutcome::Revoked;
    }
    if now >= session.expires_at {
        return RotationOutcome::Expired;
    }
    if presented.generation == session.generation {
        if now >= presented.expires_at {
            return RotationOutcome::Expired;
        }
        let expires_at = now
            .plus_secs(policy.refresh_ttl_secs)
            .min(session.expires_at);
        return RotationOutcome::Rotate {
            generation: session.generation + 1,
            expires_at,
        };
    }
    let within_grace = session
        .rotated_at
        .is_some_and(|at| now < at.plus_secs(policy.reuse_grace_secs));
    if presented.generation == session.generation - 1 && within_grace {
        if now >= session.current_expires_at {
            return RotationOutcome::Expired;
        }
        return RotationOutcome::Replay;
    }
    RotationOutcome::Reuse
}

/// A new session with its first refresh token.
#[derive(Debug)]
pub struct NewSession {
    /// The session to store; its current token is the first.
    pub session: Session,
    /// The first token itself, for the client.
    pub token: RefreshToken,
}

/// The credential a login proved, which must still be current when its session is stored
/// (see [`SessionStore::create_session_guarded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialGuard {
    /// A user or a wallet.
    pub kind: PrincipalKind,
    /// The user's or wallet's id.
    pub principal_id: String,
    /// The stored hash the password was verified against.
    pub password_hash: crate::PasswordHash,
}

/// Creates a session for a principal, starting at `now`.
///
/// # Errors
/// [`AuthError::Internal`] if the OS cannot supply randomness.
pub fn start(
    kind: PrincipalKind,
    principal_id: &str,
    now: UnixTime,
    policy: &TokenPolicy,
) -> Result<NewSession, AuthError> {
    let id = SessionId::generate(now);
    let mut secret = [0u8; 32];
    crate::random_bytes(&mut secret)?;
    let token = RefreshToken::of_session(&id, &secret);
    let expires_at = now.plus_secs(policy.session_max_secs);
    let current_expires_at = now.plus_secs(policy.refresh_ttl_secs).min(expires_at);
    let session = Session {
        id: id.clone(),
        kind,
        principal_id: principal_id.to_owned(),
        generation: 0,
        current_hash: token.hash(),
        current_expires_at,
        rotated_at: None,
        rotation_key: RotationKey::generate(policy.rotation_secret.as_ref())?,
        created_at: now,
        expires_at,
        revoked_at: None,
        origin: SessionOrigin::default(),
    };
    Ok(NewSession { session, token })
}

/// The result of a successful refresh: the session as it now stands and the token to hand
/// out (a fresh successor, or the same one again for a retry).
#[derive(Debug)]
pub struct Rotated {
    /// The session after the rotation.
    pub session: Session,
    /// The current refresh token of the session.
    pub token: RefreshToken,
}

/// How many times a refresh re-reads the session after losing a compare-and-set race.
const MAX_ROTATION_ATTEMPTS: usize = 4;

/// Presents a refresh token of a principal of `kind`: rotates the chain, replays the
/// successor, or revokes the session on reuse, as [`decide`] says.
///
/// # Errors
/// - [`AuthError::InvalidToken`] for an unknown token, a token of another principal kind,
///   or a revoked session;
/// - [`AuthError::TokenExpired`] for an expired token or session;
/// - [`AuthError::RefreshTokenReused`] after revoking the session on reuse;
/// - [`AuthError::Store`] when storage fails.
pub fn rotate(
    store: &dyn SessionStore,
    presented: &RefreshToken,
    kind: PrincipalKind,
    now: UnixTime,
    policy: &TokenPolicy,
) -> Result<Rotated, AuthError> {
    rotate_admitting(store, presented, kind, now, policy, |_, _| Ok(()))
        .map(|(rotated, ())| rotated)
}

/// Like [`rotate`], but first asks `admit` whether the session's principal may still
/// refresh (it exists, it is not suspended), given what the store found of that principal
/// with the token, in the same read. A refusal changes nothing: the presented token stays
/// current. Reuse is detected, and revokes the session, whatever `admit` says.
///
/// # Errors
/// As [`rotate`], and whatever `admit` returns.
pub fn rotate_admitting<P>(
    store: &dyn SessionStore,
    presented: &RefreshToken,
    kind: PrincipalKind,
    now: UnixTime,
    policy: &TokenPolicy,
    admit: impl Fn(&Session, Option<SessionPrincipal>) -> Result<P, AuthError>,
) -> Result<(Rotated, P), AuthError> {
    let secret = policy.rotation_secret.as_ref();
    for _ in 0..MAX_ROTATION_ATTEMPTS {
        let Some((record, session, found)) = find_presented(store, presented, secret)? else {
            return Err(AuthError::InvalidToken("unknown refresh token"));
        };
        if session.kind != kind {
            return Err(AuthError::InvalidToken(
                "refresh token of another principal kind",
            ));
        }
        match decide(&session, &record, now, policy) {
            RotationOutcome::Rotate {
                generation,
                expires_at,
            } => {
                let admitted = admit(&session, found)?;
                let token = Chain::of(&session, secret)?.successor(presented);
                let next = RefreshRecord {
                    hash: token.hash(),
                    session_id: session.id.clone(),
                    generation,
                    expires_at,
                };
                if store.advance_session(&session, record.generation, &next, now)? {
                    let session = Session {
                        generation,
                        current_hash: next.hash,
                        current_expires_at: expires_at,
                        rotated_at: Some(now),
                        ..session
                    };
                    return Ok((Rotated { session, token }, admitted));
                }
                // Another request advanced the chain first; decide again on its result.
            }
            RotationOutcome::Replay => {
                let admitted = admit(&session, found)?;
                let bytes = Chain::of(&session, secret)?.successor_bytes(presented);
                // The successor as this release writes it, or as a release from before
                // tokens named their session wrote it (rotated just before an upgrade).
                let token = [
                    RefreshToken::of_session(&session.id, &bytes),
                    RefreshToken::unlocated(&bytes),
                ]
                .into_iter()
                .find(|token| token.hash().ct_eq(&session.current_hash))
                .ok_or_else(|| {
                    AuthError::Internal(
                        "replayed successor does not match the session's current token".into(),
                    )
                })?;
                return Ok((Rotated { session, token }, admitted));
            }
            RotationOutcome::Reuse => {
                store.revoke_session(&session.id, now)?;
                return Err(AuthError::RefreshTokenReused);
            }
            RotationOutcome::Expired => return Err(AuthError::TokenExpired),
            RotationOutcome::Revoked => return Err(AuthError::InvalidToken("session revoked")),
        }
    }
    Err(AuthError::Store(StoreError::Unavailable(
        "refresh kept losing the rotation race".into(),
    )))
}

/// Finds the session `presented` belongs to, with its principal, and where in the chain
/// the token stands: a token naming its session is looked up by that session and placed
/// by walking the chain ([`MAX_CHAIN_WALK`]); an older token by its hash in the chain
/// records. `None` when no session has it.
///
/// # Errors
/// [`AuthError::Store`] when storage fails; [`AuthError::Internal`] when the session's
/// rotation key cannot be used (it needs a `secret` that is not configured).
pub fn find_presented(
    store: &dyn SessionStore,
    presented: &RefreshToken,
    secret: Option<&RotationSecret>,
) -> Result<Option<FoundRefresh>, AuthError> {
    let Some(id) = presented.session_id() else {
        return Ok(store.find_refresh_with_principal(&presented.hash())?);
    };
    let Some((session, principal)) = store.find_session_with_principal(&id)? else {
        return Ok(None);
    };
    // The current token (nearly every refresh) needs one hash; only an older one needs
    // the chain's key.
    let hash = presented.hash();
    let behind = if hash.ct_eq(&session.current_hash) {
        Some(0)
    } else {
        Chain::of(&session, secret)?.behind(presented, &session.current_hash, session.generation)
    };
    Ok(behind.map(|behind| {
        let record = RefreshRecord {
            hash,
            session_id: session.id.clone(),
            generation: session.generation - behind,
            expires_at: session.current_expires_at,
        };
        (record, session, principal)
    }))
}

/// The principal a session belongs to, as found with one of its refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPrincipal {
    /// A person's account.
    User(User),
    /// A mobile device.
    Device(Device),
    /// A wallet, with its app (`None` only if the app vanished under the wallet).
    Wallet(Wallet, Option<App>),
}

/// What [`SessionStore::find_refresh_with_principal`] finds: a refresh-token record, its
/// session, and the session's principal (`None` once the principal is deleted).
pub type FoundRefresh = (RefreshRecord, Session, Option<SessionPrincipal>);

/// Persistence of sessions and their refresh-token chains.
///
/// Implementations MUST make [`SessionStore::advance_session`] an atomic compare-and-set
/// that holds across processes sharing the database.
pub trait SessionStore: Send + Sync {
    /// Stores a new session (its first token is its current one).
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is stored then.
    fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// Stores a new session, as [`SessionStore::create_session`], only if the credential
    /// that opened it is still current: the principal of `guard` exists, is active (a
    /// wallet's app too), and its stored password hash is still `guard.password_hash`.
    /// Returns whether it was stored.
    ///
    /// The check and the insert MUST be atomic with respect to a change of the credential
    /// or status (a password rotation, a suspension, a deletion): such a change either
    /// commits first, and the session is not stored, or commits after, and finds (and
    /// revokes) the session.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is stored then.
    fn create_session_guarded(
        &self,
        session: &Session,
        guard: &CredentialGuard,
    ) -> Result<bool, StoreError>;

    /// The session with this id and its principal if it still exists: everything a
    /// refresh of any kind of principal reads, in one lookup.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn find_session_with_principal(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<SessionPrincipal>)>, StoreError>;

    /// Finds the chain record with this hash, its session, and the session's principal if
    /// it still exists. Only tokens issued before tokens named their session have chain
    /// records; sessions started since have none.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn find_refresh_with_principal(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<FoundRefresh>, StoreError>;

    /// Finds the refresh-token record with this hash, and its session.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn find_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, Session)>, StoreError> {
        Ok(self
            .find_refresh_with_principal(hash)?
            .map(|(record, session, _)| (record, session)))
    }

    /// The session with this id, revoked or not.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Advances `session` from generation `from_generation` to `next.generation`: `next`
    /// becomes its current token and `rotated_at` starts the previous token's grace (no
    /// record of the token is kept beyond the session's row). A device's session also records its device as last seen
    /// at `rotated_at`, in the same step: a refresh is how a device shows it is still in
    /// use, and one write instead of two is a round trip and a commit fewer per refresh.
    ///
    /// Returns `Ok(false)` and changes nothing when the session is no longer at
    /// `from_generation` or is revoked. MUST be atomic: of concurrent calls with the same
    /// `from_generation`, at most one returns `Ok(true)`.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails; nothing is changed then.
    fn advance_session(
        &self,
        session: &Session,
        from_generation: i64,
        next: &RefreshRecord,
        rotated_at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Revokes a session at `at`. Returns whether it was live before.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn revoke_session(&self, id: &SessionId, at: UnixTime) -> Result<bool, StoreError>;

    /// Deletes up to `limit` sessions, with their refresh records, that ended (absolute
    /// expiry) before `ended_before` unrevoked, or were revoked before `revoked_before`
    /// (a revoked session is kept that long whatever its expiry, for investigation).
    /// Returns how many were deleted. Safe to run from several processes at once.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn purge_sessions(
        &self,
        ended_before: UnixTime,
        revoked_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError>;
}

/// How long a revoked session is kept before it is purged (for investigation).
pub const REVOKED_RETENTION_SECS: i64 = 86_400;

/// Sessions deleted per batch by [`purge_ended_sessions`]: batches of 500 or 1,000 held
/// refreshes beside it up to 300 ms on PostgreSQL.
const PURGE_BATCH: usize = 100;

/// Deletes every session that has ended or was revoked more than a day ago, in bounded
/// batches, calling `between_batches` after each full one (the caller paces the purge
/// there, so that it never crowds out requests). Returns how many were deleted.
///
/// # Errors
/// [`AuthError::Store`] when storage fails; batches already deleted stay deleted.
pub fn purge_ended_sessions(
    store: &dyn SessionStore,
    now: UnixTime,
    between_batches: &mut dyn FnMut(),
) -> Result<usize, AuthError> {
    let revoked_before = now.plus_secs(-REVOKED_RETENTION_SECS);
    Ok(crate::purge::in_batches(
        PURGE_BATCH,
        between_batches,
        |batch| store.purge_sessions(now, revoked_before, batch),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    const T0: UnixTime = UnixTime(1_800_000_000);

    fn policy() -> TokenPolicy {
        TokenPolicy {
            access_ttl_secs: 3_600,
            refresh_ttl_secs: 604_800,
            reuse_grace_secs: 10,
            session_max_secs: 2_592_000,
            wallet_session_max_secs: 604_800,
            rotation_secret: None,
        }
    }

    #[test]
    fn with_a_secret_the_stored_rotation_key_alone_predicts_no_successor() {
        let store = MemoryStore::default();
        let secret = RotationSecret::new([5; 32]);
        let keyed = TokenPolicy {
            rotation_secret: Some(secret),
            ..policy()
        };
        let new = start(PrincipalKind::User, "u1", T0, &keyed).unwrap();
        assert!(
            new.session
                .rotation_key
                .as_str()
                .starts_with(KEYED_WITH_SECRET)
        );
        store.create_session(&new.session).unwrap();
        let next = rotate(&store, &new.token, PrincipalKind::User, T0, &keyed).unwrap();
        // What a reader of the database could compute: the stored key used directly.
        let stored = RotationKey::from_stored(
            new.session.rotation_key.as_str()[KEYED_WITH_SECRET.len()..].to_owned(),
        );
        let guessed = Chain::of(
            &Session {
                rotation_key: stored,
                ..new.session.clone()
            },
            None,
        )
        .unwrap()
        .successor(&new.token);
        assert_ne!(guessed.expose(), next.token.expose());
        // Without the secret the chain cannot go on, and says why.
        assert!(matches!(
            rotate(&store, &next.token, PrincipalKind::User, T0, &policy()),
            Err(AuthError::Internal(_))
        ));
        // A retry within the grace gets the same successor.
        let again = rotate(&store, &new.token, PrincipalKind::User, T0, &keyed).unwrap();
        assert_eq!(again.token.expose(), next.token.expose());
        // A session started before the secret was configured goes on as it was.
        let old = start(PrincipalKind::User, "u2", T0, &policy()).unwrap();
        store.create_session(&old.session).unwrap();
        assert!(rotate(&store, &old.token, PrincipalKind::User, T0, &keyed).is_ok());
    }

    /// A session at generation `generation`, last rotated at `rotated_at`.
    fn session_at(generation: i64, rotated_at: Option<UnixTime>) -> (Session, RefreshRecord) {
        let new = start(PrincipalKind::User, "u1", T0, &policy()).unwrap();
        let record = RefreshRecord {
            hash: new.token.hash(),
            session_id: new.session.id.clone(),
            generation,
            expires_at: new.session.current_expires_at,
        };
        let session = Session {
            generation,
            rotated_at,
            ..new.session
        };
        (session, record)
    }

    fn record_of(session: &Session, generation: i64) -> RefreshRecord {
        RefreshRecord {
            hash: TokenHash::from_stored(format!("h{generation}")),
            session_id: session.id.clone(),
            generation,
            expires_at: T0.plus_secs(policy().refresh_ttl_secs),
        }
    }

    #[test]
    fn the_rotation_rule_as_a_table() {
        let p = policy();
        let rotated = Some(T0.plus_secs(100));
        let (s, _) = session_at(3, rotated);
        let revoked = Session {
            revoked_at: Some(T0.plus_secs(200)),
            ..s.clone()
        };
        let successor_expired = Session {
            current_expires_at: T0.plus_secs(104),
            ..s.clone()
        };
        let cases: Vec<(&str, &Session, i64, UnixTime, RotationOutcome)> = vec![
            (
                "current token rotates",
                &s,
                3,
                T0.plus_secs(150),
                RotationOutcome::Rotate {
                    generation: 4,
                    expires_at: T0.plus_secs(150 + 604_800),
                },
            ),
            (
                "previous within grace replays",
                &s,
                2,
                T0.plus_secs(109),
                RotationOutcome::Replay,
            ),
            (
                "previous at grace end is reuse",
                &s,
                2,
                T0.plus_secs(110),
                RotationOutcome::Reuse,
            ),
            (
                "previous within grace after the successor expired",
                &successor_expired,
                2,
                T0.plus_secs(105),
                RotationOutcome::Expired,
            ),
            (
                "older than previous is reuse",
                &s,
                1,
                T0.plus_secs(101),
                RotationOutcome::Reuse,
            ),
            (
                "first token after rotations is reuse",
                &s,
                0,
                T0.plus_secs(101),
                RotationOutcome::Reuse,
            ),
            (
                "revoked session",
                &revoked,
                3,
                T0.plus_secs(300),
                RotationOutcome::Revoked,
            ),
            (
                "revoked beats reuse",
                &revoked,
                1,
                T0.plus_secs(300),
                RotationOutcome::Revoked,
            ),
            (
                "current token past its expiry",
                &s,
                3,
                T0.plus_secs(604_800),
                RotationOutcome::Expired,
            ),
            (
                "session past its absolute lifetime",
                &s,
                3,
                T0.plus_secs(2_592_000),
                RotationOutcome::Expired,
            ),
        ];
        for (name, session, generation, now, expected) in cases {
            let presented = record_of(session, generation);
            assert_eq!(decide(session, &presented, now, &p), expected, "{name}");
        }
    }

    #[test]
    fn a_successor_never_outlives_its_session() {
        let p = policy();
        let (s, record) = session_at(0, None);
        let near_end = s.expires_at.plus_secs(-60);
        let current = RefreshRecord {
            expires_at: s.expires_at,
            ..record
        };
        assert_eq!(
            decide(&s, &current, near_end, &p),
            RotationOutcome::Rotate {
                generation: 1,
                expires_at: s.expires_at
            }
        );
    }

    #[test]
    fn a_new_session_starts_at_generation_zero_with_a_prefixed_256_bit_token() {
        let new = start(PrincipalKind::Device, "d1", T0, &policy()).unwrap();
        assert_eq!(new.session.generation, 0);
        assert_eq!(new.session.kind, PrincipalKind::Device);
        assert_eq!(new.session.expires_at, T0.plus_secs(2_592_000));
        assert_eq!(new.session.current_expires_at, T0.plus_secs(604_800));
        // authd_rt_, the 32 hex digits of the session id, a dot, 32 bytes in base64url.
        let locator = new.session.id.as_str().strip_prefix("ses_").unwrap();
        assert_eq!(
            new.token
                .expose()
                .strip_prefix("authd_rt_")
                .map(|rest| rest.split_once('.')),
            Some(Some((locator, &new.token.expose()[9 + 33..])))
        );
        assert_eq!(new.token.expose().len(), "authd_rt_".len() + 32 + 1 + 43);
        assert_eq!(new.token.session_id(), Some(new.session.id.clone()));
        assert_eq!(new.session.current_hash, new.token.hash());
        assert!(!format!("{:?}", new.token).contains(new.token.expose()));
        let other = start(PrincipalKind::Device, "d1", T0, &policy()).unwrap();
        assert_ne!(new.token, other.token);
    }

    #[test]
    fn session_ids_sort_by_when_their_sessions_started() {
        let earlier: Vec<_> = (0..20).map(|_| SessionId::generate(T0)).collect();
        let later = SessionId::generate(T0.plus_secs(1));
        assert!(earlier.iter().all(|id| id.as_str() < later.as_str()));
        assert!(earlier.iter().all(|id| id.locator().is_some()));
        let distinct: std::collections::HashSet<_> = earlier.iter().collect();
        assert_eq!(distinct.len(), 20, "random within a second");
    }

    #[test]
    fn a_token_hash_is_the_lower_case_hex_of_its_sha256() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let token = RefreshToken::unlocated(&[7; 32]);
        let digest = Sha256::digest(token.expose().as_bytes());
        let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(token.hash().as_str(), expected);
        assert_eq!(token.hash().as_str().len(), 64);
    }

    #[test]
    fn refresh_tokens_of_the_wrong_shape_are_refused_without_a_lookup() {
        for bad in [
            "",
            "authd_rt_",
            "authd_rt_short",
            "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(RefreshToken::parse(bad).is_err(), "{bad}");
        }
        let bad_alphabet = format!("authd_rt_{}", "+".repeat(43));
        assert!(RefreshToken::parse(&bad_alphabet).is_err());
        let secret = "A".repeat(43);
        for bad_locator in ["", "0123", &"A".repeat(32), &"0".repeat(33)] {
            let token = format!("authd_rt_{bad_locator}.{secret}");
            assert!(RefreshToken::parse(&token).is_err(), "{token}");
        }
        let located = format!("authd_rt_{}.{secret}", "0a".repeat(16));
        let parsed = RefreshToken::parse(&located).unwrap();
        assert_eq!(
            parsed.session_id().map(|id| id.as_str().to_owned()),
            Some(format!("ses_{}", "0a".repeat(16)))
        );
        let unlocated = RefreshToken::parse(&format!("authd_rt_{secret}")).unwrap();
        assert_eq!(unlocated.session_id(), None);
    }

    fn begin(store: &MemoryStore) -> RefreshToken {
        let new = start(PrincipalKind::User, "u1", T0, &policy()).unwrap();
        store.create_session(&new.session).unwrap();
        new.token
    }

    #[test]
    fn the_purge_deletes_every_ended_session_and_pauses_between_full_batches() {
        let store = MemoryStore::default();
        let short = TokenPolicy {
            session_max_secs: 60,
            ..policy()
        };
        for n in 0..(2 * PURGE_BATCH + 7) {
            let ended = start(PrincipalKind::User, &format!("u{n}"), T0, &short).unwrap();
            store.create_session(&ended.session).unwrap();
        }
        let live = start(PrincipalKind::User, "live", T0, &policy()).unwrap();
        store.create_session(&live.session).unwrap();

        let mut pauses = 0;
        let purged = purge_ended_sessions(&store, T0.plus_secs(61), &mut || pauses += 1).unwrap();
        assert_eq!(purged, 2 * PURGE_BATCH + 7);
        assert_eq!(
            pauses, 2,
            "one pause after each full batch, none after the last"
        );
        assert!(store.session(&live.session.id).unwrap().is_some());
    }

    #[test]
    fn each_refresh_hands_out_a_new_token_and_retires_the_old_one() {
        let store = MemoryStore::default();
        let p = policy();
        let t0 = begin(&store);
        let r1 = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(60), &p).unwrap();
        assert_ne!(r1.token, t0);
        assert_eq!(r1.session.generation, 1);
        let r2 = rotate(
            &store,
            &r1.token,
            PrincipalKind::User,
            T0.plus_secs(120),
            &p,
        )
        .unwrap();
        assert_eq!(r2.session.generation, 2);
        assert_ne!(r2.token, r1.token);
    }

    #[test]
    fn a_retry_within_the_grace_gets_the_same_successor() {
        let store = MemoryStore::default();
        let p = policy();
        let t0 = begin(&store);
        let first = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(60), &p).unwrap();
        let retry = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(69), &p).unwrap();
        assert_eq!(first.token, retry.token);
        assert_eq!(retry.session.generation, 1);
        // The successor still works normally afterwards.
        let next = rotate(
            &store,
            &first.token,
            PrincipalKind::User,
            T0.plus_secs(70),
            &p,
        )
        .unwrap();
        assert_eq!(next.session.generation, 2);
    }

    #[test]
    fn reuse_after_the_grace_revokes_the_whole_session() {
        let store = MemoryStore::default();
        let p = policy();
        let t0 = begin(&store);
        let r1 = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(60), &p).unwrap();
        let err = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(70), &p).unwrap_err();
        assert!(matches!(err, AuthError::RefreshTokenReused));
        assert!(
            store
                .session(&r1.session.id)
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        // The legitimate holder's newest token is dead too.
        let err = rotate(&store, &r1.token, PrincipalKind::User, T0.plus_secs(71), &p).unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken(_)));
    }

    /// Rotates `token` `times` times, a minute apart from `at`; the last token.
    fn rotated(
        store: &MemoryStore,
        mut token: RefreshToken,
        times: i64,
        at: UnixTime,
    ) -> RefreshToken {
        for i in 0..times {
            token = rotate(
                store,
                &token,
                PrincipalKind::User,
                at.plus_secs(60 * i),
                &policy(),
            )
            .unwrap()
            .token;
        }
        token
    }

    fn revoked(store: &MemoryStore, token: &RefreshToken) -> bool {
        let id = token.session_id().unwrap();
        store.session(&id).unwrap().unwrap().revoked_at.is_some()
    }

    #[test]
    fn a_token_many_rotations_old_is_recognised_as_reuse_without_a_record_of_it() {
        let store = MemoryStore::default();
        let t0 = begin(&store);
        let stolen = rotated(&store, t0, 3, T0);
        let newest = rotated(&store, stolen.clone(), 40, T0.plus_secs(600));
        let err = rotate(
            &store,
            &stolen,
            PrincipalKind::User,
            T0.plus_secs(86_400),
            &policy(),
        );
        assert!(matches!(err, Err(AuthError::RefreshTokenReused)));
        assert!(
            revoked(&store, &newest),
            "40 generations back, still the same chain"
        );
    }

    #[test]
    fn a_forged_token_naming_a_real_session_is_unknown_and_revokes_nothing() {
        let store = MemoryStore::default();
        let t0 = begin(&store);
        let current = rotated(&store, t0, 5, T0);
        let session = current.session_id().unwrap();
        let forged = RefreshToken::of_session(&session, &[42; 32]);
        let err = rotate(
            &store,
            &forged,
            PrincipalKind::User,
            T0.plus_secs(900),
            &policy(),
        );
        assert!(matches!(err, Err(AuthError::InvalidToken(_))));
        assert!(!revoked(&store, &current));
        assert!(
            rotate(
                &store,
                &current,
                PrincipalKind::User,
                T0.plus_secs(901),
                &policy()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_token_older_than_the_walk_is_refused_without_revoking() {
        let store = MemoryStore::default();
        let t0 = begin(&store);
        let ancient = t0.clone();
        let newest = rotated(&store, t0, MAX_CHAIN_WALK + 1, T0);
        let now = T0.plus_secs(60 * (MAX_CHAIN_WALK + 1));
        let err = rotate(&store, &ancient, PrincipalKind::User, now, &policy());
        assert!(matches!(err, Err(AuthError::InvalidToken(_))));
        assert!(!revoked(&store, &newest));
    }

    /// Stores `session` as the previous release did: with a chain record of its first
    /// token, `old_token`, at generation 0.
    fn stored_as_before(store: &MemoryStore, session: &Session, old_token: &RefreshToken) {
        store.create_session(session).unwrap();
        store.insert_unlocated_record(RefreshRecord {
            hash: old_token.hash(),
            session_id: session.id.clone(),
            generation: 0,
            expires_at: session.current_expires_at,
        });
    }

    #[test]
    fn a_chain_from_before_tokens_named_their_session_goes_on_by_its_records() {
        let store = MemoryStore::default();
        let p = policy();
        // A session as the previous release stored it: an unlocated token and its record.
        let new = start(PrincipalKind::User, "u1", T0, &p).unwrap();
        let old_token = RefreshToken::unlocated(&[9; 32]);
        let session = Session {
            current_hash: old_token.hash(),
            ..new.session
        };
        stored_as_before(&store, &session, &old_token);
        let next = rotate(
            &store,
            &old_token,
            PrincipalKind::User,
            T0.plus_secs(60),
            &p,
        )
        .unwrap();
        assert_eq!(
            next.token.session_id(),
            Some(session.id.clone()),
            "located from now on"
        );
        let retry = rotate(
            &store,
            &old_token,
            PrincipalKind::User,
            T0.plus_secs(65),
            &p,
        )
        .unwrap();
        assert_eq!(
            retry.token, next.token,
            "the grace works across the change of form"
        );
        let later = rotated(&store, next.token, 2, T0.plus_secs(120));
        let err = rotate(
            &store,
            &old_token,
            PrincipalKind::User,
            T0.plus_secs(600),
            &p,
        );
        assert!(matches!(err, Err(AuthError::RefreshTokenReused)));
        assert!(revoked(&store, &later));
    }

    #[test]
    fn a_retry_of_a_rotation_the_previous_release_made_gets_its_unlocated_successor() {
        let store = MemoryStore::default();
        let p = policy();
        let new = start(PrincipalKind::User, "u1", T0, &p).unwrap();
        // The previous release rotated the old token at T0 + 60 to an unlocated successor.
        let old_token = RefreshToken::unlocated(&[9; 32]);
        let probe = Session {
            current_hash: old_token.hash(),
            ..new.session.clone()
        };
        let bytes = Chain::of(&probe, None).unwrap().successor_bytes(&old_token);
        let successor = RefreshToken::unlocated(&bytes);
        let session = Session {
            generation: 1,
            current_hash: successor.hash(),
            rotated_at: Some(T0.plus_secs(60)),
            ..probe
        };
        stored_as_before(&store, &session, &old_token);
        let retry = rotate(
            &store,
            &old_token,
            PrincipalKind::User,
            T0.plus_secs(62),
            &p,
        )
        .unwrap();
        assert_eq!(retry.token, successor);
    }

    #[test]
    fn tokens_of_another_kind_or_unknown_tokens_are_invalid_and_change_nothing() {
        let store = MemoryStore::default();
        let p = policy();
        let t0 = begin(&store);
        let err = rotate(&store, &t0, PrincipalKind::Device, T0.plus_secs(1), &p).unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken(_)));
        let stranger = start(PrincipalKind::User, "u2", T0, &p).unwrap().token;
        let err = rotate(&store, &stranger, PrincipalKind::User, T0.plus_secs(1), &p).unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken(_)));
        // t0 is still the current token.
        assert!(rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(2), &p).is_ok());
    }

    #[test]
    fn an_expired_refresh_token_is_reported_as_expired() {
        let store = MemoryStore::default();
        let p = policy();
        let t0 = begin(&store);
        let err = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(604_800), &p).unwrap_err();
        assert!(matches!(err, AuthError::TokenExpired));
    }

    #[test]
    fn no_refresh_extends_a_session_past_its_absolute_lifetime() {
        let store = MemoryStore::default();
        let p = TokenPolicy {
            session_max_secs: 1_000,
            refresh_ttl_secs: 600,
            ..policy()
        };
        let new = start(PrincipalKind::User, "u1", T0, &p).unwrap();
        store.create_session(&new.session).unwrap();
        let r1 = rotate(
            &store,
            &new.token,
            PrincipalKind::User,
            T0.plus_secs(500),
            &p,
        )
        .unwrap();
        assert_eq!(r1.session.current_expires_at, T0.plus_secs(1_000));
        let err = rotate(
            &store,
            &r1.token,
            PrincipalKind::User,
            T0.plus_secs(1_000),
            &p,
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::TokenExpired));
    }

    /// A store that lets another request win the compare-and-set once, as a concurrent
    /// refresh would.
    struct Racing {
        inner: MemoryStore,
        lose_once: std::sync::atomic::AtomicBool,
        presented: RefreshToken,
    }

    impl SessionStore for Racing {
        fn create_session(&self, s: &Session) -> Result<(), StoreError> {
            self.inner.create_session(s)
        }
        fn create_session_guarded(
            &self,
            s: &Session,
            g: &CredentialGuard,
        ) -> Result<bool, StoreError> {
            self.inner.create_session_guarded(s, g)
        }
        fn find_session_with_principal(
            &self,
            id: &SessionId,
        ) -> Result<Option<(Session, Option<SessionPrincipal>)>, StoreError> {
            self.inner.find_session_with_principal(id)
        }
        fn find_refresh_with_principal(
            &self,
            h: &TokenHash,
        ) -> Result<Option<FoundRefresh>, StoreError> {
            self.inner.find_refresh_with_principal(h)
        }
        fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
            self.inner.session(id)
        }
        fn advance_session(
            &self,
            session: &Session,
            from: i64,
            next: &RefreshRecord,
            at: UnixTime,
        ) -> Result<bool, StoreError> {
            if self
                .lose_once
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                // The concurrent winner rotated the same token a moment earlier.
                rotate(
                    &self.inner,
                    &self.presented,
                    PrincipalKind::User,
                    at,
                    &policy(),
                )
                .map_err(|e| StoreError::Backend(e.to_string()))?;
                return Ok(false);
            }
            self.inner.advance_session(session, from, next, at)
        }
        fn purge_sessions(
            &self,
            ended: UnixTime,
            revoked: UnixTime,
            limit: usize,
        ) -> Result<usize, StoreError> {
            self.inner.purge_sessions(ended, revoked, limit)
        }
        fn revoke_session(&self, id: &SessionId, at: UnixTime) -> Result<bool, StoreError> {
            self.inner.revoke_session(id, at)
        }
    }

    #[test]
    fn losing_the_rotation_race_yields_the_winners_successor() {
        let inner = MemoryStore::default();
        let t0 = begin(&inner);
        let store = Racing {
            inner,
            lose_once: true.into(),
            presented: t0.clone(),
        };
        let loser = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(5), &policy()).unwrap();
        let again = rotate(&store, &t0, PrincipalKind::User, T0.plus_secs(6), &policy()).unwrap();
        assert_eq!(
            loser.session.generation, 1,
            "the chain advanced exactly once"
        );
        assert_eq!(loser.token, again.token);
    }

    #[test]
    fn many_threads_refreshing_one_token_advance_the_chain_once() {
        let store = std::sync::Arc::new(MemoryStore::default());
        let t0 = begin(&store);
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (store, t0) = (store.clone(), t0.clone());
                std::thread::spawn(move || {
                    rotate(
                        store.as_ref(),
                        &t0,
                        PrincipalKind::User,
                        T0.plus_secs(1),
                        &policy(),
                    )
                    .map(|r| (r.token, r.session.generation))
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert!(
            results.iter().all(|r| r == &results[0]),
            "one successor for all"
        );
        assert_eq!(results[0].1, 1);
    }
}

//! The operations authd offers, assembled from the rules of this crate and a [`Store`].
//!
//! Every operation takes `now`; none reads a clock. Handlers call these from a blocking
//! thread: they hash passwords and talk to the database. One module per concern:
//! `login` (the throttle and credential checks that user and wallet logins share),
//! `users`, `devices`, `wallets`, `admin` (apps, wallets and users for administrators) and
//! `keys` (the signing keys and token verification).

mod account;
mod accounts;
mod admin;
mod device_links;
mod devices;
mod keys;
mod login;
mod sessions;
#[cfg(test)]
mod test_support;
mod users;
mod wallets;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::session::{self, TokenPolicy};
use crate::session::{CredentialGuard, SessionOrigin, SessionPrincipal};
use crate::throttle::{AttemptKey, ThrottleKeys, ThrottlePolicy};
use crate::verifier::is_unknown_kid;
use crate::{
    AccessClaims, App, AppId, Attributes, AuthError, ClientDeviceId, Device, Email, Jwks, KeyRing,
    Page, Password, PasswordHasher, PasswordVerification, Platform, PrincipalKind, RefreshToken,
    Role, Session, SessionId, SigningAlgorithm, Status, Store, StoreError, TokenSigner, UnixTime,
    User, UserId, UserStatus, Username, Wallet, WalletId, WalletLogin, WalletRole,
};
use crate::{KeyCipher, WalletChange};

pub use devices::DeviceSession;
pub use login::{LoginAttempt, LoginTicket};
pub use users::UserSession;
pub use wallets::WalletSession;

/// Tokens issued for one session: a new access token and the session's current refresh
/// token.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: String,
    /// Its claims.
    pub claims: AccessClaims,
    /// The refresh token to hand out.
    pub refresh_token: RefreshToken,
    /// Lifetime of the access token in seconds.
    pub expires_in_secs: i64,
    /// Seconds until the refresh token expires (a browser cookie holding it lives as long).
    pub refresh_expires_in_secs: i64,
}

fn user_attributes(user: &User) -> Attributes {
    Attributes {
        roles: user.role_names(),
        ..Attributes::default()
    }
}

fn device_attributes(device: &Device) -> Attributes {
    Attributes {
        platform: Some(device.platform),
        user_id: device.user_id.as_ref().map(|id| id.as_str().to_owned()),
        ..Attributes::default()
    }
}

/// authd's operations over a store, a signer, a hasher and a token policy.
#[derive(Clone)]
pub struct Authority {
    store: Arc<dyn Store>,
    signer: TokenSigner,
    hasher: PasswordHasher,
    policy: TokenPolicy,
    throttle: ThrottlePolicy,
    throttle_keys: ThrottleKeys,
    last_key_reload: Arc<AtomicI64>,
    /// Held through a key reload, so that a slow reload never replaces a newer one's keys.
    key_reload: Arc<std::sync::Mutex<()>>,
    key_cipher: Option<KeyCipher>,
    /// Whether people must verify their address before they log in.
    require_verified_email: bool,
}

/// A superseded key stays published this long after the access-token lifetime.
const KEY_RETENTION_MARGIN_SECS: i64 = 60;
/// Unknown kids trigger a key reload at most this often.
const MIN_KEY_RELOAD_INTERVAL_SECS: i64 = 10;

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("signer", &self.signer)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Assembles the operations.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        signer: TokenSigner,
        hasher: PasswordHasher,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            store,
            signer,
            hasher,
            policy,
            throttle: ThrottlePolicy::default(),
            // A secret of this process alone; servers share one with `with_throttle`.
            throttle_keys: ThrottleKeys::new(ThrottleKeys::generate().unwrap_or([0; 32])),
            last_key_reload: Arc::new(AtomicI64::new(0)),
            key_reload: Arc::default(),
            key_cipher: None,
            require_verified_email: false,
        }
    }

    /// The same operations requiring people to verify their address before they log in
    /// (`AUTHD_REQUIRE_VERIFIED_EMAIL`): a right password on an unverified account is
    /// refused, and registration starts no session (see
    /// [`Authority::register_unverified`]).
    #[must_use]
    pub fn requiring_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// Whether people must verify their address before they log in.
    #[must_use]
    pub fn requires_verified_email(&self) -> bool {
        self.require_verified_email
    }

    /// The same operations opening (and, for new keys, sealing) private signing keys with
    /// `cipher`.
    #[must_use]
    pub fn with_key_cipher(self, key_cipher: Option<KeyCipher>) -> Self {
        Self { key_cipher, ..self }
    }

    /// The same operations with another login-throttling policy, hashing its keys with
    /// `keys` (every process on one database must share them).
    #[must_use]
    pub fn with_throttle(self, throttle: ThrottlePolicy, throttle_keys: ThrottleKeys) -> Self {
        Self {
            throttle,
            throttle_keys,
            ..self
        }
    }

    /// Takes one attempt on route `family` from `client`'s network at `now`, counted in the
    /// bucket every process on this store shares (see [`crate::RateQuota`]).
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn take_shared_rate(
        &self,
        family: &str,
        client: Option<IpAddr>,
        quota: crate::RateQuota,
        now: UnixTime,
    ) -> Result<crate::RateStanding, AuthError> {
        Ok(crate::rate_limit::take_shared_rate(
            self.store.as_ref(),
            &self.throttle_keys,
            family,
            client,
            quota,
            now,
        )?)
    }

    /// Gauges for monitoring: live sessions at `now` and the pool's (open, idle)
    /// connections.
    ///
    /// # Errors
    /// [`AuthError::Store`] when storage fails.
    pub fn gauges(&self, now: UnixTime) -> Result<(u64, (u32, u32)), AuthError> {
        Ok((self.store.live_sessions(now)?, self.pool_usage()))
    }

    /// The pool's (open, idle) connections: no database work.
    #[must_use]
    pub fn pool_usage(&self) -> (u32, u32) {
        self.store.pool_usage()
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// [`AuthError::Store`] when it does not.
    pub fn ping(&self) -> Result<(), AuthError> {
        Ok(self.store.ping()?)
    }

    fn start_session(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        attributes: Attributes,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<IssuedTokens, AuthError> {
        let mut new = session::start(kind, principal_id, now, &self.policy)?;
        new.session.origin = origin.clone();
        self.store.create_session(&new.session)?;
        self.issue(&new.session, attributes, new.token, now)
    }

    fn issue(
        &self,
        session: &Session,
        attributes: Attributes,
        refresh_token: RefreshToken,
        now: UnixTime,
    ) -> Result<IssuedTokens, AuthError> {
        let ttl = self.access_ttl(session, now);
        let claims = self.signer.claims(
            session.kind,
            &session.principal_id,
            &session.id,
            attributes,
            now,
            ttl,
        );
        Ok(IssuedTokens {
            access_token: self.signer.sign(&claims)?,
            claims,
            refresh_token,
            expires_in_secs: ttl,
            refresh_expires_in_secs: (session.current_expires_at.secs() - now.secs()).max(0),
        })
    }

    /// An access token never outlives its session.
    fn access_ttl(&self, session: &Session, now: UnixTime) -> i64 {
        self.policy
            .access_ttl_secs
            .min(session.expires_at.secs() - now.secs())
            .max(0)
    }
}

/// Whether `session` (as stored, if at all) still honours the access token of `claims`.
fn check_session(
    claims: &AccessClaims,
    session: Option<Session>,
    now: UnixTime,
) -> Result<(), AuthError> {
    let session = session.ok_or(AuthError::InvalidToken("unknown session"))?;
    if session.kind != claims.kind || session.principal_id != claims.sub {
        return Err(AuthError::InvalidToken("token does not match its session"));
    }
    if !session.is_live(now) {
        return Err(AuthError::InvalidToken("session revoked or ended"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::test_support::*;

    #[test]
    fn an_access_token_never_outlives_its_session() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        let mut token = s.tokens.refresh_token;
        for day in [6, 12, 18, 24] {
            token = a
                .refresh_user(token.expose(), T0.plus_secs(day * 86_400))
                .unwrap()
                .tokens
                .refresh_token;
        }
        // Refresh 10 minutes before the 30-day session ends.
        let last = a
            .refresh_user(token.expose(), T0.plus_secs(2_592_000 - 600))
            .unwrap();
        assert_eq!(last.tokens.claims.exp, T0.plus_secs(2_592_000).secs());
        assert_eq!(last.tokens.expires_in_secs, 600);
    }

    #[test]
    fn purging_removes_ended_and_long_revoked_sessions_only() {
        use crate::SessionStore;
        let (a, store) = authority();
        let ended = register(&a, "old@example.com", "old").unwrap();
        let revoked = login(&a, "old@example.com", "correct horse battery").unwrap();
        a.logout(&revoked.tokens.claims, None, T0).unwrap();
        let now = T0.plus_secs(2_592_000 + 1);
        let live = a
            .register_with_password(
                &Email::parse("new@example.com").unwrap(),
                &Username::parse("new").unwrap(),
                &Password::new("correct horse battery").unwrap(),
                now.plus_secs(-10),
            )
            .unwrap();
        let (sessions, _) = crate::purge_expired(store.as_ref(), now, &mut || {}).unwrap();
        assert_eq!(sessions, 2);
        assert_eq!(
            store.session(&ended.tokens.claims.session_id()).unwrap(),
            None
        );
        assert!(
            store
                .session(&live.tokens.claims.session_id())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn an_expired_access_token_is_reported_as_expired() {
        let (a, _) = authority();
        let s = register(&a, "alice@example.com", "alice").unwrap();
        assert!(matches!(
            a.authenticate(&s.tokens.access_token, T0.plus_secs(3_605)),
            Err(AuthError::TokenExpired)
        ));
    }
}

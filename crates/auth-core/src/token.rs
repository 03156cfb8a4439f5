//! Access tokens: what they claim, how they are signed, and the strict rules a token must
//! pass before its claims are believed.
//!
//! Verification trusts nothing in the token's header: the algorithm comes from the
//! server's configuration, the header may carry only `alg`, `typ` and `kid` (so `crit`,
//! embedded `jwk`, `jku`, `x5u`, `x5c` are refused), `typ` must be `at+jwt` (RFC 9068: an
//! ID token or another JWT signed by the same key is not an access token), `kid` must name
//! a key of the ring,
//! `exp` is required, `nbf` is honoured, `iss` must be ours, and the clock leeway is
//! [`TokenSigner::LEEWAY_SECS`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::keys::{SigningKey, VerifyingKey};
use crate::signature_cache::SignatureCache;
use crate::{AuthError, KeyRing, Platform, PrincipalKind, SessionId, SigningAlgorithm, UnixTime};

/// The claims of an authd access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the server's configured issuer.
    pub iss: String,
    /// Subject: the principal's id.
    pub sub: String,
    /// The session the token belongs to; logout of that session voids the token.
    pub sid: String,
    /// Unique token id.
    pub jti: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Not before (seconds since the epoch), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The kind of principal.
    pub kind: PrincipalKind,
    /// What the token says about its principal beyond id and kind.
    #[serde(flatten)]
    pub attributes: Attributes,
}

/// Claims that describe a principal, depending on its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Roles of a user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Platform of a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// A wallet's username within its app (without the `@appId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A wallet's app.
    #[serde(default, rename = "appId", skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// A wallet's role, from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The user a device is linked to.
    #[serde(default, rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl AccessClaims {
    /// The session id as a typed value.
    #[must_use]
    pub fn session_id(&self) -> SessionId {
        SessionId::from_stored(self.sid.clone())
    }

    /// Whether the principal holds `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.attributes.roles.iter().any(|r| r == role)
    }

    /// Refuses a token of another kind than a route requires.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when the token's principal is not of `kind`.
    pub fn require_kind(&self, kind: PrincipalKind) -> Result<(), AuthError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(AuthError::InvalidToken("token of another principal kind"))
        }
    }
}

/// Signs and verifies access tokens with a [`KeyRing`] under one issuer.
#[derive(Debug, Clone)]
pub struct TokenSigner {
    keys: Arc<RwLock<KeyRing>>,
    issuer: String,
    /// Tokens already verified against `keys`; emptied whenever they are replaced.
    verified: Arc<SignatureCache>,
    /// Whether tokens typed `JWT` (authd before RFC 9068 typing) are accepted too.
    legacy_type: bool,
}

/// The reason given when a token names a key this process does not know (yet).
pub(crate) const UNKNOWN_KID: &str = "unknown kid";

/// Header fields a token may carry; anything else is refused.
const ALLOWED_HEADER_FIELDS: [&str; 3] = ["alg", "typ", "kid"];

impl TokenSigner {
    /// Tolerated clock difference between authd and the verifier, in seconds.
    pub const LEEWAY_SECS: i64 = 5;

    /// A signer for `issuer` with `keys`.
    #[must_use]
    pub fn new(keys: KeyRing, issuer: impl Into<String>) -> Self {
        Self {
            keys: Arc::new(RwLock::new(keys)),
            issuer: issuer.into(),
            verified: Arc::default(),
            legacy_type: false,
        }
    }

    /// Also accepts access tokens typed `JWT`, as authd signed them before it typed them
    /// `at+jwt` (RFC 9068). For the length of one upgrade only: turned on, a token of
    /// the previous release keeps working until its `exp` instead of being refused at
    /// once (`AUTHD_ACCEPT_LEGACY_TOKEN_TYPE`).
    #[must_use]
    pub fn accepting_legacy_type(mut self) -> Self {
        self.legacy_type = true;
        self
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key ring in use now (a copy), for publishing the JWKS.
    #[must_use]
    pub fn keys(&self) -> KeyRing {
        self.ring().clone()
    }

    /// Swaps in reloaded keys (after a rotation); every clone of this signer sees them.
    pub fn replace_keys(&self, keys: KeyRing) {
        let mut ring = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Reloads mostly bring the same keys: keep what they verified. An Ed25519 kid is
        // the thumbprint of its key, so the same published set is the same keys, and a
        // remembered token whose key is gone is refused anyway (see `verify`). An HMAC
        // secret is never published: any new HMAC ring counts as a change.
        let changed = keys.algorithm() != SigningAlgorithm::EdDSA
            || ring.algorithm() != keys.algorithm()
            || ring.jwks() != keys.jwks();
        *ring = keys;
        if changed {
            self.verified.forget_all();
        }
    }

    /// The issuer every token carries.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Builds the claims of a new token for a principal's session, valid `ttl_secs` from
    /// `now`.
    #[must_use]
    pub fn claims(
        &self,
        kind: PrincipalKind,
        subject: &str,
        session: &SessionId,
        attributes: Attributes,
        now: UnixTime,
        ttl_secs: i64,
    ) -> AccessClaims {
        AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            sid: session.as_str().to_owned(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now.secs(),
            exp: now.plus_secs(ttl_secs).secs(),
            nbf: None,
            kind,
            attributes,
        }
    }

    /// Signs claims into a compact JWT.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if signing fails (a corrupt key).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        let ring = self.ring();
        match ring.signing_key() {
            SigningKey::Ed25519(key) => {
                let payload = serde_json::to_vec(claims)
                    .map_err(|e| AuthError::Internal(format!("serialising claims: {e}")))?;
                let mut token =
                    String::with_capacity(ring.signing_header().len() + payload.len() * 4 / 3 + 92);
                token.push_str(ring.signing_header());
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
                let signature = ed25519_dalek::Signer::sign(key, token.as_bytes());
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
                Ok(token)
            }
            SigningKey::Hmac(key) => {
                let mut header = Header::new(ring.algorithm().jose());
                header.typ = Some(ACCESS_TOKEN_TYPE.into());
                header.kid = Some(ring.signing_kid().to_owned());
                jsonwebtoken::encode(&header, claims, key)
                    .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))
            }
        }
    }

    /// Verifies a compact JWT and returns its claims.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for a correctly signed token past `exp` (plus leeway);
    /// [`AuthError::InvalidToken`] for everything else that is wrong with it.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AuthError> {
        // The ring stays read-locked until the result is remembered, so that replacing the
        // keys cannot slip in between.
        let ring = self.ring();
        let rules = HeaderRules {
            algorithm: ring.algorithm(),
            legacy_type: self.legacy_type,
        };
        self.verified
            .verify(token, now, rules, &self.issuer, |kid| {
                ring.verifying_key(kid)
            })
    }
}

/// Verifies `token` under the strict rules of this module: the header `rules` from
/// configuration, a key found by `key` from the header's `kid`, `issuer`, and the time
/// rules at `now`.
pub(crate) fn verify_token<'k>(
    token: &str,
    now: UnixTime,
    rules: HeaderRules,
    issuer: &str,
    key: impl FnOnce(&str) -> Option<&'k VerifyingKey>,
) -> Result<AccessClaims, AuthError> {
    let algorithm = rules.algorithm;
    let kid = checked_kid(token, rules)?;
    let key = key(&kid).ok_or(AuthError::InvalidToken(UNKNOWN_KID))?;
    let rejected = || AuthError::InvalidToken("signature or claims rejected");
    let claims = match key {
        VerifyingKey::Ed25519(key) => {
            // checked_kid saw exactly three parts.
            let (message, signature) = token.rsplit_once('.').ok_or_else(rejected)?;
            let signature: [u8; 64] = URL_SAFE_NO_PAD
                .decode(signature)
                .ok()
                .and_then(|s| s.try_into().ok())
                .ok_or_else(rejected)?;
            // RFC 8032 verification, as jsonwebtoken did (dalek refuses a non-canonical
            // S); verify_strict would also decompress R, costing a third more for no
            // gain against forgery.
            ed25519_dalek::Verifier::verify(
                key,
                message.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .map_err(|_| rejected())?;
            let payload = message
                .split_once('.')
                .map(|(_, p)| p)
                .ok_or_else(rejected)?;
            let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| rejected())?;
            serde_json::from_slice::<AccessClaims>(&payload).map_err(|_| rejected())?
        }
        VerifyingKey::Hmac(key) => {
            let mut validation = Validation::new(algorithm.jose());
            // Time and issuer are checked below against the caller's clock;
            // jsonwebtoken would read the wall clock and allow 60 s of leeway.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
                .map_err(|_| rejected())?
                .claims
        }
    };
    if claims.iss != issuer {
        return Err(AuthError::InvalidToken("wrong issuer"));
    }
    check_time(&claims, now)?;
    Ok(claims)
}

/// The time rules at `now`, with [`TokenSigner::LEEWAY_SECS`] of leeway.
pub(crate) fn check_time(claims: &AccessClaims, now: UnixTime) -> Result<(), AuthError> {
    // Saturating: a token's own numbers must not overflow the check.
    let now = now.secs();
    let leeway = TokenSigner::LEEWAY_SECS;
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
    {
        return Err(AuthError::InvalidToken("not yet valid"));
    }
    if now.saturating_add(leeway) < claims.iat {
        return Err(AuthError::InvalidToken("issued in the future"));
    }
    if now >= claims.exp.saturating_add(leeway) {
        return Err(AuthError::TokenExpired);
    }
    Ok(())
}

/// The `typ` header of every access token authd signs (RFC 9068).
pub(crate) const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The `typ` header of the access tokens of authd releases before RFC 9068 typing.
const LEGACY_TOKEN_TYPE: &str = "JWT";

/// What a verifier accepts in a token's JOSE header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderRules {
    /// The one algorithm of the configuration.
    pub algorithm: SigningAlgorithm,
    /// Whether `typ: JWT` is accepted beside `at+jwt`.
    pub legacy_type: bool,
}

/// Checks the JOSE header against the rules of this module and returns its `kid`.
pub(crate) fn checked_kid(token: &str, rules: HeaderRules) -> Result<String, AuthError> {
    let algorithm = rules.algorithm;
    let malformed = AuthError::InvalidToken("malformed token");
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed)?;
    let serde_json::Value::Object(fields) = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|_| AuthError::InvalidToken("malformed header"))?
    else {
        return Err(AuthError::InvalidToken("malformed header"));
    };
    if fields
        .keys()
        .any(|k| !ALLOWED_HEADER_FIELDS.contains(&k.as_str()))
    {
        return Err(AuthError::InvalidToken("header carries a forbidden field"));
    }
    if fields.get("alg").and_then(|v| v.as_str()) != Some(algorithm.as_str()) {
        return Err(AuthError::InvalidToken("algorithm not accepted"));
    }
    // RFC 9068 section 4: `at+jwt`, or the same media type in full, in any case.
    let typ = fields
        .get("typ")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    let accepted = typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
        || (rules.legacy_type && typ == LEGACY_TOKEN_TYPE);
    if !accepted {
        return Err(AuthError::InvalidToken(
            "not an access token (typ must be at+jwt)",
        ));
    }
    fields
        .get("kid")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or(AuthError::InvalidToken("no kid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoredSigningKey;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn ed_signer() -> (TokenSigner, StoredSigningKey) {
        let key = StoredSigningKey::generate_ed25519(NOW).unwrap();
        let ring = KeyRing::ed25519(std::slice::from_ref(&key)).unwrap();
        (TokenSigner::new(ring, "authd"), key)
    }

    fn claims(signer: &TokenSigner) -> AccessClaims {
        signer.claims(
            PrincipalKind::User,
            "user-1",
            &SessionId::from_stored("ses_1".into()),
            Attributes {
                roles: vec!["USER".into()],
                ..Attributes::default()
            },
            NOW,
            3_600,
        )
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    /// Re-assembles a token from a header, a payload and the original signature.
    fn reassemble(header: &serde_json::Value, payload: &str, signature: &str) -> String {
        format!("{}.{payload}.{signature}", b64(header))
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn invalid(result: Result<AccessClaims, AuthError>) -> bool {
        matches!(result, Err(AuthError::InvalidToken(_)))
    }

    #[test]
    fn a_token_verified_before_is_still_held_to_its_expiry() {
        let (signer, _) = ed_signer();
        let c = claims(&signer);
        let token = signer.sign(&c).unwrap();
        assert_eq!(signer.verify(&token, NOW).unwrap(), c);
        assert_eq!(signer.verified.len(), 1, "remembered");
        assert_eq!(signer.verify(&token, NOW.plus_secs(60)).unwrap(), c);
        assert!(matches!(
            signer.verify(&token, UnixTime(c.exp + TokenSigner::LEEWAY_SECS)),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn a_token_differing_by_one_byte_from_a_verified_one_is_checked_in_full() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        signer.verify(&token, NOW).unwrap();
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(invalid(signer.verify(&tampered, NOW)));
        assert_eq!(
            signer.verified.len(),
            1,
            "a refused token is not remembered"
        );
    }

    #[test]
    fn replacing_the_keys_forgets_the_tokens_they_verified() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        signer.verify(&token, NOW).unwrap();
        let other = StoredSigningKey::generate_ed25519(NOW).unwrap();
        signer.replace_keys(KeyRing::ed25519(std::slice::from_ref(&other)).unwrap());
        assert_eq!(signer.verified.len(), 0);
        assert!(
            matches!(
                signer.verify(&token, NOW),
                Err(AuthError::InvalidToken(UNKNOWN_KID))
            ),
            "the withdrawn key's token is refused at once"
        );
    }

    #[test]
    fn a_token_verified_before_is_refused_before_its_issue_time() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        signer.verify(&token, NOW).unwrap();
        assert!(
            invalid(signer.verify(&token, NOW.plus_secs(-TokenSigner::LEEWAY_SECS - 1))),
            "a clock set back sees a token issued in the future"
        );
    }

    #[test]
    fn reloading_the_same_keys_keeps_what_they_verified() {
        let (signer, key) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        signer.verify(&token, NOW).unwrap();
        signer.replace_keys(KeyRing::ed25519(std::slice::from_ref(&key)).unwrap());
        assert_eq!(signer.verified.len(), 1);
        assert!(signer.verify(&token, NOW).is_ok());
    }

    #[test]
    fn a_remembered_token_of_a_withdrawn_key_is_refused() {
        let (signer, old) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        signer.verify(&token, NOW).unwrap();
        let new = StoredSigningKey::generate_ed25519(NOW.plus_secs(1)).unwrap();
        // A rotation keeps the old key for verification: its tokens stay good.
        signer.replace_keys(KeyRing::ed25519(&[old.clone(), new.clone()]).unwrap());
        assert!(signer.verify(&token, NOW).is_ok());
        // Withdrawn: refused, although it was remembered, whatever the memory holds.
        signer.replace_keys(KeyRing::ed25519(std::slice::from_ref(&new)).unwrap());
        assert!(matches!(
            signer.verify(&token, NOW),
            Err(AuthError::InvalidToken(UNKNOWN_KID))
        ));
    }

    #[test]
    fn kinds_are_checked_where_a_route_requires_one() {
        let (signer, _) = ed_signer();
        let c = claims(&signer);
        assert!(c.require_kind(PrincipalKind::User).is_ok());
        assert!(matches!(
            c.require_kind(PrincipalKind::Device),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            c.require_kind(PrincipalKind::Wallet),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn device_tokens_carry_their_platform() {
        let (signer, _) = ed_signer();
        let mut c = claims(&signer);
        c.kind = PrincipalKind::Device;
        c.attributes = Attributes {
            platform: Some(Platform::Android),
            ..Attributes::default()
        };
        let token = signer.sign(&c).unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["kind"], "device");
        assert_eq!(json["platform"], "ANDROID");
        assert!(json.get("roles").is_none());
        assert_eq!(signer.verify(&token, NOW).unwrap(), c);
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let (signer, _) = ed_signer();
        let c = claims(&signer);
        let token = signer.sign(&c).unwrap();
        assert_eq!(signer.verify(&token, NOW.plus_secs(10)).unwrap(), c);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(signer.keys().signing_kid()));
    }

    #[test]
    fn expiry_is_checked_against_the_callers_clock_with_a_small_leeway() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        assert!(signer.verify(&token, NOW.plus_secs(3_604)).is_ok());
        assert!(matches!(
            signer.verify(&token, NOW.plus_secs(3_605)),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn tokens_from_the_future_or_not_yet_valid_are_refused() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        assert!(invalid(signer.verify(&token, NOW.plus_secs(-6))));
        let mut c = claims(&signer);
        c.nbf = Some(NOW.plus_secs(60).secs());
        let token = signer.sign(&c).unwrap();
        assert!(invalid(signer.verify(&token, NOW)));
        assert!(signer.verify(&token, NOW.plus_secs(60)).is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        let (signer, _) = ed_signer();
        let p = parts(&signer.sign(&claims(&signer)).unwrap());
        let header =
            serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": signer.keys().signing_kid()});
        assert!(invalid(signer.verify(&reassemble(&header, &p[1], ""), NOW)));
        assert!(invalid(
            signer.verify(&format!("{}.{}.", b64(&header), p[1]), NOW)
        ));
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        let (signer, key) = ed_signer();
        // The classic key-confusion attack: the public key used as an HMAC secret.
        let public = URL_SAFE_NO_PAD.decode(&key.public_key).unwrap();
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        for secret in [public.as_slice(), key.public_key.as_bytes()] {
            let forged = jsonwebtoken::encode(
                &header,
                &claims(&signer),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert!(invalid(signer.verify(&forged, NOW)));
        }
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let (signer, _) = ed_signer();
        let p = parts(&signer.sign(&claims(&signer)).unwrap());
        let mut c = claims(&signer);
        c.attributes.roles = vec!["ADMIN".into()];
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert!(invalid(
            signer.verify(&format!("{}.{payload}.{}", p[0], p[2]), NOW)
        ));
    }

    #[test]
    fn a_token_signed_by_an_unknown_key_is_refused() {
        let (signer, _) = ed_signer();
        let (stranger, _) = ed_signer();
        let token = stranger.sign(&claims(&stranger)).unwrap();
        assert!(invalid(signer.verify(&token, NOW)));
    }

    #[test]
    fn a_missing_or_unknown_kid_is_refused() {
        let (signer, _) = ed_signer();
        let p = parts(&signer.sign(&claims(&signer)).unwrap());
        let no_kid = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt"});
        assert!(invalid(
            signer.verify(&reassemble(&no_kid, &p[1], &p[2]), NOW)
        ));
        let other_kid = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "nope"});
        assert!(invalid(
            signer.verify(&reassemble(&other_kid, &p[1], &p[2]), NOW)
        ));
    }

    #[test]
    fn headers_that_smuggle_keys_or_critical_extensions_are_refused() {
        let (signer, key) = ed_signer();
        let p = parts(&signer.sign(&claims(&signer)).unwrap());
        let ring = signer.keys();
        let kid = ring.signing_kid();
        for extra in [
            serde_json::json!({"crit": ["exp"]}),
            serde_json::json!({"jku": "https://evil.example/jwks.json"}),
            serde_json::json!({"x5u": "https://evil.example/cert.pem"}),
            serde_json::json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": key.public_key}}),
            serde_json::json!({"x5c": ["MIIB"]}),
        ] {
            let mut header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
            for (k, v) in extra.as_object().unwrap() {
                header[k] = v.clone();
            }
            assert!(
                invalid(signer.verify(&reassemble(&header, &p[1], &p[2]), NOW)),
                "{extra}"
            );
        }
    }

    #[test]
    fn a_token_of_another_issuer_is_refused() {
        let key = StoredSigningKey::generate_ed25519(NOW).unwrap();
        let ring = KeyRing::ed25519(std::slice::from_ref(&key)).unwrap();
        let ours = TokenSigner::new(ring.clone(), "authd");
        let theirs = TokenSigner::new(ring, "someone-else");
        let token = theirs.sign(&claims(&theirs)).unwrap();
        assert!(invalid(ours.verify(&token, NOW)));
    }

    #[test]
    fn garbage_is_refused() {
        let (signer, _) = ed_signer();
        for junk in ["", "abc", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.sig"] {
            assert!(invalid(signer.verify(junk, NOW)), "{junk}");
        }
    }

    #[test]
    fn only_tokens_typed_as_access_tokens_are_accepted() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let signer = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS256, secret).unwrap(),
            "authd",
        );
        let signed = signer.sign(&claims(&signer)).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&signed)[0]).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        // The same claims under the same key, typed otherwise (an ID token, say).
        let typed = |typ: Option<&str>| {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
            header.typ = typ.map(str::to_owned);
            header.kid = Some(signer.keys().signing_kid().to_owned());
            let key = jsonwebtoken::EncodingKey::from_secret(secret);
            signer.verify(
                &jsonwebtoken::encode(&header, &claims(&signer), &key).unwrap(),
                NOW,
            )
        };
        assert!(invalid(typed(Some("JWT"))));
        assert!(invalid(typed(None)));
        assert!(invalid(typed(Some("id+jwt"))));
        assert!(typed(Some("at+jwt")).is_ok());
        assert!(typed(Some("application/at+JWT")).is_ok());
    }

    #[test]
    fn during_an_upgrade_tokens_of_the_previous_release_may_be_accepted() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let ring = KeyRing::hmac(SigningAlgorithm::HS256, secret).unwrap();
        let strict = TokenSigner::new(ring.clone(), "authd");
        let upgrading = TokenSigner::new(ring, "authd").accepting_legacy_type();
        // What the previous release signed: the same claims, typed `JWT`.
        let legacy = |typ: &str| {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
            header.typ = Some(typ.to_owned());
            header.kid = Some(strict.keys().signing_kid().to_owned());
            let key = jsonwebtoken::EncodingKey::from_secret(secret);
            jsonwebtoken::encode(&header, &claims(&strict), &key).unwrap()
        };
        assert!(invalid(strict.verify(&legacy("JWT"), NOW)));
        assert!(upgrading.verify(&legacy("JWT"), NOW).is_ok());
        // Only that exact legacy type, and today's tokens still.
        assert!(invalid(upgrading.verify(&legacy("id+jwt"), NOW)));
        assert!(invalid(upgrading.verify(&legacy("jwt"), NOW)));
        let current = strict.sign(&claims(&strict)).unwrap();
        assert!(upgrading.verify(&current, NOW).is_ok());
    }

    #[test]
    fn hmac_rings_sign_and_verify_and_refuse_edd_sa_tokens() {
        let secret = b"0123456789abcdef0123456789abcdef";
        for alg in [SigningAlgorithm::HS256, SigningAlgorithm::HS512] {
            let signer = TokenSigner::new(KeyRing::hmac(alg, secret).unwrap(), "authd");
            let token = signer.sign(&claims(&signer)).unwrap();
            assert_eq!(signer.verify(&token, NOW).unwrap().sub, "user-1");
            assert!(
                signer.keys().jwks().keys.is_empty(),
                "secrets are never published"
            );
            let (ed, _) = ed_signer();
            assert!(invalid(signer.verify(&ed.sign(&claims(&ed)).unwrap(), NOW)));
        }
        assert!(KeyRing::hmac(SigningAlgorithm::HS256, b"too short").is_err());
        let hs256 = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS256, secret).unwrap(),
            "authd",
        );
        let hs512 = TokenSigner::new(
            KeyRing::hmac(SigningAlgorithm::HS512, secret).unwrap(),
            "authd",
        );
        assert!(invalid(
            hs512.verify(&hs256.sign(&claims(&hs256)).unwrap(), NOW)
        ));
    }

    #[test]
    fn the_jwks_lets_a_standard_library_verify_our_tokens() {
        let (signer, _) = ed_signer();
        let token = signer.sign(&claims(&signer)).unwrap();
        let jwks = serde_json::to_value(signer.keys().jwks()).unwrap();
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
        let jwk = set.find(signer.keys().signing_kid()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "user-1");
    }
}

//! Browsers: CORS for the origins of `AUTHD_ALLOWED_ORIGINS`, refresh tokens kept in an
//! `HttpOnly` cookie where page scripts cannot read them, and the check that a request a
//! cookie authenticates was sent by one of those pages (CSRF).
//!
//! A request that a cookie authenticates must carry `X-Authd-Session` (a header no form,
//! link or image can send, and that a cross-origin script can only send after a preflight
//! authd answers for allowed origins alone) and an allowed `Origin` — or, from a browser
//! that sends none, `Sec-Fetch-Site: same-origin` or `same-site`. Anything else is 403
//! `FORBIDDEN`: the pair of checks of OWASP's CSRF cheat sheet (custom request header and
//! origin verification).

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use auth_core::AuthError;

use crate::{ApiError, AuthState};

/// The cookie that holds a browser session's refresh token.
pub const REFRESH_COOKIE: &str = "authd_rt";

/// The header a browser app sends on every request of a cookie session (`cookie` asks a
/// login, register, device or refresh route for one).
pub const SESSION_HEADER: &str = "x-authd-session";

/// The path of the cookie: only authd's own routes receive it.
const COOKIE_PATH: &str = "/api/auth";

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// The origins (`scheme://host[:port]`) whose pages may call authd from a browser
/// (`AUTHD_ALLOWED_ORIGINS`). Empty: no CORS, no cookie sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    /// Parses a comma-separated list of origins as browsers write them in `Origin`:
    /// `http` or `https`, a host, an optional port, nothing after.
    ///
    /// # Errors
    /// The first entry that is not such an origin, as a message naming it.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (scheme, rest) = entry
                .split_once("://")
                .ok_or_else(|| format!("{entry}: an origin is scheme://host[:port]"))?;
            let host_ok = !rest.is_empty()
                && rest.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if !matches!(scheme, "http" | "https") || !host_ok {
                return Err(format!(
                    "{entry}: an origin is http(s)://host[:port], without a path or a slash"
                ));
            }
            origins.push(entry.to_ascii_lowercase());
        }
        Ok(Self(Arc::new(origins)))
    }

    /// Whether none are allowed (browser sessions are off).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `origin` (an `Origin` header's value) is one of them.
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// CORS for the allowed origins: preflights answered, credentials (the cookie) allowed,
/// and the headers a client needs readable (rate limits, `Retry-After`, the request id).
/// Other origins get no CORS headers at all (their browsers keep the answer from them).
pub(crate) fn cors(origins: &AllowedOrigins) -> Cors {
    let allowed = origins.clone();
    Cors::default()
        .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| allowed.allows(o)))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(SESSION_HEADER),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("ratelimit-policy"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .supports_credentials()
        .max_age(PREFLIGHT_MAX_AGE_SECS)
        // A request from elsewhere is answered, without CORS headers: a server or a
        // mobile app sends no Origin, and a page of another origin cannot read the answer.
        .block_on_origin_mismatch(false)
}

/// The CORS middleware's own refusals (a preflight from an origin, or for a method or a
/// header, that is not allowed) in the contract's shape: 403 `FORBIDDEN` with the JSON
/// error body, instead of its plain-text 400.
pub(crate) async fn contract_refusals(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let response = next.call(req).await?.map_into_boxed_body();
    if preflight && !response.status().is_success() {
        let refused = ApiError::Auth(AuthError::Forbidden).error_response();
        return Ok(response.into_response(refused));
    }
    Ok(response)
}

/// How a session response hands out its refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// In the JSON body (`refreshToken`).
    Body,
    /// In the `authd_rt` cookie; the body has no `refreshToken`.
    Cookie,
}

/// How a login, register or device request wants its refresh token: in a cookie when it
/// says `X-Authd-Session: cookie` and browser sessions are on.
pub(crate) fn delivery(req: &HttpRequest, state: &AuthState) -> Delivery {
    let asks = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cookie"));
    if asks && !state.allowed_origins.is_empty() {
        Delivery::Cookie
    } else {
        Delivery::Body
    }
}

/// The refresh token a refresh request presents, and how to hand out its successor: the
/// body's `refreshToken` when it has one, else the cookie's, once the request is shown to
/// come from an allowed page.
///
/// # Errors
/// 403 `FORBIDDEN` for a cookie without the header or an allowed origin; 401
/// `INVALID_TOKEN` when there is neither a body token nor a cookie (a missing token).
pub(crate) fn presented_refresh_token(
    req: &HttpRequest,
    state: &AuthState,
    in_body: Option<String>,
) -> Result<(String, Delivery), ApiError> {
    if let Some(token) = in_body {
        return Ok((token, delivery(req, state)));
    }
    match cookie_token(req, state)? {
        Some(token) => Ok((token, Delivery::Cookie)),
        None => Err(ApiError::Auth(AuthError::InvalidToken(
            "no refresh token, in the body or a cookie",
        ))),
    }
}

/// The refresh token of the request's `authd_rt` cookie, if it has one, once the request
/// passed the CSRF check (see the module's docs). Browser sessions off: no cookie is read.
///
/// # Errors
/// 403 `FORBIDDEN` for a cookie sent without the header or from a page not allowed.
pub(crate) fn cookie_token(
    req: &HttpRequest,
    state: &AuthState,
) -> Result<Option<String>, ApiError> {
    if state.allowed_origins.is_empty() {
        return Ok(None);
    }
    let Some(token) = cookie_value(req, REFRESH_COOKIE) else {
        return Ok(None);
    };
    if sent_by_allowed_page(req, &state.allowed_origins) {
        Ok(Some(token))
    } else {
        Err(ApiError::Auth(AuthError::Forbidden))
    }
}

/// Whether `req` carries `X-Authd-Session` and comes from an allowed origin (or, without
/// `Origin`, from the same site by `Sec-Fetch-Site`).
fn sent_by_allowed_page(req: &HttpRequest, origins: &AllowedOrigins) -> bool {
    let headers = req.headers();
    if !headers.contains_key(SESSION_HEADER) {
        return false;
    }
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        Some(Ok(origin)) => origins.allows(origin),
        Some(Err(_)) => false,
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| matches!(site, "same-origin" | "same-site")),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a refresh token that expires in `max_age_secs`.
pub(crate) fn refresh_cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; Max-Age={}; Path={COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict",
        max_age_secs.max(0)
    )
}

/// `Set-Cookie` that removes the refresh cookie (logout, sign-out everywhere).
pub(crate) fn cleared_cookie() -> String {
    format!("{REFRESH_COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict")
}

/// Adds the header that removes the refresh cookie to `response` when browser sessions
/// are on.
pub(crate) fn clear_cookie(state: &AuthState, response: &mut HttpResponse) {
    if state.allowed_origins.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&cleared_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        let origins =
            AllowedOrigins::parse("https://app.example.com, http://127.0.0.1:5173").unwrap();
        assert!(origins.allows("https://app.example.com"));
        assert!(origins.allows("HTTPS://APP.EXAMPLE.COM"));
        assert!(origins.allows("http://127.0.0.1:5173"));
        assert!(!origins.allows("http://app.example.com"));
        assert!(!origins.allows("https://app.example.com.evil.example"));
        assert!(AllowedOrigins::parse("").unwrap().is_empty());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "ftp://app.example.com",
            "https://",
            "*",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_authd() {
        assert_eq!(
            refresh_cookie("authd_rt_x.y", 604_800),
            "authd_rt=authd_rt_x.y; Max-Age=604800; Path=/api/auth; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(cleared_cookie().starts_with("authd_rt=; Max-Age=0; Path=/api/auth;"));
    }
}

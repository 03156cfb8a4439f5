//! [`Principal`], the verified principal of a request, and [`RequireRole`], which guards
//! whole scopes.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use auth_core::{AccessClaims, AuthError, Platform, PrincipalKind};

use crate::{AccessVerifier, ResourceError};

/// The token of an `Authorization: Bearer` header.
fn bearer_token(req: &HttpRequest) -> Result<&str, ResourceError> {
    let missing = ResourceError::InvalidToken("missing bearer token");
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(missing)?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ResourceError::InvalidToken("missing bearer token")),
    }
}

/// The principal of a verified authd access token. As a handler argument it requires a
/// valid `Authorization: Bearer` token (else 401 in the contract's shape); it needs an
/// [`AccessVerifier`] in the app data.
#[derive(Debug, Clone)]
pub struct Principal(AccessClaims);

impl Principal {
    /// What kind of principal this is.
    #[must_use]
    pub fn kind(&self) -> PrincipalKind {
        self.0.kind
    }

    /// Its id: a user's UUID, a device's id, or a wallet's `wal_…` id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.0.sub
    }

    /// The session the token belongs to.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.0.sid
    }

    /// A user's roles (`USER`, `ADMIN`, …); empty for devices and wallets.
    #[must_use]
    pub fn roles(&self) -> &[String] {
        &self.0.attributes.roles
    }

    /// A device's platform.
    #[must_use]
    pub fn platform(&self) -> Option<Platform> {
        self.0.attributes.platform
    }

    /// The user a device is linked to (`userId`), for a linked device's token.
    #[must_use]
    pub fn linked_user(&self) -> Option<&str> {
        self.0.attributes.user_id.as_deref()
    }

    /// A wallet's username within its app.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.0.attributes.username.as_deref()
    }

    /// A wallet's app.
    #[must_use]
    pub fn app_id(&self) -> Option<&str> {
        self.0.attributes.app_id.as_deref()
    }

    /// A wallet's role, from its metadata.
    #[must_use]
    pub fn wallet_role(&self) -> Option<&str> {
        self.0.attributes.role.as_deref()
    }

    /// All the token's claims.
    #[must_use]
    pub fn claims(&self) -> &AccessClaims {
        &self.0
    }

    /// Requires a user holding `role`.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` for anyone else.
    pub fn require_role(&self, role: &str) -> Result<(), ResourceError> {
        self.satisfies(&Rule::UserRole(role.into()))
    }

    /// Requires a wallet whose role is `role`.
    ///
    /// # Errors
    /// 403 `FORBIDDEN` for anyone else.
    pub fn require_wallet_role(&self, role: &str) -> Result<(), ResourceError> {
        self.satisfies(&Rule::WalletRole(role.into()))
    }

    /// Requires a principal of `kind`, as authd's own routes do.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` for a token of another kind.
    pub fn require_kind(&self, kind: PrincipalKind) -> Result<(), ResourceError> {
        Ok(self.0.require_kind(kind)?)
    }

    fn satisfies(&self, rule: &Rule) -> Result<(), ResourceError> {
        let allowed = match rule {
            Rule::UserRole(role) => self.kind() == PrincipalKind::User && self.0.has_role(role),
            Rule::WalletRole(role) => {
                self.kind() == PrincipalKind::Wallet && self.wallet_role() == Some(role.as_str())
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden.into())
        }
    }

    /// Verifies the request's bearer token once; later extractions reuse the result.
    async fn of(req: HttpRequest) -> Result<Self, ResourceError> {
        if let Some(principal) = req.extensions().get::<Principal>() {
            return Ok(principal.clone());
        }
        let verifier = req.app_data::<web::Data<AccessVerifier>>().cloned().ok_or(
            ResourceError::Misconfigured("AccessVerifier is not registered"),
        )?;
        let token = bearer_token(&req)?;
        let principal = Principal(verifier.verify(token).await?);
        req.extensions_mut().insert(principal.clone());
        Ok(principal)
    }
}

impl FromRequest for Principal {
    type Error = ResourceError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ResourceError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::of(req.clone()))
    }
}

#[derive(Debug, Clone)]
enum Rule {
    UserRole(String),
    WalletRole(String),
}

/// Middleware that admits only principals holding a role, for a whole scope:
/// `web::scope("/admin").wrap(RequireRole::user("ADMIN"))`. A request without a valid
/// token is answered 401, one whose principal lacks the role 403 `FORBIDDEN`; the handler
/// is not called. Handlers inside may still take a [`Principal`] (verified only once).
#[derive(Debug, Clone)]
pub struct RequireRole(Rule);

impl RequireRole {
    /// Users holding `role` (for example `ADMIN`).
    #[must_use]
    pub fn user(role: impl Into<String>) -> Self {
        Self(Rule::UserRole(role.into()))
    }

    /// Wallets whose metadata role is `role` (for example `device`).
    #[must_use]
    pub fn wallet(role: impl Into<String>) -> Self {
        Self(Rule::WalletRole(role.into()))
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireRole
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RoleGuard<S>;
    type InitError = ();
    type Future = Ready<Result<RoleGuard<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RoleGuard {
            service: Rc::new(service),
            rule: Rc::new(self.0.clone()),
        }))
    }
}

/// The service [`RequireRole`] wraps around a scope.
pub struct RoleGuard<S> {
    service: Rc<S>,
    rule: Rc<Rule>,
}

impl<S, B> Service<ServiceRequest> for RoleGuard<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let rule = Rc::clone(&self.rule);
        Box::pin(async move {
            let admitted = Principal::of(req.request().clone())
                .await
                .and_then(|principal| principal.satisfies(&rule));
            match admitted {
                Ok(()) => Ok(service.call(req).await?.map_into_left_body()),
                Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
            }
        })
    }
}

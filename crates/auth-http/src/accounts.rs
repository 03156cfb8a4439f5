//! Accounts: verifying an email address and recovering a forgotten password, by mail.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use auth_core::{AuthError, Authority, Email, OneTimeToken, Password, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blocking::blocking;
use crate::body::JsonBody;
use crate::hashing::hash_password;
use crate::users::UserBody;
use crate::{ApiError, AuthState, ClientInfo, RouteFamily, audit};

/// `POST /api/auth/password/forgot` and `POST /api/auth/email/verify/send`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MailRequest {
    /// The account's address.
    #[schema(format = Email, max_length = 254, example = "user@example.com")]
    email: String,
}

/// `POST /api/auth/password/reset`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResetPasswordRequest {
    /// The token of the mailed link (after `#token=`).
    #[schema(example = "authd_ot_…")]
    token: String,
    /// The new password.
    #[schema(value_type = crate::openapi::StrongPassword)]
    password: String,
}

/// The answer to every mail request, whatever the address.
#[derive(Serialize, ToSchema)]
pub(crate) struct MailAccepted {
    /// Always the same text.
    #[schema(example = "If the address has an account, a mail is on its way.")]
    message: &'static str,
}

const MAIL_ACCEPTED: MailAccepted = MailAccepted {
    message: "If the address has an account, a mail is on its way.",
};

/// Asks for a password-reset link by mail. The answer is the same whether or not the
/// address has an account.
#[utoipa::path(post, path = "/api/auth/password/forgot", tag = "accounts",
    request_body = MailRequest,
    responses(
        (status = 202, description = "Accepted: the address gets a link if it has an account", body = MailAccepted),
        (status = 400, description = "INVALID_REQUEST: not an email address"),
        (status = 429, description = "RATE_LIMITED: too many requests from this address, or for this email"),
    ))]
pub(crate) async fn forgot_password(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<MailRequest>,
) -> Result<HttpResponse, ApiError> {
    mail_request(
        &state,
        &client,
        &body.into_inner().email,
        "password_forgot",
        Authority::request_password_reset,
    )
    .await
}

/// Answers a "send me a mail" request the same way whatever the address: admits it on
/// the login family's limit, queues the mail with `queue` (which counts it per email), and
/// records `event` in the audit trail.
async fn mail_request(
    state: &web::Data<AuthState>,
    client: &ClientInfo,
    email: &str,
    event: &str,
    queue: fn(&Authority, &Email, auth_core::UnixTime) -> Result<(), auth_core::AuthError>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(email);
    let who = email.as_ref().ok().map(|e| e.normalized().to_owned());
    let result = async {
        state.admit(RouteFamily::Login, client)?;
        let email = email?;
        let now = state.clock.now();
        let inner = state.clone();
        blocking(move || queue(&inner.authority, &email, now)).await
    }
    .await;
    audit::record(state, event, who.as_deref(), client, &result);
    result?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(MAIL_ACCEPTED))
}

/// Sets a new password with the token of a reset link: every session of the account
/// ends, its email counts as verified, and a notice is mailed.
#[utoipa::path(post, path = "/api/auth/password/reset", tag = "accounts",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is set; every session of the account has ended"),
        (status = 400, description = "INVALID_REQUEST, or WEAK_PASSWORD"),
        (status = 401, description = "INVALID_TOKEN (unknown, used, replaced or not a reset token), or TOKEN_EXPIRED"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn reset_password(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let result = async {
        state.admit(RouteFamily::Login, &client)?;
        let token = OneTimeToken::parse(&body.token)?;
        let password = Password::new(&body.password)?;
        let now = state.clock.now();
        let hash = hash_password(&state, password).await?;
        let inner = state.clone();
        blocking(move || inner.authority.reset_password(&token, hash, now)).await
    }
    .await;
    let who = result.as_ref().ok().map(|r| r.user_id.as_str().to_owned());
    audit::record(&state, "password_reset", who.as_deref(), &client, &result);
    result?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `POST /api/auth/email/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyEmailRequest {
    /// The token of the mailed link (after `#token=`).
    #[schema(example = "authd_ot_…")]
    token: String,
}

/// The user a mailed link just changed (verified, or moved to a new address).
#[derive(Serialize, ToSchema)]
pub(crate) struct LinkedUser {
    user: UserBody,
}

/// Asks for a verification link by mail again. The answer is the same whether or not the
/// address has an account, and whether or not it is verified already (then no mail).
#[utoipa::path(post, path = "/api/auth/email/verify/send", tag = "accounts",
    request_body = MailRequest,
    responses(
        (status = 202, description = "Accepted: an unverified account of the address gets a link", body = MailAccepted),
        (status = 400, description = "INVALID_REQUEST: not an email address"),
        (status = 429, description = "RATE_LIMITED: too many requests from this address, or for this email"),
    ))]
pub(crate) async fn send_verification(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<MailRequest>,
) -> Result<HttpResponse, ApiError> {
    mail_request(
        &state,
        &client,
        &body.into_inner().email,
        "email_verify_send",
        Authority::request_verification,
    )
    .await
}

/// Verifies the user's email with the token of a verification link.
#[utoipa::path(post, path = "/api/auth/email/verify", tag = "accounts",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified", body = LinkedUser),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_TOKEN (unknown, used, replaced or not a verification token), or TOKEN_EXPIRED"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn verify_email(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().token;
    redeem_link(
        &state,
        &client,
        &token,
        "email_verify",
        Authority::verify_email,
    )
    .await
}

/// Uses the token of a mailed link with `redeem`, records `event` and answers the user
/// as it now is.
pub(crate) async fn redeem_link(
    state: &web::Data<AuthState>,
    client: &ClientInfo,
    token: &str,
    event: &str,
    redeem: fn(&Authority, &OneTimeToken, auth_core::UnixTime) -> Result<User, AuthError>,
) -> Result<HttpResponse, ApiError> {
    let result = async {
        state.admit(RouteFamily::Login, client)?;
        let token = OneTimeToken::parse(token)?;
        let now = state.clock.now();
        let inner = state.clone();
        blocking(move || redeem(&inner.authority, &token, now)).await
    }
    .await;
    let who = result.as_ref().ok().map(|u| u.id.as_str().to_owned());
    audit::record(state, event, who.as_deref(), client, &result);
    let user = result?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LinkedUser { user: user.into() }))
}

//! A logged-in person's own account: `password/change`, `email/change` (and its
//! confirmation) and `DELETE /api/auth/me`. Each route that changes the account proves the
//! password again; the hash runs behind the hashing gate, and a wrong password counts like
//! a failed login.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use auth_core::{AccessClaims, AuthError, Authority, Email, LoginAttempt, Password};
use auth_core::{UnixTime, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{LinkedUser, redeem_link};
use crate::body::JsonBody;
use crate::hashing::{hash_password, password_login};
use crate::{ApiError, AuthState, Authenticated, ClientInfo, RouteFamily, audit};

/// `POST /api/auth/password/change`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangePasswordRequest {
    /// The password the account has now.
    #[schema(format = Password, max_length = 128)]
    current_password: String,
    /// The new password.
    #[schema(value_type = crate::openapi::StrongPassword)]
    new_password: String,
}

/// How many sessions a change or a sign-out ended.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevokedSessions {
    pub(crate) revoked_sessions: u64,
}

/// `POST /api/auth/email/change`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeEmailRequest {
    /// The address to move the account to.
    #[schema(format = Email, max_length = 254, example = "new@example.com")]
    new_email: String,
    /// The account's password.
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// `POST /api/auth/email/change/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfirmEmailChangeRequest {
    /// The token of the link mailed to the new address (after `#token=`).
    #[schema(example = "authd_ot_…")]
    token: String,
}

/// `DELETE /api/auth/me`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteAccountRequest {
    /// The account's password.
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// The answer to an email change request.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailChangeAccepted {
    #[schema(example = "A confirmation link is on its way to the new address.")]
    message: &'static str,
}

/// Proves the password of the user of `claims` (counted like a login from `client`), then
/// runs `finish` with the proven attempt.
async fn reauthenticated<R: Send + 'static>(
    state: &web::Data<AuthState>,
    client: &ClientInfo,
    claims: AccessClaims,
    password: &str,
    finish: impl FnOnce(&Authority, LoginAttempt<User>, UnixTime) -> Result<R, AuthError>
    + Send
    + 'static,
) -> Result<R, ApiError> {
    state.admit(RouteFamily::Login, client)?;
    let password = Password::presented(password)?;
    let now = state.clock.now();
    let addr = client.addr;
    password_login(
        state,
        move |authority| authority.begin_reauthentication(&claims, addr, now),
        password,
        finish,
    )
    .await
}

/// Changes the password: every other session of the user ends, this one stays, and a
/// notice is mailed.
#[utoipa::path(post, path = "/api/auth/password/change", tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; the other sessions have ended", body = RevokedSessions),
        (status = 400, description = "INVALID_REQUEST, or WEAK_PASSWORD"),
        (status = 401, description = "INVALID_CREDENTIALS: a wrong current password; INVALID_TOKEN or TOKEN_EXPIRED"),
        (status = 403, description = "ACCOUNT_INACTIVE"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn change_password(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = claims.sub.clone();
    let result = async {
        let new_password = Password::new(&body.new_password)?;
        let current = claims.session_id();
        let hash = hash_password(&state, new_password).await?;
        reauthenticated(
            &state,
            &client,
            claims,
            &body.current_password,
            move |authority, attempt, at| authority.change_password(attempt, hash, &current, at),
        )
        .await
    }
    .await;
    audit::record(&state, "password_change", Some(&who), &client, &result);
    Ok(no_store(StatusCode::OK).json(RevokedSessions {
        revoked_sessions: result?,
    }))
}

/// Asks to move the account to a new address: a confirmation link goes to the new
/// address and a notice to the current one. Nothing changes until the link is used.
#[utoipa::path(post, path = "/api/auth/email/change", tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Accepted: the links are on their way", body = EmailChangeAccepted),
        (status = 400, description = "INVALID_REQUEST: not an email address, or the current one"),
        (status = 401, description = "INVALID_CREDENTIALS: a wrong password; INVALID_TOKEN or TOKEN_EXPIRED"),
        (status = 403, description = "ACCOUNT_INACTIVE"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn change_email(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    body: JsonBody<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = claims.sub.clone();
    let result = async {
        let new_email = Email::parse(&body.new_email)?;
        reauthenticated(
            &state,
            &client,
            claims,
            &body.password,
            move |authority, attempt, at| authority.request_email_change(attempt, &new_email, at),
        )
        .await
    }
    .await;
    audit::record(&state, "email_change", Some(&who), &client, &result);
    result?;
    Ok(no_store(StatusCode::ACCEPTED).json(EmailChangeAccepted {
        message: "A confirmation link is on its way to the new address.",
    }))
}

/// Moves the account to the new address with the token of the link mailed there.
#[utoipa::path(post, path = "/api/auth/email/change/confirm", tag = "accounts",
    request_body = ConfirmEmailChangeRequest,
    responses(
        (status = 200, description = "Moved; the new address counts as verified", body = LinkedUser),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_TOKEN (unknown, used, replaced or not an email-change token), or TOKEN_EXPIRED"),
        (status = 409, description = "ACCOUNT_EXISTS: another account has the address by now"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn confirm_email_change(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<ConfirmEmailChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().token;
    redeem_link(
        &state,
        &client,
        &token,
        "email_change_confirm",
        Authority::confirm_email_change,
    )
    .await
}

/// Deletes the caller's account with its sessions, one-time tokens and device links. The
/// audit trail keeps the event under the account's id, not its address.
#[utoipa::path(delete, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_CREDENTIALS: a wrong password; INVALID_TOKEN or TOKEN_EXPIRED"),
        (status = 403, description = "ACCOUNT_INACTIVE"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn delete_account(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    body: JsonBody<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = claims.sub.clone();
    let result = reauthenticated(&state, &client, claims, &body.password, |a, attempt, at| {
        a.delete_account(attempt, at)
    })
    .await;
    audit::record(&state, "account_delete", Some(&who), &client, &result);
    result?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

fn no_store(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

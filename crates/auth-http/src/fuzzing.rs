//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the request bodies
//! of every route, parsed as authd parses them, and every refusal rendered as the
//! contract's error body.

use actix_web::ResponseError as _;
use serde::de::DeserializeOwned;

use crate::body::parse;
use crate::{account, accounts, admin, admin_users, devices, users, wallets};

/// Parses `bytes` as the JSON body of every route that takes one. Whatever the bytes, this
/// must return: a parse error becomes a 400 with the contract's body, never a panic.
pub fn request_bodies(bytes: &[u8]) {
    one::<users::RegisterRequest>(bytes);
    one::<users::LoginRequest>(bytes);
    one::<users::RefreshRequest>(bytes);
    one::<users::LogoutRequest>(bytes);
    one::<devices::DeviceRequest>(bytes);
    one::<devices::DeviceRefreshRequest>(bytes);
    one::<wallets::WalletLoginRequest>(bytes);
    one::<admin::CreateApp>(bytes);
    one::<admin::PatchApp>(bytes);
    one::<admin::CreateWallet>(bytes);
    one::<admin::PatchWallet>(bytes);
    one::<admin::NewPassword>(bytes);
    one::<admin_users::PatchUser>(bytes);
    one::<accounts::MailRequest>(bytes);
    one::<accounts::ResetPasswordRequest>(bytes);
    one::<accounts::VerifyEmailRequest>(bytes);
    one::<account::ChangePasswordRequest>(bytes);
    one::<account::ChangeEmailRequest>(bytes);
    one::<account::ConfirmEmailChangeRequest>(bytes);
    one::<account::DeleteAccountRequest>(bytes);
    one::<devices::LinkDeviceRequest>(bytes);
}

fn one<T: DeserializeOwned>(bytes: &[u8]) {
    if let Err(refused) = parse::<T>(bytes) {
        let response = refused.error_response();
        assert_eq!(response.status(), 400, "{refused:?}");
    }
}

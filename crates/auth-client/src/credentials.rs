//! What a client logs in with.

use crate::Kind;

/// A mobile platform, as authd's device route names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Apple iOS.
    Ios,
    /// Android.
    Android,
    /// A browser.
    Web,
}

impl Platform {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "IOS",
            Platform::Android => "ANDROID",
            Platform::Web => "WEB",
        }
    }
}

/// How a client authenticates: at first use, and again whenever its session can no longer
/// be refreshed. `Debug` never shows a password.
#[derive(Clone)]
pub enum Credentials {
    /// A person's email and password (`POST /api/auth/login`).
    User {
        /// The account's email.
        email: String,
        /// Its password.
        password: String,
    },
    /// A mobile device, registered on first use (`POST /api/auth/device`).
    Device {
        /// The device's stable id: 8–128 of `[A-Za-z0-9._:-]`.
        device_id: String,
        /// Its platform.
        platform: Platform,
    },
    /// A wallet (`POST /v2/auth/wallet/login`).
    Wallet {
        /// `walletUsername@appId`.
        login: String,
        /// The wallet's password.
        password: String,
    },
}

impl Credentials {
    /// A person's email and password.
    #[must_use]
    pub fn user(email: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::User {
            email: email.into(),
            password: password.into(),
        }
    }

    /// A mobile device.
    #[must_use]
    pub fn device(device_id: impl Into<String>, platform: Platform) -> Self {
        Credentials::Device {
            device_id: device_id.into(),
            platform,
        }
    }

    /// A wallet, as `walletUsername@appId` and its password.
    #[must_use]
    pub fn wallet(login: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Wallet {
            login: login.into(),
            password: password.into(),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Credentials::User { .. } => Kind::User,
            Credentials::Device { .. } => Kind::Device,
            Credentials::Wallet { .. } => Kind::Wallet,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::User { email, .. } => f
                .debug_struct("User")
                .field("email", email)
                .finish_non_exhaustive(),
            // A device id is the device's only credential.
            Credentials::Device { platform, .. } => f
                .debug_struct("Device")
                .field("platform", platform)
                .finish_non_exhaustive(),
            Credentials::Wallet { login, .. } => f
                .debug_struct("Wallet")
                .field("login", login)
                .finish_non_exhaustive(),
        }
    }
}

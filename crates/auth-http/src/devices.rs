//! The device routes of `/api/auth/device`: credential-free authentication for mobile
//! apps, and refresh of device sessions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{ClientDeviceId, DeviceSession, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blocking::blocking;
use crate::body::JsonBody;
use crate::issued::{SessionReply, TokenPair, refresh_response, session_response};
use crate::{ApiError, AuthState, ClientInfo, RouteFamily};

/// `POST /api/auth/device`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRequest {
    /// The app's identifier for this installation. An identifier, not a secret.
    #[schema(
        pattern = "^[A-Za-z0-9._:-]{8,128}$",
        example = "3f2a9c1e-ios-install-01"
    )]
    device_id: String,
    #[schema(schema_with = platforms)]
    platform: String,
}

/// The platforms a device can be on.
pub(crate) fn platforms() -> utoipa::openapi::ObjectBuilder {
    crate::openapi::one_of(&Platform::ALL.map(Platform::as_str))
}

/// A device refresh token to rotate.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRefreshRequest {
    /// The opaque refresh token of the last device session response.
    refresh_token: String,
}

/// A registered device.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeviceBody {
    id: String,
    device_id: String,
    #[schema(schema_with = platforms)]
    platform: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A device session: a new token pair and the device.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceSessionBody {
    #[serde(flatten)]
    tokens: TokenPair,
    device: DeviceBody,
    /// Whether this call registered the device.
    new_device: bool,
}

impl SessionReply for DeviceSession {
    type Body = DeviceSessionBody;

    fn principal(&self) -> &str {
        self.device.id.as_str()
    }

    fn into_body(self) -> DeviceSessionBody {
        DeviceSessionBody {
            tokens: self.tokens.into(),
            device: DeviceBody {
                id: self.device.id.as_str().to_owned(),
                device_id: self.device.device_id.as_str().to_owned(),
                platform: self.device.platform.as_str(),
                created_at: self.device.created_at.rfc3339(),
            },
            new_device: self.new_device,
        }
    }
}

/// Authenticates a device, registering it on first use; a new session each time.
#[utoipa::path(post, path = "/api/auth/device", tag = "devices",
    request_body = DeviceRequest,
    responses(
        (status = 200, description = "A new device session", body = DeviceSessionBody),
        (status = 400, description = "INVALID_REQUEST: a bad deviceId or platform"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn authenticate(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<DeviceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let result = async {
        state.admit(RouteFamily::Device, &client)?;
        let device_id = ClientDeviceId::parse(&body.device_id)?;
        let platform = Platform::parse(&body.platform)?;
        let now = state.clock.now();
        let state = state.clone();
        let origin = client.origin();
        blocking(move || {
            state
                .authority
                .authenticate_device(&device_id, platform, &origin, now)
        })
        .await
    }
    .await;
    session_response(&state, "device", StatusCode::OK, None, &client, result)
}

/// Rotates a device session's refresh token.
#[utoipa::path(post, path = "/api/auth/device/refresh", tag = "devices",
    request_body = DeviceRefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = DeviceSessionBody),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_TOKEN (also a user's refresh token), TOKEN_EXPIRED, or REFRESH_TOKEN_REUSED"),
        (status = 429, description = "RATE_LIMITED"),
    ))]
pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: JsonBody<DeviceRefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = body.into_inner().refresh_token;
    refresh_response(state, client, "device_refresh", move |authority, now| {
        authority.refresh_device(&presented, now)
    })
    .await
}

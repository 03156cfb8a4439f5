//! The device routes of `/api/auth/device`: credential-free authentication for mobile
//! apps, and refresh of device sessions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use auth_core::{DeviceId, DeviceSession, Platform};
use serde::{Deserialize, Serialize};

use crate::issued::{SessionReply, TokenPair, blocking, refresh_response, session_response};
use crate::operations::rfc3339;
use crate::{ApiError, AuthState, ClientInfo, RouteFamily};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRequest {
    device_id: String,
    platform: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRefreshRequest {
    refresh_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceBody {
    id: String,
    device_id: String,
    platform: &'static str,
    created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceSessionBody {
    #[serde(flatten)]
    tokens: TokenPair,
    device: DeviceBody,
    new_device: bool,
}

impl SessionReply for DeviceSession {
    type Body = DeviceSessionBody;

    fn principal(&self) -> &str {
        &self.device.id
    }

    fn into_body(self) -> DeviceSessionBody {
        DeviceSessionBody {
            tokens: self.tokens.into(),
            device: DeviceBody {
                id: self.device.id,
                device_id: self.device.device_id.as_str().to_owned(),
                platform: self.device.platform.as_str(),
                created_at: rfc3339(self.device.created_at),
            },
            new_device: self.new_device,
        }
    }
}

/// `POST /api/auth/device`: registers the device on first use; a new session each time.
pub(crate) async fn authenticate(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<DeviceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let result = async {
        state.admit(RouteFamily::Device, &client)?;
        let device_id = DeviceId::parse(&body.device_id)?;
        let platform = Platform::parse(&body.platform)?;
        let now = state.clock.now();
        let state = state.clone();
        blocking(move || {
            state
                .authority
                .authenticate_device(&device_id, platform, now)
        })
        .await
    }
    .await;
    session_response(&state, "device", StatusCode::OK, None, &client, result)
}

/// `POST /api/auth/device/refresh`: rotates a device session's refresh token.
pub(crate) async fn refresh(
    state: web::Data<AuthState>,
    client: ClientInfo,
    body: web::Json<DeviceRefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = body.into_inner().refresh_token;
    refresh_response(state, client, "device_refresh", move |authority, now| {
        authority.refresh_device(&presented, now)
    })
    .await
}

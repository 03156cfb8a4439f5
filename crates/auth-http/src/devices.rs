//! The device routes of `/api/auth/device`: credential-free authentication for mobile
//! apps and refresh of device sessions; and a user's links to devices
//! (`device/link`, `/api/auth/devices`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{ClientDeviceId, Device, DeviceSession, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blocking::blocking;
use crate::body::JsonBody;
use crate::issued::{Delivery, SessionReply, TokenPair, refresh_presented, session_response};
use crate::{ApiError, AuthState, Authenticated, ClientInfo, RouteFamily, audit};

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
    /// The opaque refresh token of the last device session response; left out in a
    /// browser's cookie session (the `authd_rt` cookie carries it).
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

/// A registered device.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceBody {
    id: String,
    device_id: String,
    #[schema(schema_with = platforms)]
    platform: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    /// The user the device is linked to, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    user_id: Option<String>,
}

impl From<Device> for DeviceBody {
    fn from(device: Device) -> Self {
        Self {
            id: device.id.as_str().to_owned(),
            device_id: device.device_id.as_str().to_owned(),
            platform: device.platform.as_str(),
            created_at: device.created_at.rfc3339(),
            user_id: device.user_id.map(|id| id.as_str().to_owned()),
        }
    }
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

    fn refresh_token(&self) -> Option<(String, i64)> {
        let t = &self.tokens;
        Some((
            t.refresh_token.expose().to_owned(),
            t.refresh_expires_in_secs,
        ))
    }

    fn into_body(self, delivery: Delivery) -> DeviceSessionBody {
        DeviceSessionBody {
            tokens: TokenPair::of(self.tokens, delivery),
            device: self.device.into(),
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
    req: HttpRequest,
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
    let delivery = crate::browser::delivery(&req, &state);
    session_response(
        &state,
        "device",
        StatusCode::OK,
        None,
        &client,
        (result, delivery),
    )
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
    req: HttpRequest,
    body: JsonBody<DeviceRefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let in_body = body.into_inner().refresh_token;
    refresh_presented(
        state,
        client,
        &req,
        "device_refresh",
        in_body,
        |a, token, now| a.refresh_device(token, now),
    )
    .await
}

/// `POST /api/auth/device/link`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkDeviceRequest {
    /// An access token of the device to link (from `POST /api/auth/device`).
    device_token: String,
}

/// A device linked to the caller.
#[derive(Serialize, ToSchema)]
pub(crate) struct LinkedDevice {
    device: DeviceBody,
}

/// The caller's linked devices.
#[derive(Serialize, ToSchema)]
pub(crate) struct LinkedDevices {
    items: Vec<DeviceBody>,
}

/// Links a device to the calling user: from its next refresh on, the device's tokens
/// carry `userId`.
#[utoipa::path(post, path = "/api/auth/device/link", tag = "devices",
    security(("bearer" = [])),
    request_body = LinkDeviceRequest,
    responses(
        (status = 200, description = "Linked (or linked already to the caller)", body = LinkedDevice),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 401, description = "INVALID_TOKEN: the bearer is not a user's token, or deviceToken is not a live device token; TOKEN_EXPIRED"),
        (status = 409, description = "DEVICE_LINKED: another user has the device"),
    ))]
pub(crate) async fn link(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    body: JsonBody<LinkDeviceRequest>,
) -> Result<HttpResponse, ApiError> {
    let device_token = body.into_inner().device_token;
    let who = claims.sub.clone();
    let now = state.clock.now();
    let inner = state.clone();
    let result = blocking(move || inner.authority.link_device(&claims, &device_token, now)).await;
    audit::record(&state, "device_link", Some(&who), &client, &result);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LinkedDevice {
            device: result?.into(),
        }))
}

/// Lists the devices linked to the calling user, oldest first.
#[utoipa::path(get, path = "/api/auth/devices", tag = "devices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's linked devices", body = LinkedDevices),
        (status = 401, description = "INVALID_TOKEN (not a user's token) or TOKEN_EXPIRED"),
    ))]
pub(crate) async fn list_linked(
    state: web::Data<AuthState>,
    Authenticated(claims): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let devices = blocking(move || state.authority.linked_devices(&claims)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LinkedDevices {
            items: devices.into_iter().map(DeviceBody::from).collect(),
        }))
}

/// Unlinks one of the calling user's devices and ends its sessions.
#[utoipa::path(delete, path = "/api/auth/devices/{id}", tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "authd's id of the device (`device.id`)")),
    responses(
        (status = 204, description = "Unlinked; the device's sessions have ended"),
        (status = 401, description = "INVALID_TOKEN (not a user's token) or TOKEN_EXPIRED"),
        (status = 404, description = "NOT_FOUND: no device of the caller has this id"),
    ))]
pub(crate) async fn unlink(
    state: web::Data<AuthState>,
    client: ClientInfo,
    Authenticated(claims): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = claims.sub.clone();
    let id = path.into_inner();
    let now = state.clock.now();
    let inner = state.clone();
    let result = if id.len() > 64 {
        Err(ApiError::NotFound)
    } else {
        blocking(move || inner.authority.unlink_device(&claims, &id, now)).await
    };
    audit::record(&state, "device_unlink", Some(&who), &client, &result);
    result?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

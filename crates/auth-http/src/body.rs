//! Request bodies: a JSON object, read under the body limit, or the contract's 400 or 413.
//!
//! serde would also fill a struct from a JSON array (`["a@b.co", "pw", "name"]`); an API
//! whose bodies are documented as objects must not accept that, so every body is checked
//! to be an object before it becomes the handler's type.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::error::{body_error, describe_json_error};

/// A request body that was a JSON object of shape `T`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T> JsonBody<T> {
    /// The body.
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| body_error(&e))?;
            if !is_json {
                return Err(ApiError::BadRequest(
                    "Content-Type must be application/json".into(),
                ));
            }
            parse(&bytes).map(JsonBody)
        })
    }
}

/// `application/json`, or any `+json` type, with any parameters.
pub(crate) fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json"))
}

/// Parses a body that must be a JSON object of shape `T`.
///
/// JSON that starts with `{` can only be an object, so a well-formed body is parsed once,
/// straight into `T`; anything else is parsed as a plain value only to say what is wrong.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: serde_json::Error| ApiError::BadRequest(describe_json_error(&e));
    if bytes.trim_ascii_start().first() == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(invalid);
    }
    serde_json::from_slice::<serde_json::Value>(bytes).map_err(invalid)?;
    Err(ApiError::BadRequest(
        "Request body must be a JSON object".into(),
    ))
}

//! Domain work that blocks (Argon2, the database) runs on actix's blocking threads, never
//! on the async workers that serve every other request.

use actix_web::web;
use auth_core::AuthError;

use crate::ApiError;

/// Runs a blocking domain operation (Argon2, the database) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(f).await??)
}

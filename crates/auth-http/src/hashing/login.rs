//! The login flow around the gate: the reads on actix's blocking pool, only the hash on a
//! hashing thread, the writes on the blocking pool again.

use actix_web::web;
use auth_core::{AuthError, Authority, LoginAttempt, Password, PasswordHash, UnixTime};

use crate::blocking::blocking;
use crate::{ApiError, AuthState};

/// Hashes a new password on a hashing thread, and only that: the storage work that follows
/// belongs on the blocking pool, because the hashing threads run at a low priority and a
/// commit there could keep other writers (SQLite's, which take turns) waiting.
pub(crate) async fn hash_password(
    state: &web::Data<AuthState>,
    password: Password,
) -> Result<PasswordHash, ApiError> {
    let inner = state.clone();
    state
        .hashing
        .run(move || inner.authority.hash_password(&password))
        .await
}

/// Runs a password login in its three steps: the reads on actix's blocking pool, only the
/// hash on a hashing thread, the writes on the blocking pool again. A hashing thread that
/// also waited for the database idled for part of every login (PostgreSQL logins reached
/// 78 % of the Argon2id bound, SQLite 87 %).
///
/// `finish` gets the time the hash finished: a failure (and a lock) dates from when the
/// hash proved it, which under load can be seconds after the request came in, so that a
/// lock cannot expire before it is recorded.
pub(crate) async fn password_login<T, R>(
    state: &web::Data<AuthState>,
    begin: impl FnOnce(&Authority) -> Result<LoginAttempt<T>, AuthError> + Send + 'static,
    password: Password,
    finish: impl FnOnce(&Authority, LoginAttempt<T>, UnixTime) -> Result<R, AuthError> + Send + 'static,
) -> Result<R, ApiError>
where
    T: Send + 'static,
    R: Send + 'static,
{
    // Under a flood most logins are shed: they should cost no database work, so the place
    // in the hashing queue is taken first (and given back if `begin` refuses).
    let admission = state.hashing.admit().await?;
    let authority = state.authority.clone();
    let attempt = blocking(move || begin(&authority)).await?;
    let ticket = attempt.ticket();
    let authority = state.authority.clone();
    let hashed = state
        .hashing
        .run_admitted(admission, move || {
            let mut attempt = attempt;
            authority.check_password(&mut attempt, &password);
            Ok(attempt)
        })
        .await;
    let attempt = match hashed {
        Ok(attempt) => attempt,
        Err(e) => {
            // Not hashed: the attempt was counted when it was begun, but will never be judged.
            let authority = state.authority.clone();
            let _ = blocking(move || {
                authority.abandon_login(&ticket);
                Ok(())
            })
            .await;
            return Err(e);
        }
    };
    let authority = state.authority.clone();
    let hashed_at = state.clock.now();
    blocking(move || finish(&authority, attempt, hashed_at)).await
}

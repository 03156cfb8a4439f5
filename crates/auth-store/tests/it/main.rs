//! The store suite: every behaviour runs on SQLite always and on PostgreSQL when
//! `AUTHD_TEST_POSTGRES_URL` names a server (required under CI).

// Test code: a failing unwrap is a failing test. (clippy.toml's test allowances cover
// #[test] functions only, not the shared behaviour functions they call.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod audit;
mod device_links;
mod devices;
mod keys;
mod one_time;
mod outbox;
mod production_rotation;
mod rate_limits;
mod rotation;
mod sessions;
mod throttle;
mod users;
mod wallets;

use auth_core::session::{self, TokenPolicy};
use auth_core::{
    Email, PasswordHash, PrincipalKind, StoreError, UnixTime, User, UserStore, Username,
};

/// Declares each listed function `fn(&TestDatabase)` as a test on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let db = auth_store::test_support::TestDatabase::sqlite();
                    super::$name(&db);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(db) = auth_store::test_support::TestDatabase::postgres() else { return };
                    super::$name(&db);
                }
            )*
        }
    };
}

/// A fixed instant the tests start from.
pub const T0: UnixTime = UnixTime(1_800_000_000);

/// A new user with a placeholder hash (the store never checks hashes).
pub fn user(email: &str, username: &str) -> User {
    User::new(
        &Email::parse(email).unwrap(),
        &Username::parse(username).unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
        T0,
    )
}

/// A new session of `user`, started at `T0`, not stored.
pub(crate) fn user_session(user: &User) -> auth_core::Session {
    session::start(
        PrincipalKind::User,
        user.id.as_str(),
        T0,
        &TokenPolicy::default(),
    )
    .unwrap()
    .session
}

/// Creates `user` with a first session, as registration does.
pub(crate) fn create(store: &impl UserStore, user: &User) -> Result<(), StoreError> {
    store.create_user(user, &user_session(user))
}

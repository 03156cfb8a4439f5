//! Who a token speaks for: the kinds of principal authd authenticates, and roles.

use serde::{Deserialize, Serialize};

/// The kind of principal a session or token belongs to.
///
/// Tokens carry their kind so that a token of one kind is refused where another is
/// required (a device refresh token on the user refresh route, for instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person with email and password.
    User,
    /// A mobile device authenticated by its device id.
    Device,
    /// An operational identity belonging to an app.
    Wallet,
}

impl PrincipalKind {
    /// The stable lowercase name used in claims and storage.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Device => "device",
            PrincipalKind::Wallet => "wallet",
        }
    }

    /// Parses the stable name written by [`PrincipalKind::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(PrincipalKind::User),
            "device" => Some(PrincipalKind::Device),
            "wallet" => Some(PrincipalKind::Wallet),
            _ => None,
        }
    }
}

/// A user role. Roles are upper-case identifiers such as `USER` and `ADMIN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Role(String);

impl Role {
    /// The role every new user gets.
    pub const USER: &'static str = "USER";
    /// The role that may call the administration routes.
    pub const ADMIN: &'static str = "ADMIN";

    /// Parses a role: 1–32 characters of `A-Z`, `0-9` and `_`, starting with a letter.
    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        let valid = (1..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        valid.then(|| Role(s.to_owned()))
    }

    /// The role's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_upper_case_identifiers() {
        assert!(Role::parse("ADMIN").is_some());
        assert!(Role::parse("READ_ONLY2").is_some());
        assert!(Role::parse("admin").is_none());
        assert!(Role::parse("").is_none());
        assert!(Role::parse("1ADMIN").is_none());
        assert!(Role::parse("AD MIN").is_none());
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [
            PrincipalKind::User,
            PrincipalKind::Device,
            PrincipalKind::Wallet,
        ] {
            assert_eq!(PrincipalKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PrincipalKind::parse("User"), None);
    }
}

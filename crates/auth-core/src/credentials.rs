//! Credentials as parsed values: an [`Email`], a [`Username`] or a [`Password`] exists only
//! if it passed its rules, so nothing downstream handles a raw string.

use std::fmt;

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use crate::AuthError;

/// An email address, trimmed and checked for shape.
///
/// Two emails are the same account when their [`Email::normalized`] forms are equal: ASCII
/// letters are folded to lower case and nothing else is touched, so `Alice@Example.com`
/// and `alice@example.com` collide while `alıce@example.com` (dotless i) stays distinct.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    /// Longest accepted address, per RFC 5321's path limit.
    pub const MAX_LEN: usize = 254;

    /// Parses an email address as a client typed it.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when the address is empty after trimming, longer than
    /// [`Email::MAX_LEN`] bytes, contains a control character, white space, NUL or a
    /// format character (Unicode category Cf: zero-width and bidirectional controls such
    /// as U+200B and U+202E, which make look-alike accounts and misleading audit lines),
    /// or is not `local@domain` with a non-empty local part and a dotted domain.
    pub fn parse(raw: &str) -> Result<Email, AuthError> {
        let display = raw.trim();
        let invalid = |why: &str| AuthError::InvalidRequest(format!("email {why}"));
        if display.is_empty() {
            return Err(invalid("is required"));
        }
        if display.len() > Self::MAX_LEN {
            return Err(invalid("is too long"));
        }
        if display.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("contains white space or control characters"));
        }
        if display
            .chars()
            .any(|c| c.general_category() == GeneralCategory::Format)
        {
            return Err(invalid(
                "contains invisible or bidirectional format characters",
            ));
        }
        let Some((local, domain)) = display.rsplit_once('@') else {
            return Err(invalid("must be of the form name@domain"));
        };
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid("must be of the form name@domain"));
        }
        Ok(Email {
            display: display.to_owned(),
            normalized: display.to_ascii_lowercase(),
        })
    }

    /// The address as the user wrote it (trimmed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form used for uniqueness and lookup.
    #[must_use]
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.display).finish()
    }
}

/// A public user name: 3–32 characters of `A-Z a-z 0-9 _ . -`, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Parses a user name.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when the name is outside 3–32 characters or contains
    /// anything but ASCII letters, digits, `_`, `.` and `-`.
    pub fn parse(raw: &str) -> Result<Username, AuthError> {
        let ok = (3..=32).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(Username(raw.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(
                "username must be 3-32 characters of A-Z, a-z, 0-9, '_', '.', '-'".into(),
            ))
        }
    }

    /// The name as chosen.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness.
    #[must_use]
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A password that satisfies the policy: 8–128 characters, not a well-known password.
///
/// There are no composition rules (NIST SP 800-63B): length is what makes a password hard
/// to guess. The password is used as given except for Unicode NFC normalisation (ASVS 5.0
/// 6.2.x): `é` typed as one code point or as `e` plus a combining accent is the same
/// password, whatever keyboard typed it. No trimming. `Debug` never shows it.
#[derive(Clone)]
pub struct Password {
    /// The NFC form: what is hashed and checked.
    nfc: String,
    /// The form as typed, kept only when it differs from `nfc`, so that a hash made before
    /// authd normalised passwords still verifies (see [`Password::as_typed`]).
    as_typed: Option<String>,
}

impl Password {
    /// Fewest characters accepted.
    pub const MIN_CHARS: usize = 8;
    /// Most characters accepted; longer input is refused before any hashing.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password against the policy.
    ///
    /// # Errors
    /// [`AuthError::WeakPassword`] when it is shorter than 8 or longer than 128 characters
    /// (counted after NFC normalisation), or appears on the shipped list of common
    /// passwords (compared ignoring case).
    pub fn new(raw: &str) -> Result<Password, AuthError> {
        let nfc: String = raw.nfc().collect();
        let chars = nfc.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AuthError::WeakPassword(
                "password must be at least 8 characters",
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(AuthError::WeakPassword(
                "password must be at most 128 characters",
            ));
        }
        if crate::common_passwords::is_common(&nfc) {
            return Err(AuthError::WeakPassword(
                "password is too common; choose another",
            ));
        }
        Ok(Password {
            nfc,
            as_typed: None,
        })
    }

    /// Wraps a password presented at login. Only the length cap applies (so that an
    /// over-long input never reaches the hasher); a too-short or common password simply
    /// fails to match.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] when it is longer than 128 characters.
    pub fn presented(raw: &str) -> Result<Password, AuthError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(AuthError::InvalidCredentials);
        }
        let nfc: String = raw.nfc().collect();
        let as_typed = (nfc != raw).then(|| raw.to_owned());
        Ok(Password { nfc, as_typed })
    }

    /// The password's bytes in NFC form, for the hasher.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.nfc.as_bytes()
    }

    /// The bytes as typed, when they are not in NFC form: a stored hash made from them
    /// before authd normalised passwords is still honoured, and then replaced by a hash
    /// of the NFC form.
    #[must_use]
    pub fn as_typed(&self) -> Option<&[u8]> {
        self.as_typed.as_deref().map(str::as_bytes)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_fold_only_ascii_case() {
        let e = Email::parse("  Alice@Example.COM \n").unwrap();
        assert_eq!(e.as_str(), "Alice@Example.COM");
        assert_eq!(e.normalized(), "alice@example.com");
    }

    #[test]
    fn non_ascii_letters_are_never_folded_into_ascii() {
        let dotless = Email::parse("alıce@example.com").unwrap();
        let plain = Email::parse("alice@example.com").unwrap();
        assert_ne!(dotless.normalized(), plain.normalized());
        let kelvin = Email::parse("\u{212A}elly@example.com").unwrap();
        assert_ne!(kelvin.normalized(), "kelly@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "alice@example..com",
            "alice@.example.com",
            "al ice@example.com",
            "alice\0@example.com",
            "alice\u{7}@example.com",
            "ali\u{200b}ce@example.com",
            "alice\u{202e}moc.elpmaxe@example.com",
            "\u{2066}alice@example.com",
            "alice@exa\u{feff}mple.com",
            "alice\u{ad}@example.com",
        ] {
            assert!(
                matches!(Email::parse(bad), Err(AuthError::InvalidRequest(_))),
                "{bad:?} should be refused"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn usernames_follow_the_contract_alphabet() {
        for good in ["abc", "my.name-1_x", &"a".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", &"a".repeat(33), "bad name", "bád", "a@b", ""] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Username::parse("MyName").unwrap().normalized(), "myname");
    }

    #[test]
    fn password_policy_is_length_only_plus_common_list() {
        assert!(Password::new("correct horse").is_ok());
        assert!(Password::new("abcdefgX").is_ok());
        assert!(matches!(
            Password::new("short7!"),
            Err(AuthError::WeakPassword(_))
        ));
        assert!(Password::new(&"x".repeat(128)).is_ok());
        assert!(matches!(
            Password::new(&"x".repeat(129)),
            Err(AuthError::WeakPassword(_))
        ));
        for common in [
            "Password123",
            "liverpool",
            "chocolate",
            "basketball",
            "Princess1",
        ] {
            assert!(
                matches!(Password::new(common), Err(AuthError::WeakPassword(_))),
                "{common}"
            );
        }
        // Length counts characters, not bytes: eight two-byte characters are enough.
        assert!(Password::new("éééééééé").is_ok());
    }

    #[test]
    fn passwords_are_kept_exactly_and_never_shown() {
        let p = Password::new("  spaced out  ").unwrap();
        assert_eq!(p.expose(), b"  spaced out  ");
        assert_eq!(p.as_typed(), None);
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
    }

    #[test]
    fn passwords_are_normalised_to_nfc_and_remember_a_different_typing() {
        let composed = "caf\u{e9} au lait";
        let decomposed = "cafe\u{301} au lait";
        let new = Password::new(decomposed).unwrap();
        assert_eq!(new.expose(), composed.as_bytes());
        let presented = Password::presented(decomposed).unwrap();
        assert_eq!(presented.expose(), composed.as_bytes());
        assert_eq!(presented.as_typed(), Some(decomposed.as_bytes()));
        assert_eq!(Password::presented(composed).unwrap().as_typed(), None);
    }

    #[test]
    fn overlong_presented_passwords_fail_before_hashing() {
        assert!(matches!(
            Password::presented(&"x".repeat(129)),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(Password::presented("short").is_ok());
    }
}

//! The list of common passwords that [`crate::Password::new`] refuses.
//!
//! The list is Django's `common-passwords.txt.gz` (BSD-3-Clause): Royce Williams' list of
//! the 20,000 most common passwords in breach corpora, unhexed, lower-cased and
//! deduplicated (19,640 entries). It is shipped gzip-compressed inside the binary (78 KiB)
//! and decompressed into a hash set the first time a new password is checked.

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::OnceLock;

/// The gzip-compressed list, one lower-case password per line.
const COMPRESSED: &[u8] = include_bytes!("../data/common-passwords.txt.gz");

fn list() -> &'static HashSet<String> {
    static LIST: OnceLock<HashSet<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut text = String::new();
        match flate2::read::GzDecoder::new(COMPRESSED).read_to_string(&mut text) {
            Ok(_) => text.lines().map(str::to_owned).collect(),
            Err(e) => {
                // Unreachable with the list compiled in; the unit test below proves it reads.
                log::error!("the common-password list could not be read: {e}");
                HashSet::new()
            }
        }
    })
}

/// Whether `password` (already NFC-normalised) is on the list, ignoring case.
pub(crate) fn is_common(password: &str) -> bool {
    list().contains(&password.to_lowercase())
}

/// How many passwords the shipped list holds.
#[must_use]
pub fn common_password_count() -> usize {
    list().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_over_ten_thousand_passwords_and_finds_them_in_any_case() {
        assert!(
            common_password_count() >= 10_000,
            "{}",
            common_password_count()
        );
        for common in ["liverpool", "Chocolate", "BASKETBALL", "password1"] {
            assert!(is_common(common), "{common}");
        }
        assert!(!is_common("correct horse battery staple"));
    }
}

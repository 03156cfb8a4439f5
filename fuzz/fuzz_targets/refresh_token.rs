//! Refresh-token parsing: arbitrary text is refused or accepted by shape, never a panic,
//! and an accepted token hashes.
#![no_main]

use auth_core::RefreshToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = RefreshToken::parse(text) {
        assert_eq!(token.expose(), text);
        let _ = token.hash();
    }
});

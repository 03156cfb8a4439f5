//! What clients type: `user@appId` wallet logins, emails, user names and passwords.
//! Each is accepted or refused by its parser, never a panic, and what is accepted
//! obeys the parser's rules.
#![no_main]

use auth_core::{Email, Password, Username, WalletLogin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(login) = WalletLogin::parse(text) {
        assert!(text.contains('@'));
        assert!(login.app_id.as_str().starts_with("app_"));
    }
    if let Ok(email) = Email::parse(text) {
        assert!(email.as_str().len() <= Email::MAX_LEN);
        assert!(!email.as_str().chars().any(char::is_control));
    }
    let _ = Username::parse(text);
    if let Ok(password) = Password::new(text) {
        assert!(!password.expose().is_empty());
    }
    let _ = Password::presented(text);
});

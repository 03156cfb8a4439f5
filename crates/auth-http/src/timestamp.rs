//! The time of an error body: the one instant the API writes without request state.

use auth_core::{Clock as _, SystemClock};

/// The current time as the contract's error `timestamp`. An error body is written where no
/// request state is at hand (`ResponseError`), so it reads the system clock through
/// [`SystemClock`].
pub(crate) fn now() -> String {
    SystemClock.now().rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_times_are_rfc3339_utc_to_the_second() {
        let t = now();
        assert_eq!(t.len(), "2026-08-04T10:30:00Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}

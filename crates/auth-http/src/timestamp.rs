//! How the API writes an instant: RFC 3339 in UTC, to the second.

use auth_core::{Clock as _, SystemClock, UnixTime};

/// An instant as every response of the API writes it (`createdAt`, `timestamp`, …):
/// RFC 3339 in UTC, to the second. Exposed so that other front ends of authd (its command
/// line) print the same shapes.
pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.secs())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The current time as the contract's error `timestamp`. An error body is written where no
/// request state is at hand (`ResponseError`), so it reads the system clock through
/// [`SystemClock`].
pub(crate) fn now() -> String {
    rfc3339(SystemClock.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_utc_to_the_second() {
        assert_eq!(rfc3339(UnixTime(1_800_000_000)), "2027-01-15T08:00:00Z");
        let t = now();
        assert_eq!(t.len(), "2026-08-04T10:30:00Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}

//! Time as the domain sees it: whole seconds since the Unix epoch, handed in by the caller.
//!
//! Only the edge (the HTTP layer, the CLI) asks a [`Clock`] for the time; every rule in this
//! crate takes a [`UnixTime`] argument so that tests can put it anywhere.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An instant, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The instant as the contract writes every instant (`createdAt`, an error's
    /// `timestamp`, …): RFC 3339 in UTC, to the second. Empty for a time `time` cannot
    /// represent (outside years -9999 to 9999).
    #[must_use]
    pub fn rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// The instant `secs` seconds after this one (saturating).
    #[must_use]
    pub fn plus_secs(self, secs: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }

    /// Seconds since the epoch.
    #[must_use]
    pub fn secs(self) -> i64 {
        self.0
    }
}

/// A UUIDv7 stamped with `now` (to the second; the other 74 bits random): ids made later
/// sort after earlier ones, so each new row goes to the end of its index.
pub(crate) fn uuid_v7(now: UnixTime) -> uuid::Uuid {
    let secs = u64::try_from(now.secs()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, 0))
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> UnixTime;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one read of the system clock, behind the Clock trait"
    )]
    fn now(&self) -> UnixTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to: for tests and simulations of expiry.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: UnixTime) -> Self {
        Self(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Puts the clock at `at`.
    pub fn set(&self, at: UnixTime) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_rfc3339_utc_to_the_second() {
        assert_eq!(UnixTime(1_800_000_000).rfc3339(), "2027-01-15T08:00:00Z");
        assert_eq!(UnixTime(i64::MAX).rfc3339(), "", "beyond year 9999");
    }
}

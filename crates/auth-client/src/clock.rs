//! Where the client reads the time, so that programs and tests can give it their own.

use std::time::SystemTime;

/// A source of the current time. The client asks it when a token was issued and whether
/// one is due for renewal; tests pass a clock they move forward instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock: the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one read of the system clock, behind the Clock trait"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

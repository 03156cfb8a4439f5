//! The synchronisation primitives of the hand-offs ([`super::handoff`]), named in one place:
//! the loom model (`tests/handoff_model.rs`) compiles `handoff.rs` against a module of the
//! same name that holds loom's instead.

pub(super) use std::sync::Mutex;
pub(super) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
pub(super) use std::thread::{Thread, current, park};

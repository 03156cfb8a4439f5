//! Keeping SQLite's write-ahead log short under steady load.
//!
//! SQLite copies its write-ahead log back into the database file (a checkpoint) and starts
//! the log over only when no reader still needs the log. Under steady load some request is
//! always reading, so the log only grew: 5.5 GB after minutes of 32 busy clients on ten
//! million sessions, and every read then searched an index of the whole log (`me` fell
//! from 35,000 to 5,300 requests/s). A checkpoint waiting on SQLite's busy handler for the
//! readers never found them gone. So this process counts its own connections in use at a
//! [`ReadGate`], and a checkpoint closes the gate for the moment it needs: new requests
//! wait, the ones in flight finish, the log is copied and emptied, the gate opens.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Counts the connections of this process in use, and lets one job run while none is.
#[derive(Default)]
pub(crate) struct ReadGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Passes handed out and not yet dropped.
    out: usize,
    /// Whether a job waits for the passes out (new ones wait meanwhile).
    closed: bool,
}

/// Held with a connection in use; see [`ReadGate::enter`].
pub(crate) struct Pass<'a>(&'a ReadGate);

impl ReadGate {
    /// A pass for one connection in use; waits while a job holds the gate closed (at
    /// most the job's wait and the job itself).
    pub(crate) fn enter(&self) -> Pass<'_> {
        let mut state = self.lock();
        while state.closed {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.out += 1;
        Pass(self)
    }

    /// Closes the gate to new passes, waits up to `wait` for the passes out to be
    /// dropped, and runs `job` if they were, then opens the gate again. `None` when some
    /// pass was still out after `wait` (the job did not run): a long read is never
    /// stalled behind, nor stalls everything for, a job that can wait for next time.
    pub(crate) fn alone<T>(&self, wait: Duration, job: impl FnOnce() -> T) -> Option<T> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.closed = true;
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| s.out > 0)
            .unwrap_or_else(PoisonError::into_inner);
        let done = if state.out == 0 {
            drop(state);
            let done = job();
            state = self.lock();
            Some(done)
        } else {
            None
        };
        state.closed = false;
        drop(state);
        self.changed.notify_all();
        done
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.out -= 1;
        let last = state.out == 0 && state.closed;
        drop(state);
        if last {
            self.0.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_alone_only_when_no_pass_is_out() {
        let gate = ReadGate::default();
        let pass = gate.enter();
        assert_eq!(gate.alone(Duration::ZERO, || "ran"), None);
        drop(pass);
        assert_eq!(gate.alone(Duration::ZERO, || "ran"), Some("ran"));
        // The gate is open again: a pass is handed out at once.
        drop(gate.enter());
    }

    #[test]
    fn new_passes_wait_while_the_job_runs_and_the_job_waits_for_passes_out() {
        let gate = &ReadGate::default();
        let held = gate.enter();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let job = s.spawn(move || {
                gate.alone(Duration::from_secs(60), || {
                    // The pass held before the job asked was dropped; nobody has entered
                    // since.
                    assert!(entered.try_recv().is_err());
                    "ran"
                })
            });
            // Once the job holds the gate closed, a new pass waits for it.
            while !gate.lock().closed {
                std::thread::yield_now();
            }
            let entering = s.spawn(move || {
                let _pass = gate.enter();
                let _ = entered_tx.send(());
            });
            drop(held);
            assert_eq!(job.join().unwrap(), Some("ran"));
            entering.join().unwrap();
        });
    }
}

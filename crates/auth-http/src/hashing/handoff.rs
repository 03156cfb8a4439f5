//! The hand-offs between request threads and hashing threads, none of which ever blocks a
//! request thread on a lock a hashing thread holds: an offer taken exactly once, a thread
//! that sleeps and is woken without a lock, and the replies passed to a normal-priority
//! thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Instant;

use super::{Job, Reply, answer_one};

/// A job offered to the hashing threads: run once, by whichever takes it first.
pub(super) struct Offer {
    pub(super) since: Instant,
    pub(super) taken: AtomicBool,
    /// Locked only by the thread that took the offer.
    pub(super) job: Mutex<Option<Job>>,
}

impl Offer {
    /// The job, for the first thread to ask.
    pub(super) fn take(&self, waiting: &AtomicUsize) -> Option<Job> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        waiting.fetch_sub(1, Ordering::Relaxed);
        self.job
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A thread that sleeps when it has nothing to do, woken without a lock: the waker clears
/// an atomic flag and unparks the thread, one futex call.
#[derive(Debug, Default)]
pub(super) struct Sleeper {
    pub(super) thread: OnceLock<Thread>,
    pub(super) asleep: AtomicBool,
}

impl Sleeper {
    /// Called by the sleeping thread itself: sleeps unless `has_work` (asked after the
    /// flag is up, so that a waker either sees the flag or its work is seen) finds work.
    /// True when it found work and a waker meanwhile took the flag down, believing it was
    /// waking a sleeping thread: that wake-up is for the caller to pass on.
    pub(super) fn sleep_unless(&self, has_work: impl FnOnce() -> bool) -> bool {
        self.thread.get_or_init(std::thread::current);
        self.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if has_work() {
            return !self.asleep.swap(false, Ordering::SeqCst);
        }
        // A wake-up since the flag went up leaves a token, and this returns at once.
        std::thread::park();
        self.asleep.store(false, Ordering::SeqCst);
        false
    }

    /// Wakes the thread if it sleeps (or is about to); whether it did.
    pub(super) fn wake(&self) -> bool {
        if !self.asleep.swap(false, Ordering::SeqCst) {
            return false;
        }
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
        true
    }
}

/// The threads of a gate that sleep when idle, and whether the gate is gone.
#[derive(Debug)]
pub(super) struct Sleepers {
    pub(super) spare: Vec<Sleeper>,
    pub(super) late: Sleeper,
    pub(super) closed: AtomicBool,
}

impl Sleepers {
    /// Called after work was put in a queue: wakes one sleeping spare-CPU thread, and the
    /// late thread if it sleeps.
    pub(super) fn offered(&self) {
        fence(Ordering::SeqCst);
        self.wake_spare();
        self.late.wake();
    }

    /// Wakes one sleeping spare-CPU thread, if one sleeps.
    pub(super) fn wake_spare(&self) {
        for sleeper in &self.spare {
            if sleeper.wake() {
                break;
            }
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Answers on their way from the threads that hash to the reply thread.
///
/// A mutex, not a channel: a channel's receiver spins while a sender is half-way through
/// a slot, and the sender here may be a preempted `SCHED_IDLE` thread. Waiting for the
/// mutex instead puts the reply thread to sleep, and it serves hashing alone.
#[derive(Default)]
pub(super) struct Replies {
    pub(super) queue: Mutex<VecDeque<Reply>>,
    /// Threads that hash and have not stopped; the reply thread stops once none runs.
    pub(super) producers: AtomicUsize,
    /// Whether the reply thread runs; if it could not be started, the threads that hash
    /// answer themselves.
    pub(super) running: AtomicBool,
    pub(super) sleeper: Sleeper,
}

impl Replies {
    /// Hands `reply` to the reply thread.
    pub(super) fn send(&self, reply: Reply) {
        if !self.running.load(Ordering::Acquire) {
            answer_one(reply);
            return;
        }
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(reply);
        fence(Ordering::SeqCst);
        self.sleeper.wake();
    }

    /// Called by a thread that hashes as it stops.
    pub(super) fn producer_stopped(&self) {
        self.producers.fetch_sub(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.sleeper.wake();
    }

    pub(super) fn take_all(&self) -> VecDeque<Reply> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

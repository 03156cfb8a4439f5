//! The hand-offs between request threads and hashing threads, none of which ever blocks a
//! request thread on a lock a hashing thread holds: an offer taken exactly once, a thread
//! that sleeps and is woken without a lock, and the replies passed to a normal-priority
//! thread.
//!
//! Its primitives come from [`super::sync`], so that the loom model in
//! `tests/handoff_model.rs` compiles this very file against loom's and checks every
//! interleaving of these hand-offs for a lost wake-up or a job taken twice.

use std::collections::VecDeque;
use std::sync::mpsc::TryRecvError;
use std::sync::{OnceLock, PoisonError};
use std::time::Instant;

use super::sync::{AtomicBool, AtomicU8, AtomicUsize, Mutex, Ordering, Thread, current, park};
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

/// The states of a [`Sleeper`].
const AWAKE: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// A thread that sleeps when it has nothing to do, woken without a lock: the waker swaps
/// one atomic state and unparks the thread only if it sleeps, one futex call.
///
/// Sleeper and wakers change the state only by read-modify-writes of that one word, so
/// they are totally ordered without fences: a waker that comes before the sleeper parks
/// leaves `NOTIFIED`, which stops it from parking (and the sleeper looks for work again);
/// a waker that comes after finds `PARKED` and unparks it. The work a waker announces is
/// published before its swap (release) and seen after the sleeper's (acquire).
#[derive(Default)]
pub(super) struct Sleeper {
    pub(super) thread: OnceLock<Thread>,
    state: AtomicU8,
}

impl Sleeper {
    /// Called by the sleeping thread itself: returns at once if `has_work`, or if a waker
    /// came since it last slept (the caller then looks for work again); else sleeps until
    /// a waker comes.
    pub(super) fn sleep_unless(&self, has_work: impl FnOnce() -> bool) {
        self.thread.get_or_init(current);
        if has_work() {
            return;
        }
        if self
            .state
            .compare_exchange(AWAKE, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Notified since: perhaps of the work `has_work` just missed.
            self.state.swap(AWAKE, Ordering::AcqRel);
            return;
        }
        // An unpark that comes before the park leaves a token, and park returns at once;
        // a spurious return finds the state still PARKED, and parks again.
        while self
            .state
            .compare_exchange(NOTIFIED, AWAKE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            park();
        }
    }

    /// Wakes the thread if it sleeps, or has it look for work before it next sleeps;
    /// whether it slept.
    pub(super) fn wake(&self) -> bool {
        if self.state.swap(NOTIFIED, Ordering::AcqRel) != PARKED {
            return false;
        }
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
        true
    }
}

/// The threads of a gate that sleep when idle, and whether the gate is gone.
pub(super) struct Sleepers {
    pub(super) spare: Vec<Sleeper>,
    pub(super) late: Sleeper,
    pub(super) closed: AtomicBool,
}

impl Sleepers {
    /// Called after work was put in a queue: wakes one sleeping spare-CPU thread, and the
    /// late thread if it sleeps.
    pub(super) fn offered(&self) {
        self.wake_spare();
        self.late.wake();
    }

    /// Wakes one sleeping spare-CPU thread, if one sleeps. The awake threads it passes
    /// look for work before they sleep.
    pub(super) fn wake_spare(&self) {
        for sleeper in &self.spare {
            if sleeper.wake() {
                break;
            }
        }
    }

    /// Closes the gate: every thread finishes what its queue holds and stops.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for sleeper in &self.spare {
            sleeper.wake();
        }
        self.late.wake();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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
        self.sleeper.wake();
    }

    /// Called by a thread that hashes as it stops.
    pub(super) fn producer_stopped(&self) {
        self.producers.fetch_sub(1, Ordering::AcqRel);
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

/// The next item of a queue, sleeping on `me` while it is empty; `None` once it is
/// closed, or empty while `stopping`.
pub(super) fn next_or_sleep<T>(
    me: &Sleeper,
    stopping: impl Fn() -> bool,
    next: impl Fn() -> Result<T, TryRecvError>,
) -> Option<T> {
    loop {
        match next() {
            Ok(item) => return Some(item),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if stopping() => return None,
            Err(TryRecvError::Empty) => {
                let mut found = None;
                me.sleep_unless(|| match next() {
                    Ok(item) => {
                        found = Some(item);
                        true
                    }
                    Err(TryRecvError::Disconnected) => true,
                    Err(TryRecvError::Empty) => stopping(),
                });
                if found.is_some() {
                    return found;
                }
            }
        }
    }
}

/// The reply thread: answers the requests whose hashes are done, at normal priority,
/// until every thread that hashes has stopped.
pub(super) fn answer(replies: &Replies) {
    loop {
        let batch = replies.take_all();
        if !batch.is_empty() {
            batch.into_iter().for_each(answer_one);
            continue;
        }
        if replies.producers.load(Ordering::Acquire) == 0 && replies.is_empty() {
            return;
        }
        replies
            .sleeper
            .sleep_unless(|| replies.producers.load(Ordering::Acquire) == 0 || !replies.is_empty());
    }
}

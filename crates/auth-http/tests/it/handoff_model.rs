//! A loom model of the hashing gate's hand-offs: `src/hashing/handoff.rs` itself, compiled
//! against loom's atomics and parking, with every interleaving (up to a preemption bound)
//! explored. A lost wake-up shows as a deadlock, a job taken twice as a failed assertion.

use std::collections::VecDeque;
use std::sync::mpsc::TryRecvError;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

/// What `handoff.rs` finds as `super::sync`: loom's atomics and parking in place of
/// std's. The mutex stays std's: loom 0.7's `Mutex` drops a pending `unpark` of every
/// thread whose next step is to take it (`rt/mutex.rs` calls `set_blocked` and
/// `set_runnable` on them), which std's never does, and so would report lost wake-ups
/// that cannot happen. No critical section here holds an atomic operation or a park, so
/// under loom's scheduler each is one indivisible step.
mod sync {
    pub(super) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    pub(super) use loom::thread::{Thread, current, park};
    pub(super) use std::sync::Mutex;
}

type Job = Box<dyn FnOnce() -> Option<Reply> + Send>;
type Reply = Box<dyn FnOnce() + Send>;

fn answer_one(reply: Reply) {
    reply();
}

#[allow(dead_code)]
#[path = "../../src/hashing/handoff.rs"]
mod handoff;

use handoff::{Offer, Replies, Sleeper, Sleepers, answer, next_or_sleep};

/// Explores the interleavings of `model` with at most three preemptions each, the bound
/// loom's authors advise: most concurrency bugs need no more.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}

/// A queue of numbers, as the gate's channel of offers is to the threads that sleep on it.
#[derive(Default)]
struct Queue(std::sync::Mutex<VecDeque<u32>>);

impl Queue {
    fn push(&self, item: u32) {
        self.0.lock().unwrap().push_back(item);
    }

    fn next(&self) -> Result<u32, TryRecvError> {
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .ok_or(TryRecvError::Empty)
    }
}

/// A model thread working on the shared `queue` and `sleepers`.
fn spawn<T: 'static>(
    queue: &Arc<Queue>,
    sleepers: &Arc<Sleepers>,
    work: impl FnOnce(&Queue, &Sleepers) -> T + Send + 'static,
) -> loom::thread::JoinHandle<T> {
    let (queue, sleepers) = (queue.clone(), sleepers.clone());
    loom::thread::spawn(move || work(&queue, &sleepers))
}

fn sleepers(spare: usize) -> Sleepers {
    Sleepers {
        spare: (0..spare).map(|_| Sleeper::default()).collect(),
        late: Sleeper::default(),
        closed: loom::sync::atomic::AtomicBool::new(false),
    }
}

#[test]
fn an_offer_is_taken_by_exactly_one_of_two_threads() {
    check(|| {
        let waiting = Arc::new(AtomicUsize::new(1));
        let job: Job = Box::new(|| None);
        let offer = Arc::new(Offer {
            since: std::time::Instant::now(),
            taken: loom::sync::atomic::AtomicBool::new(false),
            job: std::sync::Mutex::new(Some(job)),
        });
        let other = {
            let (offer, waiting) = (offer.clone(), waiting.clone());
            loom::thread::spawn(move || offer.take(&waiting).is_some())
        };
        let mine = offer.take(&waiting).is_some();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "taken once: {mine} {theirs}");
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_thread_falling_asleep_as_work_arrives_is_woken_for_it() {
    check(|| {
        let queue = Arc::new(Queue::default());
        let sleepers = Arc::new(sleepers(1));
        let taker = spawn(&queue, &sleepers, |queue, sleepers| {
            next_or_sleep(&sleepers.spare[0], || false, || queue.next())
        });
        queue.push(7);
        sleepers.offered();
        // A lost wake-up leaves the taker parked for ever: loom reports a deadlock.
        assert_eq!(taker.join().unwrap(), Some(7));
    });
}

#[test]
fn two_offers_reach_two_threads_though_one_finds_work_by_itself() {
    check(|| {
        let queue = Arc::new(Queue::default());
        let sleepers = Arc::new(sleepers(2));
        // Each takes one item and stops: the second item reaches the second thread only
        // if an offer that finds the first thread awake goes on to wake the second.
        let takers: Vec<_> = (0..2)
            .map(|n| {
                spawn(&queue, &sleepers, move |queue, sleepers| {
                    next_or_sleep(&sleepers.spare[n], || false, || queue.next())
                })
            })
            .collect();
        for item in [1, 2] {
            queue.push(item);
            sleepers.offered();
        }
        let mut taken: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        taken.sort_unstable();
        assert_eq!(taken, vec![Some(1), Some(2)]);
    });
}

#[test]
fn a_closed_gate_stops_a_sleeping_thread_once_its_queue_is_empty() {
    check(|| {
        let queue = Arc::new(Queue::default());
        let sleepers = Arc::new(sleepers(1));
        let taker = spawn(&queue, &sleepers, |queue, sleepers| {
            let me = &sleepers.spare[0];
            let stopping = || sleepers.is_closed();
            let mut taken = Vec::new();
            while let Some(item) = next_or_sleep(me, stopping, || queue.next()) {
                taken.push(item);
            }
            taken
        });
        queue.push(1);
        sleepers.offered();
        // As HashingGate's Drop does.
        sleepers.close();
        assert_eq!(taker.join().unwrap(), vec![1]);
    });
}

#[test]
fn the_reply_thread_answers_every_reply_and_stops_after_the_last_producer() {
    check(|| {
        let replies = Arc::new(Replies::default());
        replies.producers.store(2, Ordering::SeqCst);
        replies.running.store(true, Ordering::SeqCst);
        let answered = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (replies, answered) = (replies.clone(), answered.clone());
                loom::thread::spawn(move || {
                    replies.send(Box::new(move || {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }));
                    replies.producer_stopped();
                })
            })
            .collect();
        // The reply thread: returns only when both producers have stopped, having
        // answered both replies.
        answer(&replies);
        assert_eq!(answered.load(Ordering::SeqCst), 2);
        producers.into_iter().for_each(|p| p.join().unwrap());
    });
}

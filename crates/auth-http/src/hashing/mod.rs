//! Load shedding for password hashing: a fixed set of hashing threads, a bounded queue in
//! front of them, and anything beyond refused at once with 503 instead of queueing without
//! limit.
//!
//! Only the routes that hash (register, login, wallet login, wallet creation and password
//! rotation) pass through the gate, so a login flood cannot starve token refresh, `me` or
//! `/healthz`, which never wait behind it.
//!
//! The threads are dedicated rather than borrowed from actix's blocking pool on purpose:
//! each Argon2 hash allocates its 19 MiB of memory, and the allocator keeps a freed block
//! in the arena of the thread that used it. Spread over a pool of dozens of threads that
//! grows the process by 19 MiB per thread that ever hashed (measured: 326 MiB peak RSS
//! under a few clients); on one thread per core, plus the one for starved jobs once it
//! has hashed, it stays at one block per thread.

mod handoff;
mod histogram;
mod login;
mod memory;
mod scheduling;
mod sync;

pub use memory::advise_huge_pages;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::AuthError;
use tokio::sync::oneshot;

use crate::ApiError;
use handoff::{Offer, Replies, Sleeper, Sleepers, answer, next_or_sleep};
pub(crate) use histogram::{HASH_BUCKETS, HashTimes};
pub(crate) use login::{hash_password, password_login};
use scheduling::{keep_to_own_core, lower_priority, run_on_spare_cpu};

/// The work of one job: hashes, and hands back what is left to do on a normal-priority
/// thread (answering the request), or nothing when its client has gone away.
type Job = Box<dyn FnOnce() -> Option<Reply> + Send>;

/// Answers a request: wakes its task, which takes its actix worker's task-queue lock.
type Reply = Box<dyn FnOnce() + Send>;

/// How long a job waits for spare CPU before the late thread takes it. With every hashing
/// thread busy, a full queue drains in well under a second; a job this old means the
/// cores have been busy with other work all that time.
const STARVED_AFTER: Duration = Duration::from_secs(2);

/// How long a refused job's request waits before its 503 goes out: the `Retry-After` it
/// carries. A client that retries at once then sends one request a second instead of as
/// many as the server can refuse: answered at once, a flood of retries kept the request
/// threads busy refusing (16,600 answers/s), and the hashing threads, which only get CPU
/// nobody else wants, lost 84 % of their logins. A pending timer costs no CPU.
pub const SHED_PAUSE: Duration = Duration::from_secs(1);

/// Admission control for password hashing.
///
/// The hashing threads run only on CPU that nothing else wants (Linux's `SCHED_IDLE`), so
/// a login flood slows logins rather than refresh, `me` and `/healthz`, and a core busy
/// hashing still counts as free when the kernel places a waking request thread. So that
/// queued logins are not starved outright while other work keeps every core busy, one
/// more thread, at nice 10, takes any job that has waited `STARVED_AFTER` (a job a
/// spare-CPU thread has already started finishes at that thread's share). Where the process
/// has one core per spare-CPU thread, each thread keeps to a core of its own.
///
/// No thread that serves other requests ever waits on a lock a hashing thread holds: a
/// `SCHED_IDLE` thread preempted inside one would stall it for as long as other work keeps
/// the core busy. A request hands its job over through a channel no thread ever blocks on
/// and wakes a sleeping hashing thread with a futex call, and the answer goes back through
/// one more thread at normal priority, since waking the request's task takes its actix
/// worker's task-queue lock.
pub struct HashingGate {
    /// To the spare-CPU threads, every admitted job (the late thread's too: a spare-CPU
    /// thread skips those). Unbounded, because a sender on a bounded channel can spin
    /// while a receiver is half-way through taking a slot; [`HashingGate::run`] bounds
    /// the waiting jobs with `waiting` instead.
    spare: Sender<Arc<Offer>>,
    /// The spare-CPU threads' end, held so that jobs still reach the late thread should
    /// none of them have started.
    _offers: Arc<Mutex<Receiver<Arc<Offer>>>>,
    /// To the late thread, every admitted job, oldest first.
    late: Sender<Arc<Offer>>,
    /// The gate's threads that sleep when idle, spare-CPU and late.
    sleepers: Arc<Sleepers>,
    /// Admitted jobs no thread has taken yet, at most `queued`.
    waiting: Arc<AtomicUsize>,
    queued: usize,
    times: Arc<HashTimes>,
    /// How long a refusal waits before it is answered.
    shed_pause: Duration,
}

/// A place in a [`HashingGate`]'s queue, given back when dropped before its job is offered.
pub(crate) struct Admission {
    waiting: Arc<AtomicUsize>,
    offered: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.offered {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for HashingGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingGate")
            .field("concurrent", &self.sleepers.spare.len())
            .field("queued", &self.queued)
            .field("waiting", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl HashingGate {
    /// A gate running `concurrent` hashes at a time on as many threads, with up to `queued`
    /// more waiting (at least one: a job waits, however briefly, for a thread to take it).
    #[must_use]
    pub fn new(concurrent: usize, queued: usize) -> Self {
        Self::with_starvation(concurrent.max(1), queued.max(1), STARVED_AFTER)
    }

    fn with_starvation(concurrent: usize, queued: usize, starved_after: Duration) -> Self {
        // The gate's threads do the hashing: their Argon2 memory goes into huge pages.
        auth_core::advise_working_memory(memory::advise_huge_pages);
        let (spare, offers) = channel::<Arc<Offer>>();
        let offers = Arc::new(Mutex::new(offers));
        let (late, late_offers) = channel::<Arc<Offer>>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let sleepers = Arc::new(Sleepers {
            spare: (0..concurrent).map(|_| Sleeper::default()).collect(),
            late: Sleeper::default(),
            closed: AtomicBool::new(false),
        });
        let replies = Arc::new(Replies {
            producers: AtomicUsize::new(concurrent + 1),
            running: AtomicBool::new(true),
            ..Replies::default()
        });
        let answering = replies.clone();
        if !spawn("authd-hash-done".into(), move || answer(&answering)) {
            // Without it the threads that hash answer themselves.
            replies.running.store(false, Ordering::Release);
        }
        for n in 0..concurrent {
            let (offers, waiting) = (offers.clone(), waiting.clone());
            let (sleepers, hashed) = (sleepers.clone(), replies.clone());
            let started = spawn(format!("authd-hash-{n}"), move || {
                take_spare(n, &offers, &waiting, &sleepers, &hashed);
                hashed.producer_stopped();
            });
            if !started {
                replies.producer_stopped();
            }
        }
        let (late_waiting, late_sleepers, late_replies) =
            (waiting.clone(), sleepers.clone(), replies.clone());
        let started = spawn("authd-hash-late".into(), move || {
            take_late(
                &late_offers,
                &late_waiting,
                starved_after,
                &late_sleepers,
                &late_replies,
            );
            late_replies.producer_stopped();
        });
        if !started {
            replies.producer_stopped();
        }
        Self {
            spare,
            _offers: offers,
            late,
            sleepers,
            waiting,
            queued,
            times: Arc::default(),
            shed_pause: SHED_PAUSE,
        }
    }

    /// Refusals answered after `pause` instead of [`SHED_PAUSE`] (zero: at once).
    #[must_use]
    pub fn with_shed_pause(mut self, pause: Duration) -> Self {
        self.shed_pause = pause;
        self
    }

    /// The refusal of a job there is no room for, once the shed pause has passed: the
    /// request holds nothing meanwhile but its connection and a timer.
    pub(crate) async fn shed(&self) -> ApiError {
        if !self.shed_pause.is_zero() {
            actix_web::rt::time::sleep(self.shed_pause).await;
        }
        ApiError::Overloaded
    }

    /// One hashing thread per core, and eight requests per core waiting (at worst about
    /// eight hash times of extra latency).
    #[must_use]
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, cores * 8)
    }

    /// How many requests are waiting for a hashing thread.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// How long the hashes done so far took.
    pub(crate) fn hash_times(&self) -> &HashTimes {
        &self.times
    }

    /// Whether a job offered now would be shed. A hint only: admission
    /// enforces the bound.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.queue_depth() >= self.queued
    }

    /// Takes a place in the queue, or refuses after the shed pause when there is none. A
    /// login takes it before its storage work, so that only the logins that will be
    /// hashed read and write the database; the place is given back when the
    /// [`Admission`] is dropped unused.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] when the queue is full, after the shed pause.
    pub(crate) async fn admit(&self) -> Result<Admission, ApiError> {
        let admitted = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.queued).then_some(waiting + 1)
            });
        if admitted.is_err() {
            return Err(self.shed().await);
        }
        Ok(Admission {
            waiting: self.waiting.clone(),
            offered: false,
        })
    }

    /// Runs a hashing operation on a hashing thread once one is free.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] when the queue is full, after the shed pause; otherwise the
    /// operation's own error.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let admission = self.admit().await?;
        self.run_admitted(admission, f).await
    }

    /// Runs a hashing operation in the place `admission` holds.
    ///
    /// # Errors
    /// The operation's own error.
    pub(crate) async fn run_admitted<T: Send + 'static>(
        &self,
        mut admission: Admission,
        f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let times = self.times.clone();
        let job: Job = Box::new(move || {
            // A client that has gone away needs no hash.
            // (Nothing waits on a closed reply, so dropping it here wakes no one.)
            if reply.is_closed() {
                return None;
            }
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(f));
            times.record(started.elapsed());
            Some(Box::new(move || match outcome {
                Ok(outcome) => {
                    let _ = reply.send(outcome);
                }
                // Dropping the reply fails the request.
                Err(_) => log::error!("a password-hashing job panicked"),
            }))
        });
        let offer = Arc::new(Offer {
            since: Instant::now(),
            taken: AtomicBool::new(false),
            job: Mutex::new(Some(job)),
        });
        if self.spare.send(offer.clone()).is_err() {
            return Err(ApiError::Internal(
                "no password-hashing thread is running".into(),
            ));
        }
        // From here the thread that takes the offer gives the place back.
        admission.offered = true;
        // Without the late thread the job still reaches a spare-CPU thread.
        let _ = self.late.send(offer);
        self.sleepers.offered();
        Ok(answer
            .await
            .map_err(|_| ApiError::Internal("a password-hashing job panicked".into()))??)
    }
}

impl Drop for HashingGate {
    /// Lets the gate's threads finish what they hold and stop.
    fn drop(&mut self) {
        self.sleepers.close();
    }
}

/// Starts a thread of the gate; whether it started.
fn spawn(name: String, work: impl FnOnce() + Send + 'static) -> bool {
    match std::thread::Builder::new().name(name).spawn(work) {
        Ok(_) => true,
        Err(e) => {
            log::error!("cannot start a password-hashing thread: {e}");
            false
        }
    }
}

/// Runs a job and hands its answer to the reply thread. A job that panics fails its own
/// request and leaves the thread serving.
fn perform(job: Job, replies: &Replies) {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(Some(reply)) => replies.send(reply),
        Ok(None) => {}
        Err(_) => log::error!("a password-hashing job panicked"),
    }
}

/// Spare-CPU hashing thread `n`: takes the oldest job as soon as there is one, and sleeps
/// when there is none, until the gate is dropped and its queue is empty.
fn take_spare(
    n: usize,
    offers: &Mutex<Receiver<Arc<Offer>>>,
    waiting: &AtomicUsize,
    sleepers: &Sleepers,
    replies: &Replies,
) {
    run_on_spare_cpu();
    keep_to_own_core(n, sleepers.spare.len());
    // Only the spare-CPU threads take this lock.
    let next = || match offers.lock() {
        Ok(offers) => offers.try_recv(),
        Err(_) => Err(TryRecvError::Disconnected),
    };
    let me = &sleepers.spare[n];
    let stopping = || sleepers.is_closed();
    while let Some(offer) = next_or_sleep(me, stopping, next) {
        if let Some(job) = offer.take(waiting) {
            perform(job, replies);
        }
    }
}

/// The late thread: follows the admitted jobs in order and takes each that is still
/// waiting once it has waited `starved_after`.
fn take_late(
    offers: &Receiver<Arc<Offer>>,
    waiting: &AtomicUsize,
    starved_after: Duration,
    sleepers: &Sleepers,
    replies: &Replies,
) {
    lower_priority();
    let look_every = (starved_after / 4).min(Duration::from_millis(100));
    let stopping = || sleepers.is_closed();
    let next = || offers.try_recv();
    while let Some(offer) = next_or_sleep(&sleepers.late, stopping, next) {
        while !offer.taken.load(Ordering::Acquire) {
            let waited = offer.since.elapsed();
            if waited >= starved_after {
                if let Some(job) = offer.take(waiting) {
                    perform(job, replies);
                }
                break;
            }
            std::thread::park_timeout((starved_after - waited).min(look_every));
        }
    }
}

/// Wakes one request with its answer. A reply that panics loses its own answer only.
fn answer_one(reply: Reply) {
    if catch_unwind(AssertUnwindSafe(reply)).is_err() {
        log::error!("answering a password-hashing job panicked");
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;
    use std::sync::mpsc;

    use super::scheduling::STARVED_NICE;
    use super::*;

    /// A starvation threshold no test reaches.
    const AN_HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn hash_times_form_a_cumulative_histogram_with_slow_hashes_only_in_the_total() {
        let times = HashTimes::default();
        for ms in [4, 12, 12, 2_000] {
            times.record(Duration::from_millis(ms));
        }
        let (buckets, sum, count) = times.snapshot();
        // Bounds: 5 ms, 10 ms, 15 ms, … 1 s.
        assert_eq!(buckets, [1, 1, 3, 3, 3, 3, 3, 3, 3, 3]);
        assert_eq!(count, 4);
        assert!((sum - 2.028).abs() < 1e-9, "{sum}");
    }

    #[actix_web::test]
    async fn beyond_its_queue_the_gate_refuses_after_the_shed_pause_and_recovers() {
        // The runtime's clock stands still and jumps to the next timer when all is idle:
        // the pause is observed on it, and the test does not wait for it.
        tokio::time::pause();
        let gate = Arc::new(HashingGate::with_starvation(1, 1, AN_HOUR));
        let (release, hold) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        // One job holds the only thread; a second waits in the queue.
        let first = {
            let gate = gate.clone();
            actix_web::rt::spawn(async move {
                gate.run(move || {
                    let _ = started.send(());
                    let _ = hold.recv();
                    Ok(1)
                })
                .await
            })
        };
        while running.try_recv().is_err() {
            actix_web::rt::task::yield_now().await;
        }
        let second = {
            let gate = gate.clone();
            actix_web::rt::spawn(async move { gate.run(|| Ok(2)).await })
        };
        while gate.queue_depth() < 1 {
            actix_web::rt::task::yield_now().await;
        }
        assert!(gate.is_full());
        let shed_at = tokio::time::Instant::now();
        let refused = gate.run(|| Ok(3)).await;
        assert!(matches!(refused, Err(ApiError::Overloaded)), "{refused:?}");
        let paused = shed_at.elapsed();
        assert!(
            paused >= SHED_PAUSE,
            "answered once the pause is over: {paused:?}"
        );
        let at_once = HashingGate::with_starvation(1, 1, AN_HOUR).with_shed_pause(Duration::ZERO);
        assert!(matches!(at_once.shed().await, ApiError::Overloaded));
        assert_eq!(shed_at.elapsed(), paused, "no pause when told so");

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(gate.run(|| Ok(4)).await.unwrap(), 4);
        assert_eq!(gate.queue_depth(), 0);
        assert!(!gate.is_full());
    }

    #[actix_web::test]
    async fn a_place_taken_before_storage_work_is_given_back_if_no_hash_follows() {
        tokio::time::pause();
        let gate = HashingGate::with_starvation(1, 1, AN_HOUR);
        let login = gate.admit().await.unwrap();
        assert!(
            gate.is_full(),
            "the place is held during the login's storage work"
        );
        assert!(matches!(gate.admit().await, Err(ApiError::Overloaded)));
        drop(login); // its storage work refused the login: no hash
        assert_eq!(gate.queue_depth(), 0);
        let next = gate.admit().await.unwrap();
        assert_eq!(gate.run_admitted(next, || Ok(5)).await.unwrap(), 5);
        assert_eq!(
            gate.queue_depth(),
            0,
            "the hashing thread gave the place back"
        );
    }

    /// The calling thread's name, scheduling policy and nice value, from /proc.
    #[cfg(target_os = "linux")]
    fn this_thread() -> (String, i32, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let (head, rest) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_owned();
        // Fields after the command name, from the 3rd (state): nice is the 19th, policy
        // the 41st.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        (
            name,
            fields[38].parse().unwrap(),
            fields[16].parse().unwrap(),
        )
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn hashing_runs_only_on_cpu_that_request_handling_leaves_idle() {
        let gate = HashingGate::with_starvation(1, 1, AN_HOUR);
        let (name, policy, _) = gate.run(move || Ok(this_thread())).await.unwrap();
        assert_eq!(name, "authd-hash-0");
        assert_eq!(policy, libc::SCHED_IDLE, "the hashing thread is SCHED_IDLE");
        let (_, requests, _) = this_thread();
        assert_eq!(
            requests,
            libc::SCHED_OTHER,
            "request handling keeps its policy"
        );
    }

    /// The cores the calling thread may run on, from /proc.
    #[cfg(target_os = "linux")]
    fn allowed_cores() -> Vec<usize> {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let list = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim();
        list.split(',')
            .flat_map(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                from.parse::<usize>().unwrap()..=to.parse::<usize>().unwrap()
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn with_a_hashing_thread_per_core_each_keeps_to_its_own_core() {
        let cores = allowed_cores();
        let gate = Arc::new(HashingGate::with_starvation(
            cores.len(),
            cores.len(),
            AN_HOUR,
        ));
        // Each job waits for all the others to start, so each runs on a thread of its own.
        let all_started = Arc::new(std::sync::Barrier::new(cores.len()));
        let jobs: Vec<_> = (0..cores.len())
            .map(|_| {
                let (gate, all_started) = (gate.clone(), all_started.clone());
                actix_web::rt::spawn(async move {
                    gate.run(move || {
                        all_started.wait();
                        Ok((this_thread().0, allowed_cores()))
                    })
                    .await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for job in jobs {
            seen.push(job.await.unwrap().unwrap());
        }
        seen.sort();
        let expected: Vec<_> = cores
            .iter()
            .enumerate()
            .map(|(n, core)| (format!("authd-hash-{n}"), vec![*core]))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(allowed_cores(), cores, "request handling may run anywhere");
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn with_more_hashing_threads_than_cores_the_kernel_places_them() {
        let cores = allowed_cores();
        let gate = HashingGate::with_starvation(cores.len() + 1, 1, AN_HOUR);
        let allowed = gate.run(|| Ok(allowed_cores())).await.unwrap();
        assert_eq!(allowed, cores);
    }

    /// Records which thread wakes a task: its name and scheduling policy.
    #[cfg(target_os = "linux")]
    struct WokenBy(mpsc::Sender<(String, i32)>);

    #[cfg(target_os = "linux")]
    impl std::task::Wake for WokenBy {
        fn wake(self: Arc<Self>) {
            let (name, policy, _) = this_thread();
            let _ = self.0.send((name, policy));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_finished_hash_wakes_its_request_from_a_thread_at_normal_priority() {
        // Waking a request's task takes its actix worker's task-queue lock, which a
        // preempted SCHED_IDLE thread must never hold.
        let gate = HashingGate::with_starvation(1, 1, AN_HOUR);
        let (woken, wakes) = mpsc::channel();
        let waker = std::task::Waker::from(Arc::new(WokenBy(woken)));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut hashing = std::pin::pin!(gate.run(move || Ok(this_thread())));
        let answer = loop {
            if let std::task::Poll::Ready(answer) = hashing.as_mut().poll(&mut cx) {
                break answer.unwrap();
            }
            let (name, policy) = wakes.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(name, "authd-hash-done", "woken by the reply thread");
            assert_eq!(policy, libc::SCHED_OTHER);
        };
        assert_eq!(
            answer.1,
            libc::SCHED_IDLE,
            "while the hash ran at SCHED_IDLE"
        );
    }

    #[test]
    fn an_idle_gate_sleeps_and_wakes_for_each_new_job() {
        let gate = HashingGate::with_starvation(2, 4, AN_HOUR);
        for n in 0..20 {
            // Long enough for every thread to fall asleep between jobs.
            std::thread::sleep(Duration::from_millis(5));
            let answer = actix_web::rt::System::new()
                .block_on(async {
                    let job = gate.run(move || Ok(n));
                    actix_web::rt::time::timeout(Duration::from_secs(10), job).await
                })
                .expect("answered");
            assert_eq!(answer.unwrap(), n);
        }
        assert_eq!(gate.queue_depth(), 0);
    }

    #[test]
    fn jobs_offered_from_many_threads_at_once_are_all_answered() {
        // The late thread, an hour away, rescues nothing here: every job must be taken by
        // a spare-CPU thread, woken or still awake.
        let gate = Arc::new(HashingGate::with_starvation(2, 64, AN_HOUR));
        let clients: Vec<_> = (0..4)
            .map(|client| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    actix_web::rt::System::new().block_on(async move {
                        for n in 0..250 {
                            let job = gate.run(move || Ok(client * 1000 + n));
                            let answer = actix_web::rt::time::timeout(Duration::from_secs(10), job)
                                .await
                                .expect("answered");
                            assert_eq!(answer.unwrap(), client * 1000 + n);
                        }
                    });
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        assert_eq!(gate.queue_depth(), 0);
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn a_job_starved_of_spare_cpu_is_taken_at_nice_10() {
        // No spare-CPU thread at all: as if other work kept every core busy.
        let gate = HashingGate::with_starvation(0, 4, Duration::from_millis(100));
        let waited = Instant::now();
        let starved = gate.run(move || Ok(this_thread()));
        let (name, policy, nice) = actix_web::rt::time::timeout(Duration::from_secs(10), starved)
            .await
            .expect("the late thread took the starved job")
            .unwrap();
        assert!(
            waited.elapsed() >= Duration::from_millis(100),
            "it waited first"
        );
        assert_eq!(name, "authd-hash-late");
        assert_eq!(policy, libc::SCHED_OTHER);
        let (_, _, requests) = this_thread();
        assert_eq!(nice, STARVED_NICE.max(requests));
    }

    #[actix_web::test]
    async fn jobs_the_late_thread_took_leave_the_queue_to_new_ones() {
        // No spare-CPU thread at all, a queue of 2: every job is rescued by the late
        // thread, and none of them may go on counting against the queue.
        let gate = HashingGate::with_starvation(0, 2, Duration::from_millis(20));
        for n in 0..5 {
            let answer =
                actix_web::rt::time::timeout(Duration::from_secs(10), gate.run(move || Ok(n)))
                    .await
                    .expect("answered");
            assert_eq!(answer.unwrap(), n, "job {n} admitted and answered");
        }
        assert_eq!(gate.queue_depth(), 0);
    }

    #[actix_web::test]
    async fn a_job_whose_client_has_gone_is_not_hashed() {
        // The client gives up after 10 ms, long before the late thread looks at 300 ms.
        let gate = HashingGate::with_starvation(0, 4, Duration::from_millis(300));
        let hashed = Arc::new(AtomicBool::new(false));
        let flag = hashed.clone();
        let abandoned = actix_web::rt::time::timeout(
            Duration::from_millis(10),
            gate.run(move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(abandoned.is_err(), "the client gave up first");
        // Jobs are taken in order, so once the next one is done the abandoned one was seen.
        assert_eq!(gate.run(|| Ok(7)).await.unwrap(), 7);
        assert!(!hashed.load(Ordering::SeqCst));
        assert_eq!(gate.queue_depth(), 0);
    }

    #[actix_web::test]
    async fn a_job_that_panics_fails_alone_and_the_thread_keeps_serving() {
        // The late thread is an hour away: only the thread that saw the panic can serve.
        let gate = HashingGate::with_starvation(1, 1, AN_HOUR);
        let failed = gate.run::<()>(|| panic!("bug")).await;
        assert!(matches!(failed, Err(ApiError::Internal(_))), "{failed:?}");
        let next = actix_web::rt::time::timeout(Duration::from_secs(10), gate.run(|| Ok(5)));
        assert_eq!(next.await.expect("served").unwrap(), 5);
    }

    #[actix_web::test]
    async fn a_gate_without_a_queue_still_runs_a_job_at_a_time() {
        let gate = HashingGate::new(1, 0);
        let job = actix_web::rt::time::timeout(Duration::from_secs(10), gate.run(|| Ok(6)));
        assert_eq!(job.await.expect("served").unwrap(), 6);
    }
}

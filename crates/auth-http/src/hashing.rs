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
//! under a few clients); on one thread per core it stays at one block per core.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use actix_web::web;
use auth_core::{AuthError, Authority, LoginAttempt, Password, PasswordHash};
use tokio::sync::oneshot;

use crate::issued::blocking;
use crate::{ApiError, AuthState};

type Job = Box<dyn FnOnce() + Send>;

/// Admission control for password hashing.
#[derive(Debug)]
pub struct HashingGate {
    jobs: SyncSender<Job>,
    waiting: Arc<AtomicUsize>,
    queued: usize,
}

impl HashingGate {
    /// A gate running `concurrent` hashes at a time on as many threads, with up to `queued`
    /// more waiting.
    #[must_use]
    pub fn new(concurrent: usize, queued: usize) -> Self {
        let (jobs, receiver) = sync_channel::<Job>(queued);
        let receiver = Arc::new(Mutex::new(receiver));
        let waiting = Arc::new(AtomicUsize::new(0));
        for n in 0..concurrent.max(1) {
            let (receiver, waiting) = (receiver.clone(), waiting.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("authd-hash-{n}"))
                .spawn(move || work(&receiver, &waiting));
            if let Err(e) = spawned {
                log::error!("cannot start a password-hashing thread: {e}");
            }
        }
        Self {
            jobs,
            waiting,
            queued,
        }
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

    /// Whether a job offered now would be shed: lets a login refuse before it does any
    /// storage work. A hint only; [`HashingGate::run`] enforces the bound.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.queue_depth() >= self.queued
    }

    /// Runs a hashing operation on a hashing thread once one is free.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] at once when the queue is full; otherwise the operation's
    /// own error.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.jobs.try_send(job) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                TrySendError::Full(_) => ApiError::Overloaded,
                TrySendError::Disconnected(_) => {
                    ApiError::Internal("no password-hashing thread is running".into())
                }
            });
        }
        Ok(answer
            .await
            .map_err(|_| ApiError::Internal("a password-hashing job panicked".into()))??)
    }
}

/// Hashes a new password on a hashing thread, and only that: the storage work that follows
/// belongs on the blocking pool, because the hashing threads run at a low priority and a
/// commit there could keep other writers (SQLite's, which take turns) waiting.
pub(crate) async fn hash_password(
    state: &web::Data<AuthState>,
    password: Password,
) -> Result<PasswordHash, ApiError> {
    let inner = state.clone();
    state
        .hashing
        .run(move || inner.authority.hash_password(&password))
        .await
}

/// Runs a password login in its three steps: the reads on actix's blocking pool, only the
/// hash on a hashing thread, the writes on the blocking pool again. A hashing thread that
/// also waited for the database idled for part of every login (PostgreSQL logins reached
/// 78 % of the Argon2id bound, SQLite 87 %).
pub(crate) async fn password_login<T, R>(
    state: &web::Data<AuthState>,
    begin: impl FnOnce(&Authority) -> Result<LoginAttempt<T>, AuthError> + Send + 'static,
    password: Password,
    finish: impl FnOnce(&Authority, LoginAttempt<T>) -> Result<R, AuthError> + Send + 'static,
) -> Result<R, ApiError>
where
    T: Send + 'static,
    R: Send + 'static,
{
    // Under a flood most logins are shed: they should cost no database work.
    if state.hashing.is_full() {
        return Err(ApiError::Overloaded);
    }
    let authority = state.authority.clone();
    let attempt = blocking(move || begin(&authority)).await?;
    let authority = state.authority.clone();
    let attempt = state
        .hashing
        .run(move || {
            let mut attempt = attempt;
            authority.check_password(&mut attempt, &password);
            Ok(attempt)
        })
        .await?;
    let authority = state.authority.clone();
    blocking(move || finish(&authority, attempt)).await
}

/// A hashing thread: takes jobs until the gate is dropped. A job that panics fails its own
/// request and leaves the thread serving.
fn work(receiver: &Mutex<Receiver<Job>>, waiting: &AtomicUsize) {
    lower_priority();
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        waiting.fetch_sub(1, Ordering::Relaxed);
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!("a password-hashing job panicked");
        }
    }
}

/// The nice value of the hashing threads: the kernel gives a busy nice-0 thread about
/// nine times their share of a contended core, and an idle core to them in full.
pub(crate) const HASHING_NICE: i32 = 10;

/// Makes the calling hashing thread yield the CPU to request handling, so that a login
/// flood slows logins rather than refresh, `me` and `/healthz`; with nothing else to run,
/// hashing still gets whole cores.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: setpriority takes plain integers and touches no memory of this process. On
    // Linux, PRIO_PROCESS with id 0 names the calling thread alone (nice values are per
    // thread), and raising one's own nice value needs no privilege.
    let status = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICE) };
    if status != 0 {
        log::warn!(
            "cannot lower the priority of a password-hashing thread: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[actix_web::test]
    async fn beyond_its_queue_the_gate_refuses_at_once_and_recovers() {
        let gate = Arc::new(HashingGate::new(1, 1));
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
        let refused = gate.run(|| Ok(3)).await;
        assert!(matches!(refused, Err(ApiError::Overloaded)), "{refused:?}");

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(gate.run(|| Ok(4)).await.unwrap(), 4);
        assert_eq!(gate.queue_depth(), 0);
        assert!(!gate.is_full());
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn hashing_runs_at_a_lower_priority_than_request_handling() {
        let nice_of_this_thread = || {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            // Fields after the command name: state is the 3rd field, nice the 19th.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            fields[16].parse::<i32>().unwrap()
        };
        let gate = HashingGate::new(1, 1);
        let hashing = gate.run(move || Ok(nice_of_this_thread())).await.unwrap();
        // The request side keeps its priority; a process started niced beyond 10 keeps its
        // own for hashing too (raising a priority needs privilege).
        let requests = nice_of_this_thread();
        assert_eq!(hashing, HASHING_NICE.max(requests));
    }

    #[actix_web::test]
    async fn a_job_that_panics_fails_alone_and_the_thread_keeps_serving() {
        let gate = HashingGate::new(1, 1);
        let failed = gate.run::<()>(|| panic!("bug")).await;
        assert!(matches!(failed, Err(ApiError::Internal(_))), "{failed:?}");
        assert_eq!(gate.run(|| Ok(5)).await.unwrap(), 5);
    }
}

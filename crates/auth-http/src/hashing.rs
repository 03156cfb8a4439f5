//! Load shedding for password hashing: a bounded number of Argon2 jobs run at once, a
//! bounded number wait, and anything beyond is refused at once with 503 instead of
//! queueing without limit.
//!
//! Only the routes that hash (register, login, wallet login, wallet creation and password
//! rotation) pass through the gate, so a login flood cannot starve token refresh, `me` or
//! `/healthz`, which never wait behind it.

use auth_core::AuthError;
use tokio::sync::Semaphore;

use crate::ApiError;
use crate::issued::blocking;

/// Admission control for password hashing.
#[derive(Debug)]
pub struct HashingGate {
    running: Semaphore,
    admitted: Semaphore,
    concurrent: usize,
    queued: usize,
}

impl HashingGate {
    /// A gate running `concurrent` hashes at a time with up to `queued` more waiting.
    #[must_use]
    pub fn new(concurrent: usize, queued: usize) -> Self {
        let concurrent = concurrent.max(1);
        Self {
            running: Semaphore::new(concurrent),
            admitted: Semaphore::new(concurrent + queued),
            concurrent,
            queued,
        }
    }

    /// One hash per core at a time, and eight per core waiting (at worst about eight hash
    /// times of extra latency).
    #[must_use]
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, cores * 8)
    }

    /// How many requests are waiting for a hashing slot.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        let admitted = self.concurrent + self.queued - self.admitted.available_permits();
        let running = self.concurrent - self.running.available_permits();
        admitted.saturating_sub(running)
    }

    /// Runs a hashing operation on a blocking thread once a slot is free.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] at once when the queue is full; otherwise the operation's
    /// own error.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _ticket = self
            .admitted
            .try_acquire()
            .map_err(|_| ApiError::Overloaded)?;
        let _slot = self
            .running
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("the hashing gate was closed".into()))?;
        blocking(f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn beyond_its_queue_the_gate_refuses_at_once_and_recovers() {
        let gate = HashingGate::new(1, 1);
        // Two requests in the gate: one hashing, one waiting.
        let running = gate.running.try_acquire().unwrap();
        let waiting = gate.admitted.try_acquire_many(2).unwrap();
        assert_eq!(gate.queue_depth(), 1);
        let refused = gate.run(|| Ok(1)).await;
        assert!(matches!(refused, Err(ApiError::Overloaded)), "{refused:?}");
        drop((running, waiting));
        assert_eq!(gate.run(|| Ok(2)).await.unwrap(), 2);
        assert_eq!(gate.queue_depth(), 0);
    }
}

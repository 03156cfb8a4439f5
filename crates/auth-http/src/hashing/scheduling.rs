//! How the hashing threads are scheduled by Linux: on spare CPU only (`SCHED_IDLE`), the
//! starved-job thread at nice 10, and each spare-CPU thread kept to a core of its own.
//! System calls with no safe wrapper; elsewhere these do nothing.

/// The nice value of the starved-job thread: the kernel gives a busy nice-0 thread about
/// nine times its share of a contended core.
pub(super) const STARVED_NICE: i32 = 10;

/// Makes the calling thread run only when its core has nothing else to run (`SCHED_IDLE`).
/// Where that is refused, it lowers the thread's priority to nice 10 instead.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(super) fn run_on_spare_cpu() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call, which only reads it.
    // Pid 0 names the calling thread alone (policies are per thread), and moving to
    // SCHED_IDLE needs no privilege.
    let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) };
    if status != 0 {
        log::warn!(
            "cannot move a password-hashing thread to SCHED_IDLE ({}); lowering its priority",
            std::io::Error::last_os_error()
        );
        lower_priority();
    }
}

/// Lowers the calling thread's priority to nice [`STARVED_NICE`].
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(super) fn lower_priority() {
    // SAFETY: setpriority takes plain integers and touches no memory of this process. On
    // Linux, PRIO_PROCESS with id 0 names the calling thread alone (nice values are per
    // thread), and raising one's own nice value needs no privilege.
    let status = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, STARVED_NICE) };
    if status != 0 {
        log::warn!(
            "cannot lower the priority of a password-hashing thread: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Keeps spare-CPU hashing thread `n` of `threads` on a core of its own, when the process
/// may run on exactly `threads` cores; with more cores allowed than threads (a CPU quota
/// in a larger machine, say), the kernel keeps placing them.
///
/// The kernel's load balancer counts a core that runs only a `SCHED_IDLE` thread as idle
/// and pulls a hashing thread that a request preempted over to it, behind the other
/// hashing thread. The core it left goes idle once its request work is done and stays
/// idle until a later balance, while the two hashes take turns on one core: 1–2 % of the
/// machine idle during a PostgreSQL login run with hashes waiting, none once each thread
/// keeps to its core (docs/benchmarks.md, "Each spare-CPU hashing thread keeps to a core").
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(super) fn keep_to_own_core(n: usize, threads: usize) {
    let size = size_of::<libc::cpu_set_t>();
    // SAFETY: a cpu_set_t is a plain bit array, and all zeroes is the empty set. The
    // CPU_* functions read or write only the set they are given, below CPU_SETSIZE, and
    // the affinity calls only the set passed with its own size; pid 0 names the calling
    // thread alone (affinity is per thread).
    let status = unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &raw mut allowed) != 0
            || usize::try_from(libc::CPU_COUNT(&allowed)) != Ok(threads)
        {
            return;
        }
        let cores = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
        let Some(core) = (0..cores).filter(|&c| libc::CPU_ISSET(c, &allowed)).nth(n) else {
            return;
        };
        let mut own: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut own);
        libc::sched_setaffinity(0, size, &raw const own)
    };
    if status != 0 {
        log::warn!(
            "cannot keep a password-hashing thread to one core: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn run_on_spare_cpu() {}

#[cfg(not(target_os = "linux"))]
pub(super) fn keep_to_own_core(_n: usize, _threads: usize) {}

#[cfg(not(target_os = "linux"))]
pub(super) fn lower_priority() {}

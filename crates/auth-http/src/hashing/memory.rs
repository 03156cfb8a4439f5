//! Argon2's working memory in huge pages: the one system call on it, made here, next to
//! the hashing threads, rather than in the core.
//!
//! Argon2 reads a block from anywhere in its 19 MiB for every block it writes. In 4 KiB
//! pages that is thousands of pages, far more than the TLB holds, so nearly every block
//! costs a page walk, and more so while other processes share the core; in 2 MiB pages it
//! is ten. Measured on a login run against PostgreSQL: 3 % more logins per second from
//! the same hashing threads (docs/benchmarks.md, "Argon2's working memory in huge pages").
//! Where transparent huge pages are switched off or not built into the kernel, the memory
//! stays in small pages.

/// The huge-page size of x86-64 and of arm64 with 4 KiB pages.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

#[cfg(test)]
thread_local! {
    /// The last region advised on this thread (start, length), for the test that checks
    /// the kernel's flags; per thread, so that other tests hashing at once cannot move it.
    static ADVISED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Asks Linux to back the whole 2 MiB pages inside the `len` bytes at `start` with huge
/// pages: an [`auth_core::MemoryAdvice`], installed by the hashing gate. Safe for any
/// address: the advice never changes memory's contents or mappings, and the kernel refuses
/// a range that is not mapped.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn advise_huge_pages(start: *mut u8, len: usize) {
    #[cfg(test)]
    ADVISED.set((start as usize, len));
    let address = start as usize;
    let first = address.next_multiple_of(HUGE_PAGE);
    let end = (address + len) / HUGE_PAGE * HUGE_PAGE;
    if end <= first {
        return;
    }
    // SAFETY: the range lies within the region auth-core allocated and hands over before
    // its first write, memory that thread owns exclusively; MADV_HUGEPAGE only changes the
    // size of the pages that will back it, never its contents or whether it is mapped.
    let status = unsafe {
        libc::madvise(
            start.wrapping_add(first - address).cast(),
            end - first,
            libc::MADV_HUGEPAGE,
        )
    };
    if status != 0 {
        log::debug!(
            "Argon2's working memory stays in small pages: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages(_start: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use auth_core::{Password, PasswordHasher, PasswordVerification};

    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn argon2s_working_memory_is_advised_into_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("skipped: this kernel has no transparent huge pages");
            return;
        }
        auth_core::advise_working_memory(advise_huge_pages);
        // 8 MiB of working memory holds at least three whole 2 MiB pages.
        let hasher = PasswordHasher::with_params(8192, 1, 1).unwrap();
        let pw = Password::new("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).unwrap();
        assert_eq!(hasher.verify(&pw, &hash), PasswordVerification::Valid);

        let (start, len) = ADVISED.get();
        let end = start + len;
        let middle = (start + end) / 2;
        // The mapping that holds the middle of the working memory, and its flags.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((from, to)) = range.split_once('-')
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                inside = (from..to).contains(&middle);
            } else if inside && let Some(rest) = line.strip_prefix("VmFlags:") {
                flags = Some(rest.to_owned());
                break;
            }
        }
        let flags = flags.expect("the working memory is mapped");
        assert!(
            flags.split_whitespace().any(|flag| flag == "hg"),
            "the working memory is not advised into huge pages: {flags}"
        );
    }
}

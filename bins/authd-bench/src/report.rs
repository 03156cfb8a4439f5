//! Latency statistics of a run, and what the server process used meanwhile.

use std::time::Duration;

/// Latencies of one class of requests, in microseconds, and the count of errors.
#[derive(Default)]
pub struct Samples {
    pub micros: Vec<u32>,
    pub errors: u64,
    /// Requests refused with 503 where shedding is the expected answer (login floods).
    pub shed: u64,
}

impl Samples {
    pub fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
        self.shed += other.shed;
    }

    /// Sorted summary over a measured window of `secs` seconds.
    pub fn summary(mut self, secs: f64) -> Summary {
        self.micros.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.micros.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = (q * self.micros.len() as f64).ceil().max(1.0) as usize;
            f64::from(self.micros[rank.min(self.micros.len()) - 1]) / 1000.0
        };
        Summary {
            requests: self.micros.len() as u64,
            rps: self.micros.len() as f64 / secs,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: self.micros.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
            errors: self.errors,
            shed: self.shed,
        }
    }
}

/// What a scenario reports for one class of requests.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub shed: u64,
}

/// CPU time and peak memory of a process, read from `/proc` (Linux).
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    /// User plus system CPU seconds so far.
    pub cpu_secs: f64,
    /// Peak resident set size so far (VmHWM), in MiB.
    pub peak_rss_mib: f64,
}

impl ProcessUsage {
    /// Reads the usage of `pid`, or `None` when `/proc` does not have it.
    pub fn of(pid: u32) -> Option<ProcessUsage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let hwm_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(ProcessUsage {
            cpu_secs: ticks / clock_ticks_per_sec(),
            peak_rss_mib: hwm_kib / 1024.0,
        })
    }
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux configuration in practice.
fn clock_ticks_per_sec() -> f64 {
    100.0
}

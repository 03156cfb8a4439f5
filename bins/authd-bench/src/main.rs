//! `authd-bench`: an HTTP load generator for authd whose virtual clients keep their own
//! sessions, so refresh chains rotate the way real clients rotate them.
//!
//! ```text
//! authd-bench run --url http://127.0.0.1:8080 --scenario refresh --concurrency 32 --duration 10
//! authd-bench argon2          # the machine's Argon2id bound, logins per second
//! authd-bench cold-start --authd target/release/authd
//! ```
//!
//! Each run prints requests per second, p50/p90/p99/max latency, errors and, given the
//! server's pid, its CPU use and peak RSS; `--markdown` prints the same as table rows for
//! `docs/benchmarks.md`. A run with errors exits non-zero.

mod http;
mod report;
mod scenario;
mod seed;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::http::Connection;
use crate::report::{ProcessUsage, Samples, Summary};
use crate::scenario::{Client, Op, Scenario};

#[derive(Parser)]
#[command(version, about = "Load generator for authd")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario against a running authd.
    Run(RunArgs),
    /// Time one Argon2id hash at authd's parameters and print the login bound of this
    /// machine (cores ÷ time of one hash).
    Argon2 {
        /// Hashes to time.
        #[arg(long, default_value_t = 20)]
        runs: u32,
    },
    /// Fill a database with 1 million users, 5 million devices and 10 million sessions
    /// (or as many as asked) and report the bytes per session and per device.
    Seed(seed::SeedArgs),
    /// Time `authd serve` from spawn to its first healthy answer on a new SQLite database.
    ColdStart {
        /// The authd binary.
        #[arg(long)]
        authd: PathBuf,
        /// Starts to time (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// authd's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Virtual clients, each with its own connection and session.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests per second offered by all clients together, each client sending its
    /// share at a fixed pace whatever the answers (open loop), to see how long requests
    /// wait rather than how many fit. By default each client sends its next request as
    /// soon as the previous one is answered. Not for the mixed, flood or storm scenarios.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The bootstrap admin token (wallet scenarios create an app and wallets with it).
    #[arg(long, env = "AUTHD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// authd's process id, to report its CPU use and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Logins per second offered in the flood scenario (default: four times this
    /// machine's Argon2id bound).
    #[arg(long)]
    flood_rate: Option<f64>,
    /// The resource server's base URL, for the resource scenarios (authd, at `--url`,
    /// issues the tokens).
    #[arg(long)]
    resource_url: Option<String>,
    /// A label for the report (the database, say).
    #[arg(long, default_value = "")]
    label: String,
    /// Print Markdown table rows instead of text.
    #[arg(long)]
    markdown: bool,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Run(args) => run(&args),
        Cmd::Argon2 { runs } => {
            let (hash, bound) = argon2_bound(runs)?;
            let parallel = argon2_parallel(runs)?;
            println!(
                "argon2id m=19456 t=2 p=1: {:.1} ms per hash alone, {} cores, bound {:.0} \
                 logins/s (cores ÷ time of one hash); {:.0} hashes/s measured with one \
                 hashing thread per core",
                hash.as_secs_f64() * 1000.0,
                cores(),
                bound,
                parallel
            );
            Ok(())
        }
        Cmd::ColdStart { authd, runs } => cold_start(&authd, runs),
        Cmd::Seed(args) => seed::run(&args),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// authd's hasher at its production parameters, a password, and its stored hash.
fn hashing_fixture() -> anyhow::Result<(
    auth_core::PasswordHasher,
    auth_core::Password,
    auth_core::PasswordHash,
)> {
    // Advised into huge pages as authd's hashing threads advise theirs, so that the bound
    // is the one authd can reach.
    auth_core::advise_working_memory(auth_http::advise_huge_pages);
    let hasher = auth_core::PasswordHasher::recommended()?;
    let password = auth_core::Password::new(scenario::PASSWORD)?;
    let stored = hasher.hash(&password)?;
    Ok((hasher, password, stored))
}

/// The median time of one hash at authd's production parameters, and cores ÷ that time.
fn argon2_bound(runs: u32) -> anyhow::Result<(Duration, f64)> {
    let (hasher, password, stored) = hashing_fixture()?;
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(hasher.verify(&password, &stored));
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let median = times[times.len() / 2];
    Ok((median, cores() as f64 / median.as_secs_f64()))
}

/// Hashes per second with one thread per core hashing at once (memory bandwidth and
/// shared caches make this lower than the cores ÷ time bound). Each thread hashes once
/// before the clock starts, as authd's long-lived hashing threads have: a thread's first
/// hash also allocates and faults in its working memory.
fn argon2_parallel(runs: u32) -> anyhow::Result<f64> {
    let (hasher, password, stored) = hashing_fixture()?;
    let threads = cores();
    let warmed = std::sync::Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                std::hint::black_box(hasher.verify(&password, &stored));
                warmed.wait();
                for _ in 0..runs.max(1) {
                    std::hint::black_box(hasher.verify(&password, &stored));
                }
            });
        }
        warmed.wait();
        Instant::now()
    })
    .elapsed();
    Ok(f64::from(runs.max(1)) * threads as f64 / elapsed.as_secs_f64())
}

fn address(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url
        .strip_prefix("http://")
        .context("the URL must start with http://")?
        .trim_end_matches('/');
    authority
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {authority}"))
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let addr = address(&args.url)?;
    if args.rate.is_some()
        && matches!(
            args.scenario,
            Scenario::Mixed | Scenario::Flood | Scenario::LoginStorm
        )
    {
        bail!("--rate paces one kind of request: not for the mixed, flood or storm scenarios");
    }
    // Unique names per run (this process, this second), so that runs against one
    // database do not collide.
    let now = auth_core::Clock::now(&auth_core::SystemClock);
    let run_id = format!("{:x}{:x}", now.secs() % 0xffff, std::process::id());
    let app = match args.scenario {
        Scenario::WalletLogin | Scenario::WalletRefresh => {
            let token = args
                .admin_token
                .as_deref()
                .context("wallet scenarios need --admin-token")?;
            let app = scenario::create_app(&mut Connection::new(addr), token, &run_id)
                .map_err(|e| anyhow::anyhow!("creating the app: {e}"))?;
            Some((app, token.to_owned()))
        }
        _ => None,
    };
    // Where the clients send their requests: authd, or the resource server.
    let (target, tokens): (SocketAddr, std::sync::Arc<[String]>) = if args.scenario.is_resource() {
        let resource = args
            .resource_url
            .as_deref()
            .context("resource scenarios need --resource-url")?;
        let tokens: std::sync::Arc<[String]> = if args.scenario == Scenario::Resource {
            let token = args
                .admin_token
                .as_deref()
                .context("the resource scenario needs --admin-token")?;
            let mut conn = Connection::new(addr);
            let app = scenario::create_app(&mut conn, token, &run_id)
                .map_err(|e| anyhow::anyhow!("creating the app: {e}"))?;
            scenario::wallet_tokens(&mut conn, &app, token)
                .map_err(|e| anyhow::anyhow!("logging the wallets in: {e}"))?
                .into()
        } else {
            Vec::new().into()
        };
        (address(resource)?, tokens)
    } else {
        (addr, Vec::new().into())
    };

    // A storm's paced clients beside the flood: one refreshing, one calling `me`.
    let beside: Vec<(Connection, Client, Op)> = if args.scenario == Scenario::LoginStorm {
        [Op::Refresh, Op::Me]
            .into_iter()
            .enumerate()
            .map(|(k, op)| {
                let mut conn = Connection::new(addr);
                let index = args.concurrency + k;
                scenario::prepare(&mut conn, Scenario::Refresh, index, &run_id, None)
                    .map(|client| (conn, client, op))
                    .map_err(|e| anyhow::anyhow!("preparing the paced clients: {e}"))
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };

    // Every client gets its account and first session before the clock starts.
    let prepared = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.concurrency)
            .map(|i| {
                let app = app.as_ref().map(|(a, t)| (a.as_str(), t.as_str()));
                let run_id = &run_id;
                let tokens = tokens.clone();
                s.spawn(move || {
                    let mut conn = Connection::new(target);
                    scenario::prepare(&mut conn, args.scenario, i, run_id, app).map(|mut client| {
                        client.tokens = tokens;
                        (conn, client)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a client panicked")))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let clients = prepared
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("preparing clients: {e}"))?;

    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let measure_until = measure_from + Duration::from_secs(args.duration);
    let flood_rate = match args.scenario {
        Scenario::Flood => Some(match args.flood_rate {
            Some(rate) => rate,
            None => 4.0 * argon2_bound(5)?.1,
        }),
        _ => None,
    };

    let window = (measure_from, measure_until);
    let (samples, usage) = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (conn, client) in clients {
            let stop = &stop;
            let scenario = args.scenario;
            handles.push(match args.rate {
                Some(rate) => {
                    let op = scenario::next_op(scenario, &client);
                    let share = rate / args.concurrency as f64;
                    s.spawn(move || paced_client(conn, client, op, share, stop, window))
                }
                None => s.spawn(move || {
                    closed_loop(conn, client, scenario, stop, measure_from, measure_until)
                }),
            });
        }
        for (conn, client, op) in beside {
            let stop = &stop;
            handles.push(s.spawn(move || paced_client(conn, client, op, PACED_RATE, stop, window)));
        }
        if args.scenario == Scenario::LoginStorm || flood_rate.is_some() {
            // A health probe 50 times a second beside a storm or a flood.
            let stop = &stop;
            handles.push(s.spawn(move || paced(addr, Op::Health, None, PACED_RATE, stop, window)));
        }
        if let Some(rate) = flood_rate {
            // 32 paced login clients for the flood.
            let flooders: u32 = 32;
            for i in 0..flooders {
                let stop = &stop;
                let run_id = &run_id;
                handles.push(s.spawn(move || {
                    let email = format!(
                        "bench-{run_id}-{}@example.com",
                        i as usize % args.concurrency
                    );
                    paced(
                        addr,
                        Op::Login,
                        Some(email),
                        rate / f64::from(flooders),
                        stop,
                        window,
                    )
                }));
            }
        }
        let before = sleep_until(measure_from).and(args.server_pid.and_then(ProcessUsage::of));
        let hashed_before = hash_totals(addr);
        let _ = sleep_until(measure_until);
        let after = args.server_pid.and_then(ProcessUsage::of);
        let hashed_after = hash_totals(addr);
        stop.store(true, Ordering::Relaxed);
        if let (Some((sum0, n0)), Some((sum1, n1))) = (hashed_before, hashed_after)
            && n1 > n0
        {
            // On stderr, so that it stays out of a Markdown table.
            eprintln!(
                "hashing in authd during the run: {:.0} hashes, {:.1} ms per hash \
                 (authd_password_hash_seconds)",
                n1 - n0,
                (sum1 - sum0) / (n1 - n0) * 1000.0
            );
        }
        let mut merged: Vec<(Op, Samples)> = Vec::new();
        for handle in handles {
            let Ok(per_op) = handle.join() else {
                continue;
            };
            for (op, samples) in per_op {
                match merged.iter_mut().find(|(o, _)| *o == op) {
                    Some((_, m)) => m.merge(samples),
                    None => merged.push((op, samples)),
                }
            }
        }
        merged.sort_by_key(|(op, _)| *op);
        (merged, before.zip(after))
    });

    let secs = args.duration as f64;
    let cpu = usage.map(|(before, after)| {
        (
            (after.cpu_secs - before.cpu_secs) / secs * 100.0,
            after.peak_rss_mib,
        )
    });
    let mut errors = 0;
    let mut rows = Vec::new();
    let mixed = samples.len() > 1 && args.scenario == Scenario::Mixed;
    if mixed {
        let mut all = Samples::default();
        for (_, s) in &samples {
            all.merge(Samples {
                micros: s.micros.clone(),
                errors: s.errors,
                shed: s.shed,
            });
        }
        rows.push(("all".to_owned(), all.summary(secs)));
    }
    for (op, s) in samples {
        let summary = s.summary(secs);
        errors += summary.errors;
        rows.push((op.name().to_owned(), summary));
    }
    print_report(args, &rows, cpu, flood_rate);
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// The sum and count of authd's `authd_password_hash_seconds` histogram, from `/metrics`.
fn hash_totals(addr: SocketAddr) -> Option<(f64, f64)> {
    let response = Connection::new(addr)
        .send("GET", "/metrics", None, None)
        .ok()?;
    let text = String::from_utf8(response.body).ok()?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    };
    Some((
        value("authd_password_hash_seconds_sum")?,
        value("authd_password_hash_seconds_count")?,
    ))
}

fn sleep_until(t: Instant) -> Option<()> {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
    Some(())
}

/// Requests per second of each paced client beside a login storm.
const PACED_RATE: f64 = 50.0;

/// A client of its own session sending `op` at `rate` whatever the answers (beside a
/// storm, or every client under `--rate`).
fn paced_client(
    mut conn: Connection,
    mut client: Client,
    op: Op,
    rate: f64,
    stop: &AtomicBool,
    window: (Instant, Instant),
) -> Vec<(Op, Samples)> {
    paced_loop(op, rate, stop, window, || {
        scenario::perform(&mut conn, op, &mut client)
            .map(|()| Paced::Answered)
            .map_err(|e| e.to_string())
    })
}

/// How a paced request ended.
enum Paced {
    Answered,
    Shed,
}

/// Calls `send` at `rate` per second until `stop`, whatever the answers, and records the
/// calls that started and ended within `window`.
fn paced_loop(
    op: Op,
    rate: f64,
    stop: &AtomicBool,
    (measure_from, measure_until): (Instant, Instant),
    mut send: impl FnMut() -> Result<Paced, String>,
) -> Vec<(Op, Samples)> {
    let mut samples = Samples::default();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let _ = sleep_until(next);
        next += interval;
        if next < Instant::now() {
            next = Instant::now();
        }
        let started = Instant::now();
        let result = send();
        let ended = Instant::now();
        if started < measure_from || ended > measure_until {
            continue;
        }
        match result {
            Ok(Paced::Answered) => samples.record(ended - started),
            Ok(Paced::Shed) => samples.shed += 1,
            Err(e) => {
                samples.errors += 1;
                if samples.errors <= 3 {
                    eprintln!("{} failed: {e}", op.name());
                }
            }
        }
    }
    vec![(op, samples)]
}

/// A client that sends its next request as soon as the previous one is answered.
fn closed_loop(
    mut conn: Connection,
    mut client: Client,
    scenario: Scenario,
    stop: &AtomicBool,
    measure_from: Instant,
    measure_until: Instant,
) -> Vec<(Op, Samples)> {
    let mut per_op: Vec<(Op, Samples)> =
        Op::ALL.iter().map(|op| (*op, Samples::default())).collect();
    let mut failures_shown = 0;
    while !stop.load(Ordering::Relaxed) {
        let op = scenario::next_op(scenario, &client);
        let started = Instant::now();
        let result = scenario::perform(&mut conn, op, &mut client);
        let ended = Instant::now();
        // A storm's clients retry a shed login at once; others wait its Retry-After.
        let patient = scenario != Scenario::LoginStorm;
        if started < measure_from || ended > measure_until {
            if patient && matches!(result, Err(scenario::Failure::Status(503, _))) {
                std::thread::sleep(Duration::from_secs(1));
            }
            continue;
        }
        let Some((_, samples)) = per_op.iter_mut().find(|(o, _)| *o == op) else {
            continue;
        };
        match result {
            Ok(()) => samples.record(ended - started),
            // A login shed by the hashing gate: counted apart, and retried after its
            // Retry-After, as a well-behaved client does.
            Err(scenario::Failure::Status(503, _)) if op == Op::Login => {
                samples.shed += 1;
                if patient {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Err(e) => {
                samples.errors += 1;
                if failures_shown < 3 {
                    failures_shown += 1;
                    eprintln!("{} failed: {e}", op.name());
                }
            }
        }
    }
    per_op.retain(|(_, s)| !s.micros.is_empty() || s.errors > 0);
    per_op
}

/// A client that sends requests at a fixed rate whatever the answers; 503 counts as shed,
/// not as an error.
fn paced(
    addr: SocketAddr,
    op: Op,
    email: Option<String>,
    rate: f64,
    stop: &AtomicBool,
    window: (Instant, Instant),
) -> Vec<(Op, Samples)> {
    let mut conn = Connection::new(addr);
    let body = email.map(|email| {
        serde_json::json!({ "email": email, "password": scenario::PASSWORD }).to_string()
    });
    paced_loop(op, rate, stop, window, || {
        let response = match (&op, &body) {
            (Op::Login, Some(body)) => conn.send("POST", "/api/auth/login", None, Some(body)),
            _ => conn.send("GET", "/healthz", None, None),
        }
        .map_err(|e| e.to_string())?;
        match response.status {
            200 => Ok(Paced::Answered),
            503 if op == Op::Login => Ok(Paced::Shed),
            status => Err(format!("answered {status}")),
        }
    })
}

fn print_report(
    args: &RunArgs,
    rows: &[(String, Summary)],
    cpu: Option<(f64, f64)>,
    flood_rate: Option<f64>,
) {
    let scenario = args
        .scenario
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let (cpu_text, rss_text) = cpu.map_or(("–".to_owned(), "–".to_owned()), |(c, r)| {
        (format!("{c:.0} %"), format!("{r:.1} MiB"))
    });
    for (name, s) in rows {
        let what = if name == &scenario || (rows.len() == 1) {
            scenario.clone()
        } else {
            format!("{scenario}: {name}")
        };
        let shed = if s.shed > 0 {
            format!(" ({} shed with 503)", s.shed)
        } else {
            String::new()
        };
        if args.markdown {
            println!(
                "| {what} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {}{shed} | {cpu_text} | {rss_text} |",
                args.label,
                args.concurrency,
                s.rps,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms,
                s.errors
            );
        } else {
            println!(
                "{what} [{}] {} clients: {:.0} req/s ({} requests), p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}{shed}; server CPU {cpu_text}, peak RSS {rss_text}",
                args.label,
                args.concurrency,
                s.rps,
                s.requests,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms,
                s.errors
            );
        }
    }
    if let Some(rate) = flood_rate
        && !args.markdown
    {
        println!("flood: logins offered at {rate:.0}/s");
    }
}

fn cold_start(authd: &PathBuf, runs: u32) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for i in 0..runs.max(1) {
        let dir = std::env::temp_dir().join(format!("authd-cold-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = 18_500 + (std::process::id() % 1000) as u16 + i as u16;
        let bind = format!("127.0.0.1:{port}");
        let start = Instant::now();
        let mut child = Command::new(authd)
            .args(["serve", "--bind", &bind])
            .env(
                "AUTHD_DATABASE_URL",
                format!("sqlite://{}/authd.db", dir.display()),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting authd")?;
        let addr: SocketAddr = bind.parse()?;
        let healthy = loop {
            if start.elapsed() > Duration::from_secs(10) {
                break None;
            }
            let mut conn = Connection::new(addr);
            if conn
                .send("GET", "/healthz", None, None)
                .is_ok_and(|r| r.status == 200)
            {
                break Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        times.push(healthy.context("authd did not become healthy within 10 s")?);
    }
    times.sort_unstable();
    println!(
        "cold start on a new SQLite database: median {:.0} ms, max {:.0} ms over {} starts",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        times.len()
    );
    Ok(())
}

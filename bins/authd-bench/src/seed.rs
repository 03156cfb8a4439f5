//! `authd-bench seed`: fills a database with a synthetic population at the scale of a
//! mobile app with millions of installs, then reports the bytes each table takes.

use std::time::Instant;

use anyhow::Context as _;
use auth_core::Clock as _;
use auth_store::Database;
use auth_store::seed::{Population, seed, table_bytes};

/// What `seed` is asked to create.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// The database to fill (`postgres://…` or `sqlite://PATH`); migrated first. It
    /// should hold no users or devices yet.
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    #[arg(long, default_value_t = 5_000_000)]
    devices: usize,
    #[arg(long, default_value_t = 10_000_000)]
    sessions: usize,
}

/// Seeds, printing progress every million rows, then the size of each table and the
/// bytes per session (sessions and their refresh records, indexes included) and per
/// device.
pub fn run(args: &SeedArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.database_url).context("opening the database")?;
    let (_, _, password_hash) = crate::hashing_fixture()?;
    let population = Population {
        users: args.users,
        devices: args.devices,
        sessions: args.sessions,
        password_hash,
        now: auth_core::SystemClock.now(),
    };
    let before = sizes(&database)?;
    let started = Instant::now();
    let mut last_reported = 0;
    seed(&database, &population, &mut |table, rows| {
        if rows / 1_000_000 > last_reported / 1_000_000 || rows == rows_of(&population, table) {
            eprintln!(
                "{:>6.0} s  {table}: {rows} rows",
                started.elapsed().as_secs_f64()
            );
        }
        last_reported = rows;
    })
    .context("seeding")?;
    println!(
        "seeded {} users, {} devices, {} sessions in {:.0} s",
        args.users,
        args.devices,
        args.sessions,
        started.elapsed().as_secs_f64()
    );
    let after = sizes(&database)?;
    let grown = |table: &str| {
        after
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, b)| *b)
            - before
                .iter()
                .find(|(t, _)| t == table)
                .map_or(0, |(_, b)| *b)
    };
    for (table, bytes) in &after {
        println!("{table:>16}: {:>8.1} MiB", *bytes as f64 / 1_048_576.0);
    }
    let per = |bytes: i64, rows: usize| bytes as f64 / rows.max(1) as f64;
    println!(
        "bytes per session (sessions + refresh_tokens, indexes included): {:.0}",
        per(grown("sessions") + grown("refresh_tokens"), args.sessions)
    );
    println!(
        "bytes per device (indexes included): {:.0}",
        per(grown("devices"), args.devices)
    );
    println!(
        "bytes per user (indexes included): {:.0}",
        per(grown("users"), args.users)
    );
    Ok(())
}

fn rows_of(population: &Population, table: &str) -> usize {
    match table {
        "users" => population.users,
        "devices" => population.devices,
        _ => population.sessions,
    }
}

fn sizes(database: &Database) -> anyhow::Result<Vec<(String, i64)>> {
    table_bytes(database).context("measuring tables")
}

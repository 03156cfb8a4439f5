//! A synthetic population for scale benchmarks (`authd-bench seed`): users, devices and
//! sessions with the shapes and lifetimes authd itself writes, inserted in large batches.
//!
//! Sessions are built by [`auth_core::session::start`], so their ids, hashes and rotation
//! keys are as long as real ones. Device sessions come first, one per device; the rest go
//! round-robin to users. Their ages spread evenly over the last 35 days, so about one in
//! seven is past the 30-day absolute lifetime and is what the purge job finds; one in fifty
//! is revoked; each has been rotated 0, 1 or 2 times.

use auth_core::session::{self, TokenPolicy};
use auth_core::{
    ClientDeviceId, Device, Email, PasswordHash, Platform, PrincipalKind, StoreError, UnixTime,
    User, Username,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::{DbConnection, on_backend};
use crate::devices::DeviceRow;
use crate::error::store_error;
use crate::schema::{devices, sessions, users};
use crate::sessions::SessionRow;
use crate::users::UserRow;

/// What to create.
#[derive(Debug, Clone)]
pub struct Population {
    /// Users, `user{i}@seed.example`, all with `password_hash`.
    pub users: usize,
    /// Devices, half iOS and half Android.
    pub devices: usize,
    /// Sessions: one per device first, then round-robin over the users.
    pub sessions: usize,
    /// The stored hash every seeded user logs in with (one Argon2 hash for all: a
    /// million would take hours).
    pub password_hash: PasswordHash,
    /// The instant the population is seeded at.
    pub now: UnixTime,
}

/// Rows per INSERT: below both backends' limits on bound parameters.
const BATCH: usize = 2_000;

const DAY: i64 = 86_400;

/// A small deterministic generator (SplitMix64): the same population on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: i64) -> i64 {
        i64::try_from(self.next() % n.unsigned_abs()).unwrap_or(0)
    }
}

/// Inserts `population` into `db`, reporting after each batch the table and the rows
/// inserted into it so far.
///
/// # Errors
/// [`StoreError`] when a row is refused (a database that is not empty, say) or storage
/// fails.
pub fn seed(
    db: &Database,
    population: &Population,
    progress: &mut dyn FnMut(&str, usize),
) -> Result<(), StoreError> {
    let mut pooled = db.conn()?;
    let conn: &mut DbConnection = &mut pooled;
    if let DbConnection::Sqlite(c) = conn {
        // Random keys land all over the indexes: with SQLite's default 2 MiB page cache
        // nearly every insert reads pages back from the file; and a seed needs no fsync
        // per batch (a crash means seeding again). This connection only.
        diesel::connection::SimpleConnection::batch_execute(
            c,
            "PRAGMA cache_size = -1048576; PRAGMA synchronous = OFF",
        )
        .map_err(store_error)?;
    }
    let mut mix = Mix(0x5EED);
    let now = population.now;
    let users = seed_users(conn, population, &mut mix, progress)?;
    let devices = seed_devices(conn, population, &mut mix, progress)?;
    let policy = TokenPolicy::default();
    let mut done = 0;
    while done < population.sessions {
        let n = BATCH.min(population.sessions - done);
        let mut rows = Vec::with_capacity(n);
        for i in done..done + n {
            let (kind, principal) = if i < devices.len() {
                (PrincipalKind::Device, devices[i].as_str())
            } else if users.is_empty() {
                break;
            } else {
                (
                    PrincipalKind::User,
                    users[(i - devices.len()) % users.len()].as_str(),
                )
            };
            let created = now.plus_secs(-mix.below(35 * DAY));
            let mut s = session::start(kind, principal, created, &policy)
                .map_err(|e| StoreError::Backend(e.to_string()))?
                .session;
            // Rotations spread over the session's age so far: the current token is a
            // later one's (its hash and expiry; the store keeps nothing of earlier ones).
            let rotations = mix.below(3);
            let spacing = (now.secs() - created.secs()) / 3 + 1;
            if rotations > 0 {
                let at = created.plus_secs(rotations * spacing);
                let later = session::start(kind, principal, at, &policy)
                    .map_err(|e| StoreError::Backend(e.to_string()))?
                    .session;
                s.generation = rotations;
                s.current_hash = later.current_hash;
                s.current_expires_at = later.current_expires_at.min(s.expires_at);
                s.rotated_at = Some(at);
            }
            if mix.below(50) == 0 {
                s.revoked_at = Some(now.plus_secs(-mix.below(7 * DAY)).max(created));
            }
            rows.push(SessionRow::from(&s));
        }
        if rows.is_empty() {
            break;
        }
        let inserted = rows.len();
        on_backend!(&mut *conn, |c| diesel::insert_into(sessions::table)
            .values(&rows)
            .execute(c))
        .map_err(store_error)?;
        done += inserted;
        progress("sessions", done);
    }
    Ok(())
}

fn seed_users(
    conn: &mut DbConnection,
    population: &Population,
    mix: &mut Mix,
    progress: &mut dyn FnMut(&str, usize),
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::with_capacity(population.users);
    for start in (0..population.users).step_by(BATCH) {
        let mut rows = Vec::with_capacity(BATCH);
        for i in start..(start + BATCH).min(population.users) {
            let email = Email::parse(&format!("user{i}@seed.example"))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let username = Username::parse(&format!("seeduser{i}"))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let created = population.now.plus_secs(-mix.below(365 * DAY));
            let user = User::new(&email, &username, population.password_hash.clone(), created);
            ids.push(user.id.as_str().to_owned());
            rows.push(UserRow::from(&user));
        }
        on_backend!(&mut *conn, |c| diesel::insert_into(users::table)
            .values(&rows)
            .execute(c))
        .map_err(store_error)?;
        progress("users", ids.len());
    }
    Ok(ids)
}

fn seed_devices(
    conn: &mut DbConnection,
    population: &Population,
    mix: &mut Mix,
    progress: &mut dyn FnMut(&str, usize),
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::with_capacity(population.devices);
    for start in (0..population.devices).step_by(BATCH) {
        let mut rows = Vec::with_capacity(BATCH);
        for i in start..(start + BATCH).min(population.devices) {
            // Shaped like a vendor identifier: an upper-case UUID.
            let (a, b) = (mix.next(), mix.next());
            let client_id = format!(
                "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
                a >> 32,
                (a >> 16) & 0xFFFF,
                a & 0xFFFF,
                b >> 48,
                b & 0xFFFF_FFFF_FFFF
            );
            let client_id = ClientDeviceId::parse(&client_id)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let platform = if i % 2 == 0 {
                Platform::Ios
            } else {
                Platform::Android
            };
            let created = population.now.plus_secs(-mix.below(90 * DAY));
            let mut device = Device::new(client_id, platform, created);
            device.last_seen_at =
                created.plus_secs(mix.below(population.now.secs() - created.secs() + 1));
            ids.push(device.id.as_str().to_owned());
            rows.push(DeviceRow::from(&device));
        }
        on_backend!(&mut *conn, |c| diesel::insert_into(devices::table)
            .values(&rows)
            .execute(c))
        .map_err(store_error)?;
        progress("devices", ids.len());
    }
    Ok(ids)
}

/// Bytes on disk of each table with its indexes (PostgreSQL: `pg_total_relation_size`;
/// SQLite: the pages `dbstat` counts for the table and every index on it).
///
/// # Errors
/// [`StoreError`] when storage fails.
pub fn table_bytes(db: &Database) -> Result<Vec<(String, i64)>, StoreError> {
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    let mut conn = db.conn()?;
    let sizes: Vec<Size> = match &mut *conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT relname::TEXT AS name, pg_total_relation_size(oid)::BIGINT AS bytes
               FROM pg_class
              WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
              ORDER BY relname",
        )
        .load(c),
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.tbl_name AS name, CAST(SUM(d.pgsize) AS BIGINT) AS bytes
               FROM dbstat d JOIN sqlite_master m ON m.name = d.name
              GROUP BY m.tbl_name ORDER BY m.tbl_name",
        )
        .load(c),
    }
    .map_err(store_error)?;
    Ok(sizes.into_iter().map(|s| (s.name, s.bytes)).collect())
}

//! `authd`: the authentication server and its command line.
//!
//! This binary only wires: it reads [`settings::Settings`], opens the database, loads the
//! signing keys and hands everything to `auth-http`'s route table.

mod admin;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::{Context, bail};
use auth_core::{
    Authority, Clock, KeyCipher, KeyRing, PasswordHasher, SigningAlgorithm, SystemClock,
    ThrottleKeys, ThrottlePolicy, TokenPolicy, TokenSigner, purge_audit_events, purge_expired,
    purge_inactive_devices, purge_one_time_tokens,
};
use auth_http::{
    AllowedOrigins, AuditTrail, AuthState, LimitScope, Metrics, PurgedTable, TrustedProxies,
};
use auth_store::{Database, PoolOptions};
use clap::{Parser, Subcommand};

use crate::settings::{JwtAlg, Settings};

/// authd: an authentication server for people, devices and wallets.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (also what a bare `authd` does).
    Serve,
    /// Manage registered mobile devices (works directly on the configured database).
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Manage apps (works directly on the configured database).
    App {
        #[command(subcommand)]
        command: admin::AppCommand,
    },
    /// Manage the wallets of an app (works directly on the configured database).
    Wallet {
        #[command(subcommand)]
        command: admin::WalletCommand,
    },
    /// Manage users (works directly on the configured database).
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Read the audit trail, newest first (directly from the configured database).
    Audit(admin::AuditArgs),
    /// Manage the Ed25519 signing keys (directly on the configured database).
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Print the OpenAPI 3.1 description that `GET /openapi.json` serves (no database).
    Openapi,
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Delete devices not seen for N days, with their sessions and refresh tokens.
    Purge {
        /// Days without an authentication or refresh after which a device is deleted.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        inactive_days: u32,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut logger = env_logger::Builder::new();
    logger.parse_filters(&cli.settings.rust_log);
    if let Ok(style) = std::env::var("RUST_LOG_STYLE") {
        logger.parse_write_style(&style);
    }
    logger.init();
    cli.settings.validate().map_err(anyhow::Error::msg)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings),
        Command::Devices {
            command: DevicesCommand::Purge { inactive_days },
        } => purge_devices(&cli.settings, inactive_days),
        Command::App { command } => {
            let (authority, _, database) = authority(&cli.settings)?;
            admin::app(&authority, database.as_ref(), command)
        }
        Command::Wallet { command } => {
            let (authority, _, database) = authority(&cli.settings)?;
            admin::wallet(&authority, database.as_ref(), command)
        }
        Command::User { command } => {
            let (authority, _, database) = authority(&cli.settings)?;
            admin::user(&authority, database.as_ref(), command)
        }
        Command::Audit(args) => admin::audit(&cli.settings.database_url, &args),
        Command::Keys { command } => admin::keys(&cli.settings, command),
        Command::Openapi => {
            println!("{}", auth_http::openapi_json());
            Ok(())
        }
    }
}

fn purge_devices(settings: &Settings, inactive_days: u32) -> anyhow::Result<()> {
    let database = Database::open(&settings.database_url).context("opening the database")?;
    let inactive_secs = i64::from(inactive_days) * 86_400;
    let purged = purge_inactive_devices(&database, inactive_secs, SystemClock.now())
        .context("purging devices")?;
    println!("purged {purged} device(s) not seen for {inactive_days} day(s)");
    Ok(())
}

/// Opens the configured database and assembles the operations over it, as `serve` and the
/// administration commands both need.
fn authority(settings: &Settings) -> anyhow::Result<(Authority, TrustedProxies, Arc<Database>)> {
    let mut pool = PoolOptions::default_for_url(&settings.database_url);
    if let Some(size) = settings.database_pool_size {
        pool.max_connections = size;
    }
    let database =
        Database::open_with(&settings.database_url, pool).context("opening the database")?;
    log::info!(
        "database ready ({:?}, {} connections at most)",
        database.backend(),
        pool.max_connections
    );

    let key_cipher = key_cipher(settings)?;
    if let Some(cipher) = &key_cipher {
        let sealed = KeyRing::seal_plaintext_keys(&database, cipher)
            .context("sealing stored signing keys")?;
        if sealed > 0 {
            log::info!(
                "sealed {sealed} signing key(s) stored before AUTHD_KEY_ENCRYPTION_KEY was set"
            );
        }
    }
    let keys = match settings.jwt_alg {
        JwtAlg::EdDSA => {
            if settings.jwt_secret.is_some() {
                log::warn!("AUTHD_JWT_SECRET is ignored: AUTHD_JWT_ALG is EdDSA");
            }
            KeyRing::load(
                &database,
                SystemClock.now(),
                settings.access_ttl_secs.saturating_add(60),
                key_cipher.as_ref(),
            )
            .context("loading signing keys")?
        }
        alg @ (JwtAlg::HS256 | JwtAlg::HS512) => {
            let Some(secret) = settings.jwt_secret.as_deref() else {
                bail!("AUTHD_JWT_SECRET is required when AUTHD_JWT_ALG is HS256 or HS512");
            };
            let alg = if alg == JwtAlg::HS256 {
                SigningAlgorithm::HS256
            } else {
                SigningAlgorithm::HS512
            };
            KeyRing::hmac(alg, secret.as_bytes()).context("AUTHD_JWT_SECRET")?
        }
    };
    log::info!(
        "signing access tokens with {} key {}",
        keys.algorithm().as_str(),
        keys.signing_kid()
    );

    let trusted_proxies = TrustedProxies::parse(settings.trusted_proxies.as_deref().unwrap_or(""))
        .map_err(anyhow::Error::msg)
        .context("AUTHD_TRUSTED_PROXIES")?;
    let defaults = TokenPolicy::default();
    let policy = TokenPolicy {
        access_ttl_secs: settings.access_ttl_secs,
        refresh_ttl_secs: settings.refresh_ttl_secs,
        reuse_grace_secs: settings.refresh_reuse_grace_secs,
        session_max_secs: settings
            .session_max_secs
            .unwrap_or(defaults.session_max_secs),
        wallet_session_max_secs: settings
            .session_max_secs
            .unwrap_or(defaults.wallet_session_max_secs),
        rotation_secret: key_cipher.as_ref().map(KeyCipher::rotation_secret),
    };
    let database = Arc::new(database);
    let mut signer = TokenSigner::new(keys, settings.issuer.clone());
    if settings.accept_legacy_token_type {
        log::warn!(
            "AUTHD_ACCEPT_LEGACY_TOKEN_TYPE: access tokens typed JWT (before at+jwt) are \
             accepted; turn it off once they have expired"
        );
        signer = signer.accepting_legacy_type();
    }
    let authority = Authority::new(
        database.clone(),
        signer,
        PasswordHasher::recommended().context("preparing the password hasher")?,
        policy,
    )
    .with_throttle(
        ThrottlePolicy {
            max_failures: settings.login_max_failures,
            max_delay_secs: settings.login_max_delay_secs,
            account_max_failures_per_hour: settings.account_max_failures_per_hour,
        },
        ThrottleKeys::load(database.as_ref(), key_cipher.as_ref(), SystemClock.now())
            .context("loading the login-throttle secret")?,
    )
    .with_key_cipher(key_cipher)
    .requiring_verified_email(settings.require_verified_email);
    Ok((authority, trusted_proxies, database))
}

/// The cipher for stored private keys, when `AUTHD_KEY_ENCRYPTION_KEY` is set.
fn key_cipher(settings: &Settings) -> anyhow::Result<Option<KeyCipher>> {
    settings
        .key_encryption_key
        .as_deref()
        .map(KeyCipher::from_secret)
        .transpose()
        .context("AUTHD_KEY_ENCRYPTION_KEY")
}

/// How often ended sessions, stale login-throttle records and expired audit events are
/// deleted.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// Deletes what no longer matters in the background, in paced batches (see
/// [`PurgePace`]). On
/// PostgreSQL one process at a time does it (an advisory lock); the others skip that
/// round. What each round deleted is counted in `authd_purged_rows_total`.
fn spawn_purger(store: Arc<Database>, metrics: Arc<Metrics>, audit_retention_secs: i64) {
    let spawned = std::thread::Builder::new()
        .name("authd-purge".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            loop {
                let round = store.as_the_only_purger(|| {
                    purge_once(&store, &metrics, audit_retention_secs, SystemClock.now())
                });
                match round {
                    Ok(Some(Ok(()))) => {}
                    Ok(None) => log::debug!("another process is purging; skipped this round"),
                    Ok(Some(Err(e))) => log::warn!("purging failed (will retry): {e:#}"),
                    Err(e) => log::warn!("purging failed (will retry): {e}"),
                }
                std::thread::sleep(PURGE_EVERY);
            }
        });
    if let Err(e) = spawned {
        log::warn!("could not start the purge thread: {e}");
    }
}

fn purge_once(
    store: &Database,
    metrics: &Metrics,
    audit_retention_secs: i64,
    now: auth_core::UnixTime,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut pace = PurgePace::default();
    let (sessions, throttle) = purge_expired(store, now, &mut || pace.pause())?;
    let audit = purge_audit_events(store, audit_retention_secs, now, &mut || pace.pause())?;
    let one_time = purge_one_time_tokens(store, now, &mut || pace.pause())?;
    let took = started.elapsed().as_secs_f64();
    metrics.purged(PurgedTable::Sessions, sessions);
    metrics.purged(PurgedTable::LoginThrottle, throttle);
    metrics.purged(PurgedTable::AuditEvents, audit);
    metrics.purged(PurgedTable::OneTimeTokens, one_time);
    if sessions + throttle + audit + one_time > 0 {
        log::info!(
            "purged {sessions} ended session(s), {throttle} stale login-throttle record(s), \
             {audit} audit event(s) past retention and {one_time} expired one-time token(s) \
             in {took:.1} s"
        );
    }
    Ok(())
}

/// Spaces the purge's batches: after each one it pauses as long as the batch took, so the
/// purge takes at most half of one core and of the database's time, and requests beside
/// it meet one batch at most. Without the pauses, batches back to back held refreshes
/// beside them up to 300 ms on PostgreSQL (1.6 M ended sessions of 10 M).
struct PurgePace {
    batch_started: std::time::Instant,
}

impl Default for PurgePace {
    fn default() -> Self {
        Self {
            batch_started: std::time::Instant::now(),
        }
    }
}

impl PurgePace {
    /// The longest pause: a batch that took longer was slowed by something else.
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    fn pause(&mut self) {
        std::thread::sleep(self.batch_started.elapsed().min(Self::MAX_PAUSE));
        self.batch_started = std::time::Instant::now();
    }
}

/// The size past which SQLite's write-ahead log is emptied (see `Database::checkpoint`):
/// each emptying holds every request back for a copy and an fsync, so it is done rarely,
/// while the log is still small enough for reads to search it fast.
const CHECKPOINT_EMPTY_ABOVE_BYTES: u64 = 64 << 20;

/// How often SQLite's write-ahead log is copied into the database and emptied: often
/// enough that each copy is short.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Keeps SQLite's write-ahead log from growing without bound under steady load (see
/// `Database::checkpoint`); a checkpoint that finds readers it cannot wait for is tried
/// again next time.
fn spawn_checkpointer(store: Arc<Database>) {
    let spawned = std::thread::Builder::new()
        .name("authd-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                match store.checkpoint(CHECKPOINT_EMPTY_ABOVE_BYTES) {
                    Ok(true) => {}
                    Ok(false) => log::debug!("the SQLite checkpoint met readers; next time"),
                    Err(e) => log::warn!("checkpointing SQLite failed (will retry): {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("could not start the checkpoint thread: {e}");
    }
}

/// How often the outbox worker looks for mail due: a mail asked for is on its way within
/// this long.
const MAIL_EVERY: Duration = Duration::from_secs(1);

/// Where mail goes: the SMTP server of `AUTHD_SMTP_URL`, or `.eml` files in
/// `AUTHD_MAIL_DIR` (said at start, as a warning: nobody receives them).
fn mailer(settings: &Settings) -> anyhow::Result<auth_mail::Mailer> {
    let mailer = match &settings.smtp_url {
        Some(url) => {
            let ca =
                match &settings.smtp_ca_file {
                    Some(path) => Some(std::fs::read(path).with_context(|| {
                        format!("reading AUTHD_SMTP_CA_FILE {}", path.display())
                    })?),
                    None => None,
                };
            auth_mail::Mailer::smtp_trusting(url, &settings.mail_from, ca.as_deref())?
        }
        None => auth_mail::Mailer::files(&settings.mail_dir, &settings.mail_from)?,
    };
    if mailer.delivers() {
        log::info!("mail goes out through {}", mailer.describe());
    } else {
        log::warn!(
            "mail is not being delivered (AUTHD_SMTP_URL is unset): it is written to {}",
            mailer.describe()
        );
    }
    Ok(mailer)
}

/// What mails say and where their links lead: authd's templates, or the operator's from
/// `AUTHD_MAIL_TEMPLATES_DIR`.
fn mail_content(settings: &Settings) -> anyhow::Result<auth_core::MailContent> {
    let mut content = auth_core::MailContent::new(&settings.public_url, settings.one_time_policy());
    if let Some(dir) = &settings.mail_templates_dir {
        let kinds = auth_mail::load_templates(dir, &mut content)?;
        let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
        log::info!(
            "mail templates from {}: {}",
            dir.display(),
            if names.is_empty() {
                "none (authd's own for every kind)".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    Ok(content)
}

/// Sends the outbox's mail, every [`MAIL_EVERY`], from every process (their claims never
/// take the same mail), and reports it in `/metrics`.
fn spawn_mail_worker(
    store: Arc<Database>,
    metrics: Arc<Metrics>,
    mailer: auth_mail::Mailer,
    content: auth_core::MailContent,
) {
    let spawned = std::thread::Builder::new()
        .name("authd-mail".into())
        .spawn(move || {
            loop {
                std::thread::sleep(MAIL_EVERY);
                let now = SystemClock.now();
                match auth_mail::deliver_due(&*store, &*store, &content, &mailer, now) {
                    Ok(round) => {
                        metrics.mail_round(round.sent, round.dropped, round.retried, round.given_up)
                    }
                    Err(e) => log::warn!("sending mail failed (will retry): {e}"),
                }
                match auth_core::MailOutbox::outbox_depth(&*store) {
                    Ok((waiting, given_up)) => metrics.mail_queue(waiting, given_up),
                    Err(e) => log::warn!("reading the outbox failed: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("could not start the mail thread: {e}");
    }
}

/// Reloads the signing keys periodically so that every process picks up a rotation.
fn spawn_key_reloader(authority: Authority, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("authd-keys".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                if let Err(e) = authority.reload_keys(SystemClock.now()) {
                    log::warn!("reloading signing keys failed (will retry): {e}");
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("could not start the key reload thread: {e}");
    }
}

/// Shortest bootstrap admin token accepted: it is a full-power bearer secret.
const MIN_ADMIN_TOKEN_BYTES: usize = 32;

fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings
        .admin_token
        .as_deref()
        .is_some_and(|t| t.len() < MIN_ADMIN_TOKEN_BYTES)
    {
        bail!("AUTHD_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_BYTES} bytes");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (authority, trusted_proxies, database) = authority(&settings)?;
    let metrics = Arc::new(Metrics::default());
    let mailer = mailer(&settings).context("setting up mail")?;
    spawn_mail_worker(
        database.clone(),
        metrics.clone(),
        mailer,
        mail_content(&settings)?,
    );
    spawn_purger(
        database.clone(),
        metrics.clone(),
        i64::from(settings.audit_retention_days) * 86_400,
    );
    if database.backend() == auth_store::Backend::Sqlite {
        spawn_checkpointer(database.clone());
    }
    spawn_key_reloader(
        authority.clone(),
        Duration::from_secs(settings.key_reload_secs),
    );
    let audit = AuditTrail::start(database.clone()).context("starting the audit writer")?;
    // Processes that share a PostgreSQL database share their per-address limits too.
    let limit_scope = match database.backend() {
        auth_store::Backend::Postgres => LimitScope::Database,
        auth_store::Backend::Sqlite => LimitScope::Process,
    };
    let origins = AllowedOrigins::parse(settings.allowed_origins.as_deref().unwrap_or(""))
        .map_err(|e| anyhow::anyhow!("AUTHD_ALLOWED_ORIGINS (--allowed-origins): {e}"))?;
    let state = web::Data::new(
        AuthState::new(authority, clock, audit.clone())
            .with_admin_token(settings.admin_token.clone())
            .with_trusted_proxies(trusted_proxies)
            .with_allowed_origins(origins)
            .with_rate_limit(settings.ip_rate_per_min, limit_scope)
            .with_metrics(metrics),
    );

    // Database work runs on actix's blocking threads, one pool per worker: sized together
    // to the database's concurrency, so that requests queue in order for a thread rather
    // than crowd the cores and the connection pool (see `Database::concurrency`).
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let blocking_threads = database.concurrency().div_ceil(workers).max(1);
    actix_web::rt::System::new().block_on(async move {
        let options = auth_http::ServerOptions {
            workers,
            blocking_threads,
            shutdown_timeout_secs: 10,
            signals: true,
        };
        let bound = auth_http::bind(&state, &settings.bind, &options)
            .with_context(|| format!("binding {}", settings.bind))?;
        for addr in &bound.addrs {
            log::info!("authd listening on http://{addr}");
        }
        let served = bound.server.await.context("running the server");
        if !audit.flush(Duration::from_secs(5)) {
            log::warn!("some audit events were not written before shutdown");
        }
        // The background threads still hold the pool: close its connections rather than
        // leave them to the exit, which PostgreSQL logs as clients gone missing.
        database.close();
        served?;
        log::info!("authd stopped");
        Ok(())
    })
}

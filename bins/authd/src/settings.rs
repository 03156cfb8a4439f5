//! Every setting of authd: an environment variable and the same-named flag.

use clap::{Args, ValueEnum};

/// Algorithms `AUTHD_JWT_ALG` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlg {
    /// Ed25519 with keys authd creates and keeps (default).
    #[value(name = "EdDSA")]
    EdDSA,
    /// HMAC-SHA256 with `AUTHD_JWT_SECRET`.
    #[value(name = "HS256")]
    HS256,
    /// HMAC-SHA512 with `AUTHD_JWT_SECRET`.
    #[value(name = "HS512")]
    HS512,
}

/// Server settings. Secrets are read from the environment or flags but never printed.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(
        long,
        env = "AUTHD_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// Log filter: `info`, or per module (`info,authd::auth=debug`), as `RUST_LOG` is read
    /// by every `env_logger` program.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub rust_log: String,

    /// `sqlite://PATH` (embedded) or `postgres://…`.
    #[arg(
        long,
        env = "AUTHD_DATABASE_URL",
        default_value = "sqlite://authd.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Most database connections held open, and so most requests doing database work at
    /// once (twice as many on SQLite). Default: PostgreSQL twice the cores plus two,
    /// SQLite 8.
    #[arg(long, env = "AUTHD_DATABASE_POOL_SIZE", global = true, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub database_pool_size: Option<u32>,

    /// Bearer token accepted on the admin routes (unset: no bootstrap admin).
    #[arg(long, env = "AUTHD_ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub admin_token: Option<String>,

    /// `iss` of every token.
    #[arg(long, env = "AUTHD_ISSUER", default_value = "authd", global = true)]
    pub issuer: String,

    /// Access-token signing algorithm.
    #[arg(
        long,
        env = "AUTHD_JWT_ALG",
        value_enum,
        default_value = "EdDSA",
        global = true
    )]
    pub jwt_alg: JwtAlg,

    /// Shared secret for HS256/HS512, at least 32 bytes.
    #[arg(long, env = "AUTHD_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "AUTHD_ACCESS_TTL_SECS", default_value_t = 3_600, global = true, value_parser = clap::value_parser!(i64).range(1..))]
    pub access_ttl_secs: i64,

    /// Refresh-token lifetime in seconds.
    #[arg(long, env = "AUTHD_REFRESH_TTL_SECS", default_value_t = 604_800, global = true, value_parser = clap::value_parser!(i64).range(1..))]
    pub refresh_ttl_secs: i64,

    /// Seconds during which a rotated refresh token returns the same successor.
    #[arg(long, env = "AUTHD_REFRESH_REUSE_GRACE_SECS", default_value_t = 10, global = true, value_parser = clap::value_parser!(i64).range(0..))]
    pub refresh_reuse_grace_secs: i64,

    /// Absolute session lifetime in seconds [default: 2592000 for users and devices,
    /// 604800 for wallets; when set, it applies to all].
    #[arg(long, env = "AUTHD_SESSION_MAX_SECS", global = true, value_parser = clap::value_parser!(i64).range(1..))]
    pub session_max_secs: Option<i64>,

    /// Secret (at least 32 bytes) that encrypts the private signing keys stored in the
    /// database; keys stored before it was set stay readable.
    #[arg(
        long,
        env = "AUTHD_KEY_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true
    )]
    pub key_encryption_key: Option<String>,

    /// How often each process reloads the signing keys to pick up a rotation, in seconds
    /// (a token naming an unknown key also triggers a reload).
    #[arg(long, env = "AUTHD_KEY_RELOAD_SECS", default_value_t = 30, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub key_reload_secs: u64,

    /// Comma-separated CIDRs whose `X-Forwarded-For` is believed.
    #[arg(long, env = "AUTHD_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Consecutive failures of one account before its attempts are delayed.
    #[arg(
        long,
        env = "AUTHD_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        global = true,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub login_max_failures: u32,

    /// Cap of the per-account delay, in seconds.
    #[arg(
        long,
        env = "AUTHD_LOGIN_MAX_DELAY_SECS",
        default_value_t = 900,
        global = true,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub login_max_delay_secs: i64,

    /// Attempts per minute per client address on each unauthenticated route family
    /// (0 turns the limit off).
    #[arg(
        long,
        env = "AUTHD_IP_RATE_PER_MIN",
        default_value_t = 30,
        global = true
    )]
    pub ip_rate_per_min: u32,
}

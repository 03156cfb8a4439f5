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
    #[arg(
        long,
        env = "AUTHD_ACCESS_TTL_SECS",
        default_value_t = 3_600,
        global = true
    )]
    pub access_ttl_secs: i64,

    /// Refresh-token lifetime in seconds.
    #[arg(
        long,
        env = "AUTHD_REFRESH_TTL_SECS",
        default_value_t = 604_800,
        global = true
    )]
    pub refresh_ttl_secs: i64,

    /// Seconds during which a rotated refresh token returns the same successor.
    #[arg(
        long,
        env = "AUTHD_REFRESH_REUSE_GRACE_SECS",
        default_value_t = 10,
        global = true
    )]
    pub refresh_reuse_grace_secs: i64,

    /// Absolute session lifetime in seconds [default: 2592000 for users and devices,
    /// 604800 for wallets; when set, it applies to all].
    #[arg(long, env = "AUTHD_SESSION_MAX_SECS", global = true)]
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
    #[arg(
        long,
        env = "AUTHD_KEY_RELOAD_SECS",
        default_value_t = 30,
        global = true
    )]
    pub key_reload_secs: u64,

    /// Comma-separated CIDRs whose `X-Forwarded-For` is believed.
    #[arg(long, env = "AUTHD_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Origins (`https://app.example.com`, comma-separated) whose pages may call authd from
    /// a browser: CORS with credentials for them, and cookie sessions
    /// (`X-Authd-Session: cookie`). Unset: neither.
    #[arg(long, env = "AUTHD_ALLOWED_ORIGINS", global = true)]
    pub allowed_origins: Option<String>,

    /// Consecutive failures of one account before its attempts are delayed.
    #[arg(
        long,
        env = "AUTHD_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub login_max_failures: u32,

    /// Cap of the per-account delay, in seconds.
    #[arg(
        long,
        env = "AUTHD_LOGIN_MAX_DELAY_SECS",
        default_value_t = 900,
        global = true
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

    /// Failures of one account from all addresses within an hour before addresses that
    /// have not logged in to it successfully in the last 30 days are delayed.
    #[arg(
        long,
        env = "AUTHD_ACCOUNT_MAX_FAILURES_PER_HOUR",
        default_value_t = 100,
        global = true
    )]
    pub account_max_failures_per_hour: u32,

    /// Days the audit trail keeps an event.
    #[arg(
        long,
        env = "AUTHD_AUDIT_RETENTION_DAYS",
        default_value_t = 90,
        global = true
    )]
    pub audit_retention_days: u32,

    /// Also accept access tokens typed `JWT`, as releases before RFC 9068 typing signed
    /// them: on while upgrading to this release, off one access-token lifetime later.
    #[arg(
        long,
        env = "AUTHD_ACCEPT_LEGACY_TOKEN_TYPE",
        default_value_t = false,
        global = true
    )]
    pub accept_legacy_token_type: bool,

    /// The mail server: `smtp://[user:pass@]host[:port]` (STARTTLS required),
    /// `smtps://…` (TLS from the first byte) or `smtp://host[:port]?tls=none` (a relay on
    /// a trusted network). Unset: mails are written to `AUTHD_MAIL_DIR`, not delivered.
    #[arg(long, env = "AUTHD_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// A PEM certificate authority to trust for the mail server's certificate besides the
    /// system's (a relay whose certificate comes from the organisation's own CA).
    #[arg(long, env = "AUTHD_SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<std::path::PathBuf>,

    /// The sender of authd's mails, `Name <address>` or an address.
    #[arg(
        long,
        env = "AUTHD_MAIL_FROM",
        default_value = "authd <no-reply@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// Where mails go as `.eml` files when `AUTHD_SMTP_URL` is unset.
    #[arg(
        long,
        env = "AUTHD_MAIL_DIR",
        default_value = "./authd-mail",
        global = true
    )]
    pub mail_dir: std::path::PathBuf,

    /// The app's address that mail links lead to (`…/reset-password#token=…`).
    #[arg(
        long,
        env = "AUTHD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,

    /// Require people to verify their address before they log in: a right password on an
    /// unverified account is refused with 403 EMAIL_NOT_VERIFIED, and registration answers
    /// 202 without tokens, alike for a new and a taken address.
    #[arg(
        long,
        env = "AUTHD_REQUIRE_VERIFIED_EMAIL",
        default_value_t = false,
        global = true
    )]
    pub require_verified_email: bool,

    /// Lifetime of a mailed verification link.
    #[arg(
        long,
        env = "AUTHD_VERIFY_EMAIL_TTL_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub verify_email_ttl_secs: i64,

    /// Lifetime of a mailed password-reset link.
    #[arg(
        long,
        env = "AUTHD_RESET_PASSWORD_TTL_SECS",
        default_value_t = 3_600,
        global = true
    )]
    pub reset_password_ttl_secs: i64,

    /// Lifetime of a mailed link confirming a new address.
    #[arg(
        long,
        env = "AUTHD_EMAIL_CHANGE_TTL_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub email_change_ttl_secs: i64,

    /// A directory of mail templates replacing the built-in ones: for each mail kind
    /// (`verify_email`, `reset_password`, `confirm_email_change`, `email_change_requested`,
    /// `password_changed`, `account_exists`), `KIND.subject`, `KIND.txt` and optionally
    /// `KIND.html`. Kinds without files keep the built-in text.
    #[arg(long, env = "AUTHD_MAIL_TEMPLATES_DIR", global = true)]
    pub mail_templates_dir: Option<std::path::PathBuf>,
}

impl Settings {
    /// The lifetimes of mailed links.
    #[must_use]
    pub fn one_time_policy(&self) -> auth_core::OneTimePolicy {
        auth_core::OneTimePolicy {
            verify_email_secs: self.verify_email_ttl_secs,
            reset_password_secs: self.reset_password_ttl_secs,
            change_email_secs: self.email_change_ttl_secs,
        }
    }
}

/// Ten years in seconds: no lifetime may be longer.
const TEN_YEARS_SECS: i64 = 10 * 365 * 86_400;

impl Settings {
    /// Refuses settings outside a sane range, naming the setting: a lifetime of zero or
    /// beyond ten years, a negative or absurd count. Arithmetic on the accepted values
    /// cannot overflow (`exp + leeway`, `ttl + 60`, `2^k` delays).
    ///
    /// # Errors
    /// The first setting out of range, as `AUTHD_X (--x) must be …; got …`.
    pub fn validate(&self) -> Result<(), String> {
        check(
            "AUTHD_ACCESS_TTL_SECS",
            "access-ttl-secs",
            self.access_ttl_secs,
            1,
            TEN_YEARS_SECS,
        )?;
        check(
            "AUTHD_REFRESH_TTL_SECS",
            "refresh-ttl-secs",
            self.refresh_ttl_secs,
            1,
            TEN_YEARS_SECS,
        )?;
        check(
            "AUTHD_REFRESH_REUSE_GRACE_SECS",
            "refresh-reuse-grace-secs",
            self.refresh_reuse_grace_secs,
            0,
            3_600,
        )?;
        if let Some(max) = self.session_max_secs {
            check(
                "AUTHD_SESSION_MAX_SECS",
                "session-max-secs",
                max,
                1,
                TEN_YEARS_SECS,
            )?;
        }
        check(
            "AUTHD_KEY_RELOAD_SECS",
            "key-reload-secs",
            self.key_reload_secs,
            1,
            86_400,
        )?;
        check(
            "AUTHD_LOGIN_MAX_FAILURES",
            "login-max-failures",
            self.login_max_failures,
            1,
            1_000,
        )?;
        check(
            "AUTHD_LOGIN_MAX_DELAY_SECS",
            "login-max-delay-secs",
            self.login_max_delay_secs,
            1,
            86_400,
        )?;
        check(
            "AUTHD_ACCOUNT_MAX_FAILURES_PER_HOUR",
            "account-max-failures-per-hour",
            self.account_max_failures_per_hour,
            1,
            1_000_000,
        )?;
        check(
            "AUTHD_AUDIT_RETENTION_DAYS",
            "audit-retention-days",
            self.audit_retention_days,
            1,
            3_650,
        )?;
        for (env, flag, secs) in [
            (
                "AUTHD_VERIFY_EMAIL_TTL_SECS",
                "verify-email-ttl-secs",
                self.verify_email_ttl_secs,
            ),
            (
                "AUTHD_RESET_PASSWORD_TTL_SECS",
                "reset-password-ttl-secs",
                self.reset_password_ttl_secs,
            ),
            (
                "AUTHD_EMAIL_CHANGE_TTL_SECS",
                "email-change-ttl-secs",
                self.email_change_ttl_secs,
            ),
        ] {
            // A mailed link outliving a month is a standing key to the account.
            check(env, flag, secs, 60, 30 * 86_400)?;
        }
        check(
            "AUTHD_IP_RATE_PER_MIN",
            "ip-rate-per-min",
            self.ip_rate_per_min,
            0,
            1_000_000,
        )
    }
}

fn check<T>(env: &str, flag: &str, value: T, min: T, max: T) -> Result<(), String>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min || value > max {
        return Err(format!(
            "{env} (--{flag}) must be between {min} and {max}; got {value}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn settings(args: &[&str]) -> Settings {
        let mut argv = vec!["authd"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().settings
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(settings(&[]).validate(), Ok(()));
    }

    #[test]
    fn each_absurd_setting_is_refused_by_name() {
        for (args, named) in [
            (
                &["--access-ttl-secs", "99999999999999999"][..],
                "AUTHD_ACCESS_TTL_SECS",
            ),
            (&["--access-ttl-secs", "0"][..], "AUTHD_ACCESS_TTL_SECS"),
            (&["--refresh-ttl-secs=-5"][..], "AUTHD_REFRESH_TTL_SECS"),
            (
                &["--refresh-reuse-grace-secs=-1"][..],
                "AUTHD_REFRESH_REUSE_GRACE_SECS",
            ),
            (
                &["--session-max-secs", "315360001"][..],
                "AUTHD_SESSION_MAX_SECS",
            ),
            (&["--key-reload-secs", "0"][..], "AUTHD_KEY_RELOAD_SECS"),
            (
                &["--login-max-failures", "0"][..],
                "AUTHD_LOGIN_MAX_FAILURES",
            ),
            (
                &["--login-max-delay-secs", "9999999"][..],
                "AUTHD_LOGIN_MAX_DELAY_SECS",
            ),
            (
                &["--account-max-failures-per-hour", "0"][..],
                "AUTHD_ACCOUNT_MAX_FAILURES_PER_HOUR",
            ),
            (
                &["--audit-retention-days", "0"][..],
                "AUTHD_AUDIT_RETENTION_DAYS",
            ),
            (
                &["--ip-rate-per-min", "4000000000"][..],
                "AUTHD_IP_RATE_PER_MIN",
            ),
        ] {
            let err = settings(args).validate().unwrap_err();
            assert!(err.starts_with(named), "{args:?}: {err}");
        }
        assert_eq!(
            settings(&["--access-ttl-secs", "315360000"]).validate(),
            Ok(())
        );
    }
}

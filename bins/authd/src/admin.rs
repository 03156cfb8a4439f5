//! Administration from the command line, directly on the configured database: apps,
//! wallets and user roles. Passwords are read from a prompt (without echo) or from
//! standard input, never from the command line. Results are printed as one JSON object
//! per line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use auth_core::{
    AppId, Authority, Clock, Email, Page, Password, Role, Status, SystemClock, Username, Wallet,
    WalletRole,
};
use clap::Subcommand;
use serde_json::json;

/// `authd app …`
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app.
    Create {
        /// A human name for the app.
        #[arg(long)]
        name: String,
    },
    /// List apps.
    List,
}

/// `authd wallet …`
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a wallet in an app; its password is read from the prompt or stdin.
    Create {
        /// The app (`app_…`).
        #[arg(long)]
        app: String,
        /// The wallet's username within the app.
        #[arg(long)]
        username: String,
        /// The wallet's role (its `role` claim).
        #[arg(long)]
        role: String,
    },
    /// List an app's wallets.
    List {
        /// The app (`app_…`).
        #[arg(long)]
        app: String,
    },
    /// Suspend a wallet and end its sessions.
    Suspend(WalletRef),
    /// Reactivate a wallet.
    Activate(WalletRef),
    /// Replace a wallet's password (read from the prompt or stdin) and end its sessions.
    RotatePassword(WalletRef),
    /// Delete a wallet and its sessions.
    Delete(WalletRef),
}

/// Names one wallet.
#[derive(Debug, clap::Args)]
pub struct WalletRef {
    /// The app (`app_…`).
    #[arg(long)]
    app: String,
    /// The wallet: its id (`wal_…`) or its username.
    #[arg(long)]
    wallet: String,
}

/// `authd audit …`
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only events of this principal (an id, or a login name that was tried).
    #[arg(long)]
    principal: Option<String>,
    /// Only this event (login, refresh, wallet_login, admin.update_wallet, …).
    #[arg(long)]
    event: Option<String>,
    /// Only events at or after this RFC 3339 instant.
    #[arg(long)]
    since: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=200))]
    limit: u32,
}

/// Runs `authd audit`.
pub fn audit(database_url: &str, args: &AuditArgs) -> anyhow::Result<()> {
    let database = auth_store::Database::open(database_url).context("opening the database")?;
    let since = args
        .since
        .as_deref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| auth_core::UnixTime(t.unix_timestamp()))
                .context("--since must be an RFC 3339 instant")
        })
        .transpose()?;
    let filter = auth_core::AuditFilter {
        principal: args.principal.clone(),
        event: args.event.clone(),
        since,
        until: None,
    };
    let (events, _) =
        auth_core::AuditStore::list_events(&database, &filter, Page::new(args.limit, 0)?)?;
    for e in events {
        print(&json!({
            "id": e.id, "at": e.at.secs(), "event": e.event, "outcome": e.outcome, "code": e.code,
            "principal": e.principal, "actor": e.actor, "clientAddr": e.client_addr, "userAgent": e.user_agent,
        }));
    }
    Ok(())
}

/// `authd keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key active; older keys stay published until their tokens expire.
    Rotate,
    /// List the stored signing keys, newest first, with which one is active.
    List,
}

/// Runs `authd keys …`.
pub fn keys(settings: &crate::settings::Settings, command: KeysCommand) -> anyhow::Result<()> {
    if settings.jwt_alg != crate::settings::JwtAlg::EdDSA {
        bail!(
            "keys are managed by authd only with AUTHD_JWT_ALG=EdDSA; HMAC secrets come from AUTHD_JWT_SECRET"
        );
    }
    let database =
        auth_store::Database::open(&settings.database_url).context("opening the database")?;
    let now = SystemClock.now();
    let retain = settings.access_ttl_secs + 60;
    match command {
        KeysCommand::Rotate => {
            let cipher = settings
                .key_encryption_key
                .as_deref()
                .map(auth_core::KeyCipher::from_secret)
                .transpose()
                .context("AUTHD_KEY_ENCRYPTION_KEY")?;
            let key = auth_core::KeyRing::rotate(&database, now, cipher.as_ref())?;
            print(&json!({"kid": key.kid, "createdAt": key.created_at.secs(), "status": "active"}));
        }
        KeysCommand::List => {
            let mut all = auth_core::KeyStore::signing_keys(&database)?;
            let in_use: Vec<String> = auth_core::keys_in_use(all.clone(), now, retain)
                .into_iter()
                .map(|k| k.kid)
                .collect();
            all.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
            for (i, key) in all.iter().enumerate() {
                let status = if i == 0 {
                    "active"
                } else if in_use.contains(&key.kid) {
                    "published"
                } else {
                    "retired"
                };
                print(
                    &json!({"kid": key.kid, "createdAt": key.created_at.secs(), "status": status}),
                );
            }
        }
    }
    Ok(())
}

/// `authd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give a user a role (for example ADMIN).
    GrantRole {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The role to add.
        #[arg(long)]
        role: String,
    },
}

fn print(value: &serde_json::Value) {
    println!("{value}");
}

fn wallet_json(w: &Wallet) -> serde_json::Value {
    json!({"id": w.id, "username": w.username, "appId": w.app_id.as_str(), "role": w.role.as_str(), "status": w.status.as_str()})
}

/// Reads a new password: from a prompt without echo on a terminal, else the first line of
/// standard input.
fn read_password() -> anyhow::Result<Password> {
    let raw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    Password::new(&raw).map_err(|e| anyhow::anyhow!("{e}"))
}

fn app_id(raw: &str) -> anyhow::Result<AppId> {
    AppId::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))
}

fn find_wallet(authority: &Authority, r: &WalletRef) -> anyhow::Result<(AppId, Wallet)> {
    let app = app_id(&r.app)?;
    let wallet = if r.wallet.starts_with("wal_") {
        authority.wallet(&app, &r.wallet)
    } else {
        let username = Username::parse(&r.wallet).map_err(|e| anyhow::anyhow!("{e}"))?;
        authority
            .wallets(
                &app,
                Page::new(Page::MAX_LIMIT, 0).map_err(|e| anyhow::anyhow!("{e}"))?,
            )
            .and_then(|(wallets, _)| {
                // Usernames compare ignoring ASCII case, as at login.
                wallets
                    .into_iter()
                    .find(|w| w.username.eq_ignore_ascii_case(username.as_str()))
                    .ok_or(auth_core::AuthError::NotFound)
            })
    }
    .with_context(|| format!("no wallet {} in app {}", r.wallet, r.app))?;
    Ok((app, wallet))
}

/// Runs `authd app …`.
pub fn app(authority: &Authority, command: AppCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match command {
        AppCommand::Create { name } => {
            let app = authority.create_app(&name, now)?;
            print(
                &json!({"appId": app.id.as_str(), "name": app.name, "status": app.status.as_str()}),
            );
        }
        AppCommand::List => {
            let mut offset = 0;
            loop {
                let (apps, total) = authority.apps(Page::new(Page::MAX_LIMIT, offset)?)?;
                for app in &apps {
                    print(
                        &json!({"appId": app.id.as_str(), "name": app.name, "status": app.status.as_str()}),
                    );
                }
                offset += Page::MAX_LIMIT;
                if u64::from(offset) >= total || apps.is_empty() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Runs `authd wallet …`.
pub fn wallet(authority: &Authority, command: WalletCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match command {
        WalletCommand::Create {
            app,
            username,
            role,
        } => {
            let app = app_id(&app)?;
            let username = Username::parse(&username).map_err(|e| anyhow::anyhow!("{e}"))?;
            let role = WalletRole::parse(&role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let password = read_password()?;
            let wallet = authority
                .create_wallet(&app, &username, &password, role, now)
                .context("creating the wallet")?;
            print(&wallet_json(&wallet));
        }
        WalletCommand::List { app } => {
            let app = app_id(&app)?;
            let mut offset = 0;
            loop {
                let (wallets, total) =
                    authority.wallets(&app, Page::new(Page::MAX_LIMIT, offset)?)?;
                wallets.iter().for_each(|w| print(&wallet_json(w)));
                offset += Page::MAX_LIMIT;
                if u64::from(offset) >= total || wallets.is_empty() {
                    break;
                }
            }
        }
        WalletCommand::Suspend(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            let w = authority.update_wallet(&app, &w.id, Some(Status::Suspended), None, now)?;
            print(&wallet_json(&w));
        }
        WalletCommand::Activate(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            let w = authority.update_wallet(&app, &w.id, Some(Status::Active), None, now)?;
            print(&wallet_json(&w));
        }
        WalletCommand::RotatePassword(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            let password = read_password()?;
            let revoked = authority.rotate_wallet_password(&app, &w.id, &password, now)?;
            print(&json!({"id": w.id, "revokedSessions": revoked}));
        }
        WalletCommand::Delete(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            authority.delete_wallet(&app, &w.id)?;
            print(&json!({"id": w.id, "deleted": true}));
        }
    }
    Ok(())
}

/// Runs `authd user …`.
pub fn user(authority: &Authority, command: UserCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match command {
        UserCommand::GrantRole { email, role } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let Some(role) = Role::parse(&role) else {
                bail!("a role is an upper-case identifier such as ADMIN");
            };
            let user = authority
                .user_by_email(&email)
                .context("no user with that email")?;
            let mut roles = user.roles.clone();
            if !roles.contains(&role) {
                roles.push(role);
            }
            let user = authority.update_user(&user.id, Some(&roles), None, now)?;
            print(
                &json!({"id": user.id.as_str(), "email": user.email, "roles": user.role_names()}),
            );
        }
    }
    Ok(())
}

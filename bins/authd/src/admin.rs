//! Administration from the command line, directly on the configured database: everything
//! the admin API does to apps, wallets and users, and the audit trail. Passwords are read
//! from a prompt (without echo) or from standard input, never from the command line.
//! Results are printed as one JSON object per line, in the admin API's shapes; every change
//! is recorded in the audit trail with the actor `cli`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use auth_core::{
    App, AppId, AuditEvent, AuditStore, Authority, Clock, Email, Page, Password, Role, Status,
    SystemClock, User, UserId, UserStatus, Username, Wallet, WalletRole,
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
    /// Show one app.
    Show(AppRef),
    /// Suspend an app: its wallets can no longer log in, and their sessions end.
    Suspend(AppRef),
    /// Reactivate an app.
    Activate(AppRef),
}

/// Names one app.
#[derive(Debug, clap::Args)]
pub struct AppRef {
    /// The app (`app_…`).
    #[arg(long)]
    app: String,
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
    /// Show one wallet.
    Show(WalletRef),
    /// Suspend a wallet and end its sessions.
    Suspend(WalletRef),
    /// Reactivate a wallet.
    Activate(WalletRef),
    /// Change a wallet's role (its `role` claim, from its next token on).
    SetRole {
        #[command(flatten)]
        wallet: WalletRef,
        /// The new role.
        #[arg(long)]
        role: String,
    },
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
            "principal": e.principal, "actor": e.actor, "clientAddr": e.client_addr, "userAgent": e.user_agent, "count": e.count,
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
        #[command(flatten)]
        user: UserRef,
        /// The role to add.
        #[arg(long)]
        role: String,
    },
    /// Take a role away from a user.
    RevokeRole {
        #[command(flatten)]
        user: UserRef,
        /// The role to remove.
        #[arg(long)]
        role: String,
    },
    /// Suspend a user: refused at login, refresh and `me`; every session ends.
    Suspend(UserRef),
    /// Reactivate a user.
    Activate(UserRef),
    /// List users, oldest first, or those whose address contains `--email`.
    List {
        /// Only users whose address contains this text (ignoring ASCII case).
        #[arg(long)]
        email: Option<String>,
        /// Most users to print.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
        /// Users to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show one user.
    Show(UserRef),
    /// Delete a user with their sessions, one-time tokens and device links.
    Delete(UserRef),
    /// List a user's live sessions, newest first.
    Sessions(UserRef),
    /// End every live session of a user.
    RevokeSessions(UserRef),
}

/// Names one user, by email or by id.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct UserRef {
    /// The user's email.
    #[arg(long)]
    email: Option<String>,
    /// The user's id.
    #[arg(long)]
    id: Option<String>,
}

/// The actor of the command line's changes in the audit trail.
const CLI_ACTOR: &str = "cli";

/// Records an administrative change made from the command line, as the admin API does for
/// its own (`admin.<action>`, the changed principal, the actor).
fn record(audit: &dyn AuditStore, action: &str, target: &str) -> anyhow::Result<()> {
    let event = AuditEvent::admin_change(SystemClock.now(), action, target, CLI_ACTOR);
    audit
        .record_events(&[event])
        .context("the change was made, but recording it in the audit trail failed")
}

fn print(value: &serde_json::Value) {
    println!("{value}");
}

fn app_json(a: &App) -> serde_json::Value {
    json!({"appId": a.id.as_str(), "name": a.name, "status": a.status.as_str(), "createdAt": a.created_at.rfc3339()})
}

fn wallet_json(w: &Wallet) -> serde_json::Value {
    json!({"id": w.id.as_str(), "username": w.username, "appId": w.app_id.as_str(), "role": w.role.as_str(), "status": w.status.as_str(), "createdAt": w.created_at.rfc3339()})
}

fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id.as_str(), "email": u.email, "emailVerified": u.email_verified, "username": u.username, "roles": u.role_names(), "status": u.status.as_str(), "createdAt": u.created_at.rfc3339()})
}

fn session_json(s: &auth_core::Session) -> serde_json::Value {
    json!({"id": s.id.as_str(), "current": false, "createdAt": s.created_at.rfc3339(), "lastUsedAt": auth_core::last_used_at(s).rfc3339(), "expiresAt": s.expires_at.rfc3339(), "userAgent": s.origin.user_agent, "ipAddress": s.origin.ip_address})
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
pub fn app(
    authority: &Authority,
    audit: &dyn AuditStore,
    command: AppCommand,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let set_status = |r: &AppRef, status: Status| -> anyhow::Result<()> {
        let id = app_id(&r.app)?;
        let app = authority
            .set_app_status(&id, status, now)
            .with_context(|| format!("no app {}", r.app))?;
        print(&app_json(&app));
        record(audit, "update_app", app.id.as_str())
    };
    match command {
        AppCommand::Create { name } => {
            let app = authority.create_app(&name, now)?;
            print(&app_json(&app));
            record(audit, "create_app", app.id.as_str())?;
        }
        AppCommand::List => {
            let mut offset = 0;
            loop {
                let (apps, total) = authority.apps(Page::new(Page::MAX_LIMIT, offset)?)?;
                apps.iter().for_each(|a| print(&app_json(a)));
                offset += Page::MAX_LIMIT;
                if u64::from(offset) >= total || apps.is_empty() {
                    break;
                }
            }
        }
        AppCommand::Show(r) => {
            let app = authority
                .app(&app_id(&r.app)?)
                .with_context(|| format!("no app {}", r.app))?;
            print(&app_json(&app));
        }
        AppCommand::Suspend(r) => set_status(&r, Status::Suspended)?,
        AppCommand::Activate(r) => set_status(&r, Status::Active)?,
    }
    Ok(())
}

/// Runs `authd wallet …`.
pub fn wallet(
    authority: &Authority,
    audit: &dyn AuditStore,
    command: WalletCommand,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let update = |r: &WalletRef, status: Option<Status>, role: Option<WalletRole>| {
        let (app, w) = find_wallet(authority, r)?;
        let w = authority.update_wallet(&app, w.id.as_str(), status, role, now)?;
        print(&wallet_json(&w));
        record(audit, "update_wallet", w.id.as_str())
    };
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
            authority.app(&app)?;
            let hash = authority.hash_password(&password)?;
            let wallet = authority
                .create_wallet(&app, &username, hash, role, now)
                .context("creating the wallet")?;
            print(&wallet_json(&wallet));
            record(audit, "create_wallet", wallet.id.as_str())?;
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
        WalletCommand::Show(r) => print(&wallet_json(&find_wallet(authority, &r)?.1)),
        WalletCommand::Suspend(r) => update(&r, Some(Status::Suspended), None)?,
        WalletCommand::Activate(r) => update(&r, Some(Status::Active), None)?,
        WalletCommand::SetRole { wallet, role } => {
            let role = WalletRole::parse(&role).map_err(|e| anyhow::anyhow!("{e}"))?;
            update(&wallet, None, Some(role))?;
        }
        WalletCommand::RotatePassword(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            let password = read_password()?;
            let hash = authority.hash_password(&password)?;
            let revoked = authority.rotate_wallet_password(&app, w.id.as_str(), hash, now)?;
            print(&json!({"id": w.id.as_str(), "revokedSessions": revoked}));
            record(audit, "rotate_wallet_password", w.id.as_str())?;
        }
        WalletCommand::Delete(r) => {
            let (app, w) = find_wallet(authority, &r)?;
            authority.delete_wallet(&app, w.id.as_str())?;
            print(&json!({"id": w.id.as_str(), "deleted": true}));
            record(audit, "delete_wallet", w.id.as_str())?;
        }
    }
    Ok(())
}

/// Runs `authd user …`.
pub fn user(
    authority: &Authority,
    audit: &dyn AuditStore,
    command: UserCommand,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let (user, roles, status) = match command {
        UserCommand::List {
            email,
            limit,
            offset,
        } => {
            let page = Page::new(limit, offset).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (users, total) = authority.users(email.as_deref(), page)?;
            let items: Vec<_> = users.iter().map(user_json).collect();
            print(&json!({"items": items, "total": total, "limit": limit, "offset": offset}));
            return Ok(());
        }
        UserCommand::Show(r) => {
            print(&user_json(&find_user(authority, &r)?));
            return Ok(());
        }
        UserCommand::Delete(r) => {
            let user = find_user(authority, &r)?;
            authority.delete_user(&user.id, now)?;
            print(&json!({"deleted": user.id.as_str()}));
            return record(audit, "delete_user", user.id.as_str());
        }
        UserCommand::Sessions(r) => {
            let user = find_user(authority, &r)?;
            let page = Page::new(Page::MAX_LIMIT, 0).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (sessions, total) = authority.user_sessions(&user.id, page, now)?;
            let items: Vec<_> = sessions.iter().map(session_json).collect();
            print(&json!({"items": items, "total": total, "limit": page.limit, "offset": 0}));
            return Ok(());
        }
        UserCommand::RevokeSessions(r) => {
            let user = find_user(authority, &r)?;
            let revoked = authority.end_user_sessions(&user.id, now)?;
            print(&json!({"revokedSessions": revoked}));
            return record(audit, "revoke_user_sessions", user.id.as_str());
        }
        UserCommand::GrantRole { user, role } => {
            let (user, role) = (find_user(authority, &user)?, role_named(&role)?);
            let mut roles = user.roles.clone();
            if !roles.contains(&role) {
                roles.push(role);
            }
            (user, Some(roles), None)
        }
        UserCommand::RevokeRole { user, role } => {
            let (user, role) = (find_user(authority, &user)?, role_named(&role)?);
            let roles = user.roles.iter().filter(|r| **r != role).cloned().collect();
            (user, Some(roles), None)
        }
        UserCommand::Suspend(r) => (find_user(authority, &r)?, None, Some(UserStatus::Suspended)),
        UserCommand::Activate(r) => (find_user(authority, &r)?, None, Some(UserStatus::Active)),
    };
    let user = authority.update_user(&user.id, roles.as_deref(), status, now)?;
    print(&user_json(&user));
    record(audit, "update_user", user.id.as_str())
}

fn role_named(raw: &str) -> anyhow::Result<Role> {
    Role::parse(raw).context("a role is an upper-case identifier such as ADMIN")
}

fn find_user(authority: &Authority, r: &UserRef) -> anyhow::Result<User> {
    match (&r.email, &r.id) {
        (Some(email), _) => {
            let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
            authority
                .user_by_email(&email)
                .context("no user with that email")
        }
        (None, Some(id)) => UserId::parse(id)
            .context("a user id is a UUID")
            .and_then(|id| authority.user(&id).context("no user with that id")),
        (None, None) => bail!("name the user with --email or --id"),
    }
}

//! An in-memory store for the unit tests of this crate: the ports' rules, kept by a mutex.

mod accounts;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{
    App, AppId, ClientDeviceId, Device, DeviceStore, KeyStore, Page, PasswordHash, Platform,
    PrincipalKind, RefreshRecord, Session, SessionId, SessionPrincipal, SessionStore, Status,
    StoreError, StoredSigningKey, TokenHash, UnixTime, User, UserId, UserStore, Username, Wallet,
    WalletStore,
};

#[derive(Default)]
struct State {
    users: Vec<User>,
    sessions: HashMap<String, Session>,
    refresh: HashMap<String, RefreshRecord>,
    keys: Vec<StoredSigningKey>,
    devices: Vec<Device>,
    apps: Vec<App>,
    wallets: Vec<Wallet>,
    attempts: HashMap<String, crate::AttemptRecord>,
    accounts: HashMap<String, crate::AccountFailures>,
    secrets: HashMap<String, String>,
    rates: HashMap<String, i64>,
    one_time: Vec<crate::OneTimeRecord>,
    outbox: Vec<accounts::QueuedMail>,
}

impl State {
    /// The user a session belongs to, if it is a user's and the user exists.
    fn principal_of(&self, session: &Session) -> Option<SessionPrincipal> {
        let id = session.principal_id.as_str();
        match session.kind {
            PrincipalKind::User => self.user_of(session).map(SessionPrincipal::User),
            PrincipalKind::Device => self
                .devices
                .iter()
                .find(|d| d.id.as_str() == id)
                .map(|d| SessionPrincipal::Device(d.clone())),
            PrincipalKind::Wallet => self.wallets.iter().find(|w| w.id.as_str() == id).map(|w| {
                let app = self.apps.iter().find(|a| a.id == w.app_id).cloned();
                SessionPrincipal::Wallet(w.clone(), app)
            }),
        }
    }

    fn user_of(&self, session: &Session) -> Option<User> {
        if session.kind != PrincipalKind::User {
            return None;
        }
        self.users
            .iter()
            .find(|u| u.id.as_str() == session.principal_id)
            .cloned()
    }
}

fn revoke_all(s: &mut State, kind: crate::PrincipalKind, principal: &str, at: UnixTime) -> u64 {
    let mut n = 0;
    for sess in s.sessions.values_mut() {
        if sess.kind == kind && sess.principal_id == principal && sess.revoked_at.is_none() {
            sess.revoked_at = Some(at);
            n += 1;
        }
    }
    n
}

#[derive(Default)]
pub struct MemoryStore(Mutex<State>);

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn session_count(&self) -> usize {
        self.state().sessions.len()
    }

    /// Records a chain token as releases before tokens named their session did.
    pub fn insert_unlocated_record(&self, record: RefreshRecord) {
        self.state()
            .refresh
            .insert(record.hash.as_str().to_owned(), record);
    }
}

impl UserStore for MemoryStore {
    fn create_user(&self, user: &User, session: &Session) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.users.iter().any(|u| {
            u.email_normalized == user.email_normalized
                || u.username_normalized == user.username_normalized
        }) {
            return Err(StoreError::Duplicate);
        }
        s.users.push(user.clone());
        s.sessions
            .insert(session.id.as_str().to_owned(), session.clone());
        Ok(())
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .state()
            .users
            .iter()
            .find(|u| u.email_normalized == email)
            .cloned())
    }

    fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state().users.iter().find(|u| &u.id == id).cloned())
    }

    fn find_user_session(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<User>)>, StoreError> {
        let s = self.state();
        Ok(s.sessions
            .get(id.as_str())
            .map(|session| (session.clone(), s.user_of(session))))
    }

    fn set_status(
        &self,
        id: &UserId,
        status: crate::UserStatus,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(u) = s.users.iter_mut().find(|u| &u.id == id) else {
            return Ok(false);
        };
        u.status = status;
        u.updated_at = at;
        Ok(true)
    }

    fn set_roles(
        &self,
        id: &UserId,
        roles: &[crate::Role],
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(u) = s.users.iter_mut().find(|u| &u.id == id) else {
            return Ok(false);
        };
        u.roles = roles.to_vec();
        u.updated_at = at;
        Ok(true)
    }

    fn update_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(u) = s
            .users
            .iter_mut()
            .find(|u| &u.id == id && &u.password_hash == from)
        else {
            return Ok(false);
        };
        u.password_hash = to.clone();
        u.updated_at = at;
        Ok(true)
    }
}

impl SessionStore for MemoryStore {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut s = self.state();
        s.sessions
            .insert(session.id.as_str().to_owned(), session.clone());
        Ok(())
    }

    fn create_session_guarded(
        &self,
        session: &Session,
        guard: &crate::CredentialGuard,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let current = match guard.kind {
            PrincipalKind::User => s.users.iter().any(|u| {
                u.id.as_str() == guard.principal_id
                    && u.password_hash == guard.password_hash
                    && u.status == crate::UserStatus::Active
            }),
            _ => s.wallets.iter().any(|w| {
                w.id.as_str() == guard.principal_id
                    && w.password_hash == guard.password_hash
                    && w.may_authenticate(s.apps.iter().find(|a| a.id == w.app_id))
            }),
        };
        if current {
            s.sessions
                .insert(session.id.as_str().to_owned(), session.clone());
        }
        Ok(current)
    }

    fn find_session_with_principal(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<SessionPrincipal>)>, StoreError> {
        let s = self.state();
        Ok(s.sessions
            .get(id.as_str())
            .map(|session| (session.clone(), s.principal_of(session))))
    }

    fn find_refresh_with_principal(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<crate::FoundRefresh>, StoreError> {
        let s = self.state();
        Ok(s.refresh.get(hash.as_str()).and_then(|r| {
            let session = s.sessions.get(r.session_id.as_str())?;
            Some((r.clone(), session.clone(), s.principal_of(session)))
        }))
    }

    fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.state().sessions.get(id.as_str()).cloned())
    }

    fn advance_session(
        &self,
        session: &Session,
        from: i64,
        next: &RefreshRecord,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(sess) = s.sessions.get_mut(session.id.as_str()) else {
            return Ok(false);
        };
        if sess.generation != from || sess.revoked_at.is_some() {
            return Ok(false);
        }
        sess.generation = next.generation;
        sess.current_hash = next.hash.clone();
        sess.current_expires_at = next.expires_at;
        sess.rotated_at = Some(at);
        if session.kind == PrincipalKind::Device
            && let Some(d) = s
                .devices
                .iter_mut()
                .find(|d| d.id.as_str() == session.principal_id)
        {
            d.last_seen_at = at;
        }
        Ok(true)
    }

    fn purge_sessions(
        &self,
        ended_before: UnixTime,
        revoked_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut s = self.state();
        let doomed: Vec<String> = s
            .sessions
            .values()
            .filter(|x| match x.revoked_at {
                None => x.expires_at < ended_before,
                Some(r) => r < revoked_before,
            })
            .take(limit)
            .map(|x| x.id.as_str().to_owned())
            .collect();
        s.sessions.retain(|id, _| !doomed.contains(id));
        s.refresh
            .retain(|_, r| !doomed.iter().any(|id| id == r.session_id.as_str()));
        Ok(doomed.len())
    }

    fn revoke_session(&self, id: &SessionId, at: UnixTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        Ok(match s.sessions.get_mut(id.as_str()) {
            Some(sess) if sess.revoked_at.is_none() => {
                sess.revoked_at = Some(at);
                true
            }
            _ => false,
        })
    }
}

impl KeyStore for MemoryStore {
    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(self.state().keys.clone())
    }

    fn seal_signing_key(&self, kid: &str, plain: &str, sealed: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(key) = s
            .keys
            .iter_mut()
            .find(|k| k.kid == kid && k.private_key == plain)
        else {
            return Ok(false);
        };
        sealed.clone_into(&mut key.private_key);
        Ok(true)
    }

    fn shared_secret(
        &self,
        name: &str,
        candidate: &str,
        _at: UnixTime,
    ) -> Result<String, StoreError> {
        Ok(self
            .state()
            .secrets
            .entry(name.to_owned())
            .or_insert_with(|| candidate.to_owned())
            .clone())
    }

    fn insert_first_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError> {
        let mut s = self.state();
        if !s.keys.is_empty() {
            return Ok(false);
        }
        s.keys.push(key.clone());
        Ok(true)
    }

    fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Duplicate);
        }
        s.keys.push(key.clone());
        Ok(())
    }
}

impl DeviceStore for MemoryStore {
    fn create_device(&self, device: &Device, session: &Session) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.devices
            .iter()
            .any(|d| d.platform == device.platform && d.device_id == device.device_id)
        {
            return Err(StoreError::Duplicate);
        }
        s.devices.push(device.clone());
        s.sessions
            .insert(session.id.as_str().to_owned(), session.clone());
        Ok(())
    }

    fn device_by_key(
        &self,
        platform: Platform,
        device_id: &ClientDeviceId,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .state()
            .devices
            .iter()
            .find(|d| d.platform == platform && &d.device_id == device_id)
            .cloned())
    }

    fn device_by_id(&self, id: &str) -> Result<Option<Device>, StoreError> {
        Ok(self
            .state()
            .devices
            .iter()
            .find(|d| d.id.as_str() == id)
            .cloned())
    }

    fn touch_device(&self, id: &str, at: UnixTime) -> Result<(), StoreError> {
        if let Some(d) = self
            .state()
            .devices
            .iter_mut()
            .find(|d| d.id.as_str() == id)
        {
            d.last_seen_at = at;
        }
        Ok(())
    }

    fn purge_devices(&self, seen_before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let mut s = self.state();
        let doomed: Vec<String> = s
            .devices
            .iter()
            .filter(|d| d.last_seen_at < seen_before)
            .take(limit)
            .map(|d| d.id.as_str().to_owned())
            .collect();
        s.devices
            .retain(|d| !doomed.iter().any(|id| id == d.id.as_str()));
        let sessions: Vec<String> = s
            .sessions
            .values()
            .filter(|x| x.kind == crate::PrincipalKind::Device && doomed.contains(&x.principal_id))
            .map(|x| x.id.as_str().to_owned())
            .collect();
        s.sessions.retain(|id, _| !sessions.contains(id));
        s.refresh
            .retain(|_, r| !sessions.iter().any(|id| id == r.session_id.as_str()));
        Ok(doomed.len())
    }
}

impl WalletStore for MemoryStore {
    fn create_app(&self, app: &App) -> Result<(), StoreError> {
        self.state().apps.push(app.clone());
        Ok(())
    }

    fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        Ok(self.state().apps.iter().find(|a| &a.id == id).cloned())
    }

    fn list_apps(&self, page: Page) -> Result<(Vec<App>, u64), StoreError> {
        let s = self.state();
        let items = s
            .apps
            .iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .cloned()
            .collect();
        Ok((items, s.apps.len() as u64))
    }

    fn set_app_status(&self, id: &AppId, status: Status, at: UnixTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(app) = s.apps.iter_mut().find(|a| &a.id == id) else {
            return Ok(false);
        };
        app.status = status;
        if status == Status::Suspended {
            let wallets: Vec<String> = s
                .wallets
                .iter()
                .filter(|w| &w.app_id == id)
                .map(|w| w.id.to_string())
                .collect();
            for w in wallets {
                revoke_all(&mut s, crate::PrincipalKind::Wallet, &w, at);
            }
        }
        Ok(true)
    }

    fn create_wallet(&self, wallet: &Wallet) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.wallets
            .iter()
            .any(|w| w.app_id == wallet.app_id && w.username.eq_ignore_ascii_case(&wallet.username))
        {
            return Err(StoreError::Duplicate);
        }
        s.wallets.push(wallet.clone());
        Ok(())
    }

    fn wallet_by_username(
        &self,
        app: &AppId,
        username: &Username,
    ) -> Result<Option<Wallet>, StoreError> {
        Ok(self
            .state()
            .wallets
            .iter()
            .find(|w| &w.app_id == app && w.username.eq_ignore_ascii_case(username.as_str()))
            .cloned())
    }

    fn wallet(&self, id: &str) -> Result<Option<Wallet>, StoreError> {
        Ok(self
            .state()
            .wallets
            .iter()
            .find(|w| w.id.as_str() == id)
            .cloned())
    }

    fn list_wallets(&self, app: &AppId, page: Page) -> Result<(Vec<Wallet>, u64), StoreError> {
        let s = self.state();
        let all: Vec<&Wallet> = s.wallets.iter().filter(|w| &w.app_id == app).collect();
        let items = all
            .iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .map(|w| (*w).clone())
            .collect();
        Ok((items, all.len() as u64))
    }

    fn rehash_wallet_password(
        &self,
        id: &str,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(w) = s
            .wallets
            .iter_mut()
            .find(|w| w.id.as_str() == id && &w.password_hash == from)
        else {
            return Ok(false);
        };
        w.password_hash = to.clone();
        w.updated_at = at;
        Ok(true)
    }

    fn update_wallet(
        &self,
        id: &str,
        change: &crate::WalletChange,
        revoke: bool,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError> {
        let mut s = self.state();
        let Some(w) = s.wallets.iter_mut().find(|w| w.id.as_str() == id) else {
            return Ok(None);
        };
        if let Some(status) = change.status {
            w.status = status;
        }
        if let Some(role) = &change.role {
            w.role = role.clone();
        }
        if let Some(hash) = &change.password_hash {
            w.password_hash = hash.clone();
        }
        w.updated_at = at;
        Ok(Some(if revoke {
            revoke_all(&mut s, crate::PrincipalKind::Wallet, id, at)
        } else {
            0
        }))
    }

    fn delete_wallet(&self, id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        let before = s.wallets.len();
        s.wallets.retain(|w| w.id.as_str() != id);
        s.sessions
            .retain(|_, x| !(x.kind == crate::PrincipalKind::Wallet && x.principal_id == id));
        Ok(s.wallets.len() < before)
    }
}

impl crate::ThrottleStore for MemoryStore {
    fn reserve_attempt(
        &self,
        key: &crate::AttemptKey,
        admit: &dyn Fn(&crate::ThrottleState) -> Result<crate::AttemptRecord, i64>,
    ) -> Result<Result<(), i64>, StoreError> {
        let mut s = self.state();
        let state = crate::ThrottleState {
            attempts: s.attempts.get(&key.network).copied(),
            account: s.accounts.get(&key.account).copied(),
        };
        Ok(admit(&state).map(|record| {
            s.attempts.insert(key.network.clone(), record);
        }))
    }

    fn record_failure(
        &self,
        key: &crate::AttemptKey,
        attempts: &dyn Fn(Option<&crate::AttemptRecord>) -> crate::AttemptRecord,
        account: &dyn Fn(Option<&crate::AccountFailures>) -> crate::AccountFailures,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        let record = attempts(s.attempts.get(&key.network));
        s.attempts.insert(key.network.clone(), record);
        let count = account(s.accounts.get(&key.account));
        s.accounts.insert(key.account.clone(), count);
        Ok(())
    }

    fn record_success(
        &self,
        key: &crate::AttemptKey,
        record: &crate::AttemptRecord,
    ) -> Result<(), StoreError> {
        self.state().attempts.insert(key.network.clone(), *record);
        Ok(())
    }

    fn release_attempt(
        &self,
        key: &crate::AttemptKey,
        next: &dyn Fn(Option<&crate::AttemptRecord>) -> Option<crate::AttemptRecord>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        match next(s.attempts.get(&key.network)) {
            Some(record) => s.attempts.insert(key.network.clone(), record),
            None => s.attempts.remove(&key.network),
        };
        Ok(())
    }

    fn purge_attempts(
        &self,
        attempted_before: UnixTime,
        succeeded_before: UnixTime,
        window_before: UnixTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut s = self.state();
        let stale: Vec<String> = s
            .attempts
            .iter()
            .filter(|(_, r)| {
                r.last_attempt_at < attempted_before
                    && r.last_success_at.is_none_or(|at| at < succeeded_before)
            })
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in &stale {
            s.attempts.remove(k);
        }
        let old: Vec<String> = s
            .accounts
            .iter()
            .filter(|(_, a)| a.window_start < window_before)
            .map(|(k, _)| k.clone())
            .take(limit - stale.len())
            .collect();
        for k in &old {
            s.accounts.remove(k);
        }
        Ok(stale.len() + old.len())
    }
}

impl crate::RateLimitStore for MemoryStore {
    fn take_rate(
        &self,
        key: &str,
        quota: crate::RateQuota,
        now: i64,
    ) -> Result<crate::RateTake, StoreError> {
        let mut s = self.state();
        let tat = s.rates.get(key).copied();
        Ok(match quota.advance(tat, now) {
            Some(next) => {
                s.rates.insert(key.to_owned(), next);
                crate::RateTake::Taken(next)
            }
            None => crate::RateTake::Refused(tat),
        })
    }

    fn purge_rates(&self, before: i64, limit: usize) -> Result<usize, StoreError> {
        let mut s = self.state();
        let full: Vec<String> = s
            .rates
            .iter()
            .filter(|(_, tat)| **tat < before)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in &full {
            s.rates.remove(k);
        }
        Ok(full.len())
    }
}

impl crate::Readiness for MemoryStore {
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn pool_usage(&self) -> (u32, u32) {
        (1, 1)
    }

    fn live_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        Ok(self
            .state()
            .sessions
            .values()
            .filter(|s| s.is_live(now))
            .count() as u64)
    }
}

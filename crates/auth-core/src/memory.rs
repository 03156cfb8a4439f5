//! An in-memory store for the unit tests of this crate: the ports' rules, kept by a mutex.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{
    Device, DeviceId, DeviceStore, KeyStore, PasswordHash, Platform, RefreshRecord, Session,
    SessionId, SessionStore, StoreError, StoredSigningKey, TokenHash, UnixTime, User, UserId,
    UserStore,
};

#[derive(Default)]
struct State {
    users: Vec<User>,
    sessions: HashMap<String, Session>,
    refresh: HashMap<String, RefreshRecord>,
    keys: Vec<StoredSigningKey>,
    devices: Vec<Device>,
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
}

impl UserStore for MemoryStore {
    fn create_user(
        &self,
        user: &User,
        session: &Session,
        first: &RefreshRecord,
    ) -> Result<(), StoreError> {
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
        s.refresh
            .insert(first.hash.as_str().to_owned(), first.clone());
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

    fn set_status(
        &self,
        id: &UserId,
        status: crate::UserStatus,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .state()
            .users
            .iter_mut()
            .find(|u| &u.id == id)
            .map(|u| {
                u.status = status;
                u.updated_at = at;
            })
            .is_some())
    }

    fn update_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        if let Some(u) = self.state().users.iter_mut().find(|u| &u.id == id) {
            u.password_hash = hash.clone();
            u.updated_at = at;
        }
        Ok(())
    }
}

impl SessionStore for MemoryStore {
    fn create_session(&self, session: &Session, first: &RefreshRecord) -> Result<(), StoreError> {
        let mut s = self.state();
        s.sessions
            .insert(session.id.as_str().to_owned(), session.clone());
        s.refresh
            .insert(first.hash.as_str().to_owned(), first.clone());
        Ok(())
    }

    fn find_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, Session)>, StoreError> {
        let s = self.state();
        Ok(s.refresh.get(hash.as_str()).and_then(|r| {
            s.sessions
                .get(r.session_id.as_str())
                .map(|sess| (r.clone(), sess.clone()))
        }))
    }

    fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.state().sessions.get(id.as_str()).cloned())
    }

    fn advance_session(
        &self,
        id: &SessionId,
        from: i64,
        next: &RefreshRecord,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(sess) = s.sessions.get_mut(id.as_str()) else {
            return Ok(false);
        };
        if sess.generation != from || sess.revoked_at.is_some() {
            return Ok(false);
        }
        sess.generation = next.generation;
        sess.current_hash = next.hash.clone();
        sess.current_expires_at = next.expires_at;
        sess.rotated_at = Some(at);
        s.refresh
            .insert(next.hash.as_str().to_owned(), next.clone());
        Ok(true)
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
    fn create_device(
        &self,
        device: &Device,
        session: &Session,
        first: &RefreshRecord,
    ) -> Result<(), StoreError> {
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
        s.refresh
            .insert(first.hash.as_str().to_owned(), first.clone());
        Ok(())
    }

    fn device_by_key(
        &self,
        platform: Platform,
        device_id: &DeviceId,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .state()
            .devices
            .iter()
            .find(|d| d.platform == platform && &d.device_id == device_id)
            .cloned())
    }

    fn device_by_id(&self, id: &str) -> Result<Option<Device>, StoreError> {
        Ok(self.state().devices.iter().find(|d| d.id == id).cloned())
    }

    fn touch_device(&self, id: &str, at: UnixTime) -> Result<(), StoreError> {
        if let Some(d) = self.state().devices.iter_mut().find(|d| d.id == id) {
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
            .map(|d| d.id.clone())
            .collect();
        s.devices.retain(|d| !doomed.contains(&d.id));
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

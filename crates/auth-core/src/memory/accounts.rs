//! One-time tokens and the mail outbox of [`MemoryStore`], as the ports' docs say.

use super::{MemoryStore, revoke_all};
use crate::{
    Email, MailOutbox, OneTimePurpose, OneTimeRecord, OneTimeStore, OutboxMail, PasswordHash,
    PasswordReset, PrincipalKind, Redemption, StoreError, TokenHash, UnixTime, UserId,
};

/// A mail in the outbox with its schedule.
pub(super) struct QueuedMail {
    mail: OutboxMail,
    due: UnixTime,
    given_up: bool,
}

impl MemoryStore {
    /// Deletes the live token `hash` of `purpose` and returns it, or says why not.
    fn claim(
        &self,
        hash: &TokenHash,
        purpose: OneTimePurpose,
        now: UnixTime,
    ) -> Result<OneTimeRecord, Redemption<()>> {
        let mut s = self.state();
        let Some(at) = s
            .one_time
            .iter()
            .position(|r| &r.hash == hash && r.purpose == purpose)
        else {
            return Err(Redemption::Unknown);
        };
        if s.one_time[at].expires_at <= now {
            return Err(Redemption::Expired);
        }
        Ok(s.one_time.remove(at))
    }
}

/// The same refusal for any redemption type.
fn refused<T>(why: Redemption<()>) -> Redemption<T> {
    match why {
        Redemption::Expired => Redemption::Expired,
        Redemption::Redeemed(()) | Redemption::Unknown => Redemption::Unknown,
    }
}

impl OneTimeStore for MemoryStore {
    fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError> {
        let mut s = self.state();
        s.one_time
            .retain(|r| !(r.user_id == record.user_id && r.purpose == record.purpose));
        s.one_time.push(record.clone());
        Ok(())
    }

    fn verify_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError> {
        let record = match self.claim(hash, OneTimePurpose::VerifyEmail, now) {
            Ok(record) => record,
            Err(why) => return Ok(refused(why)),
        };
        let mut s = self.state();
        if let Some(user) = s.users.iter_mut().find(|u| u.id == record.user_id) {
            user.email_verified = true;
            user.updated_at = now;
        }
        Ok(Redemption::Redeemed(record.user_id))
    }

    fn reset_password(
        &self,
        hash: &TokenHash,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Redemption<PasswordReset>, StoreError> {
        let record = match self.claim(hash, OneTimePurpose::ResetPassword, now) {
            Ok(record) => record,
            Err(why) => return Ok(refused(why)),
        };
        let mut s = self.state();
        if let Some(user) = s.users.iter_mut().find(|u| u.id == record.user_id) {
            user.password_hash = password_hash.clone();
            user.email_verified = true;
            user.updated_at = now;
        }
        let revoked = revoke_all(&mut s, PrincipalKind::User, record.user_id.as_str(), now);
        Ok(Redemption::Redeemed(PasswordReset {
            user_id: record.user_id,
            revoked_sessions: revoked,
        }))
    }

    fn change_email(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Redemption<UserId>, StoreError> {
        let record = match self.claim(hash, OneTimePurpose::ChangeEmail, now) {
            Ok(record) => record,
            Err(why) => return Ok(refused(why)),
        };
        let email = record
            .new_email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or_else(|| StoreError::Backend("an email change without an address".into()))?;
        let mut s = self.state();
        let taken = s
            .users
            .iter()
            .any(|u| u.email_normalized == email.normalized() && u.id != record.user_id);
        if taken {
            // The change is refused and the token stays usable, as a rolled-back
            // transaction leaves it.
            s.one_time.push(record);
            return Err(StoreError::Duplicate);
        }
        if let Some(user) = s.users.iter_mut().find(|u| u.id == record.user_id) {
            user.email = email.as_str().to_owned();
            user.email_normalized = email.normalized().to_owned();
            user.email_verified = true;
            user.updated_at = now;
        }
        Ok(Redemption::Redeemed(record.user_id))
    }

    fn purge_one_time(&self, before: UnixTime, limit: usize) -> Result<usize, StoreError> {
        let mut s = self.state();
        let mut purged = 0;
        s.one_time.retain(|r| {
            let doomed = r.expires_at < before && purged < limit;
            purged += usize::from(doomed);
            !doomed
        });
        Ok(purged)
    }
}

impl MailOutbox for MemoryStore {
    fn queue_mail(&self, mail: &OutboxMail) -> Result<(), StoreError> {
        self.state().outbox.push(QueuedMail {
            mail: mail.clone(),
            due: mail.created_at,
            given_up: false,
        });
        Ok(())
    }

    fn claim_mail(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let mut s = self.state();
        let mut claimed = Vec::new();
        for queued in s.outbox.iter_mut() {
            if claimed.len() < limit && !queued.given_up && queued.due <= now {
                queued.due = now.plus_secs(lease_secs);
                queued.mail.attempts += 1;
                claimed.push(queued.mail.clone());
            }
        }
        Ok(claimed)
    }

    fn mail_sent(&self, id: &str) -> Result<(), StoreError> {
        self.state().outbox.retain(|q| q.mail.id != id);
        Ok(())
    }

    fn mail_failed(
        &self,
        id: &str,
        _error: &str,
        _now: UnixTime,
        retry_at: Option<UnixTime>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        if let Some(queued) = s.outbox.iter_mut().find(|q| q.mail.id == id) {
            match retry_at {
                Some(at) => queued.due = at,
                None => queued.given_up = true,
            }
        }
        Ok(())
    }

    fn outbox_depth(&self) -> Result<(u64, u64), StoreError> {
        let s = self.state();
        let given_up = s.outbox.iter().filter(|q| q.given_up).count() as u64;
        Ok((s.outbox.len() as u64 - given_up, given_up))
    }
}

impl crate::AccountStore for MemoryStore {
    fn create_pending_user(&self, user: &crate::User) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.users.iter().any(|u| {
            u.email_normalized == user.email_normalized
                || u.username_normalized == user.username_normalized
        }) {
            return Err(StoreError::Duplicate);
        }
        s.users.push(user.clone());
        Ok(())
    }

    fn username_taken(&self, username_normalized: &str) -> Result<bool, StoreError> {
        Ok(self
            .state()
            .users
            .iter()
            .any(|u| u.username_normalized == username_normalized))
    }

    fn change_password(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        keep: &crate::SessionId,
        at: UnixTime,
    ) -> Result<Option<u64>, StoreError> {
        let mut s = self.state();
        let Some(user) = s
            .users
            .iter_mut()
            .find(|u| &u.id == id && &u.password_hash == from)
        else {
            return Ok(None);
        };
        user.password_hash = to.clone();
        user.updated_at = at;
        Ok(Some(revoke_others(
            &mut s,
            PrincipalKind::User,
            id.as_str(),
            Some(keep),
            at,
        )))
    }

    fn delete_user(&self, id: &UserId, at: UnixTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        let before = s.users.len();
        s.users.retain(|u| &u.id != id);
        if s.users.len() == before {
            return Ok(false);
        }
        s.sessions
            .retain(|_, x| !(x.kind == PrincipalKind::User && x.principal_id == id.as_str()));
        s.one_time.retain(|r| &r.user_id != id);
        let linked: Vec<String> = s
            .devices
            .iter()
            .filter(|d| d.user_id.as_ref() == Some(id))
            .map(|d| d.id.as_str().to_owned())
            .collect();
        for device in linked {
            revoke_others(&mut s, PrincipalKind::Device, &device, None, at);
        }
        for d in s
            .devices
            .iter_mut()
            .filter(|d| d.user_id.as_ref() == Some(id))
        {
            d.user_id = None;
        }
        Ok(true)
    }

    fn list_users(
        &self,
        email: Option<&str>,
        page: crate::Page,
    ) -> Result<(Vec<crate::User>, u64), StoreError> {
        let s = self.state();
        let mut users: Vec<_> = s
            .users
            .iter()
            .filter(|u| email.is_none_or(|e| u.email_normalized.contains(e)))
            .cloned()
            .collect();
        users.sort_by(|x, y| (x.created_at, x.id.as_str()).cmp(&(y.created_at, y.id.as_str())));
        let total = users.len() as u64;
        Ok((paged(users, page), total))
    }

    fn live_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        now: UnixTime,
        page: crate::Page,
    ) -> Result<(Vec<crate::Session>, u64), StoreError> {
        let s = self.state();
        let mut live: Vec<_> = s
            .sessions
            .values()
            .filter(|x| x.kind == kind && x.principal_id == principal_id && x.is_live(now))
            .cloned()
            .collect();
        live.sort_by(|x, y| (y.created_at, y.id.as_str()).cmp(&(x.created_at, x.id.as_str())));
        let total = live.len() as u64;
        Ok((paged(live, page), total))
    }

    fn revoke_own_session(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        id: &crate::SessionId,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        Ok(match s.sessions.get_mut(id.as_str()) {
            Some(x) if x.kind == kind && x.principal_id == principal_id && x.is_live(at) => {
                x.revoked_at = Some(at);
                true
            }
            _ => false,
        })
    }

    fn revoke_sessions_of(
        &self,
        kind: PrincipalKind,
        principal_id: &str,
        keep: Option<&crate::SessionId>,
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        Ok(revoke_others(
            &mut self.state(),
            kind,
            principal_id,
            keep,
            at,
        ))
    }
}

/// Revokes the live sessions of a principal but `keep`.
fn revoke_others(
    s: &mut super::State,
    kind: PrincipalKind,
    principal_id: &str,
    keep: Option<&crate::SessionId>,
    at: UnixTime,
) -> u64 {
    let mut n = 0;
    for x in s.sessions.values_mut() {
        if x.kind == kind && x.principal_id == principal_id && x.is_live(at) && keep != Some(&x.id)
        {
            x.revoked_at = Some(at);
            n += 1;
        }
    }
    n
}

fn paged<T>(items: Vec<T>, page: crate::Page) -> Vec<T> {
    items
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .collect()
}

impl crate::DeviceLinks for MemoryStore {
    fn link_device(
        &self,
        id: &str,
        user: &UserId,
        _at: UnixTime,
    ) -> Result<crate::DeviceLink, StoreError> {
        let mut s = self.state();
        let Some(device) = s.devices.iter_mut().find(|d| d.id.as_str() == id) else {
            return Ok(crate::DeviceLink::Unknown);
        };
        match &device.user_id {
            Some(other) if other != user => Ok(crate::DeviceLink::LinkedToOther),
            _ => {
                device.user_id = Some(user.clone());
                Ok(crate::DeviceLink::Linked(device.clone()))
            }
        }
    }

    fn linked_devices(&self, user: &UserId) -> Result<Vec<crate::Device>, StoreError> {
        let mut linked: Vec<_> = self
            .state()
            .devices
            .iter()
            .filter(|d| d.user_id.as_ref() == Some(user))
            .cloned()
            .collect();
        linked.sort_by_key(|d| d.created_at);
        Ok(linked)
    }

    fn unlink_device(&self, user: &UserId, id: &str, at: UnixTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(device) = s
            .devices
            .iter_mut()
            .find(|d| d.id.as_str() == id && d.user_id.as_ref() == Some(user))
        else {
            return Ok(false);
        };
        device.user_id = None;
        revoke_others(&mut s, PrincipalKind::Device, id, None, at);
        Ok(true)
    }
}

//! What each queued mail says, decided when it is sent.
//!
//! [`compose`] turns an [`OutboxMail`] into the [`ComposedMail`] to deliver: it finds the
//! account the mail concerns (by id, or by the address a "send me a mail" request named),
//! issues the one-time token a link needs, and fills the kind's [`MailTemplate`]. A
//! request for an address without an account, or for an address already verified,
//! composes nothing: the request was answered the same either way, and the mail is
//! dropped here, where nobody can time it.

use crate::one_time::{OneTimePolicy, OneTimePurpose, OneTimeRecord};
use crate::outbox::{MailKind, OutboxMail};
use crate::user::{User, UserId};
use crate::{AuthError, Email, StoreError, UnixTime};

/// A mail's subject and bodies, with `{{name}}` placeholders: `link` (the page of the
/// app the mail leads to, token included), `token` (the one-time token alone, for a link
/// of the operator's own making), `email` (the account's address), `new_email`,
/// `username` and `public_url`. Unknown placeholders are left as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTemplate {
    /// One line; line breaks in it or in the values put into it become spaces.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body; values put into it are HTML-escaped.
    pub html: String,
}

impl MailTemplate {
    /// The template authd uses for `kind` unless the operator supplies one.
    #[must_use]
    pub fn default_for(kind: MailKind) -> Self {
        let (subject, lead, action) = match kind {
            MailKind::VerifyEmail => (
                "Verify your email address",
                "Please confirm that {{email}} is your address.",
                Some("Verify my email"),
            ),
            MailKind::ResetPassword => (
                "Reset your password",
                "Someone asked to reset the password of the account {{email}}. If it was \
                 you, choose a new password within the hour; if not, ignore this mail.",
                Some("Choose a new password"),
            ),
            MailKind::ConfirmEmailChange => (
                "Confirm your new email address",
                "Please confirm that the account {{username}} should use {{new_email}} from \
                 now on.",
                Some("Confirm my new address"),
            ),
            MailKind::EmailChangeRequested => (
                "Your email address is being changed",
                "Someone with the password of the account {{username}} asked to move it \
                 from {{email}} to another address. If it was not you, change your \
                 password now.",
                None,
            ),
            MailKind::PasswordChanged => (
                "Your password was changed",
                "The password of the account {{email}} was just changed, and its other \
                 sessions were signed out. If it was not you, reset your password now.",
                None,
            ),
            MailKind::AccountExists => (
                "Someone tried to register with your address",
                "Someone tried to create an account with {{email}}, which already has \
                 one. If it was you, log in or reset your password instead.",
                None,
            ),
        };
        let (text_action, html_action) = match action {
            Some(label) => (
                format!("\n\n{label}:\n{{{{link}}}}\n"),
                format!("<p><a href=\"{{{{link}}}}\">{label}</a></p>"),
            ),
            None => (String::from("\n"), String::new()),
        };
        Self {
            subject: subject.to_owned(),
            text: format!("{lead}{text_action}"),
            html: format!("<!doctype html><html><body><p>{lead}</p>{html_action}</body></html>"),
        }
    }

    /// An operator's template: `html` when given, else the text, escaped, in a `<pre>`.
    #[must_use]
    pub fn from_text(subject: &str, text: &str, html: Option<String>) -> Self {
        let html = html.unwrap_or_else(|| {
            format!(
                "<!doctype html><html><body><pre style=\"font-family:inherit;\
                 white-space:pre-wrap\">{}</pre></body></html>",
                html_escape(text)
            )
        });
        Self {
            subject: one_line(subject),
            text: text.to_owned(),
            html,
        }
    }

    /// The template with `values` put in.
    #[must_use]
    pub fn render(&self, values: &[(&str, &str)]) -> (String, String, String) {
        let subject = fill(&self.subject, values, &|v| one_line(v));
        let text = fill(&self.text, values, &|v| v.to_owned());
        let html = fill(&self.html, values, &html_escape);
        (one_line(&subject), text, html)
    }
}

/// Puts each `{{name}}` of `values` into `template`, through `escape`.
fn fill(template: &str, values: &[(&str, &str)], escape: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let name = after[..end].trim();
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (escape(v), end))
        });
        match value {
            Some((value, end)) => {
                out.push_str(&value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` on one line: a subject can never start another header.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A mail ready to deliver.
#[derive(Clone, PartialEq, Eq)]
pub struct ComposedMail {
    /// The address it goes to.
    pub to: String,
    /// Its subject, one line.
    pub subject: String,
    /// Its plain-text body.
    pub text: String,
    /// Its HTML body.
    pub html: String,
}

impl std::fmt::Debug for ComposedMail {
    /// Bodies may carry a one-time token: only the recipient and subject are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposedMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What composing needs of storage: the account a mail concerns, and a place for the
/// one-time token its link carries.
pub trait MailAccounts {
    /// The user with this normalized email.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn user_by_email(&self, email_normalized: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Stores a one-time token, replacing the user's last of its purpose.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError>;
}

impl<T: crate::UserStore + crate::OneTimeStore> MailAccounts for T {
    fn user_by_email(&self, email_normalized: &str) -> Result<Option<User>, StoreError> {
        crate::UserStore::user_by_email(self, email_normalized)
    }

    fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        crate::UserStore::user_by_id(self, id)
    }

    fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError> {
        crate::OneTimeStore::issue_one_time(self, record)
    }
}

/// Where mail links lead, and what mails say.
#[derive(Debug, Clone)]
pub struct MailContent {
    /// `AUTHD_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// The template of each kind.
    pub templates: Vec<(MailKind, MailTemplate)>,
    /// The lifetimes of the tokens in links.
    pub policy: OneTimePolicy,
}

impl MailContent {
    /// authd's own templates, links under `public_url`.
    #[must_use]
    pub fn new(public_url: &str, policy: OneTimePolicy) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            templates: MailKind::ALL
                .into_iter()
                .map(|kind| (kind, MailTemplate::default_for(kind)))
                .collect(),
            policy,
        }
    }

    fn template(&self, kind: MailKind) -> MailTemplate {
        self.templates
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| MailTemplate::default_for(kind), |(_, t)| t.clone())
    }
}

/// The page of the app each link opens; the token follows in the fragment, which
/// browsers never send to a server.
fn link_path(purpose: OneTimePurpose) -> &'static str {
    match purpose {
        OneTimePurpose::VerifyEmail => "/verify-email",
        OneTimePurpose::ResetPassword => "/reset-password",
        OneTimePurpose::ChangeEmail => "/confirm-email-change",
    }
}

/// What `mail` says now, issuing the token its link carries; `None` when there is
/// nothing to send (no such account, or nothing left to verify).
///
/// # Errors
/// [`AuthError`] when storage fails or the OS gives no randomness; the mail stays queued.
pub fn compose(
    mail: &OutboxMail,
    accounts: &dyn MailAccounts,
    content: &MailContent,
    now: UnixTime,
) -> Result<Option<ComposedMail>, AuthError> {
    let user = match &mail.user_id {
        Some(id) => accounts.user_by_id(id)?,
        None => match Email::parse(&mail.recipient) {
            Ok(email) => accounts.user_by_email(email.normalized())?,
            Err(_) => None,
        },
    };
    let Some(user) = user else {
        return Ok(None);
    };
    let purpose = match mail.kind {
        MailKind::VerifyEmail if user.email_verified => return Ok(None),
        MailKind::VerifyEmail => Some(OneTimePurpose::VerifyEmail),
        MailKind::ResetPassword => Some(OneTimePurpose::ResetPassword),
        MailKind::ConfirmEmailChange => Some(OneTimePurpose::ChangeEmail),
        MailKind::EmailChangeRequested | MailKind::PasswordChanged | MailKind::AccountExists => {
            None
        }
    };
    let mut token_text = String::new();
    let link = match purpose {
        Some(purpose) => {
            let (token, record) =
                content
                    .policy
                    .issue(&user.id, purpose, mail.new_email.clone(), now)?;
            accounts.issue_one_time(&record)?;
            token_text = token.expose().to_owned();
            format!(
                "{}{}#token={}",
                content.public_url,
                link_path(purpose),
                token.expose()
            )
        }
        None => String::new(),
    };
    let new_email = mail.new_email.clone().unwrap_or_default();
    let (subject, text, html) = content.template(mail.kind).render(&[
        ("link", &link),
        ("token", &token_text),
        ("email", &user.email),
        ("new_email", &new_email),
        ("username", &user.username),
        ("public_url", &content.public_url),
    ]);
    Ok(Some(ComposedMail {
        to: mail.recipient.clone(),
        subject,
        text,
        html,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{OneTimeToken, PasswordHash, Username};

    #[derive(Default)]
    struct Accounts {
        users: Vec<User>,
        issued: Mutex<Vec<OneTimeRecord>>,
    }

    impl MailAccounts for Accounts {
        fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
            Ok(self
                .users
                .iter()
                .find(|u| u.email_normalized == email)
                .cloned())
        }
        fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
            Ok(self.users.iter().find(|u| &u.id == id).cloned())
        }
        fn issue_one_time(&self, record: &OneTimeRecord) -> Result<(), StoreError> {
            self.issued.lock().unwrap().push(record.clone());
            Ok(())
        }
    }

    fn alice(verified: bool) -> User {
        let mut user = User::new(
            &Email::parse("Alice@Example.com").unwrap(),
            &Username::parse("alice").unwrap(),
            PasswordHash::from_stored("$argon2id$x".into()),
            UnixTime(0),
        );
        user.email_verified = verified;
        user
    }

    fn content() -> MailContent {
        MailContent::new("https://app.example.com/", OneTimePolicy::default())
    }

    fn request(kind: MailKind, to: &str) -> OutboxMail {
        OutboxMail::new(kind, to, None, None, UnixTime(0))
    }

    #[test]
    fn a_reset_mail_carries_a_link_whose_token_the_store_knows_by_its_hash() {
        let accounts = Accounts {
            users: vec![alice(false)],
            ..Accounts::default()
        };
        let mail = compose(
            &request(MailKind::ResetPassword, "ALICE@example.com"),
            &accounts,
            &content(),
            UnixTime(100),
        )
        .unwrap()
        .expect("a mail to send");
        assert_eq!(mail.to, "ALICE@example.com");
        assert_eq!(mail.subject, "Reset your password");
        let link = mail
            .text
            .lines()
            .find(|l| l.starts_with("https://"))
            .unwrap();
        let token = link
            .strip_prefix("https://app.example.com/reset-password#token=")
            .expect("the token in the fragment, not the query");
        let issued = accounts.issued.lock().unwrap();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].purpose, OneTimePurpose::ResetPassword);
        assert_eq!(OneTimeToken::parse(token).unwrap().hash(), issued[0].hash);
        assert!(mail.html.contains(&format!("href=\"{link}\"")));
        assert!(
            !format!("{mail:?}").contains(token),
            "Debug hides the bodies"
        );
    }

    #[test]
    fn nothing_is_sent_for_an_unknown_address_or_an_address_already_verified() {
        let verified_alice = Accounts {
            users: vec![alice(true)],
            ..Accounts::default()
        };
        for (kind, to) in [
            (MailKind::ResetPassword, "nobody@example.com"),
            (MailKind::VerifyEmail, "nobody@example.com"),
            (MailKind::VerifyEmail, "alice@example.com"),
            (MailKind::ResetPassword, "not an address"),
        ] {
            let composed = compose(&request(kind, to), &verified_alice, &content(), UnixTime(0));
            assert_eq!(composed.unwrap(), None, "{kind:?} to {to}");
        }
        assert!(verified_alice.issued.lock().unwrap().is_empty());
    }

    #[test]
    fn values_cannot_break_out_of_the_subject_line_or_into_the_html() {
        let template = MailTemplate {
            subject: "Hello {{username}}".into(),
            text: "{{username}} {{unknown}}".into(),
            html: "<p>{{ username }}</p>".into(),
        };
        let (subject, text, html) =
            template.render(&[("username", "x\r\nBcc: evil@example.com <b>")]);
        assert_eq!(subject, "Hello x  Bcc: evil@example.com <b>");
        assert_eq!(text, "x\r\nBcc: evil@example.com <b> {{unknown}}");
        assert_eq!(html, "<p>x\r\nBcc: evil@example.com &lt;b&gt;</p>");
    }

    #[test]
    fn notices_carry_no_token_and_an_email_change_is_confirmed_at_the_new_address() {
        let user = alice(true);
        let accounts = Accounts {
            users: vec![user.clone()],
            ..Accounts::default()
        };
        let notice = compose(
            &OutboxMail::new(
                MailKind::PasswordChanged,
                &user.email,
                Some(user.id.clone()),
                None,
                UnixTime(0),
            ),
            &accounts,
            &content(),
            UnixTime(0),
        )
        .unwrap()
        .unwrap();
        assert!(!notice.text.contains("token="));
        assert!(accounts.issued.lock().unwrap().is_empty());

        let confirm = compose(
            &OutboxMail::new(
                MailKind::ConfirmEmailChange,
                "alice.new@example.com",
                Some(user.id.clone()),
                Some("alice.new@example.com".into()),
                UnixTime(0),
            ),
            &accounts,
            &content(),
            UnixTime(0),
        )
        .unwrap()
        .unwrap();
        assert_eq!(confirm.to, "alice.new@example.com");
        assert!(confirm.text.contains("alice.new@example.com"));
        assert!(
            confirm
                .text
                .contains("/confirm-email-change#token=authd_ot_")
        );
        let issued = accounts.issued.lock().unwrap();
        assert_eq!(
            issued[0].new_email.as_deref(),
            Some("alice.new@example.com")
        );
    }
}

//! Mail templates an operator supplies in a directory (`AUTHD_MAIL_TEMPLATES_DIR`).

use std::path::Path;

use auth_core::{MailContent, MailKind, MailTemplate};

use crate::MailError;

/// Replaces the templates of `content` with those found in `dir`: for a kind named
/// `KIND` (`MailKind::as_str`), `KIND.subject` (one line) and `KIND.txt`, and
/// optionally `KIND.html` (without it, the HTML body is the text, escaped). Kinds with no
/// files keep authd's own. Returns the kinds replaced.
///
/// # Errors
/// [`MailError::Templates`] when the directory cannot be read, a kind has only some of
/// its required files, or a file is not UTF-8: authd should not start half-configured.
pub fn load_templates(dir: &Path, content: &mut MailContent) -> Result<Vec<MailKind>, MailError> {
    if !dir.is_dir() {
        return Err(MailError::Templates(
            dir.display().to_string(),
            "not a directory".into(),
        ));
    }
    let mut replaced = Vec::new();
    for kind in MailKind::ALL {
        let file = |ext: &str| dir.join(format!("{}.{ext}", kind.as_str()));
        let read = |ext: &str| -> Result<Option<String>, MailError> {
            let path = file(ext);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MailError::Templates(
                    path.display().to_string(),
                    e.to_string(),
                )),
            }
        };
        let (subject, text, html) = (read("subject")?, read("txt")?, read("html")?);
        let template = match (subject, text) {
            (None, None) if html.is_none() => continue,
            (Some(subject), Some(text)) => MailTemplate::from_text(subject.trim(), &text, html),
            _ => {
                return Err(MailError::Templates(
                    dir.display().to_string(),
                    format!(
                        "{kind}.subject and {kind}.txt go together",
                        kind = kind.as_str()
                    ),
                ));
            }
        };
        content.templates.retain(|(k, _)| *k != kind);
        content.templates.push((kind, template));
        replaced.push(kind);
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use auth_core::OneTimePolicy;

    use super::*;

    /// A new directory: a random UUID, so no other test run uses it.
    fn dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "authd-templates-{}",
            auth_core::UserId::generate().as_str()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_kind_with_files_is_replaced_and_the_others_kept() {
        let dir = dir();
        std::fs::write(dir.join("reset_password.subject"), "Nouveau mot de passe\n").unwrap();
        std::fs::write(
            dir.join("reset_password.txt"),
            "Bonjour {{username}}: {{public_url}}/compte/mdp#token={{token}}\n",
        )
        .unwrap();
        let mut content = MailContent::new("https://app.example.com", OneTimePolicy::default());
        let replaced = load_templates(&dir, &mut content).unwrap();
        assert_eq!(replaced, [MailKind::ResetPassword]);
        let reset = content
            .templates
            .iter()
            .find(|(k, _)| *k == MailKind::ResetPassword)
            .unwrap()
            .1
            .clone();
        assert_eq!(reset.subject, "Nouveau mot de passe");
        let (_, text, html) = reset.render(&[("username", "<bob>"), ("token", "t")]);
        assert!(text.starts_with("Bonjour <bob>:"), "{text}");
        assert!(html.contains("Bonjour &lt;bob&gt;:"), "{html}");
        assert!(content.templates.contains(&(
            MailKind::VerifyEmail,
            MailTemplate::default_for(MailKind::VerifyEmail)
        )));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_subject_without_its_text_stops_the_start() {
        let dir = dir();
        std::fs::write(dir.join("verify_email.subject"), "Hi").unwrap();
        let mut content = MailContent::new("https://app.example.com", OneTimePolicy::default());
        let refused = load_templates(&dir, &mut content).unwrap_err();
        assert!(
            refused.to_string().contains("verify_email.txt"),
            "{refused}"
        );
        assert!(load_templates(&dir.join("missing"), &mut content).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Talking to the SMTP relay (lettre). What is sent, and when, is the outbox's business
//! (see `outbox_mail`).

use crate::{ServiceError, ServiceResult};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use partnerhub_store::MailErrorKind;

/// `url` is `smtp://host:port` (plain or STARTTLS with `?tls=required`) or `smtps://host:port`,
/// with optional `user:password@`. `from` is the sender address.
#[derive(Clone)]
pub struct SmtpConfig {
    pub url: String,
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("SmtpConfig").field("from", &self.from).finish_non_exhaustive()
    }
}

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(c: &SmtpConfig) -> ServiceResult<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&c.url)
            .map_err(|e| ServiceError::Internal(format!("bad SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = c.from.parse().map_err(|e| ServiceError::Internal(format!("bad SMTP sender address: {e}")))?;
        Ok(Self { transport, from })
    }

    /// Sends one message; a refusal or a relay out of reach is told apart (see [`classify`]).
    /// `id` is the outbox e-mail's: its `Message-ID` is `<id@sender's domain>`, the same on every
    /// attempt, so a message sent again (a process killed after the relay took it, before the
    /// database recorded it) is one message twice, which mail systems and readers fold into one.
    pub(crate) async fn send(
        &self,
        id: uuid::Uuid,
        to: &str,
        from_name: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), (MailErrorKind, String)> {
        let to: Mailbox = to.parse().map_err(|_| (MailErrorKind::Refused, format!("`{to}` is not an e-mail address")))?;
        let from = Mailbox::new(Some(from_name.to_owned()), self.from.email.clone());
        let msg = Message::builder()
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| (MailErrorKind::Refused, e.to_string()))?;
        self.transport.send(msg).await.map_err(classify)?;
        Ok(())
    }
}

/// A relay that answered 5xx refused the message for good; one that answered 4xx refused it
/// for now (tried again); anything else (connection refused, time-out, a host name that does
/// not resolve, TLS, a broken conversation) means the relay could not be reached or talked to
/// (tried again). The words answered are for the sender to read (kept with the e-mail, shown
/// in `GET /invitations/{id}` and the audit log): the reply code only, never the relay's own
/// text or the connection's error, which may name internal hosts; those go to the log.
fn classify(e: lettre::transport::smtp::Error) -> (MailErrorKind, String) {
    tracing::warn!(error = %e, "the SMTP relay did not take an e-mail");
    match e.status() {
        Some(code) if e.is_permanent() => (MailErrorKind::Refused, format!("the mail relay refused the message ({code})")),
        Some(code) => (MailErrorKind::RefusedForNow, format!("the mail relay refused the message for now ({code})")),
        None if e.is_timeout() => (MailErrorKind::Unreachable, "the mail relay did not answer in time".into()),
        None => (MailErrorKind::Unreachable, "the mail relay could not be reached or talked to".into()),
    }
}

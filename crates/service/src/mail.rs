//! Sending invitation drafts through an SMTP relay (lettre).

use crate::{ServiceError, ServiceResult};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

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

    pub(crate) async fn send(&self, to: &str, from_name: &str, subject: &str, body: &str) -> ServiceResult<()> {
        let to: Mailbox = to.parse().map_err(|_| partnerhub_domain::ValidationErrors::one("to", "is not an e-mail address"))?;
        let from = Mailbox::new(Some(from_name.to_owned()), self.from.email.clone());
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.transport.send(msg).await.map_err(classify)?;
        Ok(())
    }
}

/// A relay that answered and said no (an SMTP 4xx or 5xx reply) refused the message; anything
/// else (connection refused, time-out, a host name that does not resolve, TLS, a broken
/// conversation) means the relay could not be reached or talked to.
fn classify(e: lettre::transport::smtp::Error) -> ServiceError {
    if e.status().is_some() { ServiceError::EmailFailed(e.to_string()) } else { ServiceError::EmailUnreachable(e.to_string()) }
}

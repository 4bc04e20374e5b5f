//! The e-mail worker: sends what the outbox holds through the SMTP relay.
//!
//! Each pass claims a few due e-mails for [`CLAIM`] (a lease: on PostgreSQL, workers of other
//! nodes skip them), sends each, and ends the attempt by a conditional update that only the
//! claim's holder can make: sent (with an `email.sent` audit record), tried again later with
//! backoff (a relay out of reach, or one that answered 4xx), or failed for good (a 5xx
//! refusal, or [`GIVE_UP_AFTER`] of trying, with `email.failed`). A process that dies between
//! the relay's answer and the update leaves the claim to lapse and the e-mail to be sent again:
//! at least once, and once in every other case.

use crate::schedule::system;
use crate::{Service, ServiceResult, drafts};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

/// How long a worker holds the e-mails it claimed: far longer than an attempt may take (the
/// relay's time-out is 20 seconds).
const CLAIM: Duration = Duration::minutes(5);
/// E-mails claimed at a time.
const CLAIM_BATCH: i64 = 20;
/// An e-mail not sent after this long is given up (`email.failed`).
pub const GIVE_UP_AFTER: Duration = Duration::days(3);
/// How often the worker looks for due e-mails when nothing wakes it.
pub const MAIL_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MailRun {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The wait before attempt `attempts + 1`: 30 s doubling up to an hour, less up to a fifth at
/// random so that many e-mails held by one outage do not all come back at once.
pub fn backoff(attempts: i64) -> Duration {
    let full = (30i64 << attempts.clamp(0, 7)).min(3600);
    let jitter = (Uuid::new_v4().as_u128() % 1000) as i64; // 0..999 thousandths
    Duration::milliseconds(full * 1000 - full * jitter / 5)
}

impl Service {
    /// Tells the worker of this process that an e-mail was queued.
    pub(crate) fn wake_mail(&self) {
        self.mail_wake.notify_one();
    }

    /// One pass of the e-mail worker at the service clock's now. Without a relay it does nothing:
    /// the e-mails wait in the outbox for a process that has one.
    pub async fn deliver_mail(&self) -> ServiceResult<MailRun> {
        let mut run = MailRun::default();
        let Some(mailer) = self.mailer.clone() else { return Ok(run) };
        loop {
            let now = self.now();
            let claim = Uuid::now_v7();
            let batch = self.store.claim_mail(claim, now, now + CLAIM, CLAIM_BATCH).await?;
            for m in &batch {
                self.attempt(&mailer, m, &mut run).await?;
            }
            if (batch.len() as i64) < CLAIM_BATCH {
                return Ok(run);
            }
        }
    }

    async fn attempt(&self, mailer: &crate::mail::Mailer, m: &ClaimedMail, run: &mut MailRun) -> ServiceResult<()> {
        let (mut subject, mut body) = (m.subject.clone(), m.body.clone());
        if let Some(id) = m.invitation_id {
            // An invitation, or its reminder, only while the invitation is open.
            let inv = self.store.invitation(m.organization_id, id).await?;
            if inv.state.check_open(inv.expires_at, self.now()).is_err() {
                let why = format!("not sent: the invitation is {}", inv.state.effective(inv.expires_at, self.now()).as_str());
                return self.fail(m, MailErrorKind::Abandoned, why, run).await;
            }
            let (url, token) = (self.invitation_url(id), self.invitation_token(id));
            subject = drafts::unseal(&subject, &url, &token);
            body = drafts::unseal(&body, &url, &token);
        }
        match mailer.send(m.id, &m.to, &m.from_name, &subject, &body).await {
            Ok(()) => {
                let now = self.now();
                let change = self.mail_change(
                    "email.sent",
                    m,
                    json!({"to": m.to, "kind": m.kind.as_str(), "email_id": m.id, "attempts": m.attempts + 1}),
                );
                if self.store.finish_mail(m.id, m.claim, now, MailOutcome::Sent, Some(change)).await? {
                    tracing::info!(email = %m.id, kind = m.kind.as_str(), "e-mail sent");
                    run.sent += 1;
                } else {
                    tracing::warn!(email = %m.id, "e-mail sent, but its claim had lapsed: it may have been sent twice");
                }
                Ok(())
            }
            Err((MailErrorKind::Refused, error)) => self.fail(m, MailErrorKind::Refused, error, run).await,
            Err((kind, error)) => {
                let now = self.now();
                if now - m.created_at >= GIVE_UP_AFTER {
                    return self
                        .fail(m, MailErrorKind::Abandoned, format!("given up after {} attempts; last: {error}", m.attempts + 1), run)
                        .await;
                }
                let at = now + backoff(m.attempts);
                tracing::warn!(email = %m.id, kind = kind.as_str(), %error, retry_at = %at, "e-mail not sent; tried again later");
                if self.store.finish_mail(m.id, m.claim, now, MailOutcome::Retry { at, kind, error }, None).await? {
                    run.retried += 1;
                }
                Ok(())
            }
        }
    }

    async fn fail(&self, m: &ClaimedMail, kind: MailErrorKind, error: String, run: &mut MailRun) -> ServiceResult<()> {
        tracing::warn!(email = %m.id, kind = kind.as_str(), %error, "e-mail failed for good");
        let change = self.mail_change(
            "email.failed",
            m,
            json!({"to": m.to, "kind": m.kind.as_str(), "email_id": m.id, "attempts": m.attempts + 1, "reason": kind.as_str(), "error": error}),
        );
        if self.store.finish_mail(m.id, m.claim, self.now(), MailOutcome::Failed { kind, error }, Some(change)).await? {
            run.failed += 1;
        }
        Ok(())
    }

    fn mail_change(&self, action: &'static str, m: &ClaimedMail, details: serde_json::Value) -> Change {
        let target = match m.invitation_id {
            Some(id) => json!({"type": "invitation", "id": id}),
            None => json!({"type": "email", "id": m.id}),
        };
        Change::new(AuditEntry {
            at: self.now(),
            actor: system(),
            action,
            target,
            customer_id: None,
            details,
            visible_to: vec![m.organization_id],
        })
    }

    /// Where the invitation's e-mail stands (the newest one sent on request).
    pub async fn invitation_email(&self, partner: OrganizationId, id: InvitationId) -> ServiceResult<Option<MailStatus>> {
        Ok(self.store.invitation_mail(partner, id).await?)
    }
}

/// Runs [`Service::deliver_mail`] whenever an e-mail is queued in this process, and every
/// [`MAIL_POLL`] for those queued by other processes or due again, for as long as the process
/// lives. Every process runs one; the claims keep them from sending one e-mail twice.
pub fn spawn_mail_worker(service: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match service.deliver_mail().await {
                Ok(run) if run != MailRun::default() => tracing::debug!(?run, "e-mail worker pass"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the e-mail worker's pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(MAIL_POLL) => {}
                _ = service.mail_wake.notified() => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_with_some_jitter() {
        for (attempts, full) in [(0, 30), (1, 60), (3, 240), (6, 1920), (7, 3600), (40, 3600)] {
            let d = backoff(attempts);
            assert!(d <= Duration::seconds(full) && d >= Duration::seconds(full * 4 / 5), "{attempts}: {d}");
        }
    }
}

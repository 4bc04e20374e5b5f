//! Scheduled changes (expiry, extension, warnings, reminders) and the e-mail outbox.
//!
//! The scheduler reads what is due, then acts on each item in a transaction of its own, by a
//! conditional update (or a unique index) that makes the item's change happen once however
//! many schedulers run: the loser of a race changes nothing and writes no audit record or event
//! (`Ok(false)`, or `Conflict(GRANT_WARNED)` for a warning).
//!
//! E-mails are queued in the same transaction as the change they tell of, and sent later by a
//! worker that claims them for a while (a lease), so that a message is sent by one worker at a
//! time and marked sent by a conditional update that only the claim's holder can make.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// The days before a grant ends at which its partner is warned.
pub const WARNING_DAYS: [i64; 3] = [30, 7, 1];

/// A pending invitation the scheduler looks at (expiry or reminder).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledInvitation {
    pub invitation: Invitation,
    pub partner: PartnerRef,
    pub provider: Option<PartnerRef>,
    /// The address the invitation was last sent to, if partnerhub sent it.
    pub sent_to: Option<String>,
}

/// An unrevoked grant the scheduler looks at, with what its change and e-mails need.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledGrant {
    pub grant: Grant,
    /// The length of one period of the grant (an extension adds as much).
    pub duration_days: i64,
    pub partner: PartnerRef,
    pub customer_name: String,
    /// The warnings already given for the grant's current period (days before its end).
    pub warned: Vec<i64>,
}

/// Someone an e-mail goes to: an address and the language they read.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub email: String,
    pub locale: Option<Locale>,
}

/// What kind of e-mail a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An invitation's draft, sent on the partner's request.
    Invitation,
    /// A reminder to the customer of an invitation still pending a week before it expires.
    InvitationReminder,
    /// A warning to a partner that grants end soon.
    GrantExpiring,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "invitation",
            MailKind::InvitationReminder => "invitation_reminder",
            MailKind::GrantExpiring => "grant_expiring",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Invitation, Self::InvitationReminder, Self::GrantExpiring].into_iter().find(|k| k.as_str() == s)
    }
}

/// An e-mail to queue with a change. An invitation's subject and body are stored sealed (see
/// `drafts::seal`): the worker puts the link back from the secret when it sends.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub kind: MailKind,
    pub invitation_id: Option<InvitationId>,
    pub to: String,
    pub locale: Locale,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// A queued e-mail claimed by a worker until `claimed_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedMail {
    pub id: Uuid,
    pub claim: Uuid,
    pub organization_id: OrganizationId,
    pub kind: MailKind,
    pub invitation_id: Option<InvitationId>,
    pub to: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub created_at: OffsetDateTime,
}

/// Why an attempt did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailErrorKind {
    /// The relay could not be reached or talked to: retried.
    Unreachable,
    /// The relay answered 4xx: retried.
    RefusedForNow,
    /// The relay answered 5xx: failed for good.
    Refused,
    /// Given up (retried too long, or the invitation closed meanwhile).
    Abandoned,
}

impl MailErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailErrorKind::Unreachable => "unreachable",
            MailErrorKind::RefusedForNow => "refused_for_now",
            MailErrorKind::Refused => "refused",
            MailErrorKind::Abandoned => "abandoned",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unreachable, Self::RefusedForNow, Self::Refused, Self::Abandoned].into_iter().find(|k| k.as_str() == s)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent,
    /// Try again at `at`.
    Retry {
        at: OffsetDateTime,
        kind: MailErrorKind,
        error: String,
    },
    /// Never again.
    Failed {
        kind: MailErrorKind,
        error: String,
    },
}

/// Where an e-mail stands, as its sender may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct MailStatus {
    pub id: Uuid,
    /// `queued`, `sent` or `failed`.
    pub state: String,
    pub to: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub last_error_kind: Option<MailErrorKind>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
}

/// What the scheduler reads and changes.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Takes or renews the named lease for `holder` until `until`, if it is free, expired or
    /// already `holder`'s; answers whether `holder` holds it now.
    async fn take_lease(&self, name: &str, holder: Uuid, now: OffsetDateTime, until: OffsetDateTime) -> StoreResult<bool>;
    /// Pending invitations whose `expires_at` is at or before `now`, oldest first.
    async fn invitations_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>>;
    /// pending -> expired, if still pending and past expiry; writes `change` only then.
    async fn expire_invitation(&self, id: InvitationId, now: OffsetDateTime, change: Change) -> StoreResult<bool>;
    /// Pending invitations sent by partnerhub before the 7 days before their expiry, that
    /// expire within 7 days of `now` and were not reminded yet.
    async fn invitations_to_remind(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>>;
    /// Marks the invitation reminded (once: only if it was not), queues `mail`, writes `change`.
    async fn remind_invitation(&self, id: InvitationId, now: OffsetDateTime, mail: NewMail, change: Change) -> StoreResult<bool>;
    /// Unrevoked grants past their expiry that the scheduler has not handled yet.
    async fn grants_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>>;
    /// Records the grant's expiry (once); writes `change` only then.
    async fn expire_grant(&self, id: GrantId, now: OffsetDateTime, change: Change) -> StoreResult<bool>;
    /// Moves an auto-extending grant's end from `from` to `to` (only if it still ends at
    /// `from`, unrevoked, and is not `global_admin`); forgets its warnings; writes `change`.
    async fn extend_grant(&self, id: GrantId, from: OffsetDateTime, to: OffsetDateTime, change: Change) -> StoreResult<bool>;
    /// Unrevoked grants without auto-extension ending after `now` and within 30 days of it,
    /// with a warning due (one of `WARNING_DAYS` they are within, shorter than their period,
    /// not given yet): those warned already do not crowd out the others.
    async fn grants_ending_soon(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>>;
    /// Records each `(grant, days)` warning, queues `mails` and writes `change`, all or nothing:
    /// `Conflict(GRANT_WARNED)` when one was recorded already.
    async fn warn_grants(&self, warnings: Vec<(GrantId, i64)>, now: OffsetDateTime, mails: Vec<NewMail>, change: Change)
    -> StoreResult<()>;
    /// Who is told of an organization's ending grants: its users holding one of `roles`.
    async fn recipients(&self, org: OrganizationId, roles: &[Role]) -> StoreResult<Vec<Recipient>>;
}

/// The e-mail outbox.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Records that the invitation is being sent to `mail.to` (only while it is pending and
    /// unexpired: `Conflict(INVITATION_NOT_PENDING)` otherwise), queues `mail`, writes `change`.
    async fn queue_invitation_mail(&self, partner: OrganizationId, mail: NewMail, now: OffsetDateTime, change: Change) -> StoreResult<()>;
    /// Claims up to `limit` queued e-mails due at `now` that nobody holds, until `until`.
    async fn claim_mail(&self, claim: Uuid, now: OffsetDateTime, until: OffsetDateTime, limit: i64) -> StoreResult<Vec<ClaimedMail>>;
    /// Ends an attempt, if `claim` still holds the e-mail: sent (and the invitation's `sent_at`
    /// for an invitation), retried later, or failed; writes `change` (when given) only then.
    async fn finish_mail(
        &self,
        id: Uuid,
        claim: Uuid,
        now: OffsetDateTime,
        outcome: MailOutcome,
        change: Option<Change>,
    ) -> StoreResult<bool>;
    /// The newest e-mail of the invitation (sent on request), if any.
    async fn invitation_mail(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Option<MailStatus>>;
}

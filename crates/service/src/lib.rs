//! partnerhub's use cases. Each one authorizes the caller against the allow-table, validates
//! its input into domain values, then makes one store call that writes the change together
//! with its audit record and outbox events.

mod auth;
mod commerce;
mod customers;
mod delivery;
mod demo;
pub mod drafts;
mod error;
mod invitations;
mod limits;
mod mail;
mod mfa;
pub mod notices;
mod organizations;
mod outbox_mail;
mod portal;
mod schedule;
mod secret;
mod ssrf;
mod tenant;
mod webhooks;

pub use auth::{HashGate, PURGE_EVERY, PasswordHasher, SignedIn, hash_token, spawn_purge};
pub use commerce::{NewOfferInput, NewOrderInput, OrderItemInput, SubscriptionPatchInput};
pub use customers::NewCustomerInput;
pub use delivery::{DeliveryConfig, Sent, backoff as webhook_backoff, sign, spawn_delivery};
pub use demo::DemoLogin;
pub use error::{Conflict, ServiceError};
pub use invitations::{AcceptOutcome, InvitationView, NewInvitationInput};
pub use limits::Limited;
pub use mail::SmtpConfig;
pub use mfa::TotpEnrolment;
pub use organizations::{NewPartnerInput, NewUserInput, SignupInput};
pub use outbox_mail::{GIVE_UP_AFTER, MAIL_POLL, MailRun, backoff as mail_backoff, spawn_mail_worker};
pub use schedule::{SCHEDULE_EVERY, ScheduleRun, spawn_scheduler};
pub use secret::{SECRET_GENERATE_COMMAND, check_secret};
pub use ssrf::is_public;
pub use tenant::NewTenantUserInput;
pub use webhooks::{CreatedWebhook, EVENT_TYPES, NewWebhookInput, PREVIOUS_SECRET_HOURS, secret_text};

use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::Value;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub type ServiceResult<T> = Result<T, ServiceError>;

/// How many items [`every_page`] gathers at most.
pub const EVERY_PAGE_CAP: usize = 10_000;

/// Every item of a list, [`PageQuery::MAX_LIMIT`] at a time, following the cursors, for a
/// screen that shows or offers the whole list (a form's choices); it stops once it holds
/// [`EVERY_PAGE_CAP`] items. (`fetch` is a closure answering a future rather than an async
/// closure, so that a handler calling this stays `Send`.)
pub async fn every_page<T, F>(mut fetch: impl FnMut(PageQuery) -> F) -> ServiceResult<Vec<T>>
where
    F: Future<Output = ServiceResult<Page<T>>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(PageQuery { limit: PageQuery::MAX_LIMIT, cursor }).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) if out.len() < EVERY_PAGE_CAP => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

/// The server secret: keys the HMAC that derives invitation tokens. Redacted in `Debug`.
#[derive(Clone)]
pub struct Secret(Arc<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Base of every URL handed out (invitation links); never taken from request headers.
    pub public_url: String,
    pub secret: Secret,
    /// SHA-256 of `PARTNERHUB_OPERATOR_TOKEN`, when set.
    pub operator_token_hash: Option<[u8; 32]>,
    pub session_ttl: Duration,
    pub smtp: Option<SmtpConfig>,
    /// argon2id cost; OWASP's minimum by default.
    pub password_hasher: PasswordHasher,
    /// How long a temporary password (customer creation, user creation, reset) signs in.
    pub temporary_password_ttl: Duration,
    /// `--require-mfa`: partner users holding `global_admin` or `admin_agent` must enrol TOTP
    /// before they may do anything else.
    pub require_mfa: bool,
    /// `--operator-name`: who runs this service, named in the removal attestation; `None`
    /// reads "the operator of this service" in the reader's language.
    pub operator_name: Option<String>,
    /// `--webhook-allow-insecure`: webhooks may use http:// and loopback or private addresses.
    pub webhook_allow_insecure: bool,
}

/// The application: a store, a clock and configuration. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<ServiceConfig>,
    pub(crate) mailer: Option<Arc<mail::Mailer>>,
    /// Wakes this process's e-mail worker when an e-mail is queued (see `outbox_mail`).
    pub(crate) mail_wake: Arc<tokio::sync::Notify>,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServiceConfig) -> ServiceResult<Self> {
        let mailer = config.smtp.as_ref().map(mail::Mailer::new).transpose()?.map(Arc::new);
        Ok(Self { store, clock, config: Arc::new(config), mailer, mail_wake: Arc::new(tokio::sync::Notify::new()) })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn public_url(&self) -> &str {
        &self.config.public_url
    }

    /// Whether an SMTP relay is configured, so that invitations can be sent from here.
    pub fn email_configured(&self) -> bool {
        self.mailer.is_some()
    }

    pub fn operator_name(&self) -> Option<&str> {
        self.config.operator_name.as_deref()
    }

    pub async fn ready(&self) -> ServiceResult<()> {
        Ok(self.store.ping().await?)
    }

    pub(crate) fn change(
        &self,
        actor: &Caller,
        action: &'static str,
        target: Value,
        customer: Option<OrganizationId>,
        details: Value,
        visible_to: Vec<OrganizationId>,
    ) -> Change {
        Change::new(AuditEntry { at: self.now(), actor: actor.actor(), action, target, customer_id: customer, details, visible_to })
    }

    pub(crate) fn event(&self, event_type: &'static str, organization_id: OrganizationId, data: Value) -> Event {
        Event { id: uuid::Uuid::now_v7(), event_type, organization_id, occurred_at: self.now(), data }
    }

    /// Each relationship and grant a change makes (a customer creation, an acceptance), told
    /// twice: an audit record of its own in the change (`relationship.created`,
    /// `grant.created`, read by the change's readers) and the event of the same name for the
    /// partner that holds it. The record's details are the event's data.
    pub(crate) fn record_created(&self, change: &mut Change, customer: OrganizationId, rels: &[NewRelationship], grants: &[NewGrant]) {
        for r in rels {
            let data = serde_json::json!({"relationship_id": r.id, "partner_id": r.partner_org_id, "customer_id": customer, "via": r.via});
            change.also("relationship.created", serde_json::json!({"type": "relationship", "id": r.id}), data.clone());
            change.events.push(self.event("relationship.created", r.partner_org_id, data));
        }
        for g in grants {
            let data = serde_json::json!({"grant_id": g.id, "partner_id": g.partner_org_id, "customer_id": customer, "role": g.role.as_str(),
                                          "expires_at": rfc3339(g.expires_at)});
            change.also("grant.created", serde_json::json!({"type": "grant", "id": g.id}), data.clone());
            change.events.push(self.event("grant.created", g.partner_org_id, data));
        }
    }

    pub async fn audit(&self, caller: &Caller, filter: AuditFilter) -> ServiceResult<Page<AuditRecord>> {
        caller.require(Action::AuditRead)?;
        Ok(self.store.list_audit(caller.org_id(), &filter).await?)
    }
}

/// Who is calling: a signed-in user (read from the database on this request) or the operator.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "one Caller per request, never stored in bulk; boxing buys nothing")]
pub enum Caller {
    User(Principal),
    Operator,
    /// Not signed in (sign-up, sign-in): audited as the organization being acted on.
    Anonymous,
}

impl Caller {
    pub fn principal(&self) -> ServiceResult<&Principal> {
        match self {
            Caller::User(p) => Ok(p),
            _ => Err(ServiceError::Unauthenticated),
        }
    }
    pub fn org_id(&self) -> OrganizationId {
        match self {
            Caller::User(p) => p.organization.id,
            _ => OrganizationId(uuid::Uuid::nil()),
        }
    }
    /// Checks the allow-table; `Forbidden` when the caller's roles do not allow `action`.
    /// Every use case goes through here, so a session with a temporary password is refused
    /// everything in this one place (`GET /me` and the password change do not come here).
    pub fn require(&self, action: Action) -> ServiceResult<&Principal> {
        let p = self.principal()?;
        if p.user.password_change_required {
            return Err(ServiceError::PasswordChangeRequired);
        }
        // `--require-mfa` and no TOTP yet: only `/me`, enrolment, the password change and
        // sign-out, none of which come here.
        if p.user.mfa_enrollment_required {
            return Err(ServiceError::MfaEnrollmentRequired);
        }
        if allowed(p.organization.kind, &p.user.roles, action) { Ok(p) } else { Err(ServiceError::Forbidden) }
    }
    pub(crate) fn actor(&self) -> Actor {
        match self {
            Caller::User(p) => Actor {
                user_id: Some(p.user.id),
                email: Some(p.user.email.clone()),
                roles: p.user.roles.clone(),
                organization_id: Some(p.organization.id),
            },
            Caller::Operator => Actor::operator(),
            Caller::Anonymous => Actor { user_id: None, email: None, roles: vec![], organization_id: None },
        }
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

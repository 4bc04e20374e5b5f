//! The storage boundary: record types, `StoreError`, and the `Store` trait, sized to whole
//! use cases and made of one trait per role (organizations, sessions, relationships,
//! invitations, commerce, audit), each in its own module. Every method that touches tenant
//! data takes the caller's organization id, and every method that changes state takes a
//! [`Change`]: its audit record and outbox events are written in the same transaction as the
//! change itself, or nothing is.

pub mod codec;
mod commerce_records;
mod records;
pub mod seed;
pub use commerce_records::*;
pub use records::*;

mod audit;
mod commerce;
mod idempotency;
mod invitations;
mod mfa;
mod organizations;
mod relationships;
mod schedule;
mod sessions;
mod webhooks;
pub use audit::AuditStore;
pub use commerce::CommerceStore;
pub use idempotency::{IDEMPOTENCY_STALE_CLAIM_SECS, IDEMPOTENCY_TTL_SECS, IdempotencyClaim, IdempotencyStore, KeptResponse};
pub use invitations::InvitationStore;
pub use mfa::{MfaStore, Totp, TotpConfirmation};
pub use organizations::OrganizationStore;
pub use relationships::RelationshipStore;
pub use schedule::*;
pub use sessions::{Limit, MAX_SESSIONS_PER_USER, SessionInfo, SessionStore, Versions};
pub use webhooks::{AttemptOutcome, DeliveryAttempt, NewWebhook, OutboxEvent, Webhook, WebhookStore, WebhookTarget};

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use partnerhub_domain::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a conditional update refused the change; `constraint` names it
    /// (see the `constraint` module).
    #[error("conflict on {constraint}")]
    Conflict { constraint: &'static str },
    /// The relationship cannot be removed while these remain.
    #[error("removal blocked")]
    Blocked(Vec<RemovalBlocker>),
    /// The caller's grants do not allow this in the customer's tenant (checked in the
    /// transaction; see `CommerceStore`), or the caller may see but not change the thing.
    #[error("forbidden")]
    Forbidden,
    /// A list cursor that this store did not hand out.
    #[error("bad cursor")]
    BadCursor,
    /// The database could not be reached or failed; the message is for logs, not clients.
    #[error("database: {0}")]
    Database(String),
}

/// The names `StoreError::Conflict` uses, shared by every backend.
pub mod constraint {
    pub const DOMAIN_TAKEN: &str = "organizations_domain";
    pub const PARTNER_ID_TAKEN: &str = "organizations_partner_id";
    pub const EMAIL_TAKEN: &str = "users_email";
    pub const ACTIVE_RELATIONSHIP: &str = "relationships_one_active";
    /// An acceptance's grants name a relationship that is no longer active (a removal
    /// committed after the caller read it).
    pub const RELATIONSHIP_ENDED: &str = "relationship_ended";
    pub const INVITATION_NOT_PENDING: &str = "invitation_not_pending";
    pub const LAST_GLOBAL_ADMIN: &str = "last_global_admin";
    pub const PROVIDER_LINK_EXISTS: &str = "provider_links_pair";
    /// A decline of a link that is active already (it is ended instead).
    pub const PROVIDER_LINK_NOT_PENDING: &str = "provider_link_not_pending";
    pub const NOT_A_PROVIDER: &str = "not_an_indirect_provider";
    /// An order names a reseller that is not one of the provider's active resellers.
    pub const NOT_AN_ACTIVE_RESELLER: &str = "not_an_active_reseller";
    /// An order names a reseller without an active relationship with the customer.
    pub const NO_RESELLER_RELATIONSHIP: &str = "no_reseller_relationship";
    /// An order names an offer that does not exist or is disabled.
    pub const OFFER_UNAVAILABLE: &str = "offer_unavailable";
    /// A subscription's quantity would drop below its assigned licenses.
    pub const QUANTITY_BELOW_ASSIGNED: &str = "quantity_below_assigned";
    pub const SUBSCRIPTION_CANCELLED: &str = "subscription_cancelled";
    /// A license of a suspended or cancelled subscription.
    pub const SUBSCRIPTION_NOT_ACTIVE: &str = "subscription_not_active";
    /// Every seat of the subscription is assigned.
    pub const NO_SEATS: &str = "no_seats_left";
    /// The user already holds a license of that subscription.
    pub const LICENSE_EXISTS: &str = "licenses_pair";
    /// A TOTP enrolment while the user already has an active one (remove it first).
    pub const TOTP_ACTIVE: &str = "totp_active";
    /// A TOTP confirmation whose enrolment was confirmed, replaced or removed meanwhile.
    pub const TOTP_NOT_PENDING: &str = "totp_not_pending";
    /// A grant's warning for that many days before its end was given already.
    pub const GRANT_WARNED: &str = "grant_warnings_once";
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the whole service needs from a database: every role, and running it.
#[async_trait]
pub trait Store:
    OrganizationStore
    + SessionStore
    + RelationshipStore
    + InvitationStore
    + CommerceStore
    + AuditStore
    + IdempotencyStore
    + MfaStore
    + ScheduleStore
    + MailStore
    + WebhookStore
    + Send
    + Sync
    + 'static
{
    // ---- running ----
    /// Is the database answering?
    async fn ping(&self) -> StoreResult<()>;
    /// The server secret kept in the database: the stored one, or `generated` stored now.
    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>>;
}

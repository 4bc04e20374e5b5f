//! The storage boundary: record types, `StoreError`, and the `Store` trait, sized to whole
//! use cases. Every method that touches tenant data takes the caller's organization id, and
//! every method that changes state takes a [`Change`]: its audit record and outbox events are
//! written in the same transaction as the change itself, or nothing is.

pub mod codec;
mod records;
pub use records::*;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;

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
    pub const INVITATION_NOT_PENDING: &str = "invitation_not_pending";
    pub const LAST_GLOBAL_ADMIN: &str = "last_global_admin";
    pub const PROVIDER_LINK_EXISTS: &str = "provider_links_pair";
    pub const NOT_A_PROVIDER: &str = "not_an_indirect_provider";
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the whole service needs from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- running ----
    /// Is the database answering?
    async fn ping(&self) -> StoreResult<()>;
    /// The server secret kept in the database: the stored one, or `generated` stored now.
    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>>;
    /// Recomputes the audit hash chain.
    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification>;

    // ---- organizations and users ----
    /// A new organization with its first global admin (operator enrollment, sign-up).
    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()>;
    async fn organization(&self, id: OrganizationId) -> StoreResult<Organization>;
    async fn partner_by_public_id(&self, partner_id: &str) -> StoreResult<Organization>;
    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>>;
    async fn list_users(&self, org: OrganizationId) -> StoreResult<Vec<User>>;
    async fn create_user(&self, org: OrganizationId, user: NewUser, change: Change) -> StoreResult<()>;
    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User>;
    /// Deletes the user and every session of theirs.
    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()>;
    async fn user(&self, org: OrganizationId, user: UserId) -> StoreResult<User>;

    // ---- sessions and rate limits ----
    async fn create_session(&self, session: NewSession, change: Change) -> StoreResult<()>;
    /// The signed-in user behind a session token hash, if the session is live at `now`.
    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>>;
    /// Counts one attempt against `key` in a fixed window; answers how many attempts the
    /// window holds now and when it ends.
    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    /// Attempts counted against `key` in the current window, and when it ends.
    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;

    // ---- provider links ----
    async fn create_provider_link(&self, link: NewProviderLink, change: Change) -> StoreResult<()>;
    /// Links where `org` is the reseller (its providers) or the provider (its resellers).
    async fn provider_links(&self, org: OrganizationId, side: LinkSide) -> StoreResult<Vec<ProviderLinkView>>;
    /// Makes the pending link from `reseller` to the provider `org` active.
    async fn activate_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()>;
    async fn active_provider_link(&self, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<bool>;

    // ---- customers, partner side ----
    async fn list_customers(
        &self,
        partner: OrganizationId,
        query: &CustomerQuery,
        now: OffsetDateTime,
    ) -> StoreResult<Page<CustomerSummary>>;
    /// A customer with an active relationship with `partner`; `NotFound` otherwise.
    async fn customer(&self, partner: OrganizationId, customer: OrganizationId, now: OffsetDateTime) -> StoreResult<CustomerDetail>;
    /// A new customer organization, its first admin, and the relationships and grants.
    async fn create_customer(
        &self,
        org: NewOrganization,
        admin: NewUser,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()>;
    async fn active_relationship(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Option<Relationship>>;
    /// What stands in the way of removing the relationship; generic over blocker kinds.
    async fn removal_blockers(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<RemovalBlocker>>;
    /// Ends the active relationship and revokes every grant of that partner in that
    /// customer, rechecking blockers in the same transaction.
    async fn remove_relationship(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<RemovalOutcome>;
    async fn grants(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<Grant>>;
    /// Revokes the partner's live grants in the customer; answers how many.
    async fn revoke_grants(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<i64>;

    // ---- invitations ----
    async fn create_invitation(&self, invitation: NewInvitation, change: Change) -> StoreResult<()>;
    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation>;
    async fn list_invitations(
        &self,
        partner: OrganizationId,
        state: Option<InvitationState>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Invitation>>;
    async fn save_invitation_email(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Invitation>;
    async fn mark_invitation_sent(&self, partner: OrganizationId, id: InvitationId, now: OffsetDateTime, change: Change)
    -> StoreResult<()>;
    /// Pending, unexpired -> revoked; `Conflict(INVITATION_NOT_PENDING)` otherwise.
    async fn revoke_invitation(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Invitation>;
    /// The invitation behind a token hash, with who is asking: for preview and acceptance.
    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer>;
    /// Acceptance: the conditional update `pending -> accepted` (still unexpired, for this
    /// customer), the relationships and grants, in one transaction.
    /// `Conflict(INVITATION_NOT_PENDING)` when another answer won; `Conflict(ACTIVE_RELATIONSHIP)`.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()>;
    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()>;

    // ---- customer side ----
    async fn partners_of_customer(&self, customer: OrganizationId) -> StoreResult<Vec<PartnerOfCustomer>>;

    // ---- audit ----
    async fn list_audit(&self, org: OrganizationId, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
}

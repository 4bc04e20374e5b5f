//! Invitations from a partner to a customer: creation, the e-mail, and the customer's answer.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;

/// Invitations and their answers.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Answers the invitation as stored (see [`NewInvitation::created`]).
    async fn create_invitation(&self, invitation: NewInvitation, change: Change) -> StoreResult<Invitation>;
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
    /// `Conflict(INVITATION_NOT_PENDING)` when another answer won; `Conflict(ACTIVE_RELATIONSHIP)`;
    /// `Conflict(RELATIONSHIP_ENDED)` when a grant names a relationship, other than those made
    /// here, that is not active (for the grant's partner and customer) inside the transaction.
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
}

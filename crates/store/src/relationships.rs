//! Customers and their relationships with partners: creation, the delegated grants, removal
//! and what blocks it, and the partners a customer sees.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;

/// Customers, relationships and grants, seen from either side.
#[async_trait]
pub trait RelationshipStore: Send + Sync {
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
    /// Every grant `partner` holds or held in `customer`, whole (what the service counts).
    async fn grants(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<Grant>>;
    /// The same grants a page at a time, by creation time, role, then id.
    async fn list_grants(&self, partner: OrganizationId, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Grant>>;
    /// Revokes the partner's live grants in the customer; answers how many.
    async fn revoke_grants(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<i64>;

    // ---- customer side ----
    /// The partners with an active relationship with `customer`, by name then id, each with
    /// its unrevoked grants.
    async fn partners_of_customer(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<PartnerOfCustomer>>;
}

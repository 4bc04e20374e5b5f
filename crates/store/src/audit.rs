//! The audit trail: listing what an organization may see, and verifying the hash chain.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Recomputes the audit hash chain.
    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification>;
    async fn list_audit(&self, org: OrganizationId, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
}

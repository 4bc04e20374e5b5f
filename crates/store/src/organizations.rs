//! Organizations, their users and sign-in credentials, and the provider links between
//! indirect providers and resellers.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;

impl UserPatch {
    /// Whether this patch takes away a role of `old` (the user's roles before it): then the
    /// user's sessions end with the change.
    pub fn takes_a_role_from(&self, old: &[Role]) -> bool {
        self.roles.as_deref().is_some_and(|new| old.iter().any(|r| !new.contains(r)))
    }
}

/// Organizations, users and provider links.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    // ---- organizations and users ----
    /// A new organization with its first global admin (operator enrollment, sign-up).
    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()>;
    async fn organization(&self, id: OrganizationId) -> StoreResult<Organization>;
    async fn partner_by_public_id(&self, partner_id: &str) -> StoreResult<Organization>;
    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>>;
    /// The users of `org` by e-mail then id.
    async fn list_users(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<User>>;
    async fn create_user(&self, org: OrganizationId, user: NewUser, change: Change) -> StoreResult<()>;
    /// Changes a user's roles or name. A patch that takes away any role the user had (read
    /// under the lock the change takes) ends every session of the user in the same
    /// transaction: the holder signs in again, as who they are now.
    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User>;
    /// Deletes the user and every session of theirs, and releases their licenses (recorded
    /// in the change, with a `license.released` event each).
    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()>;
    async fn user(&self, org: OrganizationId, user: UserId) -> StoreResult<User>;
    /// Sets a user's password hash and whether it must be changed before anything else, and
    /// ends every session of the user but `keep` (the session making the change, if any).
    async fn set_password(
        &self,
        org: OrganizationId,
        user: UserId,
        password_hash: String,
        change_required: bool,
        keep: Option<SessionId>,
        change: Change,
    ) -> StoreResult<()>;
    /// Partner organizations by name then id (the operator's list).
    async fn list_partners(&self, page: &PageQuery) -> StoreResult<Page<Organization>>;

    // ---- provider links ----
    async fn create_provider_link(&self, link: NewProviderLink, change: Change) -> StoreResult<()>;
    /// Live (pending or active) links where `org` is the reseller (its providers) or the
    /// provider (its resellers), by the other partner's name then id; declined and ended ones
    /// are history, in the audit log.
    async fn provider_links(&self, org: OrganizationId, side: LinkSide, page: &PageQuery) -> StoreResult<Page<ProviderLinkView>>;
    /// Makes the pending link from `reseller` to the provider `org` active.
    async fn activate_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()>;
    /// The provider `org` declines the pending request of `reseller`: the link becomes
    /// `declined` (kept, with `ended_at`). `NotFound` without a pending request;
    /// `Conflict { PROVIDER_LINK_NOT_PENDING }` when the link is active (it is ended instead).
    async fn decline_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()>;
    /// Ends the live (pending or active) link between `org` and `other`, one of its providers
    /// or resellers as `side` says: the link becomes `ended` (kept, with `ended_at`) and the
    /// pair may connect again. Records the link's `id` in the change's target and the state it
    /// had as `previous_state`. `NotFound` without a live link. Customers' relationships and
    /// grants stay as they are.
    async fn end_provider_link(
        &self,
        org: OrganizationId,
        side: LinkSide,
        other: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()>;
    async fn active_provider_link(&self, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<bool>;
}

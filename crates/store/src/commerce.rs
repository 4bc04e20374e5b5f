//! Offers, orders, subscriptions, licenses, and the customer's users as partners manage them
//! through their grants. Every method acting in a customer's tenant takes a [`TenantAccess`]
//! and checks it inside its own transaction (on PostgreSQL with the relationship and the
//! grants locked `FOR SHARE`): the partner's active relationship with the customer
//! (`NotFound` without), then `partnerhub_domain::delegation::authorize` over the partner's
//! live grants as they are at that moment (`Forbidden` when it refuses).

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;

#[async_trait]
pub trait CommerceStore: Send + Sync {
    // ---- offers (the operator's catalog) ----
    async fn create_offer(&self, offer: NewOffer, change: Change) -> StoreResult<Offer>;
    async fn offer(&self, id: OfferId) -> StoreResult<Offer>;
    /// Offers by name then id; enabled ones only unless `include_disabled`.
    async fn list_offers(&self, include_disabled: bool, page: &PageQuery) -> StoreResult<Page<Offer>>;
    /// Sets `disabled_at` (once: disabling a disabled offer changes nothing and writes no record).
    async fn disable_offer(&self, id: OfferId, now: OffsetDateTime, change: Change) -> StoreResult<Offer>;

    // ---- orders ----
    /// The order and its subscriptions, checked in the transaction: `placed_by`'s active
    /// relationship with the customer (`NotFound`); with a reseller of record, the provider
    /// link active (`Conflict(NOT_AN_ACTIVE_RESELLER)`) and the reseller's active relationship
    /// with the customer (`Conflict(NO_RESELLER_RELATIONSHIP)`); every offer enabled
    /// (`Conflict(OFFER_UNAVAILABLE)`).
    async fn place_order(&self, order: NewOrder, change: Change) -> StoreResult<Order>;

    // ---- subscriptions ----
    /// The customer's subscriptions that `partner` placed or is partner of record of, by id;
    /// `NotFound` without an active relationship.
    async fn partner_subscriptions(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        page: &PageQuery,
    ) -> StoreResult<Page<Subscription>>;
    /// Every subscription of the tenant, by id: the customer's own view.
    async fn tenant_subscriptions(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Subscription>>;
    /// A change by the partner that placed it, with an active relationship. `NotFound` when
    /// the partner cannot see it; `Forbidden` when it is only the partner of record;
    /// `Conflict(SUBSCRIPTION_CANCELLED)` from cancelled; `Conflict(QUANTITY_BELOW_ASSIGNED)`.
    /// Cancelling releases every license (records `released_licenses` and adds a
    /// `license.released` event per license to the change).
    async fn update_subscription(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        id: SubscriptionId,
        patch: SubscriptionPatch,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Subscription>;

    // ---- the customer's users, through the grants ----
    /// Users of the tenant by e-mail then id (`TenantAction::ReadUsers`).
    async fn tenant_users(&self, access: &TenantAccess, page: &PageQuery) -> StoreResult<Page<User>>;
    /// `access.action` is `ManageUsers`; authorized with the new user's roles as given.
    async fn create_tenant_user(&self, access: &TenantAccess, user: NewUser, change: Change) -> StoreResult<User>;
    /// Authorized with the user's current roles as the target and the new ones as given. A
    /// patch that takes away a role ends the user's sessions, as `update_user` does.
    async fn update_tenant_user(&self, access: &TenantAccess, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User>;
    /// Deletes the user, its sessions, and releases its licenses (recorded, with events).
    /// The last global admin of the tenant stays (`Conflict(LAST_GLOBAL_ADMIN)`).
    async fn delete_tenant_user(&self, access: &TenantAccess, user: UserId, change: Change) -> StoreResult<()>;
    /// A temporary password (`password_change_required`), every session of the user ended.
    async fn reset_tenant_user_password(
        &self,
        access: &TenantAccess,
        user: UserId,
        password_hash: String,
        change: Change,
    ) -> StoreResult<()>;

    // ---- licenses ----
    /// One seat of an active subscription of the tenant (`ManageLicenses`): a conditional
    /// `assigned = assigned + 1 WHERE assigned < quantity`. `Conflict(NO_SEATS)` when full,
    /// `Conflict(LICENSE_EXISTS)` when the user has it, `Conflict(SUBSCRIPTION_NOT_ACTIVE)`.
    async fn assign_license(
        &self,
        access: &TenantAccess,
        user: UserId,
        subscription: SubscriptionId,
        change: Change,
    ) -> StoreResult<License>;
    async fn release_license(&self, access: &TenantAccess, user: UserId, subscription: SubscriptionId, change: Change) -> StoreResult<()>;
    /// A tenant user's licenses by subscription id, for a partner (`ReadUsers`).
    async fn tenant_user_licenses(&self, access: &TenantAccess, user: UserId, page: &PageQuery) -> StoreResult<Page<License>>;
    /// A user's licenses by subscription id in the caller's own organization `org` (the
    /// customer's own view); `NotFound` for a user of another organization.
    async fn user_licenses(&self, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>>;
}

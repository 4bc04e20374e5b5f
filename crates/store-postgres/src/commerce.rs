//! Commerce: offers, orders, subscriptions, licenses and customer users managed through
//! grants (not built yet).

use crate::PgStore;
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use time::OffsetDateTime;

fn todo<T>() -> StoreResult<T> {
    Err(StoreError::Database("not built yet".into()))
}

#[async_trait]
impl CommerceStore for PgStore {
    async fn create_offer(&self, _offer: NewOffer, _change: Change) -> StoreResult<Offer> {
        todo()
    }
    async fn offer(&self, _id: OfferId) -> StoreResult<Offer> {
        todo()
    }
    async fn list_offers(&self, _include_disabled: bool, _page: &PageQuery) -> StoreResult<Page<Offer>> {
        todo()
    }
    async fn disable_offer(&self, _id: OfferId, _now: OffsetDateTime, _change: Change) -> StoreResult<Offer> {
        todo()
    }
    async fn place_order(&self, _order: NewOrder, _change: Change) -> StoreResult<Order> {
        todo()
    }
    async fn partner_subscriptions(
        &self,
        _partner: OrganizationId,
        _customer: OrganizationId,
        _page: &PageQuery,
    ) -> StoreResult<Page<Subscription>> {
        todo()
    }
    async fn tenant_subscriptions(&self, _customer: OrganizationId, _page: &PageQuery) -> StoreResult<Page<Subscription>> {
        todo()
    }
    async fn update_subscription(
        &self,
        _partner: OrganizationId,
        _customer: OrganizationId,
        _id: SubscriptionId,
        _patch: SubscriptionPatch,
        _now: OffsetDateTime,
        _change: Change,
    ) -> StoreResult<Subscription> {
        todo()
    }
    async fn tenant_users(&self, _access: &TenantAccess, _page: &PageQuery) -> StoreResult<Page<User>> {
        todo()
    }
    async fn create_tenant_user(&self, _access: &TenantAccess, _user: NewUser, _change: Change) -> StoreResult<User> {
        todo()
    }
    async fn update_tenant_user(&self, _access: &TenantAccess, _user: UserId, _patch: UserPatch, _change: Change) -> StoreResult<User> {
        todo()
    }
    async fn delete_tenant_user(&self, _access: &TenantAccess, _user: UserId, _change: Change) -> StoreResult<()> {
        todo()
    }
    async fn reset_tenant_user_password(
        &self,
        _access: &TenantAccess,
        _user: UserId,
        _password_hash: String,
        _change: Change,
    ) -> StoreResult<()> {
        todo()
    }
    async fn assign_license(
        &self,
        _access: &TenantAccess,
        _user: UserId,
        _subscription: SubscriptionId,
        _change: Change,
    ) -> StoreResult<License> {
        todo()
    }
    async fn release_license(
        &self,
        _access: &TenantAccess,
        _user: UserId,
        _subscription: SubscriptionId,
        _change: Change,
    ) -> StoreResult<()> {
        todo()
    }
    async fn tenant_user_licenses(&self, _access: &TenantAccess, _user: UserId) -> StoreResult<Vec<License>> {
        todo()
    }
    async fn user_licenses(&self, _org: OrganizationId, _user: UserId) -> StoreResult<Vec<License>> {
        todo()
    }
}

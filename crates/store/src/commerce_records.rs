//! Commerce records (offers, orders, subscriptions, licenses, a partner's access to a tenant):
//! plain records over domain types, as in `records`.

use crate::PartnerRef;
use partnerhub_domain::*;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewOffer {
    pub id: OfferId,
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: OfferId,
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
}

impl Offer {
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: OrderId,
    pub customer_id: OrganizationId,
    pub placed_by: OrganizationId,
    pub placed_by_user: UserId,
    /// The indirect reseller an indirect provider orders for; `None` for a direct partner,
    /// which is then its own partner of record.
    pub reseller_of_record: Option<OrganizationId>,
    pub created_at: OffsetDateTime,
    pub items: Vec<NewSubscription>,
}

impl NewOrder {
    pub fn partner_of_record(&self) -> OrganizationId {
        self.reseller_of_record.unwrap_or(self.placed_by)
    }
}

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: SubscriptionId,
    pub offer_id: OfferId,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: OrganizationId,
    pub placed_by: PartnerRef,
    pub placed_by_user: UserId,
    pub partner_of_record: PartnerRef,
    pub created_at: OffsetDateTime,
    pub subscriptions: Vec<Subscription>,
}

/// An offer as a subscription shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferRef {
    pub id: OfferId,
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub order_id: OrderId,
    pub customer_id: OrganizationId,
    pub offer: OfferRef,
    pub quantity: i64,
    /// Licenses given out; never above `quantity`.
    pub assigned: i64,
    pub status: SubscriptionStatus,
    pub placed_by: PartnerRef,
    pub partner_of_record: PartnerRef,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub quantity: Option<i64>,
    pub status: Option<SubscriptionStatus>,
}

/// Subscriptions of a customer that a partner placed or is partner of record of, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionCounts {
    pub active: i64,
    pub suspended: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct License {
    pub subscription_id: SubscriptionId,
    pub user_id: UserId,
    pub customer_id: OrganizationId,
    pub offer: OfferRef,
    pub assigned_at: OffsetDateTime,
}

/// A partner user acting in a customer's tenant: checked by the store in the transaction that
/// acts (see `CommerceStore`).
#[derive(Debug, Clone)]
pub struct TenantAccess {
    pub partner: OrganizationId,
    pub customer: OrganizationId,
    /// The acting user's roles in the partner organization.
    pub agent_roles: Vec<Role>,
    pub action: TenantAction,
    pub now: OffsetDateTime,
}

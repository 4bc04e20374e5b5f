//! Commerce and delegated administration on the wire: offers, orders, subscriptions,
//! licenses, and a customer's users as a partner manages them.

use crate::PartnerRefResponse;
use crate::names::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

// ---- offers, orders, subscriptions, licenses ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Mail Basic", "unit_price_cents": 600, "currency": "EUR"}))]
pub struct CreateOfferRequest {
    /// 1 to 200 characters.
    pub name: String,
    /// 0 to 100,000,000.
    pub unit_price_cents: i64,
    /// ISO 4217: three upper-case letters.
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferResponse {
    pub id: Uuid,
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
    /// False once the operator disabled it: it can no longer be ordered.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An offer as a subscription or a license shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferRefResponse {
    pub id: Uuid,
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
}

/// A partner organization, as the operator lists them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorPartnerResponse {
    pub id: Uuid,
    pub name: String,
    /// `direct`, `indirect_provider` or `indirect_reseller`.
    #[schema(value_type = PartnerTypeName)]
    pub partner_type: String,
    pub partner_id: String,
    pub domain: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    pub offer_id: Uuid,
    /// 1 to 100,000 seats.
    pub quantity: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"offer_id": "01929c1e-3f0a-7c3e-9a8b-1d2e3f4a5b6c", "quantity": 10}]}))]
pub struct CreateOrderRequest {
    /// 1 to 50 items; each makes one subscription.
    pub items: Vec<OrderItemRequest>,
    /// Required from an indirect provider: the reseller of record, one of its active
    /// resellers with its own relationship with the customer. Refused from anyone else.
    #[serde(default)]
    pub reseller_id: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionResponse {
    pub id: Uuid,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub offer_id: Uuid,
    pub offer: OfferRefResponse,
    pub quantity: i64,
    /// Licenses given out; never above `quantity`.
    pub assigned: i64,
    /// `active`, `suspended` or `cancelled`.
    #[schema(value_type = SubscriptionStatusName)]
    pub status: String,
    /// The reseller of an indirect order, the direct partner otherwise.
    pub partner_of_record: PartnerRefResponse,
    pub placed_by: PartnerRefResponse,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderResponse {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub placed_by: PartnerRefResponse,
    pub placed_by_user: Uuid,
    pub partner_of_record: PartnerRefResponse,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub subscriptions: Vec<SubscriptionResponse>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 12}))]
pub struct UpdateSubscriptionRequest {
    /// 1 to 100,000, never below the licenses assigned.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// `active`, `suspended` or `cancelled` (final).
    #[serde(default)]
    #[schema(value_type = Option<SubscriptionStatusName>)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subscription_id": "01929c1e-3f0a-7c3e-9a8b-1d2e3f4a5b6c"}))]
pub struct AssignLicenseRequest {
    pub subscription_id: Uuid,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LicenseResponse {
    pub subscription_id: Uuid,
    pub user_id: Uuid,
    pub offer: OfferRefResponse,
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

// ---- a customer's users, managed by a partner through its grants ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "kim@adventure-works.example", "display_name": "Kim", "roles": ["user_admin"]}))]
pub struct CreateTenantUserRequest {
    pub email: String,
    pub display_name: String,
    /// Customer roles (`global_admin`, `user_admin`, `billing_admin`); none by default.
    #[serde(default)]
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedTenantUserResponse {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
    /// Shown this once; the user must change it at the first sign-in.
    pub temporary_password: String,
}

//! The closed sets of words the API uses, as OpenAPI enums. Fields keep `String` in Rust (the
//! service speaks the domain's types); `#[schema(value_type = ...)]` names one of these, so
//! that a generated client knows every value. A test in `partnerhub-web` holds each list to
//! the domain's own.

use serde::Serialize;
use utoipa::ToSchema;

/// A role in one's own organization (partner roles, then customer roles).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    GlobalAdmin,
    AdminAgent,
    SalesAgent,
    HelpdeskAgent,
    BillingAdmin,
    UserAdmin,
}

/// A delegated admin role a partner holds in a customer's tenant.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelegatedRoleName {
    GlobalAdmin,
    UserAdmin,
    LicenseAdmin,
    HelpdeskAdmin,
    BillingAdmin,
    GlobalReader,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerTypeName {
    Direct,
    IndirectProvider,
    IndirectReseller,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKindName {
    Partner,
    Customer,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStateName {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatusName {
    Active,
    Suspended,
    Cancelled,
}

/// A relationship is `active` until removed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipStateName {
    Active,
    Removed,
}

/// How a relationship began: an accepted invitation, or the partner created the customer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipVia {
    Invitation,
    Created,
}

/// A grant as of the answer: `revoked` when ended before its expiry, `expired` after it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStateName {
    Active,
    Expired,
    Revoked,
}

/// What blocks a removal.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    ActiveSubscription,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocaleName {
    Fr,
    En,
}

/// The state an invitation answer leaves: `queued` (to be mailed: see `email_delivery`),
/// `declined`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeState {
    Queued,
    Declined,
}

/// Where an e-mail of the outbox stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailDeliveryState {
    Queued,
    Sent,
    Failed,
}

/// Always `Bearer`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

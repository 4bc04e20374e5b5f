//! The request and response types of partnerhub's HTTP API, version 1 (`API.md`), shared by
//! the server, the CLI and the tests. serde for the wire, utoipa for the OpenAPI document.
//!
//! Every request type refuses fields it does not have (`deny_unknown_fields`, which utoipa
//! writes as `additionalProperties: false`); answers do not, so that clients take fields added
//! later (docs/contract.md). `#[serde(flatten)]` does not mix with `deny_unknown_fields`:
//! keep it out of request types.

mod commerce;
mod email;
mod names;
mod webhooks;
pub use commerce::*;
pub use email::*;
pub use names::*;
pub use webhooks::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A page of a list, with the total count of the filtered list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// RFC 9457 problem details; `code` is stable and machine-readable.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blockers: Option<Vec<BlockerResponse>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorResponse {
    pub field: String,
    pub message: String,
}

// ---- operator ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    pub display_name: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Fabrikam Distribution", "partner_type": "indirect_provider", "partner_id": "4100001", "domain": "fabrikam.example", "admin": {"email": "ga@fabrikam.example", "display_name": "Ada", "password": "correct horse battery staple"}}))]
pub struct CreatePartnerRequest {
    pub name: String,
    /// `direct`, `indirect_provider` or `indirect_reseller`.
    #[schema(value_type = PartnerTypeName)]
    pub partner_type: String,
    /// The short public id the partner is known by.
    pub partner_id: String,
    pub domain: String,
    pub admin: NewAdmin,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerResponse {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = PartnerTypeName)]
    pub partner_type: String,
    pub partner_id: String,
    pub domain: String,
    pub admin_user_id: Uuid,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"provider_id": "01929c1e-3f0a-7c3e-9a8b-1d2e3f4a5b6c", "reseller_id": "01929c1e-3f0a-7c3e-9a8b-6c5b4a3f2e1d"}))]
pub struct CreateProviderLinkRequest {
    pub provider_id: Uuid,
    pub reseller_id: Uuid,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderLinkResponse {
    pub provider_id: Uuid,
    pub reseller_id: Uuid,
    pub state: String,
}

// ---- sign-in and self ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ga@contoso.example", "password": "correct horse battery staple"}))]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
    /// A current TOTP code or an unused recovery code: required once the user has TOTP.
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = TokenType)]
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// Signed in with a temporary password: this token may only call `GET /api/v1/me`,
    /// `POST /api/v1/me/password` and sign out, until the password is changed.
    pub password_change_required: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "the temporary one", "new_password": "correct horse battery staple"}))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 12 to 1024 characters, not the current one.
    pub new_password: String,
}

/// A password made by someone else, shown this once; it must be changed at the next sign-in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemporaryPasswordResponse {
    pub temporary_password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationResponse {
    pub id: Uuid,
    pub name: String,
    /// `partner` or `customer`.
    #[schema(value_type = OrgKindName)]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PartnerTypeName>)]
    pub partner_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
}

/// One of the signed-in user's sessions (`GET /api/v1/me/sessions`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The session this request came with.
    pub current: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub user: UserResponse,
    pub organization: OrganizationResponse,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupOrganization {
    pub name: String,
    pub domain: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organization": {"name": "Adventure Works", "domain": "adventure-works.example"}, "admin": {"email": "ga@adventure-works.example", "display_name": "Grace", "password": "correct horse battery staple"}}))]
pub struct SignupRequest {
    pub organization: SignupOrganization,
    pub admin: NewAdmin,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignupResponse {
    pub organization_id: Uuid,
    pub user_id: Uuid,
}

// ---- users of one's own organization ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alex@contoso.example", "display_name": "Alex", "password": "correct horse battery staple", "roles": ["admin_agent"]}))]
pub struct CreateUserRequest {
    pub email: String,
    pub display_name: String,
    pub password: String,
    /// At least one role of the organization's kind.
    #[serde(default)]
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    #[schema(value_type = Option<Vec<RoleName>>)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub display_name: Option<String>,
}

// ---- partners connected to partners ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkedPartnerResponse {
    pub id: Uuid,
    pub name: String,
    pub partner_id: String,
    /// `pending` or `active` in the lists; `declined` in the answer to a decline.
    pub state: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestProviderRequest {
    pub provider_partner_id: String,
}

// ---- customers ----

/// A partner as others see it: organization UUID, name, short public id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartnerRefResponse {
    pub id: Uuid,
    pub name: String,
    pub partner_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RelationshipResponse {
    pub id: Uuid,
    /// `active` or `removed`.
    #[schema(value_type = RelationshipStateName)]
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// `invitation` or `created`.
    #[schema(value_type = RelationshipVia)]
    pub via: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantSummary {
    #[schema(value_type = DelegatedRoleName)]
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerResponse {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    pub relationship: RelationshipResponse,
    /// The caller's live delegated admin grants in this customer.
    pub grants: Vec<GrantSummary>,
    /// For an indirect provider: the reseller of record through which the customer came.
    pub indirect_reseller: Option<PartnerRefResponse>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionCounts {
    pub active: i64,
    pub suspended: i64,
    pub cancelled: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerDetailResponse {
    #[serde(flatten)]
    pub customer: CustomerResponse,
    pub subscriptions: SubscriptionCounts,
    /// The customer's other partners that the caller may see.
    pub other_partners: Vec<PartnerRefResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerAdmin {
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Tailspin Toys", "domain": "tailspin.example", "admin": {"email": "ga@tailspin.example", "display_name": "Tom"}}))]
pub struct CreateCustomerRequest {
    pub name: String,
    pub domain: String,
    pub admin: NewCustomerAdmin,
    /// An indirect provider may create the customer for one of its resellers.
    #[serde(default)]
    pub reseller_id: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedAdminResponse {
    pub id: Uuid,
    pub email: String,
    /// Shown this once.
    pub temporary_password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedCustomerResponse {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    pub relationship: RelationshipResponse,
    pub admin: CreatedAdminResponse,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockerResponse {
    /// e.g. `active_subscription`.
    #[schema(value_type = BlockerKind)]
    pub kind: String,
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemovalPreflightResponse {
    pub removable: bool,
    pub blockers: Vec<BlockerResponse>,
    pub grants_to_revoke: i64,
    pub legal_notice: String,
    /// What `attest_good_faith: true` attests.
    pub good_faith_statement: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"attest_good_faith": true}))]
pub struct RemoveRelationshipRequest {
    #[serde(default)]
    pub attest_good_faith: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemovalResponse {
    pub relationship_id: Uuid,
    /// Always `removed`.
    #[schema(value_type = RelationshipStateName)]
    pub state: String,
    pub revoked_grants: i64,
    pub legal_notice: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantResponse {
    pub id: Uuid,
    #[schema(value_type = DelegatedRoleName)]
    pub role: String,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = GrantStateName)]
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub auto_extend: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

// ---- invitations ----

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["user_admin", "license_admin", "helpdesk_admin"], "duration_days": 365, "expires_in_days": 30, "locale": "fr"}))]
pub struct CreateInvitationRequest {
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub indirect_provider_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<DelegatedRoleName>>)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub duration_days: Option<i64>,
    #[serde(default)]
    pub auto_extend: Option<bool>,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    /// `fr` or `en` (default).
    #[serde(default)]
    #[schema(value_type = Option<LocaleName>)]
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailDraft {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationResponse {
    pub id: Uuid,
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    #[schema(value_type = InvitationStateName)]
    pub state: String,
    /// The personalized URL; shown while pending only.
    pub url: Option<String>,
    pub customer_id: Option<Uuid>,
    pub indirect_provider_id: Option<Uuid>,
    #[schema(value_type = Vec<DelegatedRoleName>)]
    pub roles: Vec<String>,
    pub duration_days: i64,
    pub auto_extend: bool,
    #[schema(value_type = LocaleName)]
    pub locale: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub responded_at: Option<OffsetDateTime>,
    /// The e-mail draft; shown while pending only.
    pub email: Option<EmailDraft>,
    pub mailto: Option<String>,
    /// Where the e-mail partnerhub was last asked to send (`POST /invitations/{id}/send`)
    /// stands; in `GET /invitations/{id}` only, `null` elsewhere or when none was asked for.
    pub email_delivery: Option<EmailDelivery>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "ga@adventure-works.example"}))]
pub struct SendInvitationRequest {
    pub to: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "l4dlUpTCyM3my7XkhcjGZz0DICXQRt9uCKrSWlYbcKg"}))]
pub struct InvitationTokenRequest {
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerPublic {
    pub name: String,
    pub partner_id: String,
    pub domain: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationPreviewResponse {
    pub partner: PartnerPublic,
    pub indirect_provider: Option<PartnerPublic>,
    #[schema(value_type = Vec<DelegatedRoleName>)]
    pub roles: Vec<String>,
    pub duration_days: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[schema(value_type = InvitationStateName)]
    pub state: String,
    /// Whether the invitation is bound to one customer organization.
    pub bound_to_customer: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedRelationship {
    pub id: Uuid,
    pub partner: PartnerRefResponse,
    #[schema(value_type = RelationshipStateName)]
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedGrant {
    pub id: Uuid,
    pub partner: PartnerRefResponse,
    #[schema(value_type = DelegatedRoleName)]
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptResponse {
    pub relationships: Vec<AcceptedRelationship>,
    pub grants: Vec<AcceptedGrant>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StateResponse {
    #[schema(value_type = OutcomeState)]
    pub state: String,
}

// ---- the customer's partners ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerPartnerResponse {
    pub id: Uuid,
    pub name: String,
    pub partner_id: String,
    pub relationship: RelationshipResponse,
    pub grants: Vec<GrantResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeGrantsResponse {
    pub revoked_grants: i64,
}

// ---- audit ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordResponse {
    pub seq: i64,
    pub at: String,
    pub organization_id: Option<Uuid>,
    pub actor: AuditActor,
    pub action: String,
    #[schema(value_type = Object)]
    pub target: Value,
    pub customer_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: Value,
    /// SHA-256 of the previous record's hash and this record, hex.
    pub hash: String,
    /// The id the records of one change share (a customer creation writes
    /// `organization.created`, `relationship.created` and `grant.created` under one id); the
    /// same as the `change_id` of the change's outbox events. `null` on records written
    /// before change ids existed. Not in API.md: see docs/audit.md.
    pub change_id: Option<Uuid>,
}

/// A TOTP secret being enrolled: not active until confirmed with a code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...`, for a QR code.
    pub otpauth_uri: String,
}

/// A code of the authenticator app (or, to remove TOTP, an unused recovery code).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeRequest {
    pub code: String,
}

/// The recovery codes of a confirmed TOTP, shown this once; each signs in once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

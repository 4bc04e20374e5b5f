//! The customer's partners (customer global_admin): list, revoke grants, end the relationship.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use partnerhub_api_types::*;
use partnerhub_domain::{LEGAL_NOTICE, OrganizationId};
use uuid::Uuid;

/// The partners with an active relationship with the caller's organization, by name.
#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<CustomerPartnerResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_partners(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<CustomerPartnerResponse>>> {
    let now = s.service.now();
    let partners = s.service.partners_of_customer(&c, page).await?;
    Ok(Json(super::page(partners, |p| CustomerPartnerResponse {
        id: p.partner.id.0,
        name: p.partner.name.clone(),
        partner_id: p.partner.partner_id.clone(),
        relationship: super::relationship(&p.relationship),
        grants: p.grants.iter().map(|g| super::grant(g, now)).collect(),
    })))
}

/// Revoke every live grant the partner holds in the caller's tenant; the relationship stays.
#[utoipa::path(post, path = "/api/v1/partners/{id}/revoke-grants", tag = "partners", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RevokeGrantsResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_partner_grants(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<RevokeGrantsResponse>> {
    let n = s.service.revoke_partner_grants(&c, OrganizationId(id)).await?;
    Ok(Json(RevokeGrantsResponse { revoked_grants: n }))
}

/// End the relationship with the partner, revoking its grants.
#[utoipa::path(post, path = "/api/v1/partners/{id}/remove-relationship", tag = "partners", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RemovalResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_partner_relationship(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<RemovalResponse>> {
    let out = s.service.customer_remove_partner(&c, OrganizationId(id)).await?;
    Ok(Json(RemovalResponse {
        relationship_id: out.relationship_id.0,
        state: "removed".into(),
        revoked_grants: out.revoked_grants,
        legal_notice: LEGAL_NOTICE.into(),
    }))
}

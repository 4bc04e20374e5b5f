//! The operator's routes: enrolling and listing partners, and linking providers with
//! resellers (the catalog of offers is in `offers`).

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, Operator, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::OrganizationId;
use partnerhub_service::NewPartnerInput;

/// Enroll a partner with its first global admin.
#[utoipa::path(post, path = "/api/v1/operator/partners", tag = "operator", request_body = CreatePartnerRequest,
    security(("bearer" = [])),
    responses((status = 201, body = PartnerResponse), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_partner(
    State(s): State<AppState>,
    Operator(op): Operator,
    AppJson(req): AppJson<CreatePartnerRequest>,
) -> ApiResult<(StatusCode, Json<PartnerResponse>)> {
    let input = NewPartnerInput {
        name: req.name,
        partner_type: req.partner_type,
        partner_id: req.partner_id,
        domain: req.domain,
        admin_email: req.admin.email,
        admin_display_name: req.admin.display_name,
        admin_password: req.admin.password,
    };
    let (org, admin) = s.service.create_partner(&op, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerResponse {
            id: org.id.0,
            name: org.name,
            partner_type: org.partner_type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
            partner_id: org.partner_id.unwrap_or_default(),
            domain: org.domain,
            admin_user_id: admin.0,
        }),
    ))
}

/// Link an indirect reseller to an indirect provider (active at once).
#[utoipa::path(post, path = "/api/v1/operator/provider-links", tag = "operator", request_body = CreateProviderLinkRequest,
    security(("bearer" = [])),
    responses((status = 201, body = ProviderLinkResponse), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_provider_link(
    State(s): State<AppState>,
    Operator(op): Operator,
    AppJson(req): AppJson<CreateProviderLinkRequest>,
) -> ApiResult<(StatusCode, Json<ProviderLinkResponse>)> {
    s.service.link_provider(&op, OrganizationId(req.provider_id), OrganizationId(req.reseller_id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProviderLinkResponse { provider_id: req.provider_id, reseller_id: req.reseller_id, state: "active".into() }),
    ))
}

/// The partners, by name, with their type and partner id.
#[utoipa::path(get, path = "/api/v1/operator/partners", tag = "operator", operation_id = "list_operator_partners", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<OperatorPartnerResponse>), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 422, body = Problem)))]
pub async fn list_partners(
    State(s): State<AppState>,
    Operator(op): Operator,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<OperatorPartnerResponse>>> {
    let page = s.service.list_partners(&op, page).await?;
    Ok(Json(super::page(page, |o| OperatorPartnerResponse {
        id: o.id.0,
        name: o.name.clone(),
        partner_type: o.partner_type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        partner_id: o.partner_id.clone().unwrap_or_default(),
        domain: o.domain.clone(),
        created_at: o.created_at,
    })))
}

//! Indirect providers and resellers connected to each other.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::OrganizationId;
use partnerhub_store::{LinkSide, ProviderLinkView};
use uuid::Uuid;

fn item(v: &ProviderLinkView) -> LinkedPartnerResponse {
    LinkedPartnerResponse {
        id: v.partner.id.0,
        name: v.partner.name.clone(),
        partner_id: v.partner.partner_id.clone(),
        state: v.state.clone(),
    }
}

/// An indirect reseller's providers, by name.
#[utoipa::path(get, path = "/api/v1/providers", tag = "provider-links", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<LinkedPartnerResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_providers(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<LinkedPartnerResponse>>> {
    Ok(Json(super::page(s.service.provider_links(&c, LinkSide::Providers, page).await?, item)))
}

/// An indirect reseller asks an indirect provider to connect (`pending`).
#[utoipa::path(post, path = "/api/v1/providers", tag = "provider-links", request_body = RequestProviderRequest, security(("bearer" = [])),
    responses((status = 201, body = LinkedPartnerResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn request_provider(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(req): AppJson<RequestProviderRequest>,
) -> ApiResult<(StatusCode, Json<LinkedPartnerResponse>)> {
    let v = s.service.request_provider(&c, &req.provider_partner_id).await?;
    Ok((StatusCode::CREATED, Json(item(&v))))
}

/// An indirect provider's resellers, by name.
#[utoipa::path(get, path = "/api/v1/resellers", tag = "provider-links", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<LinkedPartnerResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_resellers(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<LinkedPartnerResponse>>> {
    Ok(Json(super::page(s.service.provider_links(&c, LinkSide::Resellers, page).await?, item)))
}

/// The provider accepts a reseller's request; the link becomes `active`.
#[utoipa::path(post, path = "/api/v1/resellers/{reseller_id}/accept", tag = "provider-links", security(("bearer" = [])),
    params(("reseller_id" = Uuid, Path)),
    responses((status = 200, body = LinkedPartnerResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn accept_reseller(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<LinkedPartnerResponse>> {
    let v = s.service.accept_reseller(&c, OrganizationId(id)).await?;
    Ok(Json(item(&v)))
}

/// The provider declines a reseller's pending request; the link is kept as `declined` (the
/// reseller may ask again). An active link is ended instead (`409`).
#[utoipa::path(post, path = "/api/v1/resellers/{reseller_id}/decline", tag = "provider-links", security(("bearer" = [])),
    params(("reseller_id" = Uuid, Path)),
    responses((status = 200, body = LinkedPartnerResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn decline_reseller(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<LinkedPartnerResponse>> {
    let v = s.service.decline_reseller(&c, OrganizationId(id)).await?;
    Ok(Json(item(&v)))
}

/// The provider ends its link with a reseller, active or pending. Customers' relationships
/// and grants stay as they are; orders naming that reseller are refused from now on.
#[utoipa::path(delete, path = "/api/v1/resellers/{reseller_id}", tag = "provider-links", security(("bearer" = [])),
    params(("reseller_id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn end_reseller(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<StatusCode> {
    s.service.end_provider_link(&c, LinkSide::Resellers, OrganizationId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The reseller leaves a provider (or withdraws its pending request). Customers'
/// relationships and grants stay as they are.
#[utoipa::path(delete, path = "/api/v1/providers/{provider_id}", tag = "provider-links", security(("bearer" = [])),
    params(("provider_id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn leave_provider(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<StatusCode> {
    s.service.end_provider_link(&c, LinkSide::Providers, OrganizationId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Licenses: seats of a customer's subscriptions given to its users, by a partner agent
//! through the grants, and a user's licenses as the customer's own admins see them.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::{OrganizationId, SubscriptionId, UserId};
use uuid::Uuid;

/// A user's licenses in a customer's tenant, by subscription id.
#[utoipa::path(get, path = "/api/v1/customers/{id}/users/{user_id}/licenses", tag = "licenses", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<LicenseResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_tenant_user_licenses(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<LicenseResponse>>> {
    let licenses = s.service.tenant_user_licenses(&c, OrganizationId(id), UserId(user_id), page).await?;
    Ok(Json(super::page(licenses, super::license)))
}

/// One seat of an active subscription of the customer to one of its users; `409 conflict`
/// when every seat is taken, the user holds one already, or the subscription is not active.
#[utoipa::path(post, path = "/api/v1/customers/{id}/users/{user_id}/licenses", tag = "licenses", request_body = AssignLicenseRequest,
    security(("bearer" = [])), params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 201, body = LicenseResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn assign_license(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<AssignLicenseRequest>,
) -> ApiResult<(StatusCode, Json<LicenseResponse>)> {
    let l = s.service.assign_license(&c, OrganizationId(id), UserId(user_id), SubscriptionId(req.subscription_id)).await?;
    Ok((StatusCode::CREATED, Json(super::license(&l))))
}

/// Gives the seat back.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/users/{user_id}/licenses/{subscription_id}", tag = "licenses", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path), ("subscription_id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn release_license(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id, subscription_id)): AppPath<(Uuid, Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.service.release_license(&c, OrganizationId(id), UserId(user_id), SubscriptionId(subscription_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The licenses of a user of the caller's own organization, by subscription id.
#[utoipa::path(get, path = "/api/v1/users/{id}/licenses", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<LicenseResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_user_licenses(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<LicenseResponse>>> {
    let licenses = s.service.user_licenses(&c, UserId(id), page).await?;
    Ok(Json(super::page(licenses, super::license)))
}

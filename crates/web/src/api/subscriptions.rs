//! Subscriptions: a partner's view of a customer's (those it placed or is partner of record
//! of) and its changes, and the customer's view of its whole tenant.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use partnerhub_api_types::*;
use partnerhub_domain::{OrganizationId, SubscriptionId};
use partnerhub_service::SubscriptionPatchInput;
use uuid::Uuid;

/// The customer's subscriptions that the caller placed or is partner of record of, by id.
#[utoipa::path(get, path = "/api/v1/customers/{id}/subscriptions", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<SubscriptionResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_customer_subscriptions(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<SubscriptionResponse>>> {
    let page = s.service.partner_subscriptions(&c, OrganizationId(id), page).await?;
    Ok(Json(super::page(page, super::subscription)))
}

/// Change the quantity or the status (`active <-> suspended`, either to `cancelled`, which is
/// final and releases every license). Only the partner that placed it; never below the
/// licenses assigned.
#[utoipa::path(patch, path = "/api/v1/customers/{id}/subscriptions/{subscription_id}", tag = "subscriptions",
    request_body = UpdateSubscriptionRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("subscription_id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_subscription(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, subscription_id)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<UpdateSubscriptionRequest>,
) -> ApiResult<Json<SubscriptionResponse>> {
    let input = SubscriptionPatchInput { quantity: req.quantity, status: req.status };
    let sub = s.service.update_subscription(&c, OrganizationId(id), SubscriptionId(subscription_id), input).await?;
    Ok(Json(super::subscription(&sub)))
}

/// The customer's own view: every subscription of its tenant, whoever sold it.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "subscriptions", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<SubscriptionResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_own_subscriptions(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<SubscriptionResponse>>> {
    let page = s.service.own_subscriptions(&c, page).await?;
    Ok(Json(super::page(page, super::subscription)))
}

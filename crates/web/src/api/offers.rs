//! Offers: the operator's catalog (create, list everything, disable) and the enabled offers
//! partner users order from.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Operator, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::OfferId;
use partnerhub_service::NewOfferInput;
use partnerhub_store::Offer;
use uuid::Uuid;

fn response(o: &Offer) -> OfferResponse {
    OfferResponse {
        id: o.id.0,
        name: o.name.clone(),
        unit_price_cents: o.unit_price_cents,
        currency: o.currency.clone(),
        active: o.is_active(),
        created_at: o.created_at,
    }
}

/// Add an offer to the catalog, enabled.
#[utoipa::path(post, path = "/api/v1/operator/offers", tag = "operator", request_body = CreateOfferRequest, security(("bearer" = [])),
    responses((status = 201, body = OfferResponse), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 422, body = Problem)))]
pub async fn create_offer(
    State(s): State<AppState>,
    Operator(op): Operator,
    AppJson(req): AppJson<CreateOfferRequest>,
) -> ApiResult<(StatusCode, Json<OfferResponse>)> {
    let input = NewOfferInput { name: req.name, unit_price_cents: req.unit_price_cents, currency: req.currency };
    let offer = s.service.create_offer(&op, input).await?;
    Ok((StatusCode::CREATED, Json(response(&offer))))
}

/// Every offer, enabled or not, by name.
#[utoipa::path(get, path = "/api/v1/operator/offers", tag = "operator", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<OfferResponse>), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 422, body = Problem)))]
pub async fn list_operator_offers(
    State(s): State<AppState>,
    Operator(op): Operator,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<OfferResponse>>> {
    let page = s.service.operator_offers(&op, page).await?;
    Ok(Json(super::page(page, response)))
}

/// The offer can no longer be ordered; its subscriptions go on. Disabling twice changes nothing.
#[utoipa::path(post, path = "/api/v1/operator/offers/{id}/disable", tag = "operator", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = OfferResponse), (status = 401, body = Problem), (status = 403, description = "operator_api_disabled: the server runs without an operator token", body = Problem), (status = 404, body = Problem)))]
pub async fn disable_offer(
    State(s): State<AppState>,
    Operator(op): Operator,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<OfferResponse>> {
    Ok(Json(response(&s.service.disable_offer(&op, OfferId(id)).await?)))
}

/// The offers that can be ordered, by name.
#[utoipa::path(get, path = "/api/v1/offers", tag = "offers", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<OfferResponse>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_offers(State(s): State<AppState>, Auth(c): Auth, Paging(page): Paging) -> ApiResult<Json<ListResponse<OfferResponse>>> {
    let page = s.service.list_offers(&c, page).await?;
    Ok(Json(super::page(page, response)))
}

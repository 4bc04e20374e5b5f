//! Orders (flow 6): a partner orders offers for a connected customer.

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::{OfferId, OrganizationId};
use partnerhub_service::{NewOrderInput, OrderItemInput};
use uuid::Uuid;

/// Order offers for the customer: one subscription per item. An indirect provider names the
/// reseller of record (`reseller_id`); a direct partner is its own.
#[utoipa::path(post, path = "/api/v1/customers/{id}/orders", tag = "orders", request_body = CreateOrderRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 201, body = OrderResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn place_order(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateOrderRequest>,
) -> ApiResult<(StatusCode, Json<OrderResponse>)> {
    let input = NewOrderInput {
        items: req.items.iter().map(|i| OrderItemInput { offer_id: OfferId(i.offer_id), quantity: i.quantity }).collect(),
        reseller_id: req.reseller_id.map(OrganizationId),
    };
    let o = s.service.place_order(&c, OrganizationId(id), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrderResponse {
            id: o.id.0,
            customer_id: o.customer_id.0,
            placed_by: super::partner_ref(&o.placed_by),
            placed_by_user: o.placed_by_user.0,
            partner_of_record: super::partner_ref(&o.partner_of_record),
            created_at: o.created_at,
            subscriptions: o.subscriptions.iter().map(super::subscription).collect(),
        }),
    ))
}

//! Webhooks of the caller's organization (global_admin): register, list, read, delete, rotate
//! the secret, and the delivery log of each (API.md "Audit and webhooks").

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_service::NewWebhookInput;
use partnerhub_store::{DeliveryAttempt, Webhook};
use uuid::Uuid;

fn webhook(w: &Webhook) -> WebhookResponse {
    WebhookResponse {
        id: w.id,
        url: w.url.clone(),
        events: w.events.clone(),
        state: w.state.clone(),
        failed_attempts: w.attempt,
        next_attempt_at: w.retry_at.filter(|_| w.attempt > 0),
        created_at: w.created_at,
    }
}

fn delivery(a: &DeliveryAttempt) -> DeliveryResponse {
    DeliveryResponse {
        id: a.id,
        event_id: a.event_id,
        event: a.event_type.clone(),
        attempt: a.attempt,
        at: a.at,
        status: a.status,
        latency_ms: a.latency_ms,
        error: a.error.clone(),
    }
}

/// Registers an endpoint for some events of the caller's organization; its signing secret is
/// in this answer only.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhookRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhookResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, description = "validation_failed: a URL that is not https:// to a public address, or an unknown event", body = Problem)))]
pub async fn create_webhook(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(req): AppJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookResponse>)> {
    let created = s.service.create_webhook(&c, NewWebhookInput { url: req.url, events: req.events }).await?;
    let w = created.webhook;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhookResponse {
            id: w.id,
            url: w.url,
            events: w.events,
            secret: created.secret,
            state: w.state,
            created_at: w.created_at,
        }),
    ))
}

/// The caller's organization's endpoints, oldest first; a `failing` one has had an event
/// failing for more than 3 days.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<WebhookResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_webhooks(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<WebhookResponse>>> {
    Ok(Json(super::page(s.service.list_webhooks(&c, page).await?, webhook)))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_webhook(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(webhook(&s.service.webhook(&c, id).await?)))
}

/// Deletes the endpoint and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_webhook(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<StatusCode> {
    s.service.delete_webhook(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every delivery attempt to the endpoint, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<DeliveryResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<DeliveryResponse>>> {
    Ok(Json(super::page(s.service.webhook_deliveries(&c, id, page).await?, delivery)))
}

/// A new signing secret, shown this once; deliveries carry a signature by the old one too for
/// 24 hours.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookSecretResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn rotate_secret(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<Json<WebhookSecretResponse>> {
    Ok(Json(WebhookSecretResponse { secret: s.service.rotate_webhook_secret(&c, id).await? }))
}

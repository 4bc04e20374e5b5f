//! Health, readiness and metrics.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// 200 while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "up")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, description = "ready"), (status = 503, description = "the database does not answer")))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<&'static str> {
    s.service.ready().await.map_err(|e| ApiError::NotReady(e.to_string()))?;
    Ok("ready")
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text exposition")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

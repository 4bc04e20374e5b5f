//! The signed-in user's own sessions: signing out, listing them, ending one.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::SessionId;
use uuid::Uuid;

/// Sign out: this bearer token is dead on every node.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn delete_token(State(s): State<AppState>, Auth(c): Auth) -> ApiResult<StatusCode> {
    s.service.sign_out(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's live sessions, newest first (at most 10: an 11th sign-in ends the oldest).
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<SessionResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_sessions(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<SessionResponse>>> {
    let (sessions, current) = s.service.list_sessions(&c, page).await?;
    Ok(Json(super::page(sessions, |x| SessionResponse {
        id: x.id.0,
        created_at: x.created_at,
        expires_at: x.expires_at,
        current: x.id == current,
    })))
}

/// End one of one's own sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "auth", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn end_session(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<StatusCode> {
    s.service.end_session(&c, SessionId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

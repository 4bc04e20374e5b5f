//! Users of the caller's own organization (global_admin; a customer's user_admin too, short
//! of its global admins).

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::UserId;
use partnerhub_service::NewUserInput;
use uuid::Uuid;

/// The users of the caller's organization, by e-mail.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<UserResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_users(State(s): State<AppState>, Auth(c): Auth, Paging(page): Paging) -> ApiResult<Json<ListResponse<UserResponse>>> {
    Ok(Json(super::page(s.service.list_users(&c, page).await?, super::user)))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest, security(("bearer" = [])),
    responses((status = 201, body = UserResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(req): AppJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let u = s
        .service
        .create_user(&c, NewUserInput { email: req.email, display_name: req.display_name, password: req.password, roles: req.roles })
        .await?;
    Ok((StatusCode::CREATED, Json(super::user(&u))))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> ApiResult<Json<UserResponse>> {
    let u = s.service.update_user(&c, UserId(id), req.roles, req.display_name).await?;
    Ok(Json(super::user(&u)))
}

/// Deletes the user and ends every session of theirs.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_user(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<StatusCode> {
    s.service.delete_user(&c, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A temporary password for a user of the caller's organization, shown this once; every
/// session of theirs ends and their next sign-in may only change it.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = TemporaryPasswordResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn reset_user_password(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<TemporaryPasswordResponse>> {
    let password = s.service.reset_user_password(&c, UserId(id)).await?;
    Ok(Json(TemporaryPasswordResponse { temporary_password: password }))
}

//! A customer's users, managed by a partner agent through the grants the customer gave:
//! list, create (with a temporary password), change, delete, reset a password.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::{OrganizationId, UserId};
use partnerhub_service::NewTenantUserInput;
use uuid::Uuid;

/// The customer's users, by e-mail. Needs a live grant that lets the caller read users.
#[utoipa::path(get, path = "/api/v1/customers/{id}/users", tag = "customer-users", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<UserResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_tenant_users(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<UserResponse>>> {
    let page = s.service.tenant_users(&c, OrganizationId(id), page).await?;
    Ok(Json(super::page(page, super::user)))
}

/// A new user of the customer with a temporary password, shown this once.
#[utoipa::path(post, path = "/api/v1/customers/{id}/users", tag = "customer-users", request_body = CreateTenantUserRequest,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 201, body = CreatedTenantUserResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_tenant_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<CreateTenantUserRequest>,
) -> ApiResult<(StatusCode, Json<CreatedTenantUserResponse>)> {
    let input = NewTenantUserInput { email: req.email, display_name: req.display_name, roles: req.roles };
    let (u, password) = s.service.create_tenant_user(&c, OrganizationId(id), input).await?;
    let u = super::user(&u);
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenantUserResponse {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            roles: u.roles,
            temporary_password: password,
        }),
    ))
}

#[utoipa::path(patch, path = "/api/v1/customers/{id}/users/{user_id}", tag = "customer-users", request_body = UpdateUserRequest,
    security(("bearer" = [])), params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = UserResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_tenant_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> ApiResult<Json<UserResponse>> {
    let u = s.service.update_tenant_user(&c, OrganizationId(id), UserId(user_id), req.roles, req.display_name).await?;
    Ok(Json(super::user(&u)))
}

/// Deletes the user, ends their sessions and releases their licenses.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/users/{user_id}", tag = "customer-users", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn delete_tenant_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.service.delete_tenant_user(&c, OrganizationId(id), UserId(user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A temporary password for the user, shown this once; their sessions end.
#[utoipa::path(post, path = "/api/v1/customers/{id}/users/{user_id}/reset-password", tag = "customer-users", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = TemporaryPasswordResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn reset_tenant_user_password(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
) -> ApiResult<Json<TemporaryPasswordResponse>> {
    let password = s.service.reset_tenant_user_password(&c, OrganizationId(id), UserId(user_id)).await?;
    Ok(Json(TemporaryPasswordResponse { temporary_password: password }))
}

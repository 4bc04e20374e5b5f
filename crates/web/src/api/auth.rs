//! Sign-in, the signed-in user and the password change, and customer sign-up.

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, Auth, ClientIp};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_service::{Caller, Limited, SignupInput};

/// Sign in with e-mail and password; answers an opaque bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn create_token(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let session = s.service.open_session(&req.email, &req.password, req.totp.as_deref(), &ip).await?;
    Ok(Json(TokenResponse {
        access_token: session.token,
        token_type: "Bearer".into(),
        expires_in: session.expires_in,
        password_change_required: session.password_change_required,
    }))
}

/// Set a new password, proving the current one; every other session of the user ends. The
/// one thing a session signed in with a temporary password may do.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn change_password(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    s.service.change_password(&c, &req.current_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and its organization.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
pub async fn get_me(State(s): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<MeResponse>> {
    let p = s.service.me(&caller).await?;
    let o = &p.organization;
    Ok(Json(MeResponse {
        user: super::user(&p.user),
        organization: OrganizationResponse {
            id: o.id.0,
            name: o.name.clone(),
            kind: o.kind.as_str().into(),
            partner_type: o.partner_type.map(|t| t.as_str().to_owned()),
            partner_id: o.partner_id.clone(),
        },
    }))
}

/// Sign up a new customer organization with its first global admin.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn signup(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<SignupResponse>)> {
    s.service.admit(Limited::SignUp, &Caller::Anonymous, &ip).await?;
    let input = SignupInput {
        name: req.organization.name,
        domain: req.organization.domain,
        admin_email: req.admin.email,
        admin_display_name: req.admin.display_name,
        admin_password: req.admin.password,
    };
    let (org, user) = s.service.signup(input).await?;
    Ok((StatusCode::CREATED, Json(SignupResponse { organization_id: org.0, user_id: user.0 })))
}

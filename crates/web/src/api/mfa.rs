//! TOTP multi-factor authentication of the signed-in user: enrol, confirm, remove.

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, Auth};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;

/// Start a TOTP enrolment (replacing a pending one): the secret, for an authenticator app. Not
/// active until confirmed.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 201, body = TotpEnrolmentResponse), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn start_totp(State(s): State<AppState>, Auth(c): Auth) -> ApiResult<(StatusCode, Json<TotpEnrolmentResponse>)> {
    let e = s.service.start_totp(&c).await?;
    Ok((StatusCode::CREATED, Json(TotpEnrolmentResponse { secret: e.secret, otpauth_uri: e.otpauth_uri })))
}

/// Activate the pending enrolment with a current code; answers 10 recovery codes, shown once.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "auth", request_body = TotpCodeRequest, security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodesResponse), (status = 401, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn confirm_totp(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(req): AppJson<TotpCodeRequest>,
) -> ApiResult<Json<RecoveryCodesResponse>> {
    let recovery_codes = s.service.confirm_totp(&c, &req.code).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes }))
}

/// Remove TOTP, proven by a current code or an unused recovery code.
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "auth", request_body = TotpCodeRequest, security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
pub async fn remove_totp(State(s): State<AppState>, Auth(c): Auth, AppJson(req): AppJson<TotpCodeRequest>) -> ApiResult<StatusCode> {
    s.service.remove_totp(&c, &req.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

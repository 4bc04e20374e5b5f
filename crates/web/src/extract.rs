//! Extractors whose rejections have the same problem+json shape as every other error:
//! JSON bodies, path ids, query strings and the bearer token (the client address: `client.rs`).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use bytes::Bytes;
use partnerhub_domain::ValidationErrors;
use partnerhub_service::Caller;
use serde::de::DeserializeOwned;

/// A JSON body. Not JSON: 400 `malformed_request`; JSON of the wrong shape: 422
/// `validation_failed` naming the field; over the limit: 413. The `Content-Type` is not
/// insisted on, so `curl -d` works.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE { ApiError::TooLarge } else { ApiError::Malformed(e.body_text()) }
        })?;
        serde_json::from_slice(&bytes).map(AppJson).map_err(json_error)
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let msg = e.to_string();
            // serde names the field in backticks: "missing field `name`", "unknown variant `x`".
            let field = msg.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).unwrap_or("body").to_owned();
            ValidationErrors::one(&field, msg).into()
        }
        _ => ApiError::Malformed(format!("the body is not valid JSON: {e}")),
    }
}

/// A path parameter; one that does not parse (not a UUID) names nothing that exists: 404.
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| AppPath(p.0))
            .map_err(|_: PathRejection| ApiError::NotFound)
    }
}

/// A query string; one that does not parse is 422 naming `query`.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AppQuery(q.0))
            .map_err(|e: QueryRejection| ValidationErrors::one("query", e.body_text()).into())
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// The signed-in user, looked up in the database on every request.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(partnerhub_service::ServiceError::Unauthenticated)?;
        Ok(Auth(state.service.authenticate(token).await?))
    }
}

/// The operator, by `PARTNERHUB_OPERATOR_TOKEN`; `403 operator_api_disabled` when the server has none.
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Operator(state.service.authenticate_operator(bearer(parts))?))
    }
}

pub(crate) use crate::client::ClientIp;

//! Extractors whose rejections have the same problem+json shape as every other error:
//! JSON bodies, path ids, query strings, the paging of lists and the bearer token (the client
//! address: `client.rs`).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use bytes::Bytes;
use partnerhub_domain::{ValidationErrors, Validator};
use partnerhub_service::Caller;
use partnerhub_store::PageQuery;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

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

/// The paging query of every list: `?limit=` and `?cursor=`. The served OpenAPI document
/// declares them from this type; [`Paging`] reads them.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items a page holds: an integer from 1 to 500, 50 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// Where the page starts: the previous page's `next_cursor`, opaque; absent for the first page.
    cursor: Option<String>,
}

/// The longest cursor a list hands out is far shorter: its key (a name, an e-mail) and an id.
const MAX_CURSOR_LEN: usize = 2048;

impl PageParams {
    /// The page asked for; a limit out of range or not an integer, or a cursor no list could
    /// have handed out, is 422 naming the field. (Whether the cursor is one this very list
    /// handed out, the store decides: `StoreError::BadCursor`, 422 naming `cursor` too.)
    pub fn query(self) -> Result<PageQuery, ValidationErrors> {
        let mut v = Validator::default();
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => PageQuery::DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=PageQuery::MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                v.push("limit", format!("must be an integer from 1 to {}", PageQuery::MAX_LIMIT));
                0
            }
        };
        if self.cursor.as_ref().is_some_and(|c| c.is_empty() || c.len() > MAX_CURSOR_LEN) {
            v.push("cursor", "is not a cursor this list handed out");
        }
        v.finish()?;
        Ok(PageQuery { limit, cursor: self.cursor })
    }

    /// `limit` and `cursor` out of a query string's pairs; either one given twice is refused.
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ValidationErrors> {
        let mut p = PageParams::default();
        let mut v = Validator::default();
        for (k, value) in pairs {
            let slot = match k.as_str() {
                "limit" => &mut p.limit,
                "cursor" => &mut p.cursor,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                v.push(&k, "must be given at most once");
            }
        }
        v.finish()?;
        Ok(p)
    }
}

/// The page a list is asked for (see [`PageParams`]), read from the query string whatever
/// else it holds: a list's own filters come in an [`AppQuery`] of their own.
pub struct Paging(pub PageQuery);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e: QueryRejection| ValidationErrors::one("query", e.body_text()))?;
        Ok(Paging(PageParams::from_pairs(pairs.0)?.query()?))
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

/// The operator, by `PARTNERHUB_OPERATOR_TOKEN`.
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(partnerhub_service::ServiceError::Unauthenticated)?;
        Ok(Operator(state.service.authenticate_operator(token)?))
    }
}

pub(crate) use crate::client::ClientIp;

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
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use utoipa::IntoParams;

/// A JSON body: an object with `T`'s fields and no others, each of its type (docs/contract.md).
/// Not JSON: 400 `malformed_request`; JSON of the wrong shape (not an object, an unknown
/// field, a wrong type, a missing field): 422 `validation_failed` naming the field by its
/// path (`admin.password`, `items[0].quantity`); over the limit: 413. The `Content-Type` is
/// not insisted on, so `curl -d` works.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned + Serialize, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE { ApiError::TooLarge } else { ApiError::Malformed(e.body_text()) }
        })?;
        parse_body(&bytes).map(AppJson)
    }
}

/// Reads a request body as `T`, strictly: see [`AppJson`].
pub(crate) fn parse_body<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of the contract is an object; serde would read a struct from an array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => ValidationErrors::one("body", "must be a JSON object").into(),
            Err(e) => not_json(&e),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        // A wrong field may come before the text stops being JSON: not JSON is told first.
        Err(e) => return Err(serde_json::from_slice::<IgnoredAny>(bytes).map_or_else(|e| not_json(&e), |_| field_error(e))),
    };
    de.end().map_err(|e| not_json(&e))?;
    // The same for a nested object sent as an array (`"admin": ["a@b.example", "Ada"]`).
    if bytes.contains(&b'[')
        && let (Ok(sent), Ok(read)) = (serde_json::from_slice::<Value>(bytes), serde_json::to_value(&value))
        && let Some(field) = array_for_object(&sent, &read, String::new())
    {
        return Err(ValidationErrors::one(&field, "must be a JSON object").into());
    }
    Ok(value)
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::Malformed(format!("the body is not valid JSON: {e}"))
}

/// A field path as the contract writes it: `duration_days`, `admin.password`,
/// `items[0].quantity`; empty for the body itself.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => out = join(&out, key),
            Segment::Unknown => out = join(&out, "?"),
        }
    }
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let mut field = field_path(e.path());
    let inner = e.into_inner();
    if inner.classify() != Category::Data {
        return not_json(&inner);
    }
    // serde_json says where in the text; the field path says it better.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(suffix.as_str()).unwrap_or(&full).to_owned();
    // A missing or repeated field is reported at the object that lacks or repeats it.
    let named =
        ["missing field `", "duplicate field `"].iter().find_map(|p| message.strip_prefix(p)).and_then(|rest| rest.split('`').next());
    if let Some(name) = named {
        field = join(&field, name);
    }
    if field.is_empty() {
        field = "body".into();
    }
    ValidationErrors::one(&field, message).into()
}

/// The path of the first place where `sent` has an array and `read` (what `T` made of it,
/// serialized back) an object.
fn array_for_object(sent: &Value, read: &Value, at: String) -> Option<String> {
    match (sent, read) {
        (Value::Array(_), Value::Object(_)) => Some(if at.is_empty() { "body".into() } else { at }),
        (Value::Object(s), Value::Object(r)) => r.iter().find_map(|(k, rv)| s.get(k).and_then(|sv| array_for_object(sv, rv, join(&at, k)))),
        (Value::Array(s), Value::Array(r)) => {
            s.iter().zip(r).enumerate().find_map(|(i, (sv, rv))| array_for_object(sv, rv, format!("{at}[{i}]")))
        }
        _ => None,
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
    bearer_of(&parts.headers)
}

/// The bearer token of a request's `Authorization` header.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use partnerhub_api_types::{CreateCustomerRequest, CreateInvitationRequest, CreateOrderRequest};
    use partnerhub_service::ServiceError;

    /// The one field a refused body is named by, or `None` when it was not a 422.
    fn field<T: DeserializeOwned + Serialize>(body: &str) -> Option<String> {
        match parse_body::<T>(body.as_bytes()) {
            Err(ApiError::Service(ServiceError::Validation(v))) if v.0.len() == 1 => Some(v.0[0].field.clone()),
            Err(_) => None,
            Ok(_) => Some("accepted".into()),
        }
    }

    const ORDER: &str = "00000000-0000-4000-8000-000000000001";

    #[test]
    fn refusals_name_the_field_by_its_path() {
        type Inv = CreateInvitationRequest;
        type Cust = CreateCustomerRequest;
        type Order = CreateOrderRequest;
        assert_eq!(field::<Inv>(r#"{"duration_days": "ten"}"#).as_deref(), Some("duration_days"));
        assert_eq!(field::<Inv>(r#"{"duration_day": 10}"#).as_deref(), Some("duration_day"));
        assert_eq!(field::<Inv>(r#"{"duration_days": 1, "duration_days": 2}"#).as_deref(), Some("duration_days"));
        assert_eq!(field::<Inv>("{}").as_deref(), Some("accepted"));
        let admin = |extra: &str| {
            format!(r#"{{"name": "N", "domain": "n.example", "admin": {{"email": "a@n.example", "display_name": "A"{extra}}}}}"#)
        };
        assert_eq!(field::<Cust>(&admin("")).as_deref(), Some("accepted"));
        assert_eq!(field::<Cust>(&admin(r#", "password": "x""#)).as_deref(), Some("admin.password"));
        assert_eq!(
            field::<Cust>(r#"{"name": "N", "domain": "n.example", "admin": {"email": "a@n.example"}}"#).as_deref(),
            Some("admin.display_name")
        );
        assert_eq!(field::<Cust>(r#"{"name": "N", "domain": "n.example"}"#).as_deref(), Some("admin"));
        assert_eq!(field::<Cust>(r#"{"name": "N", "domain": "n.example", "admin": ["a@n.example", "A"]}"#).as_deref(), Some("admin"));
        let item =
            |q: &str| format!(r#"{{"items": [{{"offer_id": "{ORDER}", "quantity": 1}}, {{"offer_id": "{ORDER}", "quantity": {q}}}]}}"#);
        assert_eq!(field::<Order>(&item("2")).as_deref(), Some("accepted"));
        assert_eq!(field::<Order>(&item("\"2\"")).as_deref(), Some("items[1].quantity"));
        assert_eq!(field::<Order>(&item("2, \"price\": 3")).as_deref(), Some("items[1].price"));
        assert_eq!(field::<Order>(&format!(r#"{{"items": [["{ORDER}", 1]]}}"#)).as_deref(), Some("items[0]"));
        assert_eq!(field::<Order>(r#"{"items": [{"offer_id": "nope", "quantity": 1}]}"#).as_deref(), Some("items[0].offer_id"));
        for not_an_object in ["[]", "3", "\"x\"", "null", "true", " [1] "] {
            assert_eq!(field::<Inv>(not_an_object).as_deref(), Some("body"), "{not_an_object}");
        }
    }

    #[test]
    fn what_is_not_json_is_malformed() {
        for body in ["", "{", "{\"a\":", "{} {}", "{}x", "[", "nul", "\u{feff}{}"] {
            assert!(matches!(parse_body::<CreateInvitationRequest>(body.as_bytes()), Err(ApiError::Malformed(_))), "{body:?}");
        }
    }
}

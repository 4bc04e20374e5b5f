//! `Idempotency-Key` on every POST (docs/accounts.md, "Idempotency"): per caller (the bearer
//! token, so its session or the operator; anonymous callers by client address), the same key
//! and request answer the first answer again with `Idempotent-Replayed: true`; another
//! request under the key is `422 idempotency_key_reused`; while the first runs, `409`. Keys
//! are kept in the database (`IdempotencyStore`) for 24 hours. An answer of 5xx or 429 is not
//! kept: the retry runs again.

use crate::error::ApiError;
use crate::{AppState, BODY_LIMIT};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use partnerhub_domain::ValidationErrors;
use partnerhub_service::ServiceError;
use partnerhub_store::{IdempotencyClaim, KeptResponse};
use sha2::{Digest, Sha256};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// Who a key belongs to when the request carries `Authorization: Bearer TOKEN`: a hash of
/// the token (each session, and the operator, has its own).
pub fn caller_for_bearer(token: &str) -> String {
    format!("bearer:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// Who a key belongs to for an anonymous request: its client address.
pub fn caller_for_client(client: &str) -> String {
    format!("client:{client}")
}

/// The hash a key is bound to: method, path and query, and body.
pub fn request_hash(method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path_and_query.as_bytes(), body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().to_vec()
}

fn valid_key(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (1..=255).contains(&s.len()).then_some(s).filter(|s| s.bytes().all(|b| b.is_ascii_graphic()))
}

pub(crate) async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY) else { return next.run(req).await };
    let Some(key) = valid_key(raw_key).map(str::to_owned) else {
        return ApiError::from(ValidationErrors::one("Idempotency-Key", "must be 1 to 255 visible ASCII characters")).into_response();
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else { return ApiError::TooLarge.into_response() };
    let bearer = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    });
    let caller = match bearer {
        Some(token) => caller_for_bearer(token),
        None => caller_for_client(&crate::client::client_of(&parts, &state.trusted_proxies)),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let hash = request_hash(parts.method.as_str(), path, &bytes);
    let store = state.service.store().clone();
    let claim = match store.claim_idempotency_key(&caller, &key, &hash, state.service.now()).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(ServiceError::from(e)).into_response(),
    };
    match claim {
        IdempotencyClaim::Mismatch => ApiError::from(ServiceError::IdempotencyKeyReused).into_response(),
        IdempotencyClaim::InFlight => ApiError::from(ServiceError::IdempotencyKeyInFlight).into_response(),
        IdempotencyClaim::Replay(kept) => replay(kept),
        IdempotencyClaim::Claimed => {
            let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (res_parts, res_body) = res.into_parts();
            let body = match axum::body::to_bytes(res_body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = store.release_idempotency_key(&caller, &key, &hash).await;
                    return ApiError::from(ServiceError::Internal(format!("reading an answer: {e}"))).into_response();
                }
            };
            let status = res_parts.status;
            let kept = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                store.release_idempotency_key(&caller, &key, &hash).await
            } else {
                let content_type = res_parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let answer = KeptResponse { status: status.as_u16(), content_type, body: body.to_vec() };
                store.complete_idempotency_key(&caller, &key, &hash, answer).await
            };
            if let Err(e) = kept {
                // The change is made; a retry after the claim goes stale runs again (60 s).
                tracing::warn!(error = %e, "could not keep an idempotent answer");
            }
            Response::from_parts(res_parts, Body::from(body))
        }
    }
}

fn replay(kept: KeptResponse) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut res = (status, kept.body).into_response();
    if let Some(ct) = kept.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(CONTENT_TYPE, ct);
    }
    res.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        let ok = |s: &str| valid_key(&HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(" "))).is_some();
        assert!(ok("a") && ok("9f1c-4e2b_x.y:z") && ok(&"k".repeat(255)));
        assert!(!ok("") && !ok(&"k".repeat(256)) && !ok("with space") && !ok("tab\there"));
    }

    #[test]
    fn the_hash_binds_method_path_and_body() {
        let h = request_hash("POST", "/a", b"{}");
        assert_eq!(h, request_hash("POST", "/a", b"{}"));
        assert_ne!(h, request_hash("POST", "/b", b"{}"));
        assert_ne!(h, request_hash("POST", "/a", b"{ }"));
        assert_ne!(request_hash("POST", "/ab", b"c"), request_hash("POST", "/a", b"bc"));
    }
}

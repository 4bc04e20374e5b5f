//! What the router answers when no handler does: no such path (404), a path without that
//! method (405, with `Allow`), a request target too long (414). Under `/api` the answer is
//! problem+json like every other API error; elsewhere it is the portal's page, in the reader's
//! language (docs/contract.md).

use crate::error::ApiError;
use crate::pages::{i18n, layout};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use partnerhub_domain::Locale;

/// The longest request target (path and query) answered: past it, `414 uri_too_long`. hyper
/// refuses a target past 64 KiB itself, with an empty 414, before any of this runs.
pub const MAX_URI_LEN: usize = 8 * 1024;

/// Whether `path` is the API's (problem+json) rather than the portal's (HTML; `/api` itself
/// is the portal's page about the API).
pub(crate) fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn portal_page(headers: &HeaderMap, status: StatusCode, message: impl Fn(Locale) -> &'static str) -> Response {
    let lang = i18n::negotiate(headers);
    layout::message_page(lang, status, message(lang))
}

/// The router's fallback: no route has this path.
pub(crate) async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    if is_api(uri.path()) {
        ApiError::NotFound.into_response()
    } else {
        portal_page(&headers, StatusCode::NOT_FOUND, |l| layout::words(l).not_found)
    }
}

/// A route has this path, not this method. axum adds the `Allow` header to what this answers.
pub(crate) async fn method_not_allowed(uri: Uri, headers: HeaderMap) -> Response {
    if is_api(uri.path()) {
        ApiError::MethodNotAllowed.into_response()
    } else {
        portal_page(&headers, StatusCode::METHOD_NOT_ALLOWED, |l| match l {
            Locale::Fr => "Cette page ne s'utilise pas ainsi.",
            Locale::En => "This page cannot be used that way.",
        })
    }
}

/// Refuses a request target longer than [`MAX_URI_LEN`] before routing.
pub(crate) async fn uri_limit(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let len = uri.path_and_query().map_or(uri.path().len(), |p| p.as_str().len());
    if len <= MAX_URI_LEN {
        return next.run(req).await;
    }
    if is_api(uri.path()) {
        ApiError::UriTooLong.into_response()
    } else {
        portal_page(req.headers(), StatusCode::URI_TOO_LONG, |l| match l {
            Locale::Fr => "Cette adresse est trop longue.",
            Locale::En => "This address is too long.",
        })
    }
}

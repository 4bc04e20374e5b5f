//! The portal's `Form`, `Query` and `Path`: axum's, except that a form, query string or path
//! that does not decode (a wrong content type, a field of the wrong type, bad percent-encoding)
//! is answered with the portal's error page in the reader's language, keeping axum's 4xx,
//! instead of axum's line of text/plain.

use super::{i18n, layout};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use partnerhub_domain::Locale;
use serde::de::DeserializeOwned;

/// The signed-in reader's language, left on the request by `Portal` for what is extracted after it.
#[derive(Clone, Copy)]
pub(crate) struct ReaderLang(pub Locale);

fn lang(extensions: &Extensions, headers: &HeaderMap) -> Locale {
    extensions.get::<ReaderLang>().map_or_else(|| i18n::negotiate(headers), |l| l.0)
}

fn refused(lang: Locale, status: StatusCode) -> Response {
    let w = layout::words(lang);
    // (A 5xx here would be a route declared wrong, not the reader's mistake.)
    layout::message_page(lang, status, if status.is_client_error() { w.invalid } else { w.unavailable })
}

/// A posted form (`application/x-www-form-urlencoded`).
pub(crate) struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = lang(req.extensions(), req.headers());
        match axum::extract::Form::<T>::from_request(req, state).await {
            Ok(f) => Ok(Form(f.0)),
            Err(e) => Err(refused(lang, e.status())),
        }
    }
}

/// A query string.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(Query(q.0)),
            Err(e) => Err(refused(lang(&parts.extensions, &parts.headers), e.status())),
        }
    }
}

/// Path parameters.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Path(p.0)),
            Err(e) => Err(refused(lang(&parts.extensions, &parts.headers), e.status())),
        }
    }
}

//! partnerhub's HTTP face: the JSON API of `API.md`, the invitation page, health and
//! metrics. Handlers extract, call one service function and map the result; no SQL here.

pub mod api;
mod cache;
pub mod client;
mod contract;
mod error;
mod extract;
mod fallback;
pub mod idempotency;
mod metrics;
mod pages;
mod transport;

pub use client::TrustedProxies;
pub use error::ApiError;
pub use fallback::MAX_URI_LEN;
pub use transport::{Transport, serve};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use partnerhub_service::Service;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub(crate) trusted_proxies: TrustedProxies,
    /// Rendered answers of the hottest reads, this process's own (see `cache`).
    pub(crate) cache: Arc<cache::ResponseCache>,
}

/// What the HTTP layer is configured with beyond the service.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub trusted_proxies: TrustedProxies,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "partnerhub", description = "An open, self-hostable partner center for cloud resellers. The contract: docs/API.md in the repository; this reference rendered as Markdown: docs/api-reference.md."),
    modifiers(&BearerAuth),
    tags((name = "operator"), (name = "auth"), (name = "users"), (name = "provider-links"), (name = "customers"),
         (name = "invitations"), (name = "partners"), (name = "offers"), (name = "orders"), (name = "subscriptions"),
         (name = "customer-users"), (name = "licenses"), (name = "audit"), (name = "webhooks"), (name = "system"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The router and the OpenAPI document it serves, built from the same declarations.
pub fn router(service: Service) -> Router {
    router_with(service, WebConfig::default())
}

/// [`router`] with the HTTP layer's own settings.
pub fn router_with(service: Service, web: WebConfig) -> Router {
    // Behind an https public URL, browsers are told never to use plain http (RFC 6797).
    let https = service.public_url().get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://"));
    let state = AppState {
        service,
        metrics: Arc::new(metrics::Metrics::default()),
        trusted_proxies: web.trusted_proxies,
        cache: Arc::new(cache::ResponseCache::default()),
    };
    let (api_router, openapi) = api::routes(OpenApiRouter::with_openapi(ApiDoc::openapi())).split_for_parts();
    let openapi = Arc::new(contract::complete(openapi));
    api_router
        .merge(pages::routes())
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(fallback::not_found)
        // After every route: it is set on the routes registered so far.
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(fallback::uri_limit))
        .layer(axum::middleware::from_fn(api::security_headers))
        .layer(axum::middleware::map_response(move |mut res: axum::response::Response| async move {
            if https {
                res.headers_mut().insert(axum::http::header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
            }
            res
        }))
        .with_state(state)
}

static HSTS: axum::http::HeaderValue = axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// The OpenAPI document, for the snapshot test and `partnerhub openapi`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    contract::complete(api::routes(OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())).split_for_parts().1)
}

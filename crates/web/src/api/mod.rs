//! The JSON API, version 1: one module per resource, routes and OpenAPI declared together.

mod audit;
mod auth;
mod customers;
mod invitations;
mod links;
mod operator;
mod partners;
mod system;
mod users;

use crate::AppState;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use partnerhub_api_types::*;
use partnerhub_store as store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(operator::create_partner))
        .routes(routes!(operator::create_provider_link))
        .routes(routes!(auth::create_token))
        .routes(routes!(auth::get_me))
        .routes(routes!(auth::signup))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(links::list_providers, links::request_provider))
        .routes(routes!(links::list_resellers))
        .routes(routes!(links::accept_reseller))
        .routes(routes!(customers::list_customers, customers::create_customer))
        .routes(routes!(customers::get_customer))
        .routes(routes!(customers::get_removal_preflight))
        .routes(routes!(customers::remove_relationship))
        .routes(routes!(customers::list_customer_grants))
        .routes(routes!(invitations::create_invitation, invitations::list_invitations))
        .routes(routes!(invitations::get_invitation))
        .routes(routes!(invitations::save_invitation_email))
        .routes(routes!(invitations::send_invitation))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::preview_invitation))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(invitations::decline_invitation))
        .routes(routes!(partners::list_partners))
        .routes(routes!(partners::revoke_partner_grants))
        .routes(routes!(partners::remove_partner_relationship))
        .routes(routes!(audit::list_audit))
}

/// Headers every answer carries: nothing cached, nothing sniffed, no framing.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// `?limit=` is 1..500, default 50.
pub(crate) fn limit(l: Option<i64>) -> Result<i64, crate::ApiError> {
    match l {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(partnerhub_domain::ValidationErrors::one("limit", "must be between 1 and 500").into()),
    }
}

pub(crate) fn partner_ref(p: &store::PartnerRef) -> PartnerRefResponse {
    PartnerRefResponse { id: p.id.0, name: p.name.clone(), partner_id: p.partner_id.clone() }
}

pub(crate) fn relationship(r: &store::Relationship) -> RelationshipResponse {
    RelationshipResponse { id: r.id.0, state: if r.active { "active" } else { "removed" }.into(), since: r.since, via: r.via.clone() }
}

pub(crate) fn grant(g: &store::Grant, now: time::OffsetDateTime) -> GrantResponse {
    GrantResponse {
        id: g.id.0,
        role: g.role.as_str().into(),
        state: g.state(now).into(),
        created_at: g.created_at,
        expires_at: g.expires_at,
        auto_extend: g.auto_extend,
        revoked_at: g.revoked_at,
    }
}

pub(crate) fn user(u: &store::User) -> UserResponse {
    UserResponse {
        id: u.id.0,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
    }
}

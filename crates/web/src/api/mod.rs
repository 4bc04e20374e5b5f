//! The JSON API, version 1: one module per resource, routes and OpenAPI declared together.

pub(crate) mod audit;
mod auth;
mod customers;
mod invitations;
mod licenses;
mod links;
mod me;
mod mfa;
mod offers;
mod operator;
mod orders;
mod partners;
mod subscriptions;
mod system;
mod tenant_users;
mod users;
mod webhooks;

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
        .routes(routes!(operator::create_partner, operator::list_partners))
        .routes(routes!(operator::create_provider_link))
        .routes(routes!(offers::create_offer, offers::list_operator_offers))
        .routes(routes!(offers::disable_offer))
        .routes(routes!(offers::list_offers))
        .routes(routes!(auth::create_token, me::delete_token))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::end_session))
        .routes(routes!(auth::get_me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::signup))
        .routes(routes!(mfa::start_totp, mfa::remove_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(users::reset_user_password))
        .routes(routes!(licenses::list_user_licenses))
        .routes(routes!(subscriptions::list_own_subscriptions))
        .routes(routes!(links::list_providers, links::request_provider))
        .routes(routes!(links::list_resellers))
        .routes(routes!(links::accept_reseller))
        .routes(routes!(links::decline_reseller))
        .routes(routes!(links::end_reseller))
        .routes(routes!(links::leave_provider))
        .routes(routes!(customers::list_customers, customers::create_customer))
        .routes(routes!(customers::get_customer))
        .routes(routes!(customers::get_removal_preflight))
        .routes(routes!(customers::remove_relationship))
        .routes(routes!(customers::list_customer_grants))
        .routes(routes!(orders::place_order))
        .routes(routes!(subscriptions::list_customer_subscriptions))
        .routes(routes!(subscriptions::update_subscription))
        .routes(routes!(tenant_users::list_tenant_users, tenant_users::create_tenant_user))
        .routes(routes!(tenant_users::update_tenant_user, tenant_users::delete_tenant_user))
        .routes(routes!(tenant_users::reset_tenant_user_password))
        .routes(routes!(licenses::list_tenant_user_licenses, licenses::assign_license))
        .routes(routes!(licenses::release_license))
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
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::rotate_secret))
}

/// Headers every answer carries: nothing cached, nothing sniffed, no framing.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // (A portal page says same-origin, for its language switch; everything else, none.)
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    res
}

/// Every list takes these (`limit`, `cursor`), read by `Paging`, and answers `page(...)`.
pub(crate) use crate::extract::PageParams;

/// A page of records as the API answers it, each item mapped by `f`.
pub(crate) fn page<T, U>(p: store::Page<T>, f: impl Fn(&T) -> U) -> ListResponse<U> {
    ListResponse { items: p.items.iter().map(f).collect(), next_cursor: p.next_cursor, total: p.total }
}

pub(crate) fn offer_ref(o: &store::OfferRef) -> OfferRefResponse {
    OfferRefResponse { id: o.id.0, name: o.name.clone(), unit_price_cents: o.unit_price_cents, currency: o.currency.clone() }
}

pub(crate) fn subscription(s: &store::Subscription) -> SubscriptionResponse {
    SubscriptionResponse {
        id: s.id.0,
        order_id: s.order_id.0,
        customer_id: s.customer_id.0,
        offer_id: s.offer.id.0,
        offer: offer_ref(&s.offer),
        quantity: s.quantity,
        assigned: s.assigned,
        status: s.status.as_str().into(),
        partner_of_record: partner_ref(&s.partner_of_record),
        placed_by: partner_ref(&s.placed_by),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

pub(crate) fn license(l: &store::License) -> LicenseResponse {
    LicenseResponse { subscription_id: l.subscription_id.0, user_id: l.user_id.0, offer: offer_ref(&l.offer), assigned_at: l.assigned_at }
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

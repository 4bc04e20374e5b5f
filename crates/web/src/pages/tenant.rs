//! The customer's own tenant, read-only: `/licenses`, who holds which seat of which
//! subscription. The same service calls as `GET /api/v1/subscriptions`, `GET /api/v1/users`
//! and `GET /api/v1/users/{id}/licenses`.

use super::i18n;
use super::layout::{self, html_response, page};
use super::session::Portal;
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use partnerhub_domain::Locale;
use partnerhub_service::every_page;
use partnerhub_store::{License, PageQuery, Subscription, User};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/licenses", get(licenses_page))
}

struct Words {
    title: &'static str,
    seats: &'static str,
    offer: &'static str,
    assigned: &'static str,
    status: &'static str,
    partner_of_record: &'static str,
    holders: &'static str,
    user: &'static str,
    email: &'static str,
    since: &'static str,
    no_subscriptions: &'static str,
    no_licenses: &'static str,
    of: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Licenses",
            seats: "Seats per subscription",
            offer: "Offer",
            assigned: "Seats given",
            status: "Status",
            partner_of_record: "Partner of record",
            holders: "Who holds a license",
            user: "User",
            email: "E-mail",
            since: "Since",
            no_subscriptions: "Your organization has no subscription.",
            no_licenses: "No user holds a license.",
            of: "of",
        },
        Locale::Fr => &Words {
            title: "Licences",
            seats: "Licences par abonnement",
            offer: "Offre",
            assigned: "Licences attribuées",
            status: "État",
            partner_of_record: "Partenaire attitré",
            holders: "Qui détient une licence",
            user: "Utilisateur",
            email: "Adresse e-mail",
            since: "Depuis le",
            no_subscriptions: "Votre organisation n'a aucun abonnement.",
            no_licenses: "Aucun utilisateur ne détient de licence.",
            of: "sur",
        },
    }
}

/// Every subscription of the tenant (a few pages at most).
async fn all_subscriptions(s: &AppState, portal: &Portal) -> Result<Vec<Subscription>, partnerhub_service::ServiceError> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = s.service.own_subscriptions(&portal.caller, PageQuery { limit: 100, cursor }).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

async fn licenses_page(State(s): State<AppState>, portal: Portal) -> Response {
    let l = portal.lang;
    let w = words(l);
    let subscriptions = match all_subscriptions(&s, &portal).await {
        Ok(v) => v,
        Err(e) => return layout::error_page(l, e),
    };
    let users = match every_page(|q| s.service.list_users(&portal.caller, q)).await {
        Ok(v) => v,
        Err(e) => return layout::error_page(l, e),
    };
    let mut held: Vec<(License, &User)> = Vec::new();
    for u in &users {
        match every_page(|q| s.service.user_licenses(&portal.caller, u.id, q)).await {
            Ok(ls) => held.extend(ls.into_iter().map(|x| (x, u))),
            Err(e) => return layout::error_page(l, e),
        }
    }
    held.sort_by(|(a, ua), (b, ub)| {
        (&a.offer.name, a.subscription_id.0, &ua.display_name).cmp(&(&b.offer.name, b.subscription_id.0, &ub.display_name))
    });
    let body = html! {
        h2 { (w.seats) }
        @if subscriptions.is_empty() {
            p.muted { (w.no_subscriptions) }
        } @else {
            table id="seats" {
                thead { tr {
                    th scope="col" { (w.offer) } th scope="col" { (w.assigned) } th scope="col" { (w.status) } th scope="col" { (w.partner_of_record) }
                } }
                tbody {
                    @for sub in &subscriptions {
                        tr {
                            td data-label=(w.offer) { (sub.offer.name) }
                            td data-label=(w.assigned) { (sub.assigned) " " (w.of) " " (sub.quantity) }
                            td data-label=(w.status) { (i18n::subscription_status(l, sub.status)) }
                            td data-label=(w.partner_of_record) { (sub.partner_of_record.name) }
                        }
                    }
                }
            }
        }
        h2 { (w.holders) }
        @if held.is_empty() {
            p.muted { (w.no_licenses) }
        } @else {
            table id="licenses" {
                thead { tr {
                    th scope="col" { (w.offer) } th scope="col" { (w.user) } th scope="col" { (w.email) } th scope="col" { (w.since) }
                } }
                tbody {
                    @for (lic, u) in &held {
                        tr {
                            td data-label=(w.offer) { (lic.offer.name) }
                            td data-label=(w.user) { (u.display_name) }
                            td data-label=(w.email) { (u.email) }
                            td data-label=(w.since) { (i18n::date(l, lic.assigned_at)) }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page(l, Some(&portal), w.title, body))
}

//! Orders and subscriptions (PORTAL.md screen 6, flow 6). Partner side: every subscription
//! of its customers that it placed or is partner of record of, filtered by customer and
//! status, paged; the placing partner changes the quantity, suspends, reactivates or cancels
//! (the partner of record only reads); an order for a customer from the enabled offers (an
//! indirect provider names the reseller of record). Customer side: its tenant's
//! subscriptions, read-only. The same service calls as the API.

use super::extract::{Form, Path, Query};
use super::i18n;
use super::layout::{self, html_response, page};
use super::session::{Portal, urlencode};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Locale, OfferId, OrgKind, OrganizationId, PartnerType, SubscriptionId, SubscriptionStatus};
use partnerhub_service::{NewOrderInput, OrderItemInput, ServiceError, SubscriptionPatchInput, every_page};
use partnerhub_store::{CustomerQuery, CustomerSort, LinkSide, PageQuery, Subscription};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/subscriptions", get(list))
        .route("/customers/{id}/subscriptions/{sid}", post(change))
        .route("/customers/{id}/orders/new", get(order_page).post(place_order))
}

/// Rows per page of the subscriptions list.
const PER_PAGE: usize = 50;
/// The store's largest page.
const MAX_PAGE: i64 = 500;

struct Words {
    title: &'static str,
    customer: &'static str,
    all_customers: &'static str,
    status: &'static str,
    all_statuses: &'static str,
    filter: &'static str,
    offer: &'static str,
    quantity: &'static str,
    assigned: &'static str,
    placed_by: &'static str,
    partner_of_record: &'static str,
    since: &'static str,
    actions: &'static str,
    set_quantity: &'static str,
    suspend: &'static str,
    reactivate: &'static str,
    cancel: &'static str,
    read_only: &'static str,
    none: &'static str,
    previous: &'static str,
    next: &'static str,
    count: &'static str,
    new_order: &'static str,
    order_title: &'static str,
    order_lead: &'static str,
    price: &'static str,
    reseller: &'static str,
    choose_reseller: &'static str,
    no_offers: &'static str,
    place: &'static str,
    ordered: &'static str,
    nothing_ordered: &'static str,
    updated: &'static str,
    back: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Orders and subscriptions",
            customer: "Customer",
            all_customers: "All customers",
            status: "Status",
            all_statuses: "All statuses",
            filter: "Filter",
            offer: "Offer",
            quantity: "Quantity",
            assigned: "Licenses assigned",
            placed_by: "Placed by",
            partner_of_record: "Partner of record",
            since: "Since",
            actions: "Actions",
            set_quantity: "Change the quantity",
            suspend: "Suspend",
            reactivate: "Reactivate",
            cancel: "Cancel",
            read_only: "Only the partner that placed it may change it.",
            none: "No subscription.",
            previous: "Previous page",
            next: "Next page",
            count: "Subscriptions:",
            new_order: "Place an order",
            order_title: "Place an order",
            order_lead: "Give a quantity for each offer to order; one subscription per offer.",
            price: "Unit price",
            reseller: "Reseller of record",
            choose_reseller: "Choose one of your resellers",
            no_offers: "No offer can be ordered at the moment.",
            place: "Place the order",
            ordered: "Order placed. Its subscriptions are marked below.",
            nothing_ordered: "Give a quantity of at least 1 for one offer or more.",
            updated: "Subscription changed.",
            back: "Back to the subscriptions",
        },
        Locale::Fr => &Words {
            title: "Commandes et abonnements",
            customer: "Client",
            all_customers: "Tous les clients",
            status: "État",
            all_statuses: "Tous les états",
            filter: "Filtrer",
            offer: "Offre",
            quantity: "Quantité",
            assigned: "Licences attribuées",
            placed_by: "Commandé par",
            partner_of_record: "Partenaire de référence",
            since: "Depuis le",
            actions: "Actions",
            set_quantity: "Changer la quantité",
            suspend: "Suspendre",
            reactivate: "Réactiver",
            cancel: "Annuler",
            read_only: "Seul le partenaire qui l'a commandé peut le modifier.",
            none: "Aucun abonnement.",
            previous: "Page précédente",
            next: "Page suivante",
            count: "Abonnements :",
            new_order: "Passer une commande",
            order_title: "Passer une commande",
            order_lead: "Indiquez une quantité pour chaque offre à commander ; un abonnement par offre.",
            price: "Prix unitaire",
            reseller: "Revendeur de référence",
            choose_reseller: "Choisissez l'un de vos revendeurs",
            no_offers: "Aucune offre ne peut être commandée pour le moment.",
            place: "Passer la commande",
            ordered: "Commande passée. Ses abonnements sont signalés ci-dessous.",
            nothing_ordered: "Indiquez une quantité d'au moins 1 pour une offre ou plus.",
            updated: "Abonnement modifié.",
            back: "Retour aux abonnements",
        },
    }
}

/// "6.00 EUR" / "6,00 EUR".
fn price(l: Locale, cents: i64, currency: &str) -> String {
    let sep = match l {
        Locale::Fr => ',',
        Locale::En => '.',
    };
    format!("{}{sep}{:02} {currency}", cents / 100, (cents % 100).abs())
}

#[derive(Deserialize, Default)]
struct ListQuery {
    customer: Option<String>,
    status: Option<String>,
    page: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
    done: Option<String>,
}

struct Row {
    customer_id: OrganizationId,
    customer_name: String,
    sub: Subscription,
}

/// Every subscription the partner sees with its customers (one customer when chosen).
async fn partner_rows(
    s: &AppState,
    portal: &Portal,
    only: Option<OrganizationId>,
) -> Result<(Vec<(OrganizationId, String)>, Vec<Row>), ServiceError> {
    let mut customers = Vec::new();
    let mut cursor = None;
    loop {
        let q = CustomerQuery { limit: MAX_PAGE, cursor, q: None, sort: CustomerSort::Name };
        let page = s.service.list_customers(&portal.caller, q).await?;
        customers.extend(page.items.into_iter().map(|c| (c.id, c.name)));
        match page.next_cursor {
            Some(c) if customers.len() < 5_000 => cursor = Some(c),
            _ => break,
        }
    }
    let mut rows = Vec::new();
    for (id, name) in customers.iter().filter(|(id, _)| only.is_none_or(|o| o == *id)) {
        let mut cursor = None;
        loop {
            let page = s.service.partner_subscriptions(&portal.caller, *id, PageQuery { limit: MAX_PAGE, cursor }).await?;
            rows.extend(page.items.into_iter().map(|sub| Row { customer_id: *id, customer_name: name.clone(), sub }));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    rows.sort_by(|a, b| b.sub.created_at.cmp(&a.sub.created_at).then(a.sub.id.0.cmp(&b.sub.id.0)));
    Ok((customers, rows))
}

fn status_select(w: &Words, l: Locale, chosen: Option<SubscriptionStatus>) -> Markup {
    html! {
        label { (w.status)
            select name="status" id="filter-status" {
                option value="" { (w.all_statuses) }
                @for st in [SubscriptionStatus::Active, SubscriptionStatus::Suspended, SubscriptionStatus::Cancelled] {
                    option value=(st.as_str()) selected[chosen == Some(st)] { (i18n::subscription_status(l, st)) }
                }
            }
        }
    }
}

async fn list(State(s): State<AppState>, portal: Portal, Query(q): Query<ListQuery>) -> Response {
    render_list(&s, &portal, q, None).await
}

async fn render_list(s: &AppState, portal: &Portal, q: ListQuery, error: Option<String>) -> Response {
    let l = portal.lang;
    let w = words(l);
    let status = q.status.as_deref().and_then(SubscriptionStatus::parse);
    let notice = if q.order.is_some() {
        Some(w.ordered)
    } else if q.done.is_some() {
        Some(w.updated)
    } else {
        None
    };
    let order = q.order.as_deref().and_then(|o| Uuid::parse_str(o).ok());
    let status_code = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let me = portal.principal().organization.clone();
    if me.kind == OrgKind::Customer {
        // The tenant's own subscriptions: read-only, paged by the store's cursor.
        let cursor = q.cursor.filter(|c| c.len() <= 200);
        let page = match s.service.own_subscriptions(&portal.caller, PageQuery { limit: PER_PAGE as i64, cursor }).await {
            Ok(p) => p,
            Err(e) => return layout::error_page(l, e),
        };
        let items: Vec<_> = page.items.iter().filter(|x| status.is_none_or(|st| x.status == st)).collect();
        let qs = |extra: &str| format!("/subscriptions?status={}{extra}", status.map(|s| s.as_str()).unwrap_or(""));
        let body = html! {
            form.inline method="get" action="/subscriptions" {
                (status_select(w, l, status))
                " " button.secondary type="submit" id="filter" { (w.filter) }
            }
            p { (w.count) " " (page.total) }
            @if items.is_empty() { p.muted { (w.none) } } @else {
                table id="subscriptions" {
                    thead { tr { th { (w.offer) } th { (w.quantity) } th { (w.assigned) } th { (w.status) } th { (w.placed_by) } th { (w.partner_of_record) } th { (w.since) } } }
                    tbody {
                        @for x in items {
                            tr id=(format!("sub-{}", x.id.0)) {
                                td { (x.offer.name) } td { (x.quantity) } td { (x.assigned) }
                                td { (i18n::subscription_status(l, x.status)) }
                                td { (x.placed_by.name) " (" (x.placed_by.partner_id) ")" }
                                td { (x.partner_of_record.name) " (" (x.partner_of_record.partner_id) ")" }
                                td { (i18n::date(l, x.created_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = &page.next_cursor {
                p.actions { a id="next-page" href=(qs(&format!("&cursor={}", urlencode(n)))) { (w.next) } }
            }
        };
        return html_response(status_code, page_markup(portal, w, body));
    }
    let only = match q.customer.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match Uuid::parse_str(c) {
            Ok(u) => Some(OrganizationId(u)),
            Err(_) => return layout::error_page(l, ServiceError::NotFound),
        },
    };
    let (customers, rows) = match partner_rows(s, portal, only).await {
        Ok(x) => x,
        Err(e) => return layout::error_page(l, e),
    };
    if only.is_some_and(|o| !customers.iter().any(|(id, _)| *id == o)) {
        return layout::error_page(l, ServiceError::NotFound);
    }
    let rows: Vec<_> = rows.into_iter().filter(|r| status.is_none_or(|st| r.sub.status == st)).collect();
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let n = q.page.as_deref().and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).clamp(1, pages);
    let shown = &rows[(n - 1) * PER_PAGE..(n * PER_PAGE).min(rows.len())];
    let link = |page: usize| {
        format!(
            "/subscriptions?customer={}&status={}&page={page}",
            only.map(|o| o.0.to_string()).unwrap_or_default(),
            status.map(|s| s.as_str()).unwrap_or("")
        )
    };
    let may_order = me.partner_type != Some(PartnerType::IndirectReseller);
    let back = format!(
        "/subscriptions?customer={}&status={}&page={n}",
        only.map(|o| o.0.to_string()).unwrap_or_default(),
        status.map(|s| s.as_str()).unwrap_or("")
    );
    let body = html! {
        @if let Some(m) = notice { p.ok role="status" id="notice" { (m) } }
        @if let Some(e) = &error { p.errors role="alert" id="error" { (e) } }
        form.inline method="get" action="/subscriptions" {
            label { (w.customer)
                select name="customer" id="filter-customer" {
                    option value="" { (w.all_customers) }
                    @for (id, name) in &customers {
                        option value=(id.0) selected[only == Some(*id)] { (name) }
                    }
                }
            }
            " " (status_select(w, l, status))
            " " button.secondary type="submit" id="filter" { (w.filter) }
        }
        @if let (Some(c), true) = (only, may_order) {
            p.actions { a.button id="new-order" href=(format!("/customers/{}/orders/new", c.0)) { (w.new_order) } }
        }
        p { (w.count) " " (rows.len()) }
        @if shown.is_empty() { p.muted { (w.none) } } @else {
            table id="subscriptions" {
                thead { tr { th { (w.customer) } th { (w.offer) } th { (w.quantity) } th { (w.assigned) } th { (w.status) } th { (w.placed_by) } th { (w.partner_of_record) } th { (w.since) } th { (w.actions) } } }
                tbody {
                    @for r in shown {
                        @let x = &r.sub;
                        @let action = format!("/customers/{}/subscriptions/{}", r.customer_id.0, x.id.0);
                        tr id=(format!("sub-{}", x.id.0)) class=[(order == Some(x.order_id.0)).then_some("ok")] {
                            td { a href=(format!("/customers/{}", r.customer_id.0)) { (r.customer_name) } }
                            td { (x.offer.name) } td { (x.quantity) } td { (x.assigned) }
                            td { (i18n::subscription_status(l, x.status)) }
                            td { (x.placed_by.name) " (" (x.placed_by.partner_id) ")" }
                            td { (x.partner_of_record.name) " (" (x.partner_of_record.partner_id) ")" }
                            td { (i18n::date(l, x.created_at)) }
                            td {
                                @if x.placed_by.id != me.id {
                                    span.muted { (w.read_only) }
                                } @else if x.status != SubscriptionStatus::Cancelled {
                                    form.inline method="post" action=(action) {
                                        input type="hidden" name="csrf" value=(portal.form_token);
                                        input type="hidden" name="back" value=(back);
                                        label { (w.quantity)
                                            input type="number" name="quantity" min="1" value=(x.quantity) id=(format!("quantity-{}", x.id.0));
                                        }
                                        " " button.secondary type="submit" name="do" value="quantity" { (w.set_quantity) }
                                    }
                                    " "
                                    form.inline method="post" action=(action) {
                                        input type="hidden" name="csrf" value=(portal.form_token);
                                        input type="hidden" name="back" value=(back);
                                        @if x.status == SubscriptionStatus::Active {
                                            button.secondary type="submit" name="do" value="suspended" { (w.suspend) }
                                        } @else {
                                            button.secondary type="submit" name="do" value="active" { (w.reactivate) }
                                        }
                                        " "
                                        button.danger type="submit" name="do" value="cancelled" { (w.cancel) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            p.actions {
                @if n > 1 { a id="previous-page" href=(link(n - 1)) { (w.previous) } }
                " " (n) " / " (pages) " "
                @if n < pages { a id="next-page" href=(link(n + 1)) { (w.next) } }
            }
        }
    };
    html_response(status_code, page_markup(portal, w, body))
}

fn page_markup(portal: &Portal, w: &Words, body: Markup) -> Markup {
    page(portal.lang, Some(portal), w.title, body)
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    r#do: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    back: String,
}

fn parse_ids(id: &str, sid: &str) -> Option<(OrganizationId, SubscriptionId)> {
    Some((OrganizationId(Uuid::parse_str(id).ok()?), SubscriptionId(Uuid::parse_str(sid).ok()?)))
}

/// Only a path back to this list, never elsewhere.
fn back_to(back: &str) -> String {
    if back.starts_with("/subscriptions?") && !back.contains(['\\', '\r', '\n']) && back.len() < 512 {
        back.to_owned()
    } else {
        "/subscriptions?".to_owned()
    }
}

async fn change(State(s): State<AppState>, portal: Portal, Path((id, sid)): Path<(String, String)>, Form(f): Form<ChangeForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let (customer, sub) = match parse_ids(&id, &sid) {
        Some(x) => x,
        None => return layout::error_page(portal.lang, ServiceError::NotFound),
    };
    let input = match f.r#do.as_str() {
        "quantity" => match f.quantity.trim().parse::<i64>() {
            Ok(n) => SubscriptionPatchInput { quantity: Some(n), status: None },
            Err(_) => SubscriptionPatchInput { quantity: Some(0), status: None },
        },
        st @ ("active" | "suspended" | "cancelled") => SubscriptionPatchInput { quantity: None, status: Some(st.to_owned()) },
        _ => SubscriptionPatchInput { quantity: None, status: None },
    };
    let back = back_to(&f.back);
    match s.service.update_subscription(&portal.caller, customer, sub, input).await {
        Ok(_) => Redirect::to(&format!("{back}&done=1#sub-{}", sub.0)).into_response(),
        Err(ServiceError::Validation(e)) => {
            render_list(
                &s,
                &portal,
                ListQuery { customer: Some(customer.0.to_string()), ..Default::default() },
                Some(super::i18n::invalid(portal.lang, &e)),
            )
            .await
        }
        Err(ServiceError::Conflict(c)) => {
            let m = super::i18n::conflict(portal.lang, c).to_owned();
            let mut r = render_list(&s, &portal, ListQuery { customer: Some(customer.0.to_string()), ..Default::default() }, Some(m)).await;
            if r.status() == StatusCode::UNPROCESSABLE_ENTITY {
                *r.status_mut() = StatusCode::CONFLICT;
            }
            r
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn order_form(s: &AppState, portal: &Portal, customer: OrganizationId, error: Option<&str>) -> Result<Markup, Response> {
    let l = portal.lang;
    let w = words(l);
    let err = |e| layout::error_page(l, e);
    let detail = s.service.customer(&portal.caller, customer).await.map_err(err)?;
    let offers = s.service.list_offers(&portal.caller, PageQuery { limit: MAX_PAGE, cursor: None }).await.map_err(err)?;
    let provider = portal.principal().organization.partner_type == Some(PartnerType::IndirectProvider);
    let resellers = if provider {
        every_page(|q| s.service.provider_links(&portal.caller, LinkSide::Resellers, q))
            .await
            .map_err(err)?
            .into_iter()
            .filter(|r| r.state == "active")
            .collect()
    } else {
        Vec::new()
    };
    let id = customer.0;
    let body = html! {
        p { (w.customer) " " strong { (detail.summary.name) } " (" (detail.summary.domain) ")" }
        @if let Some(e) = error { p.errors role="alert" id="error" { (e) } }
        @if offers.items.is_empty() { p.muted { (w.no_offers) } } @else {
            p { (w.order_lead) }
            form.stack method="post" action=(format!("/customers/{id}/orders/new")) {
                input type="hidden" name="csrf" value=(portal.form_token);
                @if provider {
                    label { (w.reseller)
                        select name="reseller_id" id="reseller" required {
                            option value="" { (w.choose_reseller) }
                            @for r in &resellers {
                                option value=(r.partner.id.0) { (r.partner.name) " (" (r.partner.partner_id) ")" }
                            }
                        }
                    }
                }
                table id="offers" {
                    thead { tr { th { (w.offer) } th { (w.price) } th { (w.quantity) } } }
                    tbody {
                        @for o in &offers.items {
                            tr {
                                td { label for=(format!("qty-{}", o.id.0)) { (o.name) } }
                                td { (price(l, o.unit_price_cents, &o.currency)) }
                                td { input type="number" min="0" max="100000" name=(format!("qty-{}", o.id.0)) id=(format!("qty-{}", o.id.0)) value="0"; }
                            }
                        }
                    }
                }
                div.actions {
                    button type="submit" id="place-order" name="place" { (w.place) }
                    a href=(format!("/subscriptions?customer={id}")) { (w.back) }
                }
            }
        }
    };
    Ok(page(l, Some(portal), w.order_title, body))
}

fn parse_customer(id: &str) -> Option<OrganizationId> {
    Uuid::parse_str(id).ok().map(OrganizationId)
}

async fn order_page(State(s): State<AppState>, portal: Portal, Path(id): Path<String>) -> Response {
    let customer = match parse_customer(&id) {
        Some(c) => c,
        None => return layout::error_page(portal.lang, ServiceError::NotFound),
    };
    match order_form(&s, &portal, customer, None).await {
        Ok(m) => html_response(StatusCode::OK, m),
        Err(r) => r,
    }
}

async fn place_order(
    State(s): State<AppState>,
    portal: Portal,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, f.get("csrf").map(String::as_str).unwrap_or("")) {
        return r;
    }
    let customer = match parse_customer(&id) {
        Some(c) => c,
        None => return layout::error_page(portal.lang, ServiceError::NotFound),
    };
    let w = words(portal.lang);
    let mut items = Vec::new();
    let mut bad = false;
    for (k, v) in &f {
        let Some(offer) = k.strip_prefix("qty-") else { continue };
        let v = v.trim();
        if v.is_empty() || v == "0" {
            continue;
        }
        match (Uuid::parse_str(offer), v.parse::<i64>()) {
            (Ok(o), Ok(n)) => items.push(OrderItemInput { offer_id: OfferId(o), quantity: n }),
            _ => bad = true,
        }
    }
    let refuse = |msg: String, status: StatusCode| {
        let s = s.clone();
        let portal = &portal;
        async move {
            match order_form(&s, portal, customer, Some(&msg)).await {
                Ok(m) => html_response(status, m),
                Err(r) => r,
            }
        }
    };
    if items.is_empty() || bad {
        return refuse(w.nothing_ordered.to_owned(), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let reseller_id = match f.get("reseller_id").map(|r| r.trim()).filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match Uuid::parse_str(r) {
            Ok(u) => Some(OrganizationId(u)),
            Err(_) => return refuse(w.choose_reseller.to_owned(), StatusCode::UNPROCESSABLE_ENTITY).await,
        },
    };
    match s.service.place_order(&portal.caller, customer, NewOrderInput { items, reseller_id }).await {
        Ok(o) => Redirect::to(&format!("/subscriptions?customer={}&order={}", customer.0, o.id.0)).into_response(),
        Err(ServiceError::Validation(e)) => refuse(super::i18n::invalid(portal.lang, &e), StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(e) => layout::error_page(portal.lang, e),
    }
}

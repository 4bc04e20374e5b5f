//! The organization's audit log (PORTAL.md screen 6 and 9): filters by action, dates and
//! actor, paging, and a CSV link that streams the API's own export with the cookie session.
//! Partner and customer organizations alike (a customer sees what partners did in its
//! tenant): the same service call as `GET /api/v1/audit`.

use super::extract::Query;
use super::i18n;
use super::layout::{self, html_response, page};
use super::session::{Portal, urlencode};
use crate::AppState;
use crate::api::audit::{csv_body, record};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use partnerhub_api_types::AuditRecordResponse;
use partnerhub_domain::{Locale, OrganizationId};
use partnerhub_service::ServiceError;
use partnerhub_store::AuditFilter;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(show)).route("/audit.csv", get(export))
}

const PER_PAGE: i64 = 50;
/// The CSV export reads at most this many pages of 500 records.
const CSV_PAGES: usize = 40;

struct Words {
    title: &'static str,
    action: &'static str,
    from: &'static str,
    to: &'static str,
    actor: &'static str,
    who: &'static str,
    action_col: &'static str,
    filter: &'static str,
    clear: &'static str,
    csv: &'static str,
    at: &'static str,
    target: &'static str,
    customer: &'static str,
    details: &'static str,
    none: &'static str,
    count: &'static str,
    first: &'static str,
    next: &'static str,
    bad_action: &'static str,
    bad_date: &'static str,
    bad_customer: &'static str,
    system: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Audit log",
            action: "Action (e.g. relationship.removed)",
            from: "From",
            to: "To (included)",
            actor: "Actor's e-mail contains",
            who: "Who",
            action_col: "Action",
            filter: "Filter",
            clear: "Clear the filters",
            csv: "Download as CSV",
            at: "When",
            target: "Target",
            customer: "Customer",
            details: "Details",
            none: "No record.",
            count: "Records:",
            first: "First page",
            next: "Next page",
            bad_action: "The action is not an event name.",
            bad_date: "A date is not valid: use the form year-month-day.",
            bad_customer: "The customer is not an identifier.",
            system: "the service",
        },
        Locale::Fr => &Words {
            title: "Journal d'audit",
            action: "Action (par ex. relationship.removed)",
            from: "Du",
            to: "Au (inclus)",
            actor: "L'adresse e-mail de l'auteur contient",
            who: "Auteur",
            action_col: "Action",
            filter: "Filtrer",
            clear: "Effacer les filtres",
            csv: "Télécharger en CSV",
            at: "Date",
            target: "Cible",
            customer: "Client",
            details: "Détails",
            none: "Aucun enregistrement.",
            count: "Enregistrements :",
            first: "Première page",
            next: "Page suivante",
            bad_action: "L'action n'est pas un nom d'événement.",
            bad_date: "Une date n'est pas valide : utilisez la forme année-mois-jour.",
            bad_customer: "Le client n'est pas un identifiant.",
            system: "le service",
        },
    }
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    customer: Option<String>,
    cursor: Option<String>,
}

struct Filters {
    action: Option<String>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    actor: Option<String>,
    customer: Option<OrganizationId>,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn day(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The query's filters, or the reason they are refused (in the reader's words).
fn filters(l: Locale, q: &AuditQuery) -> Result<Filters, &'static str> {
    let w = words(l);
    let action = clean(&q.action);
    if action.as_ref().is_some_and(|a| a.len() > 100 || a.chars().any(char::is_control)) {
        return Err(w.bad_action);
    }
    let since = match clean(&q.from) {
        None => None,
        Some(d) => Some(day(&d).ok_or(w.bad_date)?.with_time(Time::MIDNIGHT).assume_utc()),
    };
    let until = match clean(&q.to) {
        None => None,
        // "To" includes the whole day: records before the next midnight.
        Some(d) => Some(day(&d).and_then(|d| d.next_day()).ok_or(w.bad_date)?.with_time(Time::MIDNIGHT).assume_utc()),
    };
    let actor = clean(&q.actor).filter(|a| a.len() <= 200).map(|a| a.to_lowercase());
    let customer = match clean(&q.customer) {
        None => None,
        Some(c) => Some(Uuid::parse_str(&c).map(OrganizationId).map_err(|_| w.bad_customer)?),
    };
    Ok(Filters { action, since, until, actor, customer })
}

fn keep(f: &Filters, r: &AuditRecordResponse) -> bool {
    f.actor.as_ref().is_none_or(|a| r.actor.email.as_deref().is_some_and(|e| e.to_lowercase().contains(a.as_str())))
}

/// The filters as a query string (without the cursor), for the links of the page.
fn query_string(q: &AuditQuery) -> String {
    let part = |k: &str, v: &Option<String>| format!("{k}={}", urlencode(clean(v).as_deref().unwrap_or("")));
    [part("action", &q.action), part("from", &q.from), part("to", &q.to), part("actor", &q.actor), part("customer", &q.customer)].join("&")
}

/// Who acted: a user's e-mail, the operator, or the service itself.
fn actor<'a>(l: Locale, w: &'a Words, r: &'a AuditRecordResponse) -> &'a str {
    match (r.actor.user_id, r.actor.email.as_deref()) {
        (None, Some("operator")) => i18n::audit_target(l, "operator").unwrap_or("operator"),
        (_, Some(email)) => email,
        (_, None) => w.system,
    }
}

fn target_summary(l: Locale, v: &serde_json::Value) -> String {
    let kind = v["type"].as_str().unwrap_or_default();
    let kind = i18n::audit_target(l, kind).unwrap_or(kind);
    let id = v["id"].as_str().or_else(|| v["partner_id"].as_str()).unwrap_or_default();
    format!("{kind} {id}").trim().to_owned()
}

async fn show(State(s): State<AppState>, portal: Portal, Query(q): Query<AuditQuery>) -> Response {
    let l = portal.lang;
    let w = words(l);
    let (f, error) = match filters(l, &q) {
        Ok(f) => (f, None),
        Err(e) => (Filters { action: None, since: None, until: None, actor: None, customer: None }, Some(e)),
    };
    let cursor = if error.is_none() { q.cursor.clone().filter(|c| !c.is_empty() && c.len() <= 200) } else { None };
    let filter = AuditFilter { limit: PER_PAGE, cursor, action: f.action.clone(), customer_id: f.customer, since: f.since, until: f.until };
    let page_ = match s.service.audit(&portal.caller, filter).await {
        Ok(p) => p,
        Err(ServiceError::Validation(_)) => {
            return layout::message_page(l, StatusCode::UNPROCESSABLE_ENTITY, w.bad_date);
        }
        Err(e) => return layout::error_page(l, e),
    };
    let items: Vec<_> = page_.items.iter().map(record).filter(|r| keep(&f, r)).collect();
    let qs = query_string(&q);
    let value = |v: &Option<String>| clean(v).unwrap_or_default();
    let body = html! {
        @if let Some(e) = error { p.errors role="alert" id="error" { (e) } }
        form.stack method="get" action="/audit" id="audit-filters" {
            label { (w.action) input type="text" name="action" id="filter-action" maxlength="100" value=(value(&q.action)); }
            label { (w.from) input type="date" name="from" id="filter-from" value=(value(&q.from)); }
            label { (w.to) input type="date" name="to" id="filter-to" value=(value(&q.to)); }
            label { (w.actor) input type="text" name="actor" id="filter-actor" maxlength="200" value=(value(&q.actor)); }
            @if let Some(c) = f.customer { input type="hidden" name="customer" value=(c.0); }
            div.actions {
                button type="submit" id="filter" { (w.filter) }
                a href="/audit" id="clear" { (w.clear) }
                a.button.secondary href=(format!("/audit.csv?{qs}")) id="csv" download="audit.csv" { (w.csv) }
            }
        }
        p { (w.count) " " (page_.total) }
        @if items.is_empty() { p.muted { (w.none) } } @else {
            table id="audit" {
                thead { tr { th { (w.at) } th { (w.who) } th { (w.action_col) } th { (w.target) } th { (w.customer) } th { (w.details) } } }
                tbody {
                    @for r in &items {
                        tr id=(format!("audit-{}", r.seq)) {
                            td { (OffsetDateTime::parse(&r.at, &Rfc3339).map(|t| i18n::date_time(l, t)).unwrap_or_else(|_| r.at.clone())) }
                            td { (actor(l, w, r)) }
                            td data-action=(r.action) { (i18n::audit_action(l, &r.action).unwrap_or(&r.action)) }
                            td { (target_summary(l, &r.target)) }
                            td { (r.customer_id.map(|c| c.to_string()).unwrap_or_default()) }
                            td { code { (r.details.to_string()) } }
                        }
                    }
                }
            }
        }
        p.actions {
            @if q.cursor.is_some() { a id="first-page" href=(format!("/audit?{qs}")) { (w.first) } }
            @if let Some(n) = &page_.next_cursor { " " a id="next-page" href=(format!("/audit?{qs}&cursor={}", urlencode(n))) { (w.next) } }
        }
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    html_response(status, page(l, Some(&portal), w.title, body))
}

/// `/audit.csv`: the API's CSV export of the same filters, every page of them (up to a bound).
async fn export(State(s): State<AppState>, portal: Portal, Query(q): Query<AuditQuery>) -> Response {
    let l = portal.lang;
    let f = match filters(l, &q) {
        Ok(f) => f,
        Err(e) => return layout::message_page(l, StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..CSV_PAGES {
        let filter = AuditFilter { limit: 500, cursor, action: f.action.clone(), customer_id: f.customer, since: f.since, until: f.until };
        let page_ = match s.service.audit(&portal.caller, filter).await {
            Ok(p) => p,
            Err(e) => return layout::error_page(l, e),
        };
        items.extend(page_.items.iter().map(record).filter(|r| keep(&f, r)));
        match page_.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let body = match csv_body(&items) {
        Ok(b) => b,
        Err(_) => return layout::error_page(l, ServiceError::Internal("the CSV export failed".into())),
    };
    let mut res = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"audit.csv\""));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

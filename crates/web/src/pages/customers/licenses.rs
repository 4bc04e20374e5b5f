//! The customer record's Licenses tab: seats of each subscription, assigned to and released
//! from the customer's users as the partner's grants allow.

use super::*;

pub(super) async fn licenses_tab(s: &AppState, p: &Portal, d: &CustomerDetail) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    let id = d.summary.id;
    let users = match s.service.tenant_users(&p.caller, id, PageQuery { limit: 500, cursor: None }).await {
        Ok(u) => u.items,
        Err(e) if refused(&e) => return refusal(w.licenses_refused),
        Err(_) => return refusal(layout::words(l).unavailable),
    };
    let mut rows = Vec::new();
    for u in &users {
        match every_page(|q| s.service.tenant_user_licenses(&p.caller, id, u.id, q)).await {
            Ok(ls) => rows.extend(ls.into_iter().map(|lic| (u.display_name.clone(), u.email.clone(), lic))),
            Err(e) if refused(&e) => return refusal(w.licenses_refused),
            Err(_) => return refusal(layout::words(l).unavailable),
        }
    }
    let active: Vec<Subscription> =
        subscriptions_of(s, p, id).await.unwrap_or_default().into_iter().filter(|s| s.status == SubscriptionStatus::Active).collect();
    html! {
        @if rows.is_empty() {
            p { (w.no_licenses) }
        } @else {
            table id="licenses" {
                thead { tr { th { (w.user) } th { (w.offer) } th { (w.assigned_at) } th {} } }
                tbody {
                    @for (name, email, lic) in &rows {
                        tr {
                            td { (name) " (" (email) ")" }
                            td { (lic.offer.name) }
                            td { (i18n::date(l, lic.assigned_at)) }
                            td {
                                form.inline method="post"
                                    action=(format!("/customers/{}/users/{}/licenses/{}/release", id.0, lic.user_id.0, lic.subscription_id.0)) {
                                    input type="hidden" name="csrf" value=(p.form_token);
                                    button.secondary type="submit" name="release"
                                        id=(format!("release-license-{}-{}", lic.user_id.0, lic.subscription_id.0)) { (w.release) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !users.is_empty() && !active.is_empty() {
            section.card {
                h2 { (w.assign_title) }
                form.stack method="post" action=(format!("/customers/{}/licenses", id.0)) id="assign-license-form" {
                    input type="hidden" name="csrf" value=(p.form_token);
                    label { (w.user) select name="user_id" id="assign-user" { @for u in &users { option value=(u.id.0) { (u.display_name) " (" (u.email) ")" } } } }
                    label { (w.subscription) select name="subscription_id" id="assign-subscription" {
                        @for sub in &active { option value=(sub.id.0) { (sub.offer.name) " (" (sub.assigned) "/" (sub.quantity) ")" } }
                    } }
                    button type="submit" id="assign-license" name="assign" { (w.assign) }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    subscription_id: String,
}

pub(super) async fn assign_license(
    State(s): State<AppState>,
    portal: Portal,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let d = match customer_or_page(&s, &portal, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (Ok(user), Ok(sub)) = (Uuid::parse_str(&f.user_id), Uuid::parse_str(&f.subscription_id)) else {
        return layout::error_page(portal.lang, ServiceError::NotFound);
    };
    match s.service.assign_license(&portal.caller, d.summary.id, UserId(user), SubscriptionId(sub)).await {
        Ok(_) => Redirect::to(&format!("/customers/{}?tab=licenses", d.summary.id.0)).into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

/// Gives a seat back: the service call of the API's license release route.
pub(super) async fn release_license(
    State(s): State<AppState>,
    portal: Portal,
    Path((id, user_id, subscription_id)): Path<(String, String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let d = match customer_or_page(&s, &portal, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (Ok(user), Ok(sub)) = (Uuid::parse_str(&user_id), Uuid::parse_str(&subscription_id)) else {
        return layout::error_page(portal.lang, ServiceError::NotFound);
    };
    match s.service.release_license(&portal.caller, d.summary.id, UserId(user), SubscriptionId(sub)).await {
        Ok(()) => Redirect::to(&format!("/customers/{}?tab=licenses", d.summary.id.0)).into_response(),
        Err(ServiceError::Forbidden) => {
            let body = html! { (tabs(portal.lang, d.summary.id.0, Tab::Licenses)) (refusal(words(portal.lang).licenses_refused)) };
            html_response(StatusCode::FORBIDDEN, page(portal.lang, Some(&portal), &d.summary.name, body))
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

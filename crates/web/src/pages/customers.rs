//! Partner side, customers: the customer list (search, sort, paging, count, "New
//! relationship") and a customer's record with its Account / Users / Licenses / Subscriptions
//! tabs, through the same service calls as the API (the grants decide what each tab may do).

use super::extract::{Form, Path, Query};
use super::i18n;
use super::invitations;
use super::layout::{self, html_response, page};
use super::session::{CsrfOnly, Portal, urlencode};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Locale, OrgKind, OrganizationId, SubscriptionId, SubscriptionStatus, UserId};
use partnerhub_service::{Conflict, NewTenantUserInput, ServiceError, every_page};
use partnerhub_store::{CustomerDetail, CustomerQuery, CustomerSort, PageQuery, Subscription, User};
use serde::Deserialize;
use uuid::Uuid;

mod licenses;
mod users;

use licenses::{assign_license, licenses_tab, release_license};
use users::{create_user, delete_user, edit_user, edit_user_page, reset_password, users_tab};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/customers", get(list))
        .route("/customers/{id}", get(record))
        .route("/customers/{id}/users", post(create_user))
        .route("/customers/{id}/users/{user_id}/reset-password", post(reset_password))
        .route("/customers/{id}/licenses", post(assign_license))
        .route("/customers/{id}/users/{user_id}/edit", get(edit_user_page).post(edit_user))
        .route("/customers/{id}/users/{user_id}/delete", post(delete_user))
        .route("/customers/{id}/users/{user_id}/licenses/{subscription_id}/release", post(release_license))
}

struct Words {
    list_title: &'static str,
    search: &'static str,
    sort: &'static str,
    by_name: &'static str,
    newest: &'static str,
    apply: &'static str,
    count: &'static str,
    count_one: &'static str,
    none: &'static str,
    name: &'static str,
    domain: &'static str,
    since: &'static str,
    roles: &'static str,
    next_page: &'static str,
    first_page: &'static str,
    account: &'static str,
    users: &'static str,
    licenses: &'static str,
    subscriptions: &'static str,
    relationship_since: &'static str,
    via: &'static str,
    via_invitation: &'static str,
    via_created: &'static str,
    reseller_of_record: &'static str,
    other_partners: &'static str,
    grants: &'static str,
    no_grants: &'static str,
    expires: &'static str,
    auto_extends: &'static str,
    remove: &'static str,
    subscription_counts: &'static str,
    active: &'static str,
    suspended: &'static str,
    cancelled: &'static str,
    email: &'static str,
    display_name: &'static str,
    no_users: &'static str,
    users_refused: &'static str,
    create_user: &'static str,
    create: &'static str,
    user_roles: &'static str,
    reset_password: &'static str,
    temporary_password: &'static str,
    temporary_password_lead: &'static str,
    back: &'static str,
    copy: &'static str,
    copied: &'static str,
    refused: &'static str,
    offer: &'static str,
    quantity: &'static str,
    assigned: &'static str,
    status: &'static str,
    partner_of_record: &'static str,
    created: &'static str,
    no_subscriptions: &'static str,
    subscriptions_refused: &'static str,
    user: &'static str,
    no_licenses: &'static str,
    licenses_refused: &'static str,
    assign: &'static str,
    assign_title: &'static str,
    subscription: &'static str,
    assigned_at: &'static str,
    none_role: &'static str,
    grants_tab: &'static str,
    sections: &'static str,
    grant_state: &'static str,
    granted_on: &'static str,
    ends: &'static str,
    state_active: &'static str,
    state_expired: &'static str,
    state_revoked: &'static str,
    revoked_on: &'static str,
    edit: &'static str,
    edit_title: &'static str,
    save: &'static str,
    delete: &'static str,
    delete_title: &'static str,
    delete_confirm: &'static str,
    delete_unconfirmed: &'static str,
    last_global_admin: &'static str,
    release: &'static str,
    no_user: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            list_title: "Customer list",
            search: "Search by name or domain",
            sort: "Sort",
            by_name: "By name",
            newest: "Newest first",
            apply: "Search",
            count: "customers",
            count_one: "customer",
            none: "No customer matches.",
            name: "Name",
            domain: "Domain",
            since: "Relationship since",
            roles: "Delegated administrator roles",
            next_page: "Next page",
            first_page: "First page",
            account: "Account",
            users: "Users",
            licenses: "Licenses",
            subscriptions: "Subscriptions",
            relationship_since: "Relationship since",
            via: "How it began",
            via_invitation: "An accepted invitation",
            via_created: "Created by your organization",
            reseller_of_record: "Indirect reseller",
            other_partners: "Other partners you may see",
            grants: "Delegated administrator roles granted",
            no_grants: "No role is granted at the moment.",
            expires: "until",
            auto_extends: "(extended automatically)",
            remove: "Remove customer relationship",
            subscription_counts: "Subscriptions",
            active: "active",
            suspended: "suspended",
            cancelled: "cancelled",
            email: "E-mail",
            display_name: "Name",
            no_users: "No user.",
            users_refused: "Your roles, or the roles this customer granted your organization, do not allow this for its users. An admin agent or a helpdesk agent acts through the grants; request a reseller relationship for the roles you need.",
            create_user: "Create a user",
            create: "Create",
            user_roles: "Administrator roles (none for a plain user)",
            reset_password: "Reset the password",
            temporary_password: "Temporary password",
            temporary_password_lead: "Give this temporary password to the user: it is shown this once. They choose their own at first sign-in.",
            back: "Back to the customer",
            copy: "Copy to clipboard",
            copied: "Copied",
            refused: "Refused:",
            offer: "Offer",
            quantity: "Seats",
            assigned: "Assigned",
            status: "Status",
            partner_of_record: "Partner of record",
            created: "Created",
            no_subscriptions: "No subscription placed by you or with you as partner of record.",
            subscriptions_refused: "Your roles, or the roles this customer granted your organization, do not let you see its subscriptions.",
            user: "User",
            no_licenses: "No license assigned.",
            licenses_refused: "Your roles, or the roles this customer granted your organization, do not let you see or assign its licenses.",
            assign: "Assign",
            assign_title: "Assign a license",
            subscription: "Subscription",
            assigned_at: "Since",
            none_role: "User",
            grants_tab: "Grants",
            sections: "Sections of the customer record",
            grant_state: "State",
            granted_on: "Granted",
            ends: "Expiry",
            state_active: "Active",
            state_expired: "Expired",
            state_revoked: "Revoked",
            revoked_on: "Revoked",
            edit: "Edit",
            edit_title: "Edit the user",
            save: "Save",
            delete: "Delete",
            delete_title: "Delete the user",
            delete_confirm: "I confirm: the user is deleted, their sessions end and their licenses are released.",
            delete_unconfirmed: "Tick the box to confirm the deletion.",
            last_global_admin: "The customer's last global administrator stays: give another user that role first.",
            release: "Release",
            no_user: "This user is not one of the customer's users.",
        },
        Locale::Fr => &Words {
            list_title: "Liste des clients",
            search: "Rechercher par nom ou domaine",
            sort: "Trier",
            by_name: "Par nom",
            newest: "Les plus récents d'abord",
            apply: "Rechercher",
            count: "clients",
            count_one: "client",
            none: "Aucun client ne correspond.",
            name: "Nom",
            domain: "Domaine",
            since: "Relation depuis le",
            roles: "Rôles d'administrateur délégué",
            next_page: "Page suivante",
            first_page: "Première page",
            account: "Compte",
            users: "Utilisateurs",
            licenses: "Licences",
            subscriptions: "Abonnements",
            relationship_since: "Relation depuis le",
            via: "Origine",
            via_invitation: "Une invitation acceptée",
            via_created: "Créé par votre organisation",
            reseller_of_record: "Revendeur indirect",
            other_partners: "Autres partenaires visibles",
            grants: "Rôles d'administrateur délégué accordés",
            no_grants: "Aucun rôle n'est accordé pour l'instant.",
            expires: "jusqu'au",
            auto_extends: "(prolongé automatiquement)",
            remove: "Supprimer une relation client",
            subscription_counts: "Abonnements",
            active: "actifs",
            suspended: "suspendus",
            cancelled: "annulés",
            email: "Adresse e-mail",
            display_name: "Nom",
            no_users: "Aucun utilisateur.",
            users_refused: "Vos rôles, ou ceux que ce client a accordés à votre organisation, ne le permettent pas pour ses utilisateurs. Un agent d'administration ou un agent du support technique agit grâce aux droits accordés ; demandez une relation de revendeur pour les rôles nécessaires.",
            create_user: "Créer un utilisateur",
            create: "Créer",
            user_roles: "Rôles d'administrateur (aucun pour un simple utilisateur)",
            reset_password: "Réinitialiser le mot de passe",
            temporary_password: "Mot de passe temporaire",
            temporary_password_lead: "Donnez ce mot de passe temporaire à l'utilisateur : il n'est affiché qu'une fois. Il choisira le sien à la première connexion.",
            back: "Retour au client",
            copy: "Copier dans le Presse-papiers",
            copied: "Copié",
            refused: "Refusé :",
            offer: "Offre",
            quantity: "Licences",
            assigned: "Attribuées",
            status: "Statut",
            partner_of_record: "Partenaire attitré",
            created: "Créé le",
            no_subscriptions: "Aucun abonnement passé par vous ou dont vous êtes le partenaire attitré.",
            subscriptions_refused: "Vos rôles, ou ceux que ce client a accordés à votre organisation, ne vous permettent pas de voir ses abonnements.",
            user: "Utilisateur",
            no_licenses: "Aucune licence attribuée.",
            licenses_refused: "Vos rôles, ou ceux que ce client a accordés à votre organisation, ne vous permettent pas de voir ni d'attribuer ses licences.",
            assign: "Attribuer",
            assign_title: "Attribuer une licence",
            subscription: "Abonnement",
            assigned_at: "Depuis le",
            none_role: "Utilisateur",
            grants_tab: "Droits",
            sections: "Sections de la fiche client",
            grant_state: "État",
            granted_on: "Accordé le",
            ends: "Échéance",
            state_active: "Actif",
            state_expired: "Expiré",
            state_revoked: "Révoqué",
            revoked_on: "Révoqué le",
            edit: "Modifier",
            edit_title: "Modifier l'utilisateur",
            save: "Enregistrer",
            delete: "Supprimer",
            delete_title: "Supprimer l'utilisateur",
            delete_confirm: "Je confirme : l'utilisateur est supprimé, ses sessions prennent fin et ses licences sont libérées.",
            delete_unconfirmed: "Cochez la case pour confirmer la suppression.",
            last_global_admin: "Le dernier administrateur général du client reste : donnez d'abord ce rôle à un autre utilisateur.",
            release: "Libérer",
            no_user: "Cet utilisateur n'est pas un utilisateur du client.",
        },
    }
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// `/customers`: the customers with an active relationship, as the API lists them.
async fn list(State(s): State<AppState>, portal: Portal, Query(q): Query<ListQuery>) -> Response {
    let (l, w) = (portal.lang, words(portal.lang));
    let sort = match q.sort.as_deref() {
        Some("-created_at") => CustomerSort::NewestFirst,
        _ => CustomerSort::Name,
    };
    // The API refuses a long or control-laden search; the page keeps what it can.
    let search: Option<String> =
        q.q.as_deref()
            .map(|v| v.chars().filter(|c| !c.is_control()).take(200).collect::<String>().trim().to_owned())
            .filter(|v| !v.is_empty());
    let limit = q.limit.as_deref().and_then(|v| v.parse::<i64>().ok()).filter(|n| (1..=500).contains(n)).unwrap_or(50);
    let cursor = q.cursor.filter(|c| !c.is_empty() && c.len() <= 512);
    let query = |cursor| CustomerQuery { limit, cursor, q: search.clone(), sort };
    let result = match s.service.list_customers(&portal.caller, query(cursor.clone())).await {
        // A stale or forged cursor: the first page rather than an error.
        Err(ServiceError::Validation(_)) if cursor.is_some() => s.service.list_customers(&portal.caller, query(None)).await,
        r => r,
    };
    let customers = match result {
        Ok(p) => p,
        Err(e) => return layout::error_page(l, e),
    };
    let sort_param = if sort == CustomerSort::NewestFirst { "-created_at" } else { "name" };
    let iw = invitations::words(l);
    let body = html! {
        p.actions { a.button href="/invitations/new" id="new-relationship-link" { (iw.new_relationship) } }
        form.stack method="get" action="/customers" role="search" {
            label { (w.search) input type="search" name="q" id="customer-search" value=(search.as_deref().unwrap_or_default()) maxlength="200"; }
            label { (w.sort)
                select name="sort" id="customer-sort" {
                    option value="name" selected[sort == CustomerSort::Name] { (w.by_name) }
                    option value="-created_at" selected[sort == CustomerSort::NewestFirst] { (w.newest) }
                }
            }
            button type="submit" id="customer-search-submit" { (w.apply) }
        }
        p.muted id="customer-count" { (customers.total) " " (if customers.total == 1 { w.count_one } else { w.count }) }
        @if customers.items.is_empty() {
            p { (w.none) }
        } @else {
            table id="customers" {
                thead { tr { th { (w.name) } th { (w.domain) } th { (w.since) } th { (w.roles) } } }
                tbody {
                    @for c in &customers.items {
                        tr {
                            td { a href=(format!("/customers/{}", c.id.0)) { (c.name) } }
                            td { (c.domain) }
                            td { (i18n::date(l, c.relationship.since)) }
                            td { @for (i, g) in c.grants.iter().enumerate() { @if i > 0 { ", " } (i18n::delegated_role(l, g.role)) } }
                        }
                    }
                }
            }
        }
        p.actions {
            @if cursor.is_some() { a href=(format!("/customers?sort={sort_param}&limit={limit}&q={}", urlencode(search.as_deref().unwrap_or_default()))) { (w.first_page) } }
            @if let Some(next) = &customers.next_cursor {
                a href=(format!("/customers?sort={sort_param}&limit={limit}&q={}&cursor={}", urlencode(search.as_deref().unwrap_or_default()), urlencode(next))) id="next-page" { (w.next_page) }
            }
        }
    };
    html_response(StatusCode::OK, page(l, Some(&portal), w.list_title, body))
}

#[derive(Deserialize)]
struct RecordQuery {
    tab: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Account,
    Users,
    Licenses,
    Subscriptions,
    Grants,
}

fn tab_of(s: Option<&str>) -> Tab {
    match s {
        Some("users") => Tab::Users,
        Some("licenses") => Tab::Licenses,
        Some("subscriptions") => Tab::Subscriptions,
        Some("grants") => Tab::Grants,
        _ => Tab::Account,
    }
}

fn tabs(l: Locale, id: Uuid, current: Tab) -> Markup {
    let w = words(l);
    let all = [
        (Tab::Account, "account", w.account),
        (Tab::Users, "users", w.users),
        (Tab::Licenses, "licenses", w.licenses),
        (Tab::Subscriptions, "subscriptions", w.subscriptions),
        (Tab::Grants, "grants", w.grants_tab),
    ];
    html! {
        nav aria-label=(w.sections) {
            ul.tabs {
                @for (t, key, label) in all {
                    li { a href=(format!("/customers/{id}?tab={key}")) id=(format!("tab-{key}")) aria-current=[(t == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

fn refusal(message: &str) -> Markup {
    html! { p.notice role="status" { (message) } }
}

/// Whether a service answer is a refusal of the grants (shown inside the tab), not a failure.
fn refused(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Forbidden | ServiceError::NotFound)
}

async fn customer_or_page(s: &AppState, p: &Portal, id: &str) -> Result<CustomerDetail, Response> {
    let Ok(uuid) = Uuid::parse_str(id) else { return Err(layout::error_page(p.lang, ServiceError::NotFound)) };
    s.service.customer(&p.caller, OrganizationId(uuid)).await.map_err(|e| layout::error_page(p.lang, e))
}

/// `/customers/{id}?tab=`: one customer's record.
async fn record(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Query(q): Query<RecordQuery>) -> Response {
    let d = match customer_or_page(&s, &portal, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let tab = tab_of(q.tab.as_deref());
    let content = match tab {
        Tab::Account => account_tab(&portal, &d),
        Tab::Users => users_tab(&s, &portal, &d).await,
        Tab::Licenses => licenses_tab(&s, &portal, &d).await,
        Tab::Subscriptions => subscriptions_tab(&s, &portal, &d).await,
        Tab::Grants => grants_tab(&s, &portal, &d).await,
    };
    let body = html! { p.muted { (d.summary.domain) } (tabs(portal.lang, d.summary.id.0, tab)) (content) };
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), &d.summary.name, body))
}

fn account_tab(p: &Portal, d: &CustomerDetail) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    let iw = invitations::words(l);
    let sm = &d.summary;
    let via = match sm.relationship.via.as_str() {
        "created" => w.via_created,
        _ => w.via_invitation,
    };
    html! {
        dl {
            dt { (w.relationship_since) } dd { (i18n::date(l, sm.relationship.since)) }
            dt { (w.via) } dd { (via) }
            @if let Some(r) = &sm.indirect_reseller { dt { (w.reseller_of_record) } dd { (r.name) " (" (r.partner_id) ")" } }
            @if !d.other_partners.is_empty() {
                dt { (w.other_partners) }
                dd { @for (i, o) in d.other_partners.iter().enumerate() { @if i > 0 { ", " } (o.name) " (" (o.partner_id) ")" } }
            }
            dt { (w.subscription_counts) }
            dd { (d.subscriptions.active) " " (w.active) ", " (d.subscriptions.suspended) " " (w.suspended) ", " (d.subscriptions.cancelled) " " (w.cancelled) }
        }
        h2 { (w.grants) }
        @if sm.grants.is_empty() {
            p { (w.no_grants) }
        } @else {
            ul id="grants" {
                @for g in &sm.grants {
                    li { (i18n::delegated_role(l, g.role)) " — " (w.expires) " " (i18n::date(l, g.expires_at)) @if g.auto_extend { " " (w.auto_extends) } }
                }
            }
        }
        section.card {
            h2 { (iw.request_reseller) }
            p { (iw.request_reseller_lead) }
            (invitations::invitation_form(p, Some(sm.id.0), None, None))
        }
        p.actions { a.button.secondary href=(format!("/customers/{}/remove", sm.id.0)) id="remove-relationship" { (w.remove) } }
    }
}

async fn subscriptions_of(s: &AppState, p: &Portal, customer: OrganizationId) -> Result<Vec<Subscription>, ServiceError> {
    Ok(s.service.partner_subscriptions(&p.caller, customer, PageQuery { limit: 500, cursor: None }).await?.items)
}

async fn subscriptions_tab(s: &AppState, p: &Portal, d: &CustomerDetail) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    let subs = match subscriptions_of(s, p, d.summary.id).await {
        Ok(v) => v,
        Err(e) if refused(&e) => return refusal(w.subscriptions_refused),
        Err(_) => return refusal(layout::words(l).unavailable),
    };
    html! {
        @if subs.is_empty() {
            p { (w.no_subscriptions) }
        } @else {
            table id="subscriptions" {
                thead { tr { th { (w.offer) } th { (w.quantity) } th { (w.assigned) } th { (w.status) } th { (w.partner_of_record) } th { (w.created) } } }
                tbody {
                    @for sub in &subs {
                        tr {
                            td { (sub.offer.name) }
                            td { (sub.quantity) }
                            td { (sub.assigned) }
                            td { (i18n::subscription_status(l, sub.status)) }
                            td { (sub.partner_of_record.name) }
                            td { (i18n::date(l, sub.created_at)) }
                        }
                    }
                }
            }
        }
    }
}

/// Every grant the caller's organization holds or held in the customer, with its state.
async fn grants_tab(s: &AppState, p: &Portal, d: &CustomerDetail) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    let grants = match every_page(|q| s.service.customer_grants(&p.caller, d.summary.id, q)).await {
        Ok(g) => g,
        Err(e) if refused(&e) => return refusal(layout::words(l).forbidden),
        Err(_) => return refusal(layout::words(l).unavailable),
    };
    let now = s.service.now();
    html! {
        @if grants.is_empty() {
            p { (w.no_grants) }
        } @else {
            table id="grant-history" {
                thead { tr { th { (w.roles) } th { (w.grant_state) } th { (w.granted_on) } th { (w.ends) } th { (w.revoked_on) } } }
                tbody {
                    @for g in &grants {
                        tr {
                            td { (i18n::delegated_role(l, g.role)) }
                            td { (match g.state(now) { "active" => w.state_active, "revoked" => w.state_revoked, _ => w.state_expired }) }
                            td { (i18n::date(l, g.created_at)) }
                            td { (i18n::date(l, g.expires_at)) @if g.auto_extend { " " (w.auto_extends) } }
                            td { @if let Some(r) = g.revoked_at { (i18n::date(l, r)) } }
                        }
                    }
                }
            }
        }
    }
}

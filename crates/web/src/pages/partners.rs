//! The customer's partners (screen 8): each partner with its relationship, its grants (roles
//! in words) and their expiry; revoke a partner's grants (the relationship stays) or remove
//! the partner (its grants go with it). The same service calls as `/api/v1/partners`.

use super::extract::{Form, Path, Query};
use super::i18n;
use super::layout::{self, html_response, page};
use super::session::{CsrfOnly, Portal};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Locale, OrganizationId};
use partnerhub_service::every_page;
use partnerhub_store::PartnerOfCustomer;
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/partners", get(partners_page))
        .route("/partners/{id}/revoke-grants", post(revoke_grants))
        .route("/partners/{id}/remove", post(remove_partner))
}

struct Words {
    title: &'static str,
    none: &'static str,
    partner_id: &'static str,
    domain: &'static str,
    since: &'static str,
    via_invitation: &'static str,
    via_other: &'static str,
    grants: &'static str,
    role: &'static str,
    state: &'static str,
    expires: &'static str,
    auto_extend: &'static str,
    active: &'static str,
    expired: &'static str,
    revoked: &'static str,
    no_grants: &'static str,
    revoke: &'static str,
    revoke_hint: &'static str,
    remove: &'static str,
    remove_hint: &'static str,
    confirm: &'static str,
    confirm_needed: &'static str,
    revoked_n: &'static str,
    removed: &'static str,
    notice: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Partners",
            none: "Your organization has no partner.",
            partner_id: "Partner ID",
            domain: "Domain",
            since: "Relationship since",
            via_invitation: "by invitation",
            via_other: "created by the partner",
            grants: "Delegated administrator roles",
            role: "Role",
            state: "State",
            expires: "Expires on",
            auto_extend: "renewed automatically",
            active: "Active",
            expired: "Expired",
            revoked: "Revoked",
            no_grants: "This partner holds no delegated administrator role in your organization.",
            revoke: "Revoke the roles",
            revoke_hint: "The partner loses every delegated administrator role at once; the relationship stays.",
            remove: "Remove the partner",
            remove_hint: "Ends the relationship: every role the partner holds is revoked, and it no longer sees your organization.",
            confirm: "I confirm that this partner must be removed.",
            confirm_needed: "Tick the confirmation box to remove the partner.",
            revoked_n: "Roles revoked:",
            removed: "The partner was removed; its roles are revoked.",
            notice: "partnerhub does not send a notice of termination. If your agreement with the partner requires a legal notice of termination, you must send it yourself.",
        },
        Locale::Fr => &Words {
            title: "Partenaires",
            none: "Votre organisation n'a aucun partenaire.",
            partner_id: "ID partenaire",
            domain: "Domaine",
            since: "Relation depuis",
            via_invitation: "sur invitation",
            via_other: "créée par le partenaire",
            grants: "Rôles d'administrateur délégué",
            role: "Rôle",
            state: "État",
            expires: "Expire le",
            auto_extend: "renouvelé automatiquement",
            active: "Actif",
            expired: "Expiré",
            revoked: "Révoqué",
            no_grants: "Ce partenaire ne détient aucun rôle d'administrateur délégué dans votre organisation.",
            revoke: "Révoquer les rôles",
            revoke_hint: "Le partenaire perd d'un coup tous ses rôles d'administrateur délégué ; la relation demeure.",
            remove: "Supprimer le partenaire",
            remove_hint: "Met fin à la relation : tous les rôles du partenaire sont révoqués et il ne voit plus votre organisation.",
            confirm: "Je confirme que ce partenaire doit être supprimé.",
            confirm_needed: "Cochez la case de confirmation pour supprimer le partenaire.",
            revoked_n: "Rôles révoqués :",
            removed: "Le partenaire a été supprimé ; ses rôles sont révoqués.",
            notice: "partnerhub n'envoie pas d'avis de résiliation. Si votre accord avec le partenaire exige un avis légal de résiliation, vous devez l'envoyer vous-même.",
        },
    }
}

#[derive(Deserialize)]
struct Outcome {
    revoked: Option<String>,
    removed: Option<String>,
}

fn render(
    p: &Portal,
    list: &[PartnerOfCustomer],
    now: time::OffsetDateTime,
    notice: Option<String>,
    error: Option<(Uuid, &str)>,
) -> Markup {
    let l = p.lang;
    let w = words(l);
    html! {
        @if let Some(n) = notice { p.ok role="status" { (n) } }
        @if list.is_empty() { p.muted { (w.none) } }
        @for item in list {
            @let pid = item.partner.id.0;
            section.card id=(format!("partner-{pid}")) {
                h2 { (item.partner.name) }
                dl {
                    dt { (w.partner_id) } dd { (item.partner.partner_id) }
                    dt { (w.domain) } dd { (item.partner.domain) }
                    dt { (w.since) }
                    dd {
                        (i18n::date(l, item.relationship.since)) " ("
                        (if item.relationship.via == "invitation" { w.via_invitation } else { w.via_other }) ")"
                    }
                }
                h3 { (w.grants) }
                @if item.grants.is_empty() {
                    p.muted { (w.no_grants) }
                } @else {
                    table {
                        thead { tr { th scope="col" { (w.role) } th scope="col" { (w.state) } th scope="col" { (w.expires) } } }
                        tbody {
                            @for g in &item.grants {
                                tr {
                                    td data-label=(w.role) { (i18n::delegated_role(l, g.role)) }
                                    td data-label=(w.state) {
                                        (match g.state(now) { "active" => w.active, "expired" => w.expired, _ => w.revoked })
                                    }
                                    td data-label=(w.expires) {
                                        (i18n::date(l, g.expires_at))
                                        @if g.auto_extend { " (" (w.auto_extend) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some((id, e)) = error && id == pid { p.errors role="alert" { (e) } }
                div.actions {
                    form.inline method="post" action=(format!("/partners/{pid}/revoke-grants")) {
                        input type="hidden" name="csrf" value=(p.form_token);
                        p.muted { (w.revoke_hint) }
                        button.secondary type="submit" id=(format!("revoke-{pid}")) name="revoke" { (w.revoke) }
                    }
                    form.stack method="post" action=(format!("/partners/{pid}/remove")) {
                        input type="hidden" name="csrf" value=(p.form_token);
                        p.muted { (w.remove_hint) }
                        label { input type="checkbox" name="confirm" value="yes" id=(format!("confirm-{pid}")); " " (w.confirm) }
                        p.notice { (w.notice) }
                        button.danger type="submit" id=(format!("remove-{pid}")) name="remove" { (w.remove) }
                    }
                }
            }
        }
    }
}

async fn partners_page(State(s): State<AppState>, portal: Portal, Query(q): Query<Outcome>) -> Response {
    let w = words(portal.lang);
    let list = match every_page(|q| s.service.partners_of_customer(&portal.caller, q)).await {
        Ok(v) => v,
        Err(e) => return layout::error_page(portal.lang, e),
    };
    let notice = match (q.revoked.as_deref().and_then(|n| n.parse::<u32>().ok()), q.removed.as_deref()) {
        (Some(n), _) => Some(format!("{} {n}", w.revoked_n)),
        (None, Some("1")) => Some(w.removed.to_owned()),
        _ => None,
    };
    let body = render(&portal, &list, s.service.now(), notice, None);
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.title, body))
}

fn partner_id(raw: &str) -> Option<OrganizationId> {
    Uuid::parse_str(raw).ok().map(OrganizationId)
}

async fn revoke_grants(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Some(partner) = partner_id(&id) else {
        return layout::message_page(portal.lang, StatusCode::NOT_FOUND, layout::words(portal.lang).not_found);
    };
    match s.service.revoke_partner_grants(&portal.caller, partner).await {
        Ok(n) => Redirect::to(&format!("/partners?revoked={n}")).into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

async fn remove_partner(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<RemoveForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    let Some(partner) = partner_id(&id) else {
        return layout::message_page(portal.lang, StatusCode::NOT_FOUND, layout::words(portal.lang).not_found);
    };
    if f.confirm != "yes" {
        // The page again, with the reason next to the partner's form.
        let list = match every_page(|q| s.service.partners_of_customer(&portal.caller, q)).await {
            Ok(v) => v,
            Err(e) => return layout::error_page(portal.lang, e),
        };
        if !list.iter().any(|p| p.partner.id == partner) {
            return layout::message_page(portal.lang, StatusCode::NOT_FOUND, layout::words(portal.lang).not_found);
        }
        let body = render(&portal, &list, s.service.now(), None, Some((partner.0, w.confirm_needed)));
        return html_response(StatusCode::UNPROCESSABLE_ENTITY, page(portal.lang, Some(&portal), w.title, body));
    }
    match s.service.customer_remove_partner(&portal.caller, partner).await {
        Ok(_) => Redirect::to("/partners?removed=1").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

//! `/links`: an indirect reseller's providers (asking one to connect, leaving one), an
//! indirect provider's resellers (accepting or declining a pending request, ending a link) —
//! the same service calls as `/api/v1/providers` and `/api/v1/resellers`. Ending or leaving
//! asks for a ticked confirmation first.

use super::extract::{Form, Path};
use super::layout::{self, html_response, page};
use super::session::{CsrfOnly, Portal};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Action, Locale, OrgKind, OrganizationId, PartnerType, allowed};
use partnerhub_service::{ServiceError, every_page};
use partnerhub_store::{LinkSide, ProviderLinkView};
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/links", get(show))
        .route("/links/providers", post(request_provider))
        .route("/links/resellers/{id}/accept", post(accept_reseller))
        .route("/links/resellers/{id}/decline", post(decline_reseller))
        .route("/links/resellers/{id}/end", post(end_reseller))
        .route("/links/providers/{id}/leave", post(leave_provider))
}

struct Words {
    title: &'static str,
    providers: &'static str,
    providers_lead: &'static str,
    resellers: &'static str,
    resellers_lead: &'static str,
    direct: &'static str,
    name: &'static str,
    partner_id: &'static str,
    domain: &'static str,
    state: &'static str,
    pending: &'static str,
    active: &'static str,
    none: &'static str,
    request_title: &'static str,
    request_lead: &'static str,
    provider_partner_id: &'static str,
    request: &'static str,
    accept: &'static str,
    decline: &'static str,
    end: &'static str,
    leave: &'static str,
    withdraw: &'static str,
    confirm_end: &'static str,
    confirm_leave: &'static str,
    confirm_needed: &'static str,
    operator_note: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Providers and resellers",
            providers: "Your indirect providers",
            providers_lead: "The indirect providers you resell for. With an active link, a customer can connect to you and to your provider with one invitation.",
            resellers: "Your indirect resellers",
            resellers_lead: "The indirect resellers who sell your services. Accept a pending request to make the link active.",
            direct: "Links join indirect providers and indirect resellers; a direct partner has none.",
            name: "Partner",
            partner_id: "Partner ID",
            domain: "Domain",
            state: "State",
            pending: "Pending",
            active: "Active",
            none: "No link yet.",
            request_title: "Connect to an indirect provider",
            request_lead: "Ask an indirect provider to connect, by its partner ID; the link is active once the provider accepts.",
            provider_partner_id: "The provider's partner ID",
            request: "Send the request",
            accept: "Accept",
            decline: "Decline",
            end: "End link",
            leave: "Leave",
            withdraw: "Withdraw the request",
            confirm_end: "End this link: customers keep their relationships with both of you, but you can no longer order, create customers or invite for this reseller.",
            confirm_leave: "Leave this provider: customers keep their relationships with both of you, but the provider can no longer order or invite for you.",
            confirm_needed: "Tick the box to confirm first.",
            operator_note: "The operator of this partnerhub can also create a link directly.",
        },
        Locale::Fr => &Words {
            title: "Fournisseurs et revendeurs",
            providers: "Vos fournisseurs indirects",
            providers_lead: "Les fournisseurs indirects pour lesquels vous revendez. Avec un lien actif, un client peut se relier à vous et à votre fournisseur par une seule invitation.",
            resellers: "Vos revendeurs indirects",
            resellers_lead: "Les revendeurs indirects qui vendent vos services. Acceptez une demande en attente pour rendre le lien actif.",
            direct: "Les liens unissent fournisseurs indirects et revendeurs indirects ; un partenaire direct n'en a pas.",
            name: "Partenaire",
            partner_id: "ID de partenaire",
            domain: "Domaine",
            state: "État",
            pending: "En attente",
            active: "Actif",
            none: "Aucun lien pour l'instant.",
            request_title: "Se relier à un fournisseur indirect",
            request_lead: "Demandez à un fournisseur indirect de se relier à vous, par son ID de partenaire ; le lien devient actif quand le fournisseur accepte.",
            provider_partner_id: "ID de partenaire du fournisseur",
            request: "Envoyer la demande",
            accept: "Accepter",
            decline: "Refuser",
            end: "Mettre fin au lien",
            leave: "Quitter",
            withdraw: "Retirer la demande",
            confirm_end: "Mettre fin à ce lien : les clients gardent leurs relations avec vous deux, mais vous ne pourrez plus commander, créer de clients ni inviter pour ce revendeur.",
            confirm_leave: "Quitter ce fournisseur : les clients gardent leurs relations avec vous deux, mais le fournisseur ne pourra plus commander ni inviter pour vous.",
            confirm_needed: "Cochez la case pour confirmer d'abord.",
            operator_note: "L'opérateur de ce partnerhub peut aussi créer un lien directement.",
        },
    }
}

fn state_word(w: &Words, state: &str) -> &'static str {
    if state == "active" { w.active } else { w.pending }
}

/// Which list a table shows, and whether the caller may change the links in it.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// A reseller's providers.
    Providers,
    /// A provider's resellers.
    Resellers,
}

/// A refusal to show next to one link's forms: (the other partner's id, words).
type LinkError<'a> = Option<(Uuid, &'a str)>;

fn table(p: &Portal, links: &[ProviderLinkView], side: Side, manage: bool, error: LinkError<'_>) -> Markup {
    let w = words(p.lang);
    html! {
        @if links.is_empty() { p.muted { (w.none) } } @else {
            table {
                thead { tr { th { (w.name) } th { (w.partner_id) } th { (w.domain) } th { (w.state) } @if manage { th {} } } }
                tbody {
                    @for l in links {
                        @let id = l.partner.id.0;
                        tr id=(format!("link-{id}")) {
                            td data-label=(w.name) { bdi { (l.partner.name) } }
                            td data-label=(w.partner_id) { bdi { (l.partner.partner_id) } }
                            td data-label=(w.domain) { bdi { (l.partner.domain) } }
                            td data-label=(w.state) { (state_word(w, &l.state)) }
                            @if manage {
                                td { (link_actions(p, l, side, error.filter(|(e, _)| *e == id).map(|(_, m)| m))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The forms of one link: a provider accepts or declines a pending request and ends an active
/// link; a reseller withdraws its request or leaves. Ending and leaving need the box ticked.
fn link_actions(p: &Portal, l: &ProviderLinkView, side: Side, error: Option<&str>) -> Markup {
    let w = words(p.lang);
    let id = l.partner.id.0;
    let pending = l.state != "active";
    let confirmed = |action: String, confirm: &str, label: &str, button_id: String| {
        html! {
            form.stack method="post" action=(action) {
                input type="hidden" name="csrf" value=(p.form_token);
                label.check { input type="checkbox" name="confirm" value="yes" id=(format!("confirm-{id}")); span { (confirm) } }
                button.danger type="submit" id=(button_id) { (label) }
            }
        }
    };
    html! {
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        @match (side, pending) {
            (Side::Resellers, true) => {
                form.inline method="post" action=(format!("/links/resellers/{id}/accept")) {
                    input type="hidden" name="csrf" value=(p.form_token);
                    button type="submit" name="accept" id=(format!("accept-{id}")) { (w.accept) }
                }
                form.inline method="post" action=(format!("/links/resellers/{id}/decline")) {
                    input type="hidden" name="csrf" value=(p.form_token);
                    button.secondary type="submit" name="decline" id=(format!("decline-{id}")) { (w.decline) }
                }
            }
            (Side::Resellers, false) => {
                (confirmed(format!("/links/resellers/{id}/end"), w.confirm_end, w.end, format!("end-{id}")))
            }
            (Side::Providers, true) => {
                form.inline method="post" action=(format!("/links/providers/{id}/leave")) {
                    input type="hidden" name="csrf" value=(p.form_token);
                    input type="hidden" name="confirm" value="yes";
                    button.secondary type="submit" id=(format!("withdraw-{id}")) { (w.withdraw) }
                }
            }
            (Side::Providers, false) => {
                (confirmed(format!("/links/providers/{id}/leave"), w.confirm_leave, w.leave, format!("leave-{id}")))
            }
        }
    }
}

async fn render(s: &AppState, p: &Portal, status: StatusCode, error: Option<&str>, typed: &str, link_error: LinkError<'_>) -> Response {
    let w = words(p.lang);
    let pr = p.principal();
    if pr.organization.kind != OrgKind::Partner {
        return layout::error_page(p.lang, ServiceError::NotFound);
    }
    let manage = allowed(pr.organization.kind, &pr.user.roles, Action::ProviderLinksManage);
    let body = match pr.organization.partner_type {
        Some(PartnerType::IndirectReseller) => {
            let links = match every_page(|q| s.service.provider_links(&p.caller, LinkSide::Providers, q)).await {
                Ok(l) => l,
                Err(e) => return layout::error_page(p.lang, e),
            };
            html! {
                section id="providers" {
                    h2 { (w.providers) }
                    p { (w.providers_lead) }
                    (table(p, &links, Side::Providers, manage, link_error))
                }
                @if manage {
                    section.card id="request-provider" {
                        h2 { (w.request_title) }
                        p { (w.request_lead) }
                        @if let Some(e) = error { p.errors role="alert" { (e) } }
                        form.stack method="post" action="/links/providers" {
                            input type="hidden" name="csrf" value=(p.form_token);
                            label { (w.provider_partner_id) input type="text" name="provider_partner_id" required maxlength="64" value=(typed); }
                            button type="submit" id="request-provider-submit" { (w.request) }
                        }
                    }
                }
                p.muted { (w.operator_note) }
            }
        }
        Some(PartnerType::IndirectProvider) => {
            let links = match every_page(|q| s.service.provider_links(&p.caller, LinkSide::Resellers, q)).await {
                Ok(l) => l,
                Err(e) => return layout::error_page(p.lang, e),
            };
            html! {
                section id="resellers" {
                    h2 { (w.resellers) }
                    p { (w.resellers_lead) }
                    (table(p, &links, Side::Resellers, manage, link_error))
                }
                p.muted { (w.operator_note) }
            }
        }
        _ => html! { p.notice { (w.direct) } },
    };
    html_response(status, page(p.lang, Some(p), w.title, body))
}

async fn show(State(s): State<AppState>, portal: Portal) -> Response {
    render(&s, &portal, StatusCode::OK, None, "", None).await
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    provider_partner_id: String,
}

async fn request_provider(State(s): State<AppState>, portal: Portal, Form(f): Form<RequestForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    match s.service.request_provider(&portal.caller, f.provider_partner_id.trim()).await {
        Ok(_) => Redirect::to("/links").into_response(),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            render(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg), &f.provider_partner_id, None).await
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn accept_reseller(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else { return layout::error_page(portal.lang, ServiceError::NotFound) };
    match s.service.accept_reseller(&portal.caller, OrganizationId(id)).await {
        Ok(_) => Redirect::to("/links").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn decline_reseller(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else { return layout::error_page(portal.lang, ServiceError::NotFound) };
    match s.service.decline_reseller(&portal.caller, OrganizationId(id)).await {
        Ok(_) => Redirect::to("/links").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

#[derive(Deserialize)]
struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

async fn end_reseller(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<EndForm>) -> Response {
    end_link(&s, &portal, LinkSide::Resellers, &id, &f).await
}

async fn leave_provider(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<EndForm>) -> Response {
    end_link(&s, &portal, LinkSide::Providers, &id, &f).await
}

/// Ends the caller's link with `id` once the box is ticked; unticked, the page again with the
/// reason next to that link's form.
async fn end_link(s: &AppState, portal: &Portal, side: LinkSide, id: &str, f: &EndForm) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(id) else { return layout::error_page(portal.lang, ServiceError::NotFound) };
    let pr = portal.principal();
    if f.confirm != "yes" && allowed(pr.organization.kind, &pr.user.roles, Action::ProviderLinksManage) {
        let live = match every_page(|q| s.service.provider_links(&portal.caller, side, q)).await {
            Ok(l) => l,
            Err(e) => return layout::error_page(portal.lang, e),
        };
        if !live.iter().any(|l| l.partner.id.0 == id) {
            return layout::error_page(portal.lang, ServiceError::NotFound);
        }
        let w = words(portal.lang);
        return render(s, portal, StatusCode::UNPROCESSABLE_ENTITY, None, "", Some((id, w.confirm_needed))).await;
    }
    match s.service.end_provider_link(&portal.caller, side, OrganizationId(id)).await {
        Ok(()) => Redirect::to("/links").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

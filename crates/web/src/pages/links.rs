//! `/links`: an indirect reseller's providers (and asking one to connect), an indirect
//! provider's resellers (and accepting a pending request) — the same service calls as
//! `/api/v1/providers` and `/api/v1/resellers`. Ending a link has no API route yet, so no button.

use super::layout::{self, html_response, page};
use super::session::{CsrfOnly, Portal};
use crate::AppState;
use axum::Router;
use axum::extract::{Form, Path, State};
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
            operator_note: "L'opérateur de ce partnerhub peut aussi créer un lien directement.",
        },
    }
}

fn state_word(w: &Words, state: &str) -> &'static str {
    if state == "active" { w.active } else { w.pending }
}

fn table(p: &Portal, links: &[ProviderLinkView], accept: bool) -> Markup {
    let w = words(p.lang);
    html! {
        @if links.is_empty() { p.muted { (w.none) } } @else {
            table {
                thead { tr { th { (w.name) } th { (w.partner_id) } th { (w.domain) } th { (w.state) } @if accept { th {} } } }
                tbody {
                    @for l in links {
                        tr id=(format!("link-{}", l.partner.id.0)) {
                            td data-label=(w.name) { bdi { (l.partner.name) } }
                            td data-label=(w.partner_id) { bdi { (l.partner.partner_id) } }
                            td data-label=(w.domain) { bdi { (l.partner.domain) } }
                            td data-label=(w.state) { (state_word(w, &l.state)) }
                            @if accept {
                                td {
                                    @if l.state != "active" {
                                        form.inline method="post" action=(format!("/links/resellers/{}/accept", l.partner.id.0)) {
                                            input type="hidden" name="csrf" value=(p.form_token);
                                            button type="submit" name="accept" { (w.accept) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(s: &AppState, p: &Portal, status: StatusCode, error: Option<&str>, typed: &str) -> Response {
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
                    (table(p, &links, false))
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
                    (table(p, &links, manage))
                }
                p.muted { (w.operator_note) }
            }
        }
        _ => html! { p.notice { (w.direct) } },
    };
    html_response(status, page(p.lang, Some(p), w.title, body))
}

async fn show(State(s): State<AppState>, portal: Portal) -> Response {
    render(&s, &portal, StatusCode::OK, None, "").await
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
            render(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg), &f.provider_partner_id).await
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

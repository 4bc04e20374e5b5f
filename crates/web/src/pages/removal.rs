//! Account > "Remove customer relationship" (PORTAL.md screen 5), partner side: what blocks
//! the removal (each blocker with a link to fix it), how many grants it revokes, the
//! good-faith attestation as an unticked checkbox with its whole text, the notice that no
//! legal notice is sent, and the button. The same service calls as the API's preflight and
//! removal.

use super::extract::{Form, Path};
use super::layout::{self, html_response, page};
use super::session::{Portal, urlencode};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use partnerhub_domain::{Locale, OrganizationId};
use partnerhub_service::ServiceError;
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/customers/{id}/remove", get(show).post(remove))
}

struct Words {
    title: &'static str,
    customer: &'static str,
    blocked: &'static str,
    active_subscription: &'static str,
    other_blocker: &'static str,
    fix: &'static str,
    grants: &'static str,
    attest: &'static str,
    attestation: &'static str,
    legal_notice: &'static str,
    operator_default: &'static str,
    remove: &'static str,
    back: &'static str,
    unticked: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Remove customer relationship",
            customer: "Customer:",
            blocked: "The relationship cannot be removed yet. Fix these first:",
            active_subscription: "Active subscription:",
            other_blocker: "Blocker:",
            fix: "Open it",
            grants: "Delegated administrator grants that will be revoked:",
            attest: "I attest to the statement below.",
            attestation: "You are indicating that the decision to end your relationship with the customer was made in good faith, for legitimate business purposes and in accordance with your agreement with your customer or partner, and that you agree to defend and hold {operator} harmless from any third-party claim to the contrary.",
            legal_notice: "You must provide legal notice of termination to your customer or partner if your agreement requires it. This tool does not generate a notice for the customer or partner.",
            operator_default: "the operator of this service",
            remove: "Remove customer relationship",
            back: "Back to the customer",
            unticked: "Tick the box to attest to the statement before removing the relationship.",
        },
        Locale::Fr => &Words {
            title: "Supprimer une relation client",
            customer: "Client :",
            blocked: "La relation ne peut pas encore être supprimée. Réglez d'abord ces points :",
            active_subscription: "Abonnement actif :",
            other_blocker: "Blocage :",
            fix: "L'ouvrir",
            grants: "Autorisations d'administrateur délégué qui seront révoquées :",
            attest: "J'atteste la déclaration ci-dessous.",
            attestation: "Vous indiquez que la décision d'interrompre votre relation avec le client a été prise en bonne foi, à des fins commerciales légitimes et conformément à votre contrat avec votre client ou partenaire, et que vous acceptez de défendre et de maintenir {operator} inoffensif de toute réclamation tierce au contraire.",
            legal_notice: "Vous devez fournir un avis légal de résiliation à votre client ou partenaire si votre accord l'exige. Cet outil ne génère pas d'avis pour le client ou le partenaire.",
            operator_default: "l'exploitant de ce service",
            remove: "Supprimer une relation client",
            back: "Retour au client",
            unticked: "Cochez la case pour attester la déclaration avant de supprimer la relation.",
        },
    }
}

/// The attestation's whole text with the operator's name (or the default words) in place.
fn attestation(s: &AppState, l: Locale) -> String {
    let w = words(l);
    w.attestation.replace("{operator}", s.service.operator_name().unwrap_or(w.operator_default))
}

fn parse_id(id: &str) -> Option<OrganizationId> {
    Uuid::parse_str(id).ok().map(OrganizationId)
}

async fn render(s: &AppState, portal: &Portal, customer: OrganizationId, error: Option<&str>) -> Result<Markup, Response> {
    let w = words(portal.lang);
    let detail = s.service.customer(&portal.caller, customer).await.map_err(|e| layout::error_page(portal.lang, e))?;
    let pre = s.service.removal_preflight(&portal.caller, customer).await.map_err(|e| layout::error_page(portal.lang, e))?;
    let id = customer.0;
    let body = html! {
        p { (w.customer) " " strong { (detail.summary.name) } " (" (detail.summary.domain) ")" }
        @if let Some(e) = error { p.errors role="alert" id="removal-error" { (e) } }
        @if !pre.blockers.is_empty() {
            div.warning id="blockers" {
                p { (w.blocked) }
                ul {
                    @for b in &pre.blockers {
                        li {
                            @if b.kind == "active_subscription" {
                                (w.active_subscription) " " (b.name) " — "
                                a href=(format!("/subscriptions?customer={id}#sub-{}", b.id)) { (w.fix) }
                            } @else {
                                (w.other_blocker) " " (b.name)
                            }
                        }
                    }
                }
            }
        }
        p id="grants-to-revoke" { (w.grants) " " strong { (pre.grants_to_revoke) } }
        form.stack method="post" action=(format!("/customers/{id}/remove")) {
            input type="hidden" name="csrf" value=(portal.form_token);
            label.check {
                input type="checkbox" name="attest" id="attest" value="yes";
                span { (w.attest) }
            }
            p id="attestation" { (attestation(s, portal.lang)) }
            p.notice id="legal-notice" { (w.legal_notice) }
            div.actions {
                button.danger type="submit" id="remove" name="remove" disabled[!pre.blockers.is_empty()] { (w.remove) }
                a href=(format!("/customers/{id}")) { (w.back) }
            }
        }
    };
    Ok(page(portal.lang, Some(portal), w.title, body))
}

async fn show(State(s): State<AppState>, portal: Portal, Path(id): Path<String>) -> Response {
    let customer = match parse_id(&id) {
        Some(c) => c,
        None => return layout::error_page(portal.lang, ServiceError::NotFound),
    };
    match render(&s, &portal, customer, None).await {
        Ok(m) => html_response(StatusCode::OK, m),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    attest: Option<String>,
}

async fn remove(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<RemoveForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let customer = match parse_id(&id) {
        Some(c) => c,
        None => return layout::error_page(portal.lang, ServiceError::NotFound),
    };
    let w = words(portal.lang);
    let attested = f.attest.as_deref() == Some("yes");
    // The name, for the confirmation, before the customer leaves the caller's list.
    let name = match s.service.customer(&portal.caller, customer).await {
        Ok(d) => d.summary.name,
        Err(e) => return layout::error_page(portal.lang, e),
    };
    match s.service.remove_relationship(&portal.caller, customer, Some(attested)).await {
        Ok(_) => Redirect::to(&format!("/customers?removed={}", urlencode(&name))).into_response(),
        Err(ServiceError::AttestationRequired) => match render(&s, &portal, customer, Some(w.unticked)).await {
            Ok(m) => html_response(StatusCode::UNPROCESSABLE_ENTITY, m),
            Err(r) => r,
        },
        Err(ServiceError::RemovalBlocked(_)) => match render(&s, &portal, customer, None).await {
            Ok(m) => html_response(StatusCode::CONFLICT, m),
            Err(r) => r,
        },
        Err(e) => layout::error_page(portal.lang, e),
    }
}

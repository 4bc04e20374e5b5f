//! Partner side, invitations: the form that makes one (open "New relationship" or bound
//! "Request a reseller relationship"), the draft page after it (edit, open in e-mail, copy,
//! send when SMTP is configured, done), and the list (state, dates, who accepted, the link
//! again while pending, revoke). Every action is the API's own service call.

use super::extract::{Form, Path, Query};
use super::i18n;
use super::layout::{self, html_response, page};
use super::session::{CsrfOnly, Portal};
use crate::AppState;
use crate::extract::ClientIp;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{DelegatedRole, InvitationId, InvitationState, Locale, OrganizationId, PartnerType};
use partnerhub_service::{InvitationView, Limited, NewInvitationInput, ServiceError, every_page};
use partnerhub_store::{LinkSide, PartnerRef};
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/invitations", get(list).post(create))
        .route("/invitations/new", get(new_page))
        .route("/invitations/{id}/draft", get(draft_page).post(save_draft))
        .route("/invitations/{id}/send", post(send))
        .route("/invitations/{id}/revoke", post(revoke))
}

pub(crate) struct Words {
    pub new_relationship: &'static str,
    pub new_relationship_lead: &'static str,
    pub request_reseller: &'static str,
    pub request_reseller_lead: &'static str,
    pub roles: &'static str,
    pub global_admin_warning: &'static str,
    pub duration: &'static str,
    pub auto_extend: &'static str,
    pub language: &'static str,
    pub french: &'static str,
    pub english: &'static str,
    pub provider: &'static str,
    pub no_provider: &'static str,
    draft_title: &'static str,
    draft_lead: &'static str,
    subject: &'static str,
    body: &'static str,
    url_rule: &'static str,
    save: &'static str,
    saved: &'static str,
    open_mail: &'static str,
    copy: &'static str,
    copied: &'static str,
    send_to: &'static str,
    send: &'static str,
    sent: &'static str,
    done: &'static str,
    url_missing: &'static str,
    not_pending: &'static str,
    list_title: &'static str,
    none: &'static str,
    state: &'static str,
    created: &'static str,
    expires: &'static str,
    accepted_by: &'static str,
    link: &'static str,
    actions: &'static str,
    revoke: &'static str,
    edit_draft: &'static str,
    bound_to: &'static str,
    open: &'static str,
    kind: &'static str,
    duration_col: &'static str,
    next_page: &'static str,
    total: &'static str,
    total_one: &'static str,
    summary: &'static str,
    filter: &'static str,
    all: &'static str,
    apply: &'static str,
    unknown_customer: &'static str,
}

pub(crate) fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            new_relationship: "New relationship",
            new_relationship_lead: "Invite a new customer: partnerhub makes a personal link and a draft e-mail message for you to send. The customer's global administrator accepts with the link.",
            request_reseller: "Request a reseller relationship",
            request_reseller_lead: "Ask this customer for delegated administrator roles again, or for other ones: partnerhub makes a personal link bound to this customer and a draft e-mail message.",
            roles: "Delegated administrator roles asked",
            global_admin_warning: "Global administrator gives every right in the customer's tenant. Ask for it only when nothing less will do: the customer sees this warning too.",
            duration: "Duration of the roles, in days (1 to 730)",
            auto_extend: "Extend automatically at expiry",
            language: "Language of the e-mail and of the invitation page",
            french: "French",
            english: "English",
            provider: "Indirect provider",
            no_provider: "Without an indirect provider",
            draft_title: "Draft e-mail message",
            draft_lead: "Review the message, change it if you like, then send it to the customer's global administrator: open it in your e-mail, copy it, or send it from here.",
            subject: "Subject",
            body: "Message",
            url_rule: "The text may be edited, but the personalized link must stay in it.",
            save: "Save",
            saved: "Saved.",
            open_mail: "Open in e-mail",
            copy: "Copy to clipboard",
            copied: "Copied",
            send_to: "Customer's e-mail address",
            send: "Send",
            sent: "Queued: partnerhub sends it now, and tries again if the mail relay cannot be reached.",
            done: "Done",
            url_missing: "The message must contain the personalized link of the invitation. Put it back, then save.",
            not_pending: "This invitation was already answered, revoked or has expired: its draft can no longer be changed or sent.",
            list_title: "Invitations",
            none: "No invitation yet.",
            state: "State",
            created: "Created",
            expires: "Expires",
            accepted_by: "Accepted by",
            link: "Link",
            actions: "Actions",
            revoke: "Revoke",
            edit_draft: "Draft e-mail message",
            bound_to: "For an existing customer",
            open: "New customer",
            kind: "Kind",
            duration_col: "Duration of the roles",
            next_page: "Next page",
            total: "invitations",
            total_one: "invitation",
            summary: "Asked",
            filter: "State",
            all: "All",
            apply: "Show",
            unknown_customer: "A customer no longer in your list",
        },
        Locale::Fr => &Words {
            new_relationship: "Nouvelle relation",
            new_relationship_lead: "Invitez un nouveau client : partnerhub prépare un lien personnalisé et un brouillon de message électronique à lui envoyer. L'administrateur général du client accepte avec ce lien.",
            request_reseller: "Demander une relation de revendeur",
            request_reseller_lead: "Demandez à nouveau des rôles d'administrateur délégué à ce client, ou d'autres rôles : partnerhub prépare un lien personnalisé réservé à ce client et un brouillon de message électronique.",
            roles: "Rôles d'administrateur délégué demandés",
            global_admin_warning: "Administrateur général donne tous les droits dans le tenant du client. Ne le demandez que si rien de moins ne suffit : le client voit aussi cet avertissement.",
            duration: "Durée des rôles, en jours (1 à 730)",
            auto_extend: "Prolonger automatiquement à l'échéance",
            language: "Langue du message et de la page d'invitation",
            french: "Français",
            english: "Anglais",
            provider: "Fournisseur indirect",
            no_provider: "Sans fournisseur indirect",
            draft_title: "Brouillon de message électronique",
            draft_lead: "Relisez le message, modifiez-le si vous le souhaitez, puis envoyez-le à l'administrateur général du client : ouvrez-le dans votre messagerie, copiez-le, ou envoyez-le d'ici.",
            subject: "Objet",
            body: "Message",
            url_rule: "Le texte peut être modifié, mais le lien personnalisé doit y rester.",
            save: "Enregistrer",
            saved: "Enregistré.",
            open_mail: "Ouvrir dans la messagerie",
            copy: "Copier dans le Presse-papiers",
            copied: "Copié",
            send_to: "Adresse e-mail du client",
            send: "Envoyer",
            sent: "Mis en file d'envoi : partnerhub l'envoie maintenant et réessaie si le relais de messagerie est injoignable.",
            done: "Terminé",
            url_missing: "Le message doit contenir le lien personnalisé de l'invitation. Remettez-le, puis enregistrez.",
            not_pending: "Cette invitation a déjà reçu une réponse, a été révoquée ou a expiré : son brouillon ne peut plus être modifié ni envoyé.",
            list_title: "Invitations",
            none: "Aucune invitation pour l'instant.",
            state: "État",
            created: "Créée le",
            expires: "Expire le",
            accepted_by: "Acceptée par",
            link: "Lien",
            actions: "Actions",
            revoke: "Révoquer",
            edit_draft: "Brouillon de message électronique",
            bound_to: "Pour un client existant",
            open: "Nouveau client",
            kind: "Type",
            duration_col: "Durée des rôles",
            next_page: "Page suivante",
            total: "invitations",
            total_one: "invitation",
            summary: "Demandé",
            filter: "État",
            all: "Toutes",
            apply: "Afficher",
            unknown_customer: "Un client qui n'est plus dans votre liste",
        },
    }
}

/// The fields of an invitation form (roles, duration, language), shared by "New relationship"
/// and "Request a reseller relationship". `providers`: the indirect reseller's active
/// providers (a select), `None` for any other partner or a bound invitation.
pub(crate) fn invitation_form(p: &Portal, customer: Option<Uuid>, providers: Option<&[PartnerRef]>, error: Option<&str>) -> Markup {
    let w = words(p.lang);
    let (button_id, title) =
        if customer.is_some() { ("request-reseller", w.request_reseller) } else { ("new-relationship", w.new_relationship) };
    html! {
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        form.stack method="post" action="/invitations" id=(format!("{button_id}-form")) {
            input type="hidden" name="csrf" value=(p.form_token);
            @if let Some(c) = customer { input type="hidden" name="customer_id" value=(c); }
            @if let Some(list) = providers {
                label { (w.provider)
                    select name="indirect_provider_id" id="indirect-provider" {
                        option value="" { (w.no_provider) }
                        @for pr in list { option value=(pr.id.0) { (pr.name) " (" (pr.partner_id) ")" } }
                    }
                }
            }
            fieldset {
                legend { (w.roles) }
                @for r in DelegatedRole::ALL {
                    label.check {
                        input type="checkbox" name="roles" value=(r.as_str()) id=(format!("role-{}", r.as_str())) checked[DelegatedRole::DEFAULT.contains(&r)];
                        span { (i18n::delegated_role(p.lang, r)) }
                    }
                    @if r == DelegatedRole::GlobalAdmin { p.warning id="global-admin-warning" { (w.global_admin_warning) } }
                }
            }
            label { (w.duration) input type="number" name="duration_days" min="1" max="730" value="365" required; }
            label.check { input type="checkbox" name="auto_extend" value="true"; span { (w.auto_extend) } }
            label { (w.language)
                select name="locale" {
                    option value="fr" selected[p.lang == Locale::Fr] { (w.french) }
                    option value="en" selected[p.lang == Locale::En] { (w.english) }
                }
            }
            button type="submit" id=(button_id) name="create" { (title) }
        }
    }
}

/// The indirect reseller's active providers (for the select), `None` for other partners.
pub(crate) async fn active_providers(s: &AppState, p: &Portal) -> Option<Vec<PartnerRef>> {
    if p.principal().organization.partner_type != Some(PartnerType::IndirectReseller) {
        return None;
    }
    let links = every_page(|q| s.service.provider_links(&p.caller, LinkSide::Providers, q)).await.ok()?;
    Some(links.into_iter().filter(|l| l.state == "active").map(|l| l.partner).collect())
}

/// `/invitations/new`: the "New relationship" form on a page of its own.
async fn new_page(State(s): State<AppState>, portal: Portal) -> Response {
    let w = words(portal.lang);
    let providers = active_providers(&s, &portal).await;
    let body = html! { p { (w.new_relationship_lead) } (invitation_form(&portal, None, providers.as_deref(), None)) };
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.new_relationship, body))
}

fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim()).ok()
}

/// A form's fields as pairs (checkboxes repeat a name).
fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// POST `/invitations`: creates the invitation (bound when `customer_id` is given), then
/// shows its draft.
async fn create(State(s): State<AppState>, portal: Portal, Form(f): Form<Vec<(String, String)>>) -> Response {
    if let Err(r) = portal.check_form(&s.service, field(&f, "csrf").unwrap_or_default()) {
        return r;
    }
    let w = words(portal.lang);
    let customer = match field(&f, "customer_id").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match parse_uuid(v) {
            Some(id) => Some(id),
            None => return layout::error_page(portal.lang, ServiceError::NotFound),
        },
    };
    let provider = match field(&f, "indirect_provider_id").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match parse_uuid(v) {
            Some(id) => Some(OrganizationId(id)),
            None => return layout::error_page(portal.lang, ServiceError::NotFound),
        },
    };
    let roles: Vec<String> = f.iter().filter(|(k, _)| k == "roles").map(|(_, v)| v.clone()).collect();
    let duration = field(&f, "duration_days").map(|d| d.trim().parse::<i64>().unwrap_or(0));
    let input = NewInvitationInput {
        customer_id: customer.map(OrganizationId),
        indirect_provider_id: provider,
        roles: Some(roles),
        duration_days: duration,
        auto_extend: Some(field(&f, "auto_extend") == Some("true")),
        expires_in_days: None,
        locale: field(&f, "locale").map(str::to_owned),
    };
    match s.service.create_invitation(&portal.caller, input).await {
        Ok(v) => Redirect::to(&format!("/invitations/{}/draft", v.invitation.id.0)).into_response(),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            let providers = if customer.is_none() { active_providers(&s, &portal).await } else { None };
            let title = if customer.is_some() { w.request_reseller } else { w.new_relationship };
            html_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(portal.lang, Some(&portal), title, invitation_form(&portal, customer, providers.as_deref(), Some(&msg))),
            )
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

#[derive(Deserialize)]
struct DraftQuery {
    saved: Option<String>,
    sent: Option<String>,
}

fn draft_body(
    p: &Portal,
    v: &InvitationView,
    subject: &str,
    body: &str,
    can_send: bool,
    note: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let w = words(p.lang);
    let id = v.invitation.id.0;
    let lang = v.invitation.locale.as_str();
    html! {
        p { (w.draft_lead) }
        p id="invitation-terms" {
            strong { (w.summary) } " "
            @for (i, r) in v.invitation.roles.iter().enumerate() { @if i > 0 { ", " } (i18n::delegated_role(p.lang, *r)) }
            " · " (i18n::days(p.lang, v.invitation.duration_days)) " · " (w.expires) " " (i18n::date(p.lang, v.invitation.expires_at))
        }
        @if v.invitation.roles.contains(&DelegatedRole::GlobalAdmin) { p.warning { (w.global_admin_warning) } }
        @if let Some(n) = note { p.ok role="status" { (n) } }
        @if let Some(e) = error { p.errors role="alert" id="draft-error" { (e) } }
        @if let Some(url) = &v.url {
            p { strong { (w.link) } " " code id="invitation-url" { (url) } " "
                button.secondary type="button" data-copy="invitation-url" data-copied-label=(w.copied) { (w.copy) } }
        }
        p.notice { (w.url_rule) }
        form.stack method="post" action=(format!("/invitations/{id}/draft")) id="draft-form" {
            input type="hidden" name="csrf" value=(p.form_token);
            label { (w.subject) input type="text" name="subject" id="draft-subject" value=(subject) lang=(lang) required maxlength="200"; }
            label { (w.body) textarea name="body" id="draft-body" lang=(lang) required { (body) } }
            div.actions {
                button type="submit" id="save-draft" name="save" { (w.save) }
                @if let Some(m) = &v.mailto { a.button.secondary href=(m) id="open-mail" { (w.open_mail) } }
                button.secondary type="button" id="copy-draft" data-copy="draft-body" data-copied-label=(w.copied) { (w.copy) }
                a.button.secondary href="/invitations" id="done" { (w.done) }
            }
        }
        @if can_send {
            form.stack method="post" action=(format!("/invitations/{id}/send")) id="send-form" {
                input type="hidden" name="csrf" value=(p.form_token);
                label { (w.send_to) input type="email" name="to" required autocomplete="email"; }
                button type="submit" id="send" name="send" { (w.send) }
            }
        }
    }
}

async fn load(s: &AppState, p: &Portal, id: &str) -> Result<InvitationView, Response> {
    let Some(id) = parse_uuid(id) else { return Err(layout::error_page(p.lang, ServiceError::NotFound)) };
    s.service.invitation(&p.caller, InvitationId(id)).await.map_err(|e| layout::error_page(p.lang, e))
}

/// `/invitations/{id}/draft`: the draft, editable, while the invitation is pending.
async fn draft_page(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Query(q): Query<DraftQuery>) -> Response {
    let w = words(portal.lang);
    let v = match load(&s, &portal, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if v.state != InvitationState::Pending {
        let body = html! { p.notice { (w.not_pending) } p { a.button href="/invitations" id="done" { (w.done) } } };
        return html_response(StatusCode::CONFLICT, page(portal.lang, Some(&portal), w.draft_title, body));
    }
    let note = if q.sent.is_some() {
        Some(w.sent)
    } else if q.saved.is_some() {
        Some(w.saved)
    } else {
        None
    };
    let (subject, body) = (v.invitation.email_subject.clone(), v.invitation.email_body.clone());
    let markup = draft_body(&portal, &v, &subject, &body, s.service.email_configured(), note, None);
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.draft_title, markup))
}

#[derive(Deserialize)]
struct DraftForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

/// Saves an edited draft; without the link, the service refuses and the page says why,
/// keeping the reader's text.
async fn save_draft(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<DraftForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    let v = match load(&s, &portal, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = f.body.replace("\r\n", "\n");
    let error = match s.service.save_invitation_email(&portal.caller, v.invitation.id, &f.subject, &body).await {
        Ok(_) => return Redirect::to(&format!("/invitations/{}/draft?saved=1", v.invitation.id.0)).into_response(),
        Err(ServiceError::UrlMissingFromEmail) => w.url_missing.to_owned(),
        Err(ServiceError::Validation(e)) => super::i18n::invalid(portal.lang, &e),
        Err(ServiceError::InvitationNotPending) => w.not_pending.to_owned(),
        Err(e) => return layout::error_page(portal.lang, e),
    };
    let markup = draft_body(&portal, &v, &f.subject, &body, s.service.email_configured(), None, Some(&error));
    html_response(StatusCode::UNPROCESSABLE_ENTITY, page(portal.lang, Some(&portal), w.draft_title, markup))
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

async fn send(
    State(s): State<AppState>,
    portal: Portal,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Form(f): Form<SendForm>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    let v = match load(&s, &portal, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = s.service.admit(Limited::InvitationSend, &portal.caller, &ip).await {
        return layout::error_page(portal.lang, e);
    }
    match s.service.send_invitation(&portal.caller, v.invitation.id, &f.to).await {
        Ok(()) => Redirect::to(&format!("/invitations/{}/draft?sent=1", v.invitation.id.0)).into_response(),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            let (subject, body) = (v.invitation.email_subject.clone(), v.invitation.email_body.clone());
            let markup = draft_body(&portal, &v, &subject, &body, s.service.email_configured(), None, Some(&msg));
            html_response(StatusCode::UNPROCESSABLE_ENTITY, page(portal.lang, Some(&portal), w.draft_title, markup))
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn revoke(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Some(id) = parse_uuid(&id) else { return layout::error_page(portal.lang, ServiceError::NotFound) };
    match s.service.revoke_invitation(&portal.caller, InvitationId(id)).await {
        Ok(_) => Redirect::to("/invitations").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// `/invitations`: newest first, with the link again while pending.
async fn list(State(s): State<AppState>, portal: Portal, Query(q): Query<ListQuery>) -> Response {
    let w = words(portal.lang);
    let l = portal.lang;
    let state = q.state.as_deref().and_then(InvitationState::parse);
    let limit = q.limit.as_deref().and_then(|v| v.parse::<i64>().ok()).filter(|n| (1..=500).contains(n)).unwrap_or(50);
    let cursor = q.cursor.filter(|c| !c.is_empty() && c.len() <= 512);
    let page_of = match s.service.list_invitations(&portal.caller, state, limit, cursor.as_deref()).await {
        Ok(p) => p,
        Err(ServiceError::Validation(_)) => match s.service.list_invitations(&portal.caller, state, limit, None).await {
            Ok(p) => p,
            Err(e) => return layout::error_page(l, e),
        },
        Err(e) => return layout::error_page(l, e),
    };
    // Who accepted: the customer's name while it is in the caller's list.
    let mut accepted_names = Vec::new();
    for v in &page_of.items {
        let name = match v.invitation.accepted_by {
            Some(c) if v.state == InvitationState::Accepted => {
                Some(s.service.customer(&portal.caller, c).await.map(|d| d.summary.name).unwrap_or_else(|_| w.unknown_customer.to_owned()))
            }
            _ => None,
        };
        accepted_names.push(name);
    }
    let states = [
        InvitationState::Pending,
        InvitationState::Accepted,
        InvitationState::Declined,
        InvitationState::Revoked,
        InvitationState::Expired,
    ];
    let body = html! {
        p.actions { a.button href="/invitations/new" id="new-relationship-link" { (w.new_relationship) } }
        form.inline method="get" action="/invitations" {
            label { (w.filter)
                select name="state" {
                    option value="" { (w.all) }
                    @for st in states { option value=(st.as_str()) selected[state == Some(st)] { (i18n::invitation_state(l, st)) } }
                }
            }
            " " button.secondary type="submit" { (w.apply) }
        }
        p.muted id="invitation-count" { (page_of.total) " " (if page_of.total == 1 { w.total_one } else { w.total }) }
        @if page_of.items.is_empty() {
            p { (w.none) }
        } @else {
            table {
                thead { tr { th { (w.kind) } th { (w.state) } th { (w.duration_col) } th { (w.created) } th { (w.expires) } th { (w.accepted_by) } th { (w.link) } th { (w.actions) } } }
                tbody {
                    @for (v, accepted) in page_of.items.iter().zip(&accepted_names) {
                        @let id = v.invitation.id.0;
                        tr id=(format!("invitation-{id}")) {
                            td { @if v.invitation.customer_id.is_some() { (w.bound_to) } @else { (w.open) } }
                            td { (i18n::invitation_state(l, v.state)) }
                            td { (i18n::days(l, v.invitation.duration_days)) }
                            td { (i18n::date_time(l, v.invitation.created_at)) }
                            td { (i18n::date(l, v.invitation.expires_at)) }
                            td { @if let Some(n) = accepted { (n) } }
                            td {
                                @if let Some(url) = &v.url {
                                    code id=(format!("url-{id}")) { (url) } " "
                                    button.secondary type="button" data-copy=(format!("url-{id}")) data-copied-label=(w.copied) { (w.copy) }
                                }
                            }
                            td {
                                @if v.state == InvitationState::Pending {
                                    a href=(format!("/invitations/{id}/draft")) { (w.edit_draft) } " "
                                    form.inline method="post" action=(format!("/invitations/{id}/revoke")) {
                                        input type="hidden" name="csrf" value=(portal.form_token);
                                        button.danger type="submit" name="revoke" id=(format!("revoke-{id}")) { (w.revoke) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = &page_of.next_cursor {
                p { a href=(format!("/invitations?cursor={}&limit={limit}{}", super::session::urlencode(c), state.map(|s| format!("&state={}", s.as_str())).unwrap_or_default())) { (w.next_page) } }
            }
        }
    };
    html_response(StatusCode::OK, page(l, Some(&portal), w.list_title, body))
}

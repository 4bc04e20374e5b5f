//! `/account/security`: the password (a link to its page), the reader's sessions with "end this
//! session" (this one marked), and TOTP: enrol (the otpauth URI and the base32 secret as text),
//! confirm with a code (the recovery codes shown once), remove with a code. A user held by
//! `--require-mfa` reaches this page and nothing else (see `session`).

use super::extract::{Form, Path};
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
use partnerhub_domain::{Locale, SessionId};
use partnerhub_service::ServiceError;
use partnerhub_store::PageQuery;
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/security", get(show))
        .route("/account/security/sessions/{id}/end", post(end_session))
        .route("/account/security/totp", post(start_totp))
        .route("/account/security/totp/confirm", post(confirm_totp))
        .route("/account/security/totp/remove", post(remove_totp))
}

struct Words {
    title: &'static str,
    held: &'static str,
    password: &'static str,
    password_lead: &'static str,
    change_password: &'static str,
    sessions: &'static str,
    sessions_lead: &'static str,
    opened: &'static str,
    expires: &'static str,
    this_one: &'static str,
    end: &'static str,
    sessions_after_enrolment: &'static str,
    totp: &'static str,
    totp_off: &'static str,
    totp_pending: &'static str,
    totp_on: &'static str,
    start: &'static str,
    restart: &'static str,
    enrol_title: &'static str,
    enrol_lead: &'static str,
    secret: &'static str,
    uri: &'static str,
    copy: &'static str,
    copied: &'static str,
    code: &'static str,
    confirm: &'static str,
    codes_title: &'static str,
    codes_lead: &'static str,
    done: &'static str,
    remove_code: &'static str,
    remove: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Security",
            held: "Your organization requires a second factor for your roles: set up an authenticator app below before anything else.",
            password: "Password",
            password_lead: "Change the password you sign in with.",
            change_password: "Change the password",
            sessions: "Sessions",
            sessions_lead: "Where you are signed in. Ending a session signs that device out.",
            opened: "Opened",
            expires: "Expires",
            this_one: "This session",
            end: "End this session",
            sessions_after_enrolment: "Your sessions are listed here once the second factor is set up.",
            totp: "Two-step verification (authenticator app)",
            totp_off: "Not set up: signing in asks only for your password.",
            totp_pending: "Set-up started but not confirmed: enter a code from your app, or start again.",
            totp_on: "Active: signing in asks for a code from your authenticator app.",
            start: "Set up an authenticator app",
            restart: "Start again",
            enrol_title: "Set up an authenticator app",
            enrol_lead: "Add an account to your authenticator app with this secret (or this otpauth link), then enter the 6-digit code it shows.",
            secret: "Secret key",
            uri: "otpauth link",
            copy: "Copy",
            copied: "Copied",
            code: "6-digit code",
            confirm: "Confirm",
            codes_title: "Your recovery codes",
            codes_lead: "Two-step verification is active. Keep these recovery codes somewhere safe: each one signs you in once without your app. They are shown only this once.",
            done: "Done",
            remove_code: "A current code from your app, or an unused recovery code",
            remove: "Turn off two-step verification",
        },
        Locale::Fr => &Words {
            title: "Sécurité",
            held: "Votre organisation exige un second facteur pour vos rôles : configurez une application d'authentification ci-dessous avant toute autre chose.",
            password: "Mot de passe",
            password_lead: "Changez le mot de passe avec lequel vous vous connectez.",
            change_password: "Changer le mot de passe",
            sessions: "Sessions",
            sessions_lead: "Là où vous êtes connecté. Mettre fin à une session déconnecte cet appareil.",
            opened: "Ouverte le",
            expires: "Expire le",
            this_one: "Cette session",
            end: "Mettre fin à cette session",
            sessions_after_enrolment: "Vos sessions s'afficheront ici une fois le second facteur configuré.",
            totp: "Vérification en deux étapes (application d'authentification)",
            totp_off: "Non configurée : la connexion ne demande que votre mot de passe.",
            totp_pending: "Configuration commencée mais non confirmée : saisissez un code de votre application, ou recommencez.",
            totp_on: "Active : la connexion demande un code de votre application d'authentification.",
            start: "Configurer une application d'authentification",
            restart: "Recommencer",
            enrol_title: "Configurer une application d'authentification",
            enrol_lead: "Ajoutez un compte dans votre application d'authentification avec cette clé secrète (ou ce lien otpauth), puis saisissez le code à 6 chiffres qu'elle affiche.",
            secret: "Clé secrète",
            uri: "Lien otpauth",
            copy: "Copier",
            copied: "Copié",
            code: "Code à 6 chiffres",
            confirm: "Confirmer",
            codes_title: "Vos codes de récupération",
            codes_lead: "La vérification en deux étapes est active. Gardez ces codes de récupération en lieu sûr : chacun permet une connexion sans votre application. Ils ne sont affichés qu'une fois.",
            done: "Terminé",
            remove_code: "Un code actuel de votre application, ou un code de récupération inutilisé",
            remove: "Désactiver la vérification en deux étapes",
        },
    }
}

fn confirm_form(p: &Portal, error: Option<&str>) -> Markup {
    let w = words(p.lang);
    html! {
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        form.stack method="post" action="/account/security/totp/confirm" {
            input type="hidden" name="csrf" value=(p.form_token);
            label { (w.code) input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="16"; }
            button type="submit" id="totp-confirm" { (w.confirm) }
        }
    }
}

async fn render(s: &AppState, p: &Portal, status: StatusCode, totp_error: Option<&str>) -> Response {
    let w = words(p.lang);
    let held = p.principal().user.mfa_enrollment_required;
    let sessions = if held {
        None
    } else {
        // At most ten (`MAX_SESSIONS_PER_USER`): one page holds them.
        match s.service.list_sessions(&p.caller, PageQuery::first(PageQuery::MAX_LIMIT)).await {
            Ok((page, current)) => Some((page.items, current)),
            Err(e) => return layout::error_page(p.lang, e),
        }
    };
    let totp = match s.service.totp_state(&p.caller).await {
        Ok(t) => t,
        Err(e) => return layout::error_page(p.lang, e),
    };
    let body = html! {
        @if held { p.warning role="alert" { (w.held) } }
        section.card id="totp" {
            h2 { (w.totp) }
            @match totp {
                None => {
                    p { (w.totp_off) }
                    form.inline method="post" action="/account/security/totp" {
                        input type="hidden" name="csrf" value=(p.form_token);
                        button type="submit" id="totp-start" { (w.start) }
                    }
                }
                Some(false) => {
                    p { (w.totp_pending) }
                    (confirm_form(p, totp_error))
                    form.inline method="post" action="/account/security/totp" {
                        input type="hidden" name="csrf" value=(p.form_token);
                        button.secondary type="submit" id="totp-start" { (w.restart) }
                    }
                }
                Some(true) => {
                    p.ok { (w.totp_on) }
                    @if let Some(e) = totp_error { p.errors role="alert" { (e) } }
                    form.stack method="post" action="/account/security/totp/remove" {
                        input type="hidden" name="csrf" value=(p.form_token);
                        label { (w.remove_code) input type="text" name="code" autocomplete="one-time-code" required maxlength="32"; }
                        button.danger type="submit" id="totp-remove" { (w.remove) }
                    }
                }
            }
        }
        section.card id="password" {
            h2 { (w.password) }
            p { (w.password_lead) }
            p { a href="/account/password" id="change-password" { (w.change_password) } }
        }
        section.card id="sessions" {
            h2 { (w.sessions) }
            @match &sessions {
                None => p.muted { (w.sessions_after_enrolment) },
                Some((list, current)) => {
                    p { (w.sessions_lead) }
                    table {
                        thead { tr { th { (w.opened) } th { (w.expires) } th {} } }
                        tbody {
                            @for x in list {
                                tr id=(format!("session-{}", x.id.0)) {
                                    td data-label=(w.opened) { (i18n::date_time(p.lang, x.created_at)) }
                                    td data-label=(w.expires) { (i18n::date_time(p.lang, x.expires_at)) }
                                    td {
                                        @if x.id == *current { strong { (w.this_one) } } @else {
                                            form.inline method="post" action=(format!("/account/security/sessions/{}/end", x.id.0)) {
                                                input type="hidden" name="csrf" value=(p.form_token);
                                                button.secondary type="submit" name="end-session" { (w.end) }
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
    };
    html_response(status, page(p.lang, Some(p), w.title, body))
}

async fn show(State(s): State<AppState>, portal: Portal) -> Response {
    render(&s, &portal, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn end_session(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else { return layout::error_page(portal.lang, ServiceError::NotFound) };
    match s.service.end_session(&portal.caller, SessionId(id)).await {
        Ok(()) => Redirect::to("/account/security").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

/// Starts (or restarts) an enrolment and shows the secret: this answer is the only place it
/// is ever shown, so it is not a redirect.
async fn start_totp(State(s): State<AppState>, portal: Portal, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    let e = match s.service.start_totp(&portal.caller).await {
        Ok(e) => e,
        Err(ServiceError::Conflict(_)) => return Redirect::to("/account/security").into_response(),
        Err(e) => return layout::error_page(portal.lang, e),
    };
    let body = html! {
        p { (w.enrol_lead) }
        label { (w.secret) input id="totp-secret" type="text" readonly value=(e.secret) autocomplete="off" spellcheck="false"; }
        p.actions { button type="button" data-copy="totp-secret" data-copied-label=(w.copied) { (w.copy) } }
        p { a id="totp-uri" href=(e.otpauth_uri) { (w.uri) } }
        p.muted { code { (e.otpauth_uri) } }
        (confirm_form(&portal, None))
    };
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.enrol_title, body))
}

async fn confirm_totp(State(s): State<AppState>, portal: Portal, Form(f): Form<CodeForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    match s.service.confirm_totp(&portal.caller, f.code.trim()).await {
        Ok(codes) => {
            let body = html! {
                p.notice { (w.codes_lead) }
                ul id="recovery-codes" { @for c in &codes { li { code { (c) } } } }
                p.actions { a href="/account/security" id="totp-done" { (w.done) } }
            };
            html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.codes_title, body))
        }
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            render(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg)).await
        }
        Err(ServiceError::Conflict(_)) => Redirect::to("/account/security").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn remove_totp(State(s): State<AppState>, portal: Portal, Form(f): Form<CodeForm>) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    match s.service.remove_totp(&portal.caller, f.code.trim()).await {
        Ok(()) => Redirect::to("/account/security").into_response(),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            render(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg)).await
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

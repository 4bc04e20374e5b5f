//! The page behind every invitation URL (screen 7). `GET /invite/{token}` shows exactly what
//! an answer would accept — who asks (name, partner id, domain), its indirect provider, the
//! roles in words (a warning when global admin is asked), for how long, until when — and
//! changes nothing, because mail scanners open every link. It speaks the invitation's
//! language unless the reader switched.
//!
//! Three ways to answer, none leaving a throw-away session behind:
//! - already signed in to the portal as the customer: Accept / Decline with the session's
//!   form token;
//! - the customer global admin's e-mail and password (and TOTP code): checked as sign-in
//!   checks them and answered in one call (`Service::answer_with_credentials`);
//! - sign up as the new customer's global admin right there (the same service call as
//!   `POST /api/v1/signup`), then accept with the new credentials.
//!
//! Without a session, the form carries a double-submit value bound to the link (a
//! SameSite=Strict cookie, hashed with the token).

use super::extract::{Form, Path, Query};
use super::i18n::{self, LANG_COOKIE};
use super::layout::{self, html_response, page};
use super::session::{self, Portal};
use crate::AppState;
use crate::extract::ClientIp;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use partnerhub_domain::{DelegatedRole, InvitationState, Locale, OrgKind};
use partnerhub_service::{Caller, Limited, ServiceError, SignupInput, hash_token};
use partnerhub_store::InvitationForCustomer;
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/invite/{token}", get(show_invitation).post(answer_invitation))
}

const CSRF_COOKIE: &str = "ph_invite_csrf";

struct Words {
    title: &'static str,
    asks: &'static str,
    partner_id: &'static str,
    domain: &'static str,
    with_provider: &'static str,
    roles: &'static str,
    global_admin_warning: &'static str,
    duration: &'static str,
    expires: &'static str,
    signed_in_as: &'static str,
    not_you: &'static str,
    sign_in_title: &'static str,
    sign_in: &'static str,
    email: &'static str,
    password: &'static str,
    totp: &'static str,
    totp_hint: &'static str,
    accept: &'static str,
    decline: &'static str,
    sign_up_title: &'static str,
    sign_up: &'static str,
    org_name: &'static str,
    org_domain: &'static str,
    display_name: &'static str,
    new_password: &'static str,
    sign_up_accept: &'static str,
    wrong: &'static str,
    invalid_link: &'static str,
    expired: &'static str,
    used: &'static str,
    ask_new: &'static str,
    accepted: &'static str,
    declined: &'static str,
    see_partners: &'static str,
    not_admin: &'static str,
    wrong_customer: &'static str,
    relationship_exists: &'static str,
    temporary_password: &'static str,
    form_expired: &'static str,
    signed_up_not_answered: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Reseller relationship invitation",
            asks: "invites your organization to a reseller relationship.",
            partner_id: "Partner ID",
            domain: "domain",
            with_provider: "Together with its indirect provider:",
            roles: "Delegated administrator roles asked",
            global_admin_warning: "The global administrator role gives the partner full control of your organization: every user, license, subscription and setting. Accept only if you trust this partner with that.",
            duration: "For",
            expires: "This invitation expires on",
            signed_in_as: "Signed in as",
            not_you: "Not the right account? Sign out, then open this link again.",
            sign_in_title: "Answer as a global administrator of your organization",
            sign_in: "Already a partnerhub customer: a global administrator of your organization answers with its e-mail and password. No session is opened.",
            email: "E-mail",
            password: "Password",
            totp: "Code from your authenticator app (if your account has one)",
            totp_hint: "Your account asks for a second factor: enter the code your authenticator app shows, with your password again.",
            accept: "Accept",
            decline: "Decline",
            sign_up_title: "New to partnerhub: create your organization's account",
            sign_up: "You become the global administrator of your organization's account, then the invitation is accepted.",
            org_name: "Organization name",
            org_domain: "Organization domain (such as contoso.com)",
            display_name: "Your name",
            new_password: "Password (at least 12 characters, hard to guess)",
            sign_up_accept: "Create the account and accept",
            wrong: "The e-mail, the password or the code is wrong.",
            invalid_link: "This invitation link is not valid. Check that you copied it whole, or ask the partner for a new one.",
            expired: "This invitation has expired.",
            used: "This invitation can no longer be answered. Its state:",
            ask_new: "Ask the partner for a new invitation.",
            accepted: "Accepted. The partner now appears among your partners, with the roles above.",
            declined: "Declined. Nothing was granted.",
            see_partners: "See your partners",
            not_admin: "Only a global administrator of a customer organization may answer an invitation.",
            wrong_customer: "This invitation is meant for another organization.",
            relationship_exists: "Your organization already has a relationship with this partner.",
            temporary_password: "Your password is a temporary one: sign in to partnerhub and change it, then open this link again.",
            form_expired: "The form expired or did not come from this page. Open the link again.",
            signed_up_not_answered: "Your account was created, but the invitation could not be answered:",
        },
        Locale::Fr => &Words {
            title: "Invitation à une relation de revendeur",
            asks: "invite votre organisation à établir une relation de revendeur.",
            partner_id: "ID partenaire",
            domain: "domaine",
            with_provider: "Avec son fournisseur indirect :",
            roles: "Rôles d'administrateur délégué demandés",
            global_admin_warning: "Le rôle d'administrateur général donne au partenaire le contrôle complet de votre organisation : tous les utilisateurs, licences, abonnements et paramètres. N'acceptez que si vous lui faites confiance pour cela.",
            duration: "Pour",
            expires: "Cette invitation expire le",
            signed_in_as: "Connecté en tant que",
            not_you: "Ce n'est pas le bon compte ? Déconnectez-vous, puis rouvrez ce lien.",
            sign_in_title: "Répondre en tant qu'administrateur général de votre organisation",
            sign_in: "Déjà client de partnerhub : un administrateur général de votre organisation répond avec son adresse e-mail et son mot de passe. Aucune session n'est ouverte.",
            email: "Adresse e-mail",
            password: "Mot de passe",
            totp: "Code de votre application d'authentification (si votre compte en a une)",
            totp_hint: "Votre compte demande un second facteur : saisissez le code affiché par votre application d'authentification, avec votre mot de passe.",
            accept: "Accepter",
            decline: "Refuser",
            sign_up_title: "Nouveau sur partnerhub : créez le compte de votre organisation",
            sign_up: "Vous devenez l'administrateur général du compte de votre organisation, puis l'invitation est acceptée.",
            org_name: "Nom de l'organisation",
            org_domain: "Domaine de l'organisation (par exemple contoso.com)",
            display_name: "Votre nom",
            new_password: "Mot de passe (12 caractères au moins, difficile à deviner)",
            sign_up_accept: "Créer le compte et accepter",
            wrong: "L'adresse e-mail, le mot de passe ou le code est incorrect.",
            invalid_link: "Ce lien d'invitation n'est pas valide. Vérifiez qu'il a été copié en entier, ou demandez-en un nouveau au partenaire.",
            expired: "Cette invitation a expiré.",
            used: "Il n'est plus possible de répondre à cette invitation. Son état :",
            ask_new: "Demandez une nouvelle invitation au partenaire.",
            accepted: "Acceptée. Le partenaire figure désormais parmi vos partenaires, avec les rôles ci-dessus.",
            declined: "Refusée. Aucune autorisation n'a été accordée.",
            see_partners: "Voir vos partenaires",
            not_admin: "Seul un administrateur général d'une organisation cliente peut répondre à une invitation.",
            wrong_customer: "Cette invitation est destinée à une autre organisation.",
            relationship_exists: "Votre organisation a déjà une relation avec ce partenaire.",
            temporary_password: "Votre mot de passe est temporaire : connectez-vous à partnerhub pour le changer, puis rouvrez ce lien.",
            form_expired: "Le formulaire a expiré ou ne vient pas de cette page. Rouvrez le lien.",
            signed_up_not_answered: "Votre compte a été créé, mais il n'a pas été possible de répondre à l'invitation :",
        },
    }
}

/// The reader's language here: the switch's choice if made, else the invitation's.
fn lang_for(headers: &HeaderMap, invitation: Locale) -> Locale {
    session::cookie(headers, LANG_COOKIE).and_then(|v| i18n::parse(&v)).unwrap_or(invitation)
}

/// The CSRF value for this browser and this invitation: random per browser (cookie), bound to
/// the link by hashing both.
fn csrf_for(cookie: &str, token: &str) -> String {
    hex(&hash_token(&format!("{cookie}:{token}")))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    session::cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A portal session of a customer user, if the reader has one (with its token for the form).
async fn customer_session(s: &AppState, headers: &HeaderMap, lang: Locale) -> Option<Portal> {
    let token = session::cookie(headers, session::session_cookie_name(&s.service)).filter(|t| !t.is_empty() && t.len() <= 128)?;
    match s.service.authenticate(&token).await {
        Ok(caller @ Caller::User(_)) => {
            let form_token = s.service.form_token(&token);
            let p = Portal { caller, token, form_token, lang };
            (p.principal().organization.kind == OrgKind::Customer).then_some(p)
        }
        _ => None,
    }
}

/// What the reader typed, given back after a refusal (never the passwords).
#[derive(Default)]
struct Typed<'a> {
    email: &'a str,
    org_name: &'a str,
    domain: &'a str,
    display_name: &'a str,
    signup_email: &'a str,
}

struct View<'a> {
    lang: Locale,
    token: &'a str,
    found: &'a InvitationForCustomer,
    state: InvitationState,
    csrf: &'a str,
    portal: Option<&'a Portal>,
    error: Option<String>,
    ask_totp: bool,
    done: Option<&'static str>,
    typed: Typed<'a>,
}

fn render(v: &View) -> Markup {
    let w = words(v.lang);
    let l = v.lang;
    let inv = &v.found.invitation;
    let action = format!("/invite/{}", v.token);
    html! {
        div.card {
            p { strong { (v.found.partner.name) } " (" (w.partner_id) " " (v.found.partner.partner_id) ", " (w.domain) " " (v.found.partner.domain) ") " (w.asks) }
            @if let Some(p) = &v.found.provider {
                p { (w.with_provider) " " strong { (p.name) } " (" (w.partner_id) " " (p.partner_id) ", " (w.domain) " " (p.domain) ")" }
            }
            p { (w.roles) " :" }
            ul id="roles" { @for r in &inv.roles { li { (i18n::delegated_role(l, *r)) } } }
            @if inv.roles.contains(&DelegatedRole::GlobalAdmin) { p.warning role="note" { (w.global_admin_warning) } }
            p { (w.duration) " " (i18n::days(l, inv.duration_days)) "." }
            @if v.state == InvitationState::Pending { p { (w.expires) " " (i18n::date(l, inv.expires_at)) "." } }
        }
        @if let Some(e) = &v.error { p.errors role="alert" { (e) } }
        @if let Some(done) = v.done {
            p.ok role="status" { (done) }
            p { a id="see-partners" href="/partners" { (w.see_partners) } }
        } @else if v.state == InvitationState::Expired {
            p.warning role="alert" { (w.expired) " " (w.ask_new) }
        } @else if v.state != InvitationState::Pending {
            p.warning role="alert" { (w.used) " " strong { (i18n::invitation_state(l, v.state)) } ". " (w.ask_new) }
        } @else if let Some(p) = v.portal {
            form.stack id="answer" method="post" action=(action) {
                p { (w.signed_in_as) " " strong { (p.principal().user.display_name) } " · " (p.principal().organization.name) }
                input type="hidden" name="csrf" value=(p.form_token);
                input type="hidden" name="mode" value="session";
                p.actions {
                    button id="accept" type="submit" name="decision" value="accept" { (w.accept) }
                    button.secondary id="decline" type="submit" name="decision" value="decline" { (w.decline) }
                }
                p.muted { (w.not_you) }
            }
        } @else {
            section {
                h2 { (w.sign_in_title) }
                @if v.ask_totp { p.notice { (w.totp_hint) } }
                form.stack id="answer" method="post" action=(action) {
                    p { (w.sign_in) }
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="sign_in";
                    label { (w.email) input type="email" name="email" value=(v.typed.email) required autocomplete="username"; }
                    label { (w.password) input type="password" name="password" required autocomplete="current-password"; }
                    label { (w.totp) input type="text" name="totp" inputmode="numeric" autocomplete="one-time-code" required[v.ask_totp]; }
                    p.actions {
                        button id="accept" type="submit" name="decision" value="accept" { (w.accept) }
                        button.secondary id="decline" type="submit" name="decision" value="decline" { (w.decline) }
                    }
                }
            }
            section {
                h2 { (w.sign_up_title) }
                form.stack id="sign-up" method="post" action=(action) {
                    p { (w.sign_up) }
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="sign_up";
                    label { (w.org_name) input type="text" name="org_name" value=(v.typed.org_name) required autocomplete="organization"; }
                    label { (w.org_domain) input type="text" name="domain" value=(v.typed.domain) required; }
                    label { (w.display_name) input type="text" name="display_name" value=(v.typed.display_name) required autocomplete="name"; }
                    label { (w.email) input type="email" name="email" value=(v.typed.signup_email) required autocomplete="email"; }
                    label { (w.new_password) input type="password" name="password" required minlength="12" autocomplete="new-password"; }
                    p.actions { button id="sign-up-accept" type="submit" name="decision" value="accept" { (w.sign_up_accept) } }
                }
            }
        }
    }
}

/// The status of the page: 410 once the link can no longer be answered.
fn status_of(state: InvitationState, done: bool) -> StatusCode {
    if state == InvitationState::Pending || done { StatusCode::OK } else { StatusCode::GONE }
}

/// Sends the page, with the double-submit cookie when the reader has no session.
fn respond(status: StatusCode, v: &View, cookie: Option<&str>) -> Response {
    let mut res = html_response(status, page(v.lang, v.portal, words(v.lang).title, render(v)));
    if let Some(c) = cookie {
        let set = format!("{CSRF_COOKIE}={c}; Path=/invite; HttpOnly; SameSite=Strict; Max-Age=3600");
        if let Ok(h) = HeaderValue::from_str(&set) {
            res.headers_mut().append(header::SET_COOKIE, h);
        }
    }
    res
}

/// A link that finds no invitation (or too many such attempts).
fn lookup_failed(headers: &HeaderMap, e: ServiceError) -> Response {
    let lang = i18n::negotiate(headers);
    match e {
        ServiceError::NotFound => layout::message_page(lang, StatusCode::NOT_FOUND, words(lang).invalid_link),
        other => layout::error_page(lang, other),
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn show_invitation(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Query(q): Query<DoneQuery>,
    headers: HeaderMap,
) -> Response {
    let (found, state) = match s.service.preview_invitation(&token, &ip).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&headers, e),
    };
    let lang = lang_for(&headers, found.invitation.locale);
    let w = words(lang);
    let portal = customer_session(&s, &headers, lang).await;
    let cookie = csrf_cookie(&headers).unwrap_or_else(|| hex(&hash_token(&uuid::Uuid::new_v4().to_string())));
    let csrf = csrf_for(&cookie, &token);
    // After the POST: the outcome, only when the invitation is indeed in that state.
    let done = match (q.done.as_deref(), state) {
        (Some("accepted"), InvitationState::Accepted) => Some(w.accepted),
        (Some("declined"), InvitationState::Declined) => Some(w.declined),
        _ => None,
    };
    let v = View {
        lang,
        token: &token,
        found: &found,
        state,
        csrf: &csrf,
        portal: portal.as_ref(),
        error: None,
        ask_totp: false,
        done,
        typed: Typed::default(),
    };
    respond(status_of(state, done.is_some()), &v, portal.is_none().then_some(cookie.as_str()))
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    decision: String,
}

async fn answer_invitation(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AnswerForm>,
) -> Response {
    let (found, state) = match s.service.preview_invitation(&token, &ip).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&headers, e),
    };
    let lang = lang_for(&headers, found.invitation.locale);
    let w = words(lang);
    let accept = match f.decision.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return layout::message_page(lang, StatusCode::UNPROCESSABLE_ENTITY, layout::words(lang).invalid),
    };
    let portal = if f.mode == "session" { customer_session(&s, &headers, lang).await } else { None };
    // The form token: the session's when answering in it, else the double submit.
    let csrf_ok = match (&portal, f.mode.as_str()) {
        (Some(p), _) => s.service.form_token_matches(&p.token, &f.csrf),
        // (A form without `mode` is the credentials form.)
        (None, "" | "sign_in" | "sign_up") => csrf_cookie(&headers).is_some_and(|c| bool_eq(&csrf_for(&c, &token), &f.csrf)),
        _ => false,
    };
    if !csrf_ok {
        return layout::message_page(lang, StatusCode::FORBIDDEN, w.form_expired);
    }
    let totp = Some(f.totp.trim()).filter(|t| !t.is_empty());
    let mut signed_up = false;
    let outcome = match (&portal, f.mode.as_str()) {
        (Some(p), _) => {
            if accept {
                s.service.accept_invitation(&p.caller, &token, &ip).await.map(|_| ())
            } else {
                s.service.decline_invitation(&p.caller, &token, &ip).await
            }
        }
        (None, "sign_up") => {
            let created = async {
                s.service.admit(Limited::SignUp, &Caller::Anonymous, &ip).await?;
                s.service
                    .signup(SignupInput {
                        name: f.org_name.clone(),
                        domain: f.domain.clone(),
                        admin_email: f.email.clone(),
                        admin_display_name: f.display_name.clone(),
                        admin_password: f.password.clone(),
                    })
                    .await
            }
            .await;
            match created {
                Ok(_) => {
                    signed_up = true;
                    s.service.answer_with_credentials(&f.email, &f.password, None, &token, true, &ip).await
                }
                Err(e) => Err(e),
            }
        }
        _ => s.service.answer_with_credentials(&f.email, &f.password, totp, &token, accept, &ip).await,
    };
    let fresh_state = || async { s.service.preview_invitation(&token, &ip).await.map(|(_, st)| st).unwrap_or(state) };
    let (error, ask_totp, status) = match outcome {
        Ok(()) => {
            let to = format!("/invite/{token}?done={}", if accept { "accepted" } else { "declined" });
            return Redirect::to(&to).into_response();
        }
        Err(ServiceError::MfaRequired) => (None, true, StatusCode::UNAUTHORIZED),
        Err(ServiceError::Unauthenticated) => (Some(w.wrong.to_owned()), totp.is_some(), StatusCode::UNAUTHORIZED),
        Err(ServiceError::Validation(e)) => (Some(super::i18n::invalid(lang, &e)), false, StatusCode::UNPROCESSABLE_ENTITY),
        Err(ServiceError::Forbidden) => (Some(w.not_admin.to_owned()), false, StatusCode::FORBIDDEN),
        Err(ServiceError::WrongCustomer) => (Some(w.wrong_customer.to_owned()), false, StatusCode::FORBIDDEN),
        Err(ServiceError::PasswordChangeRequired) => (Some(w.temporary_password.to_owned()), false, StatusCode::FORBIDDEN),
        Err(ServiceError::RelationshipExists) => (Some(w.relationship_exists.to_owned()), false, StatusCode::CONFLICT),
        Err(ServiceError::InvitationExpired | ServiceError::InvitationNotPending) => (None, false, StatusCode::GONE),
        Err(e) => return layout::error_page(lang, e),
    };
    let error = match (signed_up, error) {
        (true, Some(e)) => Some(format!("{} {e}", w.signed_up_not_answered)),
        (_, e) => e,
    };
    let state = fresh_state().await;
    let cookie = csrf_cookie(&headers);
    let csrf = cookie.as_deref().map(|c| csrf_for(c, &token)).unwrap_or_default();
    let sign_up = f.mode == "sign_up";
    // What was typed comes back without what the service refuses to show (bidi overrides…).
    let inert = |t: &str| t.chars().filter(|c| !partnerhub_domain::is_hidden_control(*c)).collect::<String>();
    let (email, org_name, domain, display_name) = (inert(&f.email), inert(&f.org_name), inert(&f.domain), inert(&f.display_name));
    let v = View {
        lang,
        token: &token,
        found: &found,
        state,
        csrf: &csrf,
        portal: portal.as_ref(),
        error,
        ask_totp,
        done: None,
        typed: Typed {
            email: if sign_up { "" } else { &email },
            org_name: &org_name,
            domain: &domain,
            display_name: &display_name,
            signup_email: if sign_up { &email } else { "" },
        },
    };
    respond(status, &v, None)
}

/// Constant-time equality of two strings.
fn bool_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

//! The way in and out: the landing page, sign-in (password, then the TOTP code when the
//! account has one), sign-out, the forced password change after a temporary password, the
//! language switch, and the two assets.

use super::extract::{Form, Path, Query};
use super::i18n::{LANG_COOKIE, negotiate};
use super::layout::{self, html_response, page};
use super::session::{self, CsrfOnly, Portal, safe_next};
use crate::AppState;
use crate::extract::ClientIp;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Locale, OrgKind};
use partnerhub_service::ServiceError;
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/home", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/account/password", get(password_page).post(change_password))
        .route("/lang/{lang}", get(switch_language).post(choose_language))
        .route("/assets/portal.css", get(css))
        .route("/assets/portal.js", get(js))
}

struct Words {
    landing_title: &'static str,
    landing_lead: &'static str,
    landing_points: [&'static str; 4],
    sign_in_title: &'static str,
    email: &'static str,
    password: &'static str,
    totp: &'static str,
    totp_hint: &'static str,
    submit: &'static str,
    wrong: &'static str,
    new_account: &'static str,
    password_title: &'static str,
    password_lead: &'static str,
    current_password: &'static str,
    new_password: &'static str,
    change: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            landing_title: "The partner center you run yourself",
            landing_lead: "partnerhub connects cloud resellers with their customers: a partner invites a customer by a personal link, the customer's global administrator accepts, and the partner then manages the customer's users, licenses and subscriptions with the rights it was granted — until the customer removes it.",
            landing_points: [
                "Invite a customer by link, with exactly the administrator roles you need and for how long.",
                "Manage users, licenses, orders and subscriptions through those grants.",
                "Direct partners, indirect providers and their resellers, side by side.",
                "Everything audited; removing a relationship revokes every grant at once.",
            ],
            sign_in_title: "Sign in",
            email: "E-mail",
            password: "Password",
            totp: "Code from your authenticator app (or a recovery code)",
            totp_hint: "Your account asks for a second factor: enter the code your authenticator app shows.",
            submit: "Sign in",
            wrong: "The e-mail, the password or the code is wrong.",
            new_account: "A customer? Open the invitation link your partner sent you to create your account.",
            password_title: "Choose your password",
            password_lead: "Set a password of your own: the one you were given works only for this. Then you are signed in on this device only.",
            current_password: "Current password",
            new_password: "New password (at least 12 characters, hard to guess)",
            change: "Change the password",
        },
        Locale::Fr => &Words {
            landing_title: "L'espace partenaires que vous hébergez vous-même",
            landing_lead: "partnerhub relie les revendeurs de services cloud à leurs clients : un partenaire invite un client par un lien personnalisé, l'administrateur général du client accepte, puis le partenaire gère les utilisateurs, licences et abonnements du client avec les droits accordés — jusqu'à ce que le client y mette fin.",
            landing_points: [
                "Invitez un client par lien, avec exactement les rôles d'administrateur nécessaires et pour la durée voulue.",
                "Gérez utilisateurs, licences, commandes et abonnements grâce à ces droits.",
                "Partenaires directs, fournisseurs indirects et leurs revendeurs, côte à côte.",
                "Tout est audité ; supprimer une relation révoque tous les droits d'un coup.",
            ],
            sign_in_title: "Connexion",
            email: "Adresse e-mail",
            password: "Mot de passe",
            totp: "Code de votre application d'authentification (ou code de récupération)",
            totp_hint: "Votre compte demande un second facteur : saisissez le code affiché par votre application d'authentification.",
            submit: "Se connecter",
            wrong: "L'adresse e-mail, le mot de passe ou le code est incorrect.",
            new_account: "Vous êtes client ? Ouvrez le lien d'invitation envoyé par votre partenaire pour créer votre compte.",
            password_title: "Choisissez votre mot de passe",
            password_lead: "Définissez votre propre mot de passe : celui qui vous a été remis ne sert qu'à cela. Vous restez ensuite connecté sur cet appareil uniquement.",
            current_password: "Mot de passe actuel",
            new_password: "Nouveau mot de passe (12 caractères au moins, difficile à deviner)",
            change: "Changer le mot de passe",
        },
    }
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], layout::CSS).into_response()
}

async fn js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], layout::JS)
        .into_response()
}

/// `/`: what partnerhub is, and the way in. A signed-in reader goes to its own start page.
async fn landing(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let lang = negotiate(&headers);
    if let Some(token) = session::cookie(&headers, session::session_cookie_name(&s.service))
        && s.service.authenticate(&token).await.is_ok()
    {
        return Redirect::to("/home").into_response();
    }
    let w = words(lang);
    let body = html! {
        p.lead { (w.landing_lead) }
        ul { @for point in w.landing_points { li { (point) } } }
        p.actions { a.button href="/sign-in" { (w.submit) } }
        p.muted { (w.new_account) }
    };
    html_response(StatusCode::OK, page(lang, None, w.landing_title, body))
}

/// The start page of the reader's side.
async fn home(portal: Portal) -> Response {
    match portal.principal().organization.kind {
        OrgKind::Partner => Redirect::to("/customers"),
        OrgKind::Customer => Redirect::to("/partners"),
    }
    .into_response()
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn sign_in_form(lang: Locale, next: &str, email: &str, ask_totp: bool, error: Option<&str>) -> Markup {
    let w = words(lang);
    html! {
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        @if ask_totp { p.notice { (w.totp_hint) } }
        form.stack method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            label { (w.email) input type="email" name="email" value=(email) required autocomplete="username" autofocus[!ask_totp]; }
            label { (w.password) input type="password" name="password" required autocomplete="current-password"; }
            @if ask_totp {
                label { (w.totp) input type="text" name="totp" inputmode="numeric" autocomplete="one-time-code" required autofocus; }
            }
            button type="submit" { (w.submit) }
        }
        p.muted { (w.new_account) }
    }
}

async fn sign_in_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let lang = negotiate(&headers);
    let next = safe_next(q.next.as_deref());
    html_response(StatusCode::OK, page(lang, None, words(lang).sign_in_title, sign_in_form(lang, next, "", false, None)))
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    next: String,
}

/// A sign-in form needs no form token: it opens a session, it acts in none (and SameSite=Lax
/// keeps a cross-site POST from carrying one). It answers with the session cookie.
async fn sign_in(State(s): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, Form(f): Form<SignInForm>) -> Response {
    let lang = negotiate(&headers);
    let w = words(lang);
    let next = safe_next(Some(f.next.as_str())).to_owned();
    let totp = Some(f.totp.trim()).filter(|t| !t.is_empty());
    match s.service.open_session(&f.email, &f.password, totp, &ip).await {
        Ok(signed) => {
            let to = if signed.password_change_required { "/account/password".to_owned() } else { next };
            let mut res = Redirect::to(&to).into_response();
            res.headers_mut().insert(header::SET_COOKIE, session::set_session(&s.service, &signed.token, signed.expires_in));
            res
        }
        Err(ServiceError::MfaRequired) => {
            html_response(StatusCode::UNAUTHORIZED, page(lang, None, w.sign_in_title, sign_in_form(lang, &next, &f.email, true, None)))
        }
        Err(ServiceError::Unauthenticated) | Err(ServiceError::Validation(_)) => html_response(
            StatusCode::UNAUTHORIZED,
            page(lang, None, w.sign_in_title, sign_in_form(lang, &next, &f.email, totp.is_some(), Some(w.wrong))),
        ),
        Err(e) => layout::error_page(lang, e),
    }
}

/// Ends the session on the server, then forgets the cookie.
async fn sign_out(State(s): State<AppState>, portal: Portal, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(refused) = portal.check_form(&s.service, &f.csrf) {
        return refused;
    }
    if let Err(e) = s.service.sign_out(&portal.caller).await {
        return layout::error_page(portal.lang, e);
    }
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().insert(header::SET_COOKIE, session::clear_session(&s.service));
    res
}

fn password_form(p: &Portal, error: Option<&str>) -> Markup {
    let w = words(p.lang);
    html! {
        p { (w.password_lead) }
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        form.stack method="post" action="/account/password" {
            input type="hidden" name="csrf" value=(p.form_token);
            label { (w.current_password) input type="password" name="current_password" required autocomplete="current-password"; }
            label { (w.new_password) input type="password" name="new_password" required minlength="12" autocomplete="new-password"; }
            button type="submit" { (w.change) }
        }
    }
}

async fn password_page(portal: Portal) -> Response {
    let w = words(portal.lang);
    html_response(StatusCode::OK, page(portal.lang, Some(&portal), w.password_title, password_form(&portal, None)))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
}

async fn change_password(State(s): State<AppState>, portal: Portal, Form(f): Form<PasswordForm>) -> Response {
    if let Err(refused) = portal.check_form(&s.service, &f.csrf) {
        return refused;
    }
    let w = words(portal.lang);
    match s.service.change_password(&portal.caller, &f.current_password, &f.new_password).await {
        Ok(()) => Redirect::to("/home").into_response(),
        Err(ServiceError::Validation(errors)) => {
            let msg = super::i18n::invalid(portal.lang, &errors);
            html_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(portal.lang, Some(&portal), w.password_title, password_form(&portal, Some(&msg))),
            )
        }
        Err(ServiceError::Unauthenticated) => html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            page(portal.lang, Some(&portal), w.password_title, password_form(&portal, Some(words(portal.lang).wrong))),
        ),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

/// `GET /lang/fr` or `/lang/en`, the switch of a reader not signed in: remembers the choice in
/// this browser for a year and goes back where the reader was. Nothing is stored on the server.
async fn switch_language(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let Some(l) = super::i18n::parse(&lang) else {
        return layout::message_page(negotiate(&headers), StatusCode::NOT_FOUND, layout::words(negotiate(&headers)).not_found);
    };
    back_in(l, &headers)
}

/// `POST /lang/fr` or `/lang/en`, the switch of a signed-in user (a form with its form token):
/// stores the choice on the user, so that it follows them to any browser, and in this browser.
async fn choose_language(
    State(s): State<AppState>,
    portal: Portal,
    Path(lang): Path<String>,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let Some(l) = super::i18n::parse(&lang) else {
        return layout::message_page(portal.lang, StatusCode::NOT_FOUND, layout::words(portal.lang).not_found);
    };
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    match s.service.set_language(&portal.caller, l).await {
        Ok(()) => back_in(l, &headers),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

/// The way back to the page the switch was used on, with the language's cookie.
fn back_in(l: Locale, headers: &HeaderMap) -> Response {
    // Back to the page the reader came from when it is ours (the Referer's path only).
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()));
    let mut res = Redirect::to(safe_next(back.as_deref())).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", l.as_str());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

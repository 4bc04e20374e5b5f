//! The frame of every portal page: `<html lang>`, the menu for the reader's side, the
//! language switch, sign-out, and the error pages. One stylesheet and one small script, both
//! inside the binary; no asset from elsewhere.

use super::session::Portal;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use partnerhub_domain::{Locale, OrgKind};
use partnerhub_service::ServiceError;

pub(crate) const CSS: &str = include_str!("../../assets/portal.css");
pub(crate) const JS: &str = include_str!("../../assets/portal.js");

/// What every page says around its own content.
pub(crate) struct Words {
    pub product: &'static str,
    pub skip: &'static str,
    pub customers: &'static str,
    pub invitations: &'static str,
    pub subscriptions: &'static str,
    pub audit: &'static str,
    pub users: &'static str,
    pub links: &'static str,
    pub security: &'static str,
    pub partners: &'static str,
    pub licenses: &'static str,
    pub api: &'static str,
    pub sign_out: &'static str,
    pub sign_in: &'static str,
    pub language: &'static str,
    pub other_language: &'static str,
    pub menu: &'static str,
    pub error: &'static str,
    pub not_found: &'static str,
    pub forbidden: &'static str,
    pub conflict: &'static str,
    pub invalid: &'static str,
    pub too_many: &'static str,
    pub unavailable: &'static str,
    pub home: &'static str,
}

pub(crate) fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            product: "partnerhub",
            skip: "Skip to the content",
            customers: "Customers",
            invitations: "Invitations",
            subscriptions: "Orders and subscriptions",
            audit: "Audit log",
            users: "Users",
            links: "Providers and resellers",
            security: "Security",
            partners: "Partners",
            licenses: "Licenses",
            api: "API reference",
            sign_out: "Sign out",
            sign_in: "Sign in",
            language: "Language",
            other_language: "Français",
            menu: "Main menu",
            error: "Something went wrong",
            not_found: "This page does not exist, or you may not see it.",
            forbidden: "Your roles do not allow this.",
            conflict: "This cannot be done in the current state.",
            invalid: "Some values are not valid",
            too_many: "Too many attempts. Try again later.",
            unavailable: "The service is busy or unavailable. Try again in a moment.",
            home: "Back to the start",
        },
        Locale::Fr => &Words {
            product: "partnerhub",
            skip: "Aller au contenu",
            customers: "Clients",
            invitations: "Invitations",
            subscriptions: "Commandes et abonnements",
            audit: "Journal d'audit",
            users: "Utilisateurs",
            links: "Fournisseurs et revendeurs",
            security: "Sécurité",
            partners: "Partenaires",
            licenses: "Licences",
            api: "Référence de l'API",
            sign_out: "Se déconnecter",
            sign_in: "Se connecter",
            language: "Langue",
            other_language: "English",
            menu: "Menu principal",
            error: "Une erreur est survenue",
            not_found: "Cette page n'existe pas, ou vous ne pouvez pas la voir.",
            forbidden: "Vos rôles ne le permettent pas.",
            conflict: "Impossible dans l'état actuel.",
            invalid: "Certaines valeurs ne sont pas valides",
            too_many: "Trop de tentatives. Réessayez plus tard.",
            unavailable: "Le service est occupé ou indisponible. Réessayez dans un instant.",
            home: "Retour à l'accueil",
        },
    }
}

fn other(l: Locale) -> Locale {
    match l {
        Locale::Fr => Locale::En,
        Locale::En => Locale::Fr,
    }
}

/// A whole page: `title` in `<title>` and `<h1>`, the menu of the reader's side when signed in.
pub(crate) fn page(lang: Locale, portal: Option<&Portal>, title: &str, body: Markup) -> Markup {
    let w = words(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (w.product) }
                link rel="stylesheet" href="/assets/portal.css";
                script src="/assets/portal.js" defer {}
            }
            body {
                a.skip href="#main" { (w.skip) }
                header {
                    a.brand href="/" { (w.product) }
                    @if let Some(p) = portal {
                        nav aria-label=(w.menu) {
                            ul {
                                @match p.principal().organization.kind {
                                    OrgKind::Partner => {
                                        li { a href="/customers" { (w.customers) } }
                                        li { a href="/invitations" { (w.invitations) } }
                                        li { a href="/subscriptions" { (w.subscriptions) } }
                                        li { a href="/users" { (w.users) } }
                                        li { a href="/links" { (w.links) } }
                                        li { a href="/audit" { (w.audit) } }
                                    }
                                    OrgKind::Customer => {
                                        li { a href="/partners" { (w.partners) } }
                                        li { a href="/users" { (w.users) } }
                                        li { a href="/subscriptions" { (w.subscriptions) } }
                                        li { a href="/licenses" { (w.licenses) } }
                                        li { a href="/audit" { (w.audit) } }
                                    }
                                }
                                li { a href="/account/security" { (w.security) } }
                            }
                        }
                    }
                    div.tools {
                        @if let Some(p) = portal {
                            // Signed in, the switch is a form: it stores the choice on the user.
                            form.inline.lang method="post" action=(format!("/lang/{}", other(lang).as_str())) {
                                input type="hidden" name="csrf" value=(p.form_token);
                                button.link type="submit" lang=(other(lang).as_str()) title=(w.language) { (w.other_language) }
                            }
                        } @else {
                            a href=(format!("/lang/{}", other(lang).as_str())) hreflang=(other(lang).as_str()) lang=(other(lang).as_str()) title=(w.language) { (w.other_language) }
                        }
                        @if let Some(p) = portal {
                            span.who { (p.principal().user.display_name) " · " (p.principal().organization.name) }
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(p.form_token);
                                button type="submit" { (w.sign_out) }
                            }
                        } @else {
                            a href="/sign-in" { (w.sign_in) }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer { a href="/api" { (w.api) } }
            }
        }
    }
}

/// Every portal answer: HTML, no framing, no script or style from elsewhere.
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, markup).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Same-origin: the language switch goes back to the page it was clicked on (it reads the
    // Referer's path); nothing leaves for another site (the invitation page says no-referrer).
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A page that only says something (a refusal, an outcome), with a way back.
pub(crate) fn message_page(lang: Locale, status: StatusCode, message: &str) -> Response {
    let w = words(lang);
    let title = if status.is_success() { w.product } else { w.error };
    html_response(status, page(lang, None, title, html! { p role="alert" { (message) } p { a href="/" { (w.home) } } }))
}

/// What a service refusal means to a person, in their language; never a 5xx for their mistake.
pub(crate) fn error_page(lang: Locale, e: ServiceError) -> Response {
    let w = words(lang);
    // The API's mapping decides the status (and logs a 5xx with its cause), so the two faces
    // never disagree about what a failure is.
    let conflict = match &e {
        ServiceError::Conflict(c) => Some(super::i18n::conflict(lang, *c)),
        _ => None,
    };
    let status = crate::ApiError::from(e).into_response().status();
    let message = match status {
        StatusCode::CONFLICT if conflict.is_some() => conflict.unwrap_or(w.conflict),
        StatusCode::NOT_FOUND => w.not_found,
        StatusCode::FORBIDDEN => w.forbidden,
        StatusCode::CONFLICT => w.conflict,
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => w.invalid,
        StatusCode::TOO_MANY_REQUESTS => w.too_many,
        s if s.is_server_error() => w.unavailable,
        _ => w.error,
    };
    message_page(lang, status, message)
}

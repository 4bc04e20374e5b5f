//! The portal's sign-in session: the API's own bearer session, carried in a cookie
//! (`__Host-ph_session`, `Secure`, when the public URL is https; always HttpOnly and
//! SameSite=Lax), and the form token every POST must carry (see `Service::form_token`).

use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use partnerhub_domain::Locale;
use partnerhub_service::{Caller, Service, ServiceError};
use partnerhub_store::Principal;

/// A cookie's value from the request, if present.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')).map(str::to_owned))
}

fn https(service: &Service) -> bool {
    service.public_url().get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://"))
}

/// The session cookie's name: `__Host-` prefixed behind https (the browser then insists on
/// `Secure`, `Path=/` and no `Domain`), plain over http (development).
pub(crate) fn session_cookie_name(service: &Service) -> &'static str {
    if https(service) { "__Host-ph_session" } else { "ph_session" }
}

/// `Set-Cookie` that opens a session in the browser.
pub(crate) fn set_session(service: &Service, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if https(service) { "; Secure" } else { "" };
    let v = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}", session_cookie_name(service));
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("ph_session=; Max-Age=0"))
}

/// `Set-Cookie` that forgets the session in the browser.
pub(crate) fn clear_session(service: &Service) -> HeaderValue {
    let secure = if https(service) { "; Secure" } else { "" };
    let v = format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", session_cookie_name(service));
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("ph_session=; Max-Age=0"))
}

/// A form that carries only its form token (sign-out, revoke, release, end a session...).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

/// A signed-in portal user: the caller as the API would see it, its session token (for the
/// form token and sign-out) and the reader's language.
pub(crate) struct Portal {
    pub caller: Caller,
    pub token: String,
    pub form_token: String,
    pub lang: Locale,
}

impl Portal {
    pub fn principal(&self) -> &Principal {
        match &self.caller {
            Caller::User(p) => p,
            _ => unreachable!("a portal session is always a user's"),
        }
    }

    /// Refuses a POST whose form does not carry this session's form token.
    #[expect(clippy::result_large_err, reason = "the refusal is the page the handler answers at once; it is built once per refused POST")]
    pub fn check_form(&self, service: &Service, given: &str) -> Result<(), Response> {
        if service.form_token_matches(&self.token, given) {
            Ok(())
        } else {
            Err(super::layout::message_page(
                self.lang,
                StatusCode::FORBIDDEN,
                match self.lang {
                    Locale::Fr => "Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page et recommencez.",
                    Locale::En => "This form expired or did not come from this page. Reload the page and try again.",
                },
            ))
        }
    }
}

impl FromRequestParts<AppState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let lang = super::i18n::negotiate(&parts.headers);
        let to_sign_in = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::to(&format!("/sign-in?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, session_cookie_name(&s.service)).filter(|t| !t.is_empty() && t.len() <= 128) else {
            return Err(to_sign_in());
        };
        match s.service.authenticate(&token).await {
            Ok(caller) => {
                let form_token = s.service.form_token(&token);
                // The user's own choice, wherever they sign in, before the browser's.
                let lang = match &caller {
                    Caller::User(p) => p.user.locale.unwrap_or(lang),
                    _ => lang,
                };
                // What is extracted after (a form that does not decode) answers in it too.
                parts.extensions.insert(super::extract::ReaderLang(lang));
                let portal = Portal { caller, token, form_token, lang };
                // A temporary password: nothing but changing it (and signing out).
                let p = portal.principal();
                let path = parts.uri.path();
                // The language switch is always there: a held user may still read in their language.
                let always = path == "/sign-out" || path.starts_with("/lang/");
                if p.user.password_change_required && path != "/account/password" && !always {
                    return Err(Redirect::to("/account/password").into_response());
                }
                // `--require-mfa` and no TOTP yet: nothing but enrolling (and the password, and
                // signing out).
                if p.user.mfa_enrollment_required
                    && path != "/account/security"
                    && !path.starts_with("/account/security/")
                    && path != "/account/password"
                    && !always
                {
                    return Err(Redirect::to("/account/security").into_response());
                }
                Ok(portal)
            }
            Err(ServiceError::Unauthenticated) => Err(to_sign_in()),
            Err(e) => Err(super::layout::error_page(lang, e)),
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `next` target that stays on this site: a path, never `//host` or a scheme.
pub(crate) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() < 2048 => n,
        _ => "/home",
    }
}

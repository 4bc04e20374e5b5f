//! The page behind every invitation URL. `GET /invite/{token}` shows exactly what the POST
//! would accept: partner name and id, the provider, the roles and for how long. It changes
//! nothing, because mail scanners open every link. The form POSTs back with the customer
//! global admin's credentials (re-authentication at acceptance) and a CSRF token checked
//! against a SameSite=Strict cookie (double submit).

use crate::AppState;
use crate::extract::ClientIp;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use partnerhub_domain::{InvitationState, Locale};
use partnerhub_service::{ServiceError, hash_token};
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/invite/{token}", get(show_invitation).post(answer_invitation))
}

const CSRF_COOKIE: &str = "ph_invite_csrf";

struct Words {
    title: &'static str,
    asks: &'static str,
    with_provider: &'static str,
    roles: &'static str,
    days: &'static str,
    expires: &'static str,
    sign_in: &'static str,
    email: &'static str,
    password: &'static str,
    accept: &'static str,
    decline: &'static str,
    closed: &'static str,
    accepted: &'static str,
    declined: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Reseller relationship invitation",
            asks: "invites your organization to a reseller relationship.",
            with_provider: "Together with its indirect provider:",
            roles: "Delegated administrator roles asked",
            days: "days",
            expires: "This invitation expires on",
            sign_in: "A global administrator of your organization signs in to answer.",
            email: "E-mail",
            password: "Password",
            accept: "Accept",
            decline: "Decline",
            closed: "This invitation can no longer be answered. Its state:",
            accepted: "Accepted. The partner now appears among your partners, with the roles above.",
            declined: "Declined. Nothing was granted.",
        },
        Locale::Fr => &Words {
            title: "Invitation à une relation de revendeur",
            asks: "invite votre organisation à établir une relation de revendeur.",
            with_provider: "Avec son fournisseur indirect :",
            roles: "Rôles d'administrateur délégué demandés",
            days: "jours",
            expires: "Cette invitation expire le",
            sign_in: "Un administrateur général de votre organisation se connecte pour répondre.",
            email: "Adresse e-mail",
            password: "Mot de passe",
            accept: "Accepter",
            decline: "Refuser",
            closed: "Il n'est plus possible de répondre à cette invitation. Son état :",
            accepted: "Acceptée. Le partenaire figure désormais parmi vos partenaires, avec les rôles ci-dessus.",
            declined: "Refusée. Aucune autorisation n'a été accordée.",
        },
    }
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · partnerhub" }
                style { "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
                         .card{border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem}
                         label{display:block;margin:.5rem 0} input{width:100%;padding:.4rem} button{margin:.8rem .5rem 0 0;padding:.5rem 1.2rem}" }
            }
            body { h1 { (title) } (body) }
        }
    }
}

fn problem_page(status: StatusCode, message: &str) -> Response {
    (status, page("partnerhub", html! { p { (message) } })).into_response()
}

fn error_page(e: ServiceError) -> Response {
    match e {
        ServiceError::NotFound => problem_page(StatusCode::NOT_FOUND, "This invitation link is not valid."),
        ServiceError::RateLimited { retry_after_secs } => {
            problem_page(StatusCode::TOO_MANY_REQUESTS, &format!("Too many attempts; try again in {retry_after_secs} seconds."))
        }
        ServiceError::Unauthenticated => problem_page(StatusCode::UNAUTHORIZED, "The e-mail or password is wrong."),
        ServiceError::Forbidden => {
            problem_page(StatusCode::FORBIDDEN, "Only a global administrator of a customer organization may answer an invitation.")
        }
        ServiceError::PasswordChangeRequired => problem_page(
            StatusCode::FORBIDDEN,
            "Your password is a temporary one: sign in to partnerhub and change it, then open this link again.",
        ),
        ServiceError::WrongCustomer => problem_page(StatusCode::FORBIDDEN, "This invitation is meant for another organization."),
        ServiceError::InvitationExpired => problem_page(StatusCode::GONE, "This invitation has expired."),
        ServiceError::InvitationNotPending => problem_page(StatusCode::CONFLICT, "This invitation was already answered or revoked."),
        ServiceError::RelationshipExists => {
            problem_page(StatusCode::CONFLICT, "Your organization already has a relationship with this partner.")
        }
        other => crate::ApiError::from(other).into_response(),
    }
}

/// The CSRF value for this browser and this invitation: random per browser (cookie), bound to
/// the link by hashing both.
fn csrf_for(cookie: &str, token: &str) -> String {
    hex(&hash_token(&format!("{cookie}:{token}")))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(&format!("{CSRF_COOKIE}=")).map(str::to_owned))
        .filter(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(crate) async fn show_invitation(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (found, state) = match s.service.preview_invitation(&token, &ip).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let inv = &found.invitation;
    let w = words(inv.locale);
    let cookie = cookie_value(&headers).unwrap_or_else(|| hex(&hash_token(&uuid::Uuid::new_v4().to_string())));
    let csrf = csrf_for(&cookie, &token);
    let body = html! {
        div.card {
            p { strong { (found.partner.name) } " (" (found.partner.partner_id) ", " (found.partner.domain) ") " (w.asks) }
            @if let Some(p) = &found.provider {
                p { (w.with_provider) " " strong { (p.name) } " (" (p.partner_id) ", " (p.domain) ")" }
            }
            p { (w.roles) " — " (inv.duration_days) " " (w.days) ":" }
            ul { @for r in &inv.roles { li { code { (r.as_str()) } } } }
            p { (w.expires) " " (inv.expires_at.date()) "." }
        }
        @if state == InvitationState::Pending {
            form method="post" {
                p { (w.sign_in) }
                input type="hidden" name="csrf" value=(csrf);
                label { (w.email) input type="email" name="email" required autocomplete="username"; }
                label { (w.password) input type="password" name="password" required autocomplete="current-password"; }
                button type="submit" name="decision" value="accept" { (w.accept) }
                button type="submit" name="decision" value="decline" { (w.decline) }
            }
        } @else {
            p { (w.closed) " " strong { (state.as_str()) } }
        }
    };
    let mut res = page(w.title, body).into_response();
    let set = format!("{CSRF_COOKIE}={cookie}; Path=/invite; HttpOnly; SameSite=Strict; Max-Age=3600");
    if let Ok(v) = HeaderValue::from_str(&set) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    res
}

#[derive(Deserialize)]
pub(crate) struct AnswerForm {
    csrf: String,
    email: String,
    password: String,
    decision: String,
}

pub(crate) async fn answer_invitation(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AnswerForm>,
) -> Response {
    let expected = cookie_value(&headers).map(|c| csrf_for(&c, &token));
    if expected.as_deref() != Some(f.csrf.as_str()) {
        return problem_page(StatusCode::FORBIDDEN, "The form expired or did not come from this page; open the link again.");
    }
    let locale = match s.service.preview_invitation(&token, &ip).await {
        Ok((found, _)) => found.invitation.locale,
        Err(e) => return error_page(e),
    };
    let w = words(locale);
    let outcome = async {
        let (bearer, _) = s.service.sign_in(&f.email, &f.password, &ip).await?;
        let caller = s.service.authenticate(&bearer).await?;
        match f.decision.as_str() {
            "accept" => s.service.accept_invitation(&caller, &token, &ip).await.map(|_| w.accepted),
            "decline" => s.service.decline_invitation(&caller, &token, &ip).await.map(|_| w.declined),
            _ => Err(ServiceError::NotFound),
        }
    }
    .await;
    match outcome {
        Ok(message) => (StatusCode::OK, page(w.title, html! { p { (message) } })).into_response(),
        Err(e) => error_page(e),
    }
}

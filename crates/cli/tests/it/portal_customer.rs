//! The portal's customer side over HTTP: the invitation page (words, languages, the three
//! ways to answer, none leaving a session behind, closed links), the Partners page (revoke,
//! remove) and the Licenses page; CSRF refusals, inert names, hostile query strings.

use crate::support::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use std::sync::Mutex;

/// A browser without JavaScript: keeps cookies, follows redirects itself.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<Vec<(String, String)>>,
    /// The client address this browser says it has (the test client is a trusted proxy).
    address: String,
}

struct Page {
    status: StatusCode,
    html: String,
    set_cookies: Vec<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: app.url.clone(), client, cookies: Mutex::new(Vec::new()), address: fresh_client_address() }
    }

    fn set(&self, name: &str, value: &str) {
        let mut jar = self.cookies.lock().unwrap();
        jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }

    fn has(&self, name: &str) -> bool {
        self.cookies.lock().unwrap().iter().any(|(n, _)| n == name)
    }

    fn keep(&self, headers: &HeaderMap) -> Vec<String> {
        let all: Vec<String> = headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
        for c in &all {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((n, v)) = first.split_once('=') {
                let gone = c.contains("Max-Age=0");
                self.set(n.trim(), if gone { "" } else { v.trim() });
            }
        }
        all
    }

    fn cookie_header(&self) -> String {
        self.cookies.lock().unwrap().iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let res = req.header("cookie", self.cookie_header()).header("X-Forwarded-For", &self.address).send().await.unwrap();
        let mut set_cookies = self.keep(res.headers());
        let mut status = res.status();
        let mut location = res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut html = res.text().await.unwrap();
        for _ in 0..5 {
            let Some(to) = location.take().filter(|_| status.is_redirection()) else { break };
            let res = self
                .client
                .get(self.url(&to))
                .header("cookie", self.cookie_header())
                .header("X-Forwarded-For", &self.address)
                .send()
                .await
                .unwrap();
            set_cookies.extend(self.keep(res.headers()));
            status = res.status();
            location = res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            html = res.text().await.unwrap();
        }
        Page { status, html, set_cookies }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(self.url(path))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.client.post(self.url(path)).form(form)).await
    }

    async fn sign_in(&self, email: &str) {
        let p = self.post("/sign-in", &[("email", email), ("password", PASSWORD), ("next", "/home")]).await;
        assert!(!p.status.is_server_error(), "{}", p.html);
        assert!(self.has("ph_session"), "signed in");
    }
}

/// The first `name="csrf"` value of a page.
fn csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).expect("a form token").split('"').next().unwrap().to_owned()
}

async fn sessions(app: &TestApp) -> i64 {
    app.raw.i64("SELECT COUNT(*) FROM sessions").await
}

async fn invitation_state(app: &TestApp, partner: &Org, inv: &Value) -> String {
    let (_, b) = app.get(&format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &partner.token).await;
    b["state"].as_str().unwrap().to_owned()
}

/// A partner whose name holds HTML.
async fn partner_named(app: &TestApp, name: &str) -> Org {
    let pid = unique("P");
    let domain = format!("{}.example", pid.to_lowercase());
    let email = format!("ga@{domain}");
    let (s, b) = app
        .post(
            "/api/v1/operator/partners",
            Some(OPERATOR),
            json!({"name": name, "partner_type": "direct", "partner_id": pid, "domain": domain,
                   "admin": {"email": email, "display_name": "Ada", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let token = app.sign_in(&email, PASSWORD).await;
    Org { id: b["id"].as_str().unwrap().to_owned(), partner_id: pid, email, token }
}

#[tokio::test]
async fn the_invitation_page_speaks_the_invitations_language_in_words_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let inv = app
        .invite(
            &reseller,
            json!({"locale": "fr", "roles": ["global_admin", "user_admin"], "duration_days": 90, "indirect_provider_id": provider.id}),
        )
        .await;
    let url = inv["url"].as_str().unwrap().to_owned();
    let b = Browser::new(&app);
    let p = b.get(&url).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("<html lang=\"fr\""), "the invitation's language");
    for word in ["Administrateur général", "Administrateur des utilisateurs", "90 jours", "contrôle complet", "Accepter", "Refuser"] {
        assert!(p.html.contains(word), "{word} in {}", p.html);
    }
    assert!(p.html.contains(&reseller.partner_id) && p.html.contains(&provider.partner_id), "who asks, and its provider");
    assert!(!p.html.contains("global_admin") && !p.html.contains("user_admin"), "roles in words, not codes");
    let months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
    assert!(p.html.contains("expire le ") && months.iter().any(|m| p.html.contains(m)), "the expiry in words");
    assert!(p.set_cookies.iter().any(|c| c.starts_with("ph_invite_csrf=") && c.contains("SameSite=Strict")));
    // The switch works here too, and comes back to the invitation (the page lets its own
    // site see where a click came from, and no other).
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
    let res = b.client.get(format!("{}/lang/en", app.url)).header("referer", &url).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"].to_str().unwrap(), url.strip_prefix(&app.url).unwrap());
    b.keep(res.headers());
    let p = b.get(&url).await;
    assert!(p.html.contains("<html lang=\"en\"") && p.html.contains("Global administrator") && p.html.contains("90 days"));
    assert!(p.html.contains("full control"), "the global admin warning");
    // Reading changed nothing.
    assert_eq!(invitation_state(&app, &reseller, &inv).await, "pending");
    // Without global admin: no warning.
    let inv2 = app.invite(&reseller, json!({"locale": "en", "roles": ["user_admin"]})).await;
    let p = Browser::new(&app).get(inv2["url"].as_str().unwrap()).await;
    assert!(p.html.contains("User administrator") && !p.html.contains("full control"));
}

#[tokio::test]
async fn signing_up_on_the_invitation_page_accepts_and_leaves_no_session() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({"locale": "en"})).await;
    let url = inv["url"].as_str().unwrap().to_owned();
    let b = Browser::new(&app);
    let page = b.get(&url).await;
    let token = csrf(&page.html);
    let before = sessions(&app).await;
    let name = unique("newco");
    let domain = format!("{name}.example");
    let email = format!("ga@{domain}");
    let form = |org: String| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", token.clone()),
            ("mode", "sign_up".to_owned()),
            ("org_name", org),
            ("domain", domain.clone()),
            ("display_name", "Grace".to_owned()),
            ("email", email.clone()),
            ("password", PASSWORD.to_owned()),
            ("decision", "accept".to_owned()),
        ]
    };
    let refs = |f: &[(&'static str, String)]| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    // A bidi override in the name: refused, shown inert, nothing created.
    let bad = refs(&form("Fabrikam\u{202E}moc.evil".to_owned()));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post(&url, &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    assert!(p.html.contains("bidirectional") && !p.html.contains('\u{202E}'), "the reason, and the typed name is not echoed raw");
    assert!(app.customer_ids(&partner).await.is_empty());
    // The real sign-up accepts.
    let good = refs(&form(format!("Customer {name}")));
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post(&url, &good).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Accepted. The partner now appears among your partners"), "{}", p.html);
    assert_eq!(app.customer_ids(&partner).await.len(), 1);
    assert_eq!(invitation_state(&app, &partner, &inv).await, "accepted");
    assert_eq!(sessions(&app).await, before, "answering opened no session");
    assert!(!b.has("ph_session"), "and set no session cookie");
    // The new admin can sign in to the portal and sees the partner.
    let c = Browser::new(&app);
    c.sign_in(&email).await;
    let p = c.get("/partners").await;
    assert!(p.html.contains(&partner.partner_id), "{}", p.html);
    app.verify_audit().await;
}

#[tokio::test]
async fn answering_with_credentials_opens_no_session_and_a_forged_post_changes_nothing() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({"locale": "fr"})).await;
    let url = inv["url"].as_str().unwrap().to_owned();
    let b = Browser::new(&app);
    let token = csrf(&b.get(&url).await.html);
    let before = sessions(&app).await;
    // No token, a wrong token, a token without its cookie: refused.
    let p = b.post(&url, &[("mode", "sign_in"), ("email", &customer.email), ("password", PASSWORD), ("decision", "decline")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b.post(&url, &[("csrf", &"0".repeat(64)), ("email", &customer.email), ("password", PASSWORD), ("decision", "decline")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = Browser::new(&app)
        .post(&url, &[("csrf", &token), ("email", &customer.email), ("password", PASSWORD), ("decision", "decline")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The portal session's form token does not stand in for the double submit either.
    let p = b.post(&url, &[("csrf", &token), ("mode", "session"), ("decision", "decline")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(invitation_state(&app, &partner, &inv).await, "pending");
    // A wrong password: said in the invitation's language.
    let p = b
        .post(
            &url,
            &[("csrf", &token), ("mode", "sign_in"), ("email", &customer.email), ("password", "nope nope nope"), ("decision", "decline")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("le mot de passe ou le code est incorrect"), "{}", p.html);
    // The right one declines.
    let p = b
        .post(&url, &[("csrf", &token), ("mode", "sign_in"), ("email", &customer.email), ("password", PASSWORD), ("decision", "decline")])
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Refusée. Aucune autorisation"));
    assert_eq!(invitation_state(&app, &partner, &inv).await, "declined");
    assert_eq!(sessions(&app).await, before, "no session was opened");
    // Used: the link says so and asks for a new one; no form.
    let p = b.get(&url).await;
    assert_eq!(p.status, StatusCode::GONE);
    assert!(
        p.html.contains("Refusée")
            && p.html.contains("Demandez une nouvelle invitation au partenaire")
            && !p.html.contains("name=\"csrf\"")
    );
    app.verify_audit().await;
}

#[tokio::test]
async fn a_signed_in_customer_answers_with_its_portal_session() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({"locale": "en", "roles": ["license_admin"]})).await;
    let url = inv["url"].as_str().unwrap().to_owned();
    let b = Browser::new(&app);
    b.sign_in(&customer.email).await;
    let p = b.get(&url).await;
    assert!(p.html.contains("Signed in as") && !p.html.contains("name=\"password\""), "{}", p.html);
    let token = csrf(&p.html);
    let p = b.post(&url, &[("csrf", "forged"), ("mode", "session"), ("decision", "accept")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(invitation_state(&app, &partner, &inv).await, "pending");
    let p = b.post(&url, &[("csrf", &token), ("mode", "session"), ("decision", "accept")]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert_eq!(invitation_state(&app, &partner, &inv).await, "accepted");
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()]);
}

#[tokio::test]
async fn an_expired_or_unknown_link_says_so_in_the_invitations_language() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({"locale": "fr", "expires_in_days": 1})).await;
    app.clock.advance(time::Duration::days(2));
    let b = Browser::new(&app);
    let p = b.get(inv["url"].as_str().unwrap()).await;
    assert_eq!(p.status, StatusCode::GONE);
    assert!(
        p.html.contains("Cette invitation a expiré") && p.html.contains("Demandez une nouvelle invitation au partenaire"),
        "{}",
        p.html
    );
    assert!(!p.html.contains("name=\"csrf\""));
    let p = b.get("/invite/not-a-token").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    // Hostile query strings and paths: never a 5xx.
    for path in [
        "/invite/x?done=%00%ff",
        "/invite/%3Cscript%3E?done=accepted&done=declined",
        "/partners?revoked=-1&removed=%ZZ",
        "/partners?revoked=99999999999999999999",
        "/licenses?x=%00",
    ] {
        let p = b.get(path).await;
        assert!(!p.status.is_server_error(), "{path}: {}", p.status);
    }
}

#[tokio::test]
async fn the_partners_page_shows_grants_in_words_revokes_and_removes() {
    let app = TestApp::spawn().await;
    let partner = partner_named(&app, "<script>alert(1)</script> Fabrikam").await;
    let customer = app.customer_granting(&partner, &["user_admin", "license_admin"]).await;
    let b = Browser::new(&app);
    b.sign_in(&customer.email).await;
    let p = b.get("/partners").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Fabrikam") && !p.html.contains("<script>alert"), "inert");
    for word in ["User administrator", "License administrator", "Active", "Remove the partner", "Revoke the roles", "legal notice"] {
        assert!(p.html.contains(word), "{word}");
    }
    b.set("ph_lang", "fr");
    let p = b.get("/partners").await;
    for word in ["Administrateur des utilisateurs", "Administrateur de licences", "Supprimer le partenaire", "Révoquer les rôles"] {
        assert!(p.html.contains(word), "{word}");
    }
    for path in ["/partners?revoked=%00&removed=%ff%fe", "/partners?revoked=1e99", "/licenses?%3Cscript%3E=1", "/invite/%E2%80%AE?done=%00"]
    {
        let p = b.get(path).await;
        assert!(!p.status.is_server_error(), "{path}: {}", p.status);
    }
    let token = csrf(&p.html);
    let revoke = format!("/partners/{}/revoke-grants", partner.id);
    let remove = format!("/partners/{}/remove", partner.id);
    // Without or with a wrong form token: refused, nothing changes.
    assert_eq!(b.post(&revoke, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(b.post(&revoke, &[("csrf", "0")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(b.post(&remove, &[("csrf", "0"), ("confirm", "yes")]).await.status, StatusCode::FORBIDDEN);
    let live = |v: &Value| v["items"][0]["grants"].as_array().unwrap().iter().filter(|g| g["state"] == "active").count();
    let (_, list) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(live(&list), 2);
    // Revoke: the roles go, the relationship stays.
    let p = b.post(&revoke, &[("csrf", &token)]).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Rôles révoqués : 2") && p.html.contains("ne détient aucun rôle"), "{}", p.html);
    let (_, list) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!((list["total"].as_i64(), live(&list)), (Some(1), 0));
    // Remove asks for the confirmation box.
    let p = b.post(&remove, &[("csrf", &token)]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("Cochez la case de confirmation"));
    assert_eq!(
        b.post(&format!("/partners/{}/remove", "not-a-uuid"), &[("csrf", &token), ("confirm", "yes")]).await.status,
        StatusCode::NOT_FOUND
    );
    let p = b.post(&remove, &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Le partenaire a été supprimé") && !p.html.contains(&partner.partner_id), "{}", p.html);
    assert!(app.customer_ids(&partner).await.is_empty());
    app.verify_audit().await;
}

#[tokio::test]
async fn the_licenses_page_shows_who_holds_which_seat() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let offer = app.offer("Office <b>E3</b>").await;
    let sub = app.order(&partner.token, &customer.id, &offer, 5, None).await;
    let (user_id, user_email, _) = app.tenant_user(&agent, &customer.id, &[]).await;
    let (s, body) = app
        .post(&format!("/api/v1/customers/{}/users/{user_id}/licenses", customer.id), Some(&agent), json!({"subscription_id": sub}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let b = Browser::new(&app);
    b.sign_in(&customer.email).await;
    let p = b.get("/licenses").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Office &lt;b&gt;E3&lt;/b&gt;") && p.html.contains("1 of 5") && p.html.contains(&user_email), "{}", p.html);
    b.set("ph_lang", "fr");
    let p = b.get("/licenses").await;
    assert!(p.html.contains("1 sur 5") && p.html.contains("Qui détient une licence"));
    // A partner has no licenses page of its own tenant here: refused, not a 5xx.
    let pb = Browser::new(&app);
    pb.sign_in(&partner.email).await;
    let p = pb.get("/licenses").await;
    assert!(!p.status.is_server_error() && p.status != StatusCode::OK, "{}", p.status);
}

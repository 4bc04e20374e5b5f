//! Portal pages of one's own account and organization (issue 8): `/users`, `/links`,
//! `/account/security` and the API reference `/api`, over HTTP with the session cookie.

use crate::support::*;
use partnerhub_domain::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::TOTP;

/// A browser-like client: no redirect followed, the session cookie and the language set.
struct Browser {
    url: String,
    client: reqwest::Client,
    cookie: String,
}

impl Browser {
    fn new(app: &TestApp, token: &str, lang: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { url: app.url.clone(), client, cookie: format!("ph_session={token}; ph_lang={lang}") }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self.client.get(format!("{}{path}", self.url)).header("Cookie", &self.cookie).send().await.unwrap();
        let s = res.status();
        let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        (s, location.unwrap_or(body))
    }

    /// POSTs a form; answers the status and the body (or the redirect's target).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let res = self.client.post(format!("{}{path}", self.url)).header("Cookie", &self.cookie).form(form).send().await.unwrap();
        let s = res.status();
        let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        (s, location.unwrap_or(body))
    }

    /// The form token of a page.
    async fn csrf(&self, path: &str) -> String {
        let (s, html) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{html}");
        attr_after(&html, "name=\"csrf\"", "value").expect("a form token")
    }
}

/// The value of attribute `attr` of the first element after `marker` in `html`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let start = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

async fn users(app: &TestApp, token: &str) -> Vec<Value> {
    let (s, b) = app.get("/api/v1/users", token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_users_page_lists_creates_changes_resets_and_deletes_in_both_languages() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (s, en) = Browser::new(&app, &p.token, "en").get("/users").await;
    assert_eq!(s, StatusCode::OK);
    assert!(en.contains("<h1>Users</h1>") && en.contains("Global admin") && en.contains("Add a user"), "{en}");
    let fr = Browser::new(&app, &p.token, "fr");
    let (s, html) = fr.get("/users").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<h1>Utilisateurs</h1>") && html.contains("Administrateur général") && html.contains("Ajouter un utilisateur"));
    assert!(html.contains("(vous)"), "the reader is marked");

    // Create: the temporary password is shown once and works for the first sign-in.
    let csrf = fr.csrf("/users").await;
    let email = format!("{}@{}", unique("new"), p.email.split('@').nth(1).unwrap());
    let (s, html) = fr
        .post(
            "/users",
            &[("csrf", &csrf), ("display_name", "Linus"), ("email", &email), ("roles", "sales_agent"), ("roles", "helpdesk_agent")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Utilisateur ajouté"), "{html}");
    let temporary = attr_after(&html, "id=\"temporary-password\"", "value").unwrap();
    let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": temporary})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let list = users(&app, &p.token).await;
    let new = list.iter().find(|u| u["email"] == email.as_str()).unwrap();
    let id = new["id"].as_str().unwrap().to_owned();
    assert_eq!(new["roles"], json!(["sales_agent", "helpdesk_agent"]));
    let (_, html) = fr.get("/users").await;
    assert!(html.contains("Agent commercial") && html.contains("Doit choisir un mot de passe"), "{html}");

    // A validation error re-renders the form with 422 and what was typed.
    let (s, html) = fr.post("/users", &[("csrf", &csrf), ("display_name", "Nobody"), ("email", "not-an-email")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("role=\"alert\"") && html.contains("not-an-email"));
    // ...saying what is wrong in the reader's language, field by label, never as Rust's debug text.
    assert!(
        html.contains("Adresse e-mail : n&#39;est pas une adresse e-mail")
            || html.contains("Adresse e-mail : n'est pas une adresse e-mail"),
        "{html}"
    );
    assert!(html.contains("Rôles : cochez au moins un rôle"), "{html}");
    assert!(!html.contains("FieldError") && !html.contains("validation failed"), "{html}");

    // The same e-mail again: the form as typed, and why, in the reader's words.
    let (s, html) = fr.post("/users", &[("csrf", &csrf), ("display_name", "Twin"), ("email", &email), ("roles", "sales_agent")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Cette adresse e-mail est déjà utilisée") && html.contains("value=\"Twin\""), "{html}");

    // Change roles, then the name with them.
    let (s, to) = fr.post(&format!("/users/{id}/roles"), &[("csrf", &csrf), ("roles", "admin_agent")]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/users"));
    let list = users(&app, &p.token).await;
    assert_eq!(list.iter().find(|u| u["id"] == id.as_str()).unwrap()["roles"], json!(["admin_agent"]));
    let (s, _) = fr.post(&format!("/users/{id}/roles"), &[("csrf", &csrf), ("display_name", " Linus T. "), ("roles", "admin_agent")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let list = users(&app, &p.token).await;
    assert_eq!(list.iter().find(|u| u["id"] == id.as_str()).unwrap()["display_name"], "Linus T.");
    let (_, html) = fr.get("/users").await;
    assert!(html.contains("value=\"Linus T.\""), "the edit form shows the name");
    // Taking the last global admin's role: refused in words, nothing changed.
    let me = app.user_id(&p.token).await;
    let (s, html) = fr.post(&format!("/users/{me}/roles"), &[("csrf", &csrf), ("roles", "admin_agent")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("au moins un administrateur général"), "{html}");

    // Reset the password: a new temporary one, shown once.
    let (s, html) = fr.post(&format!("/users/{id}/reset-password"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let again = attr_after(&html, "id=\"temporary-password\"", "value").unwrap();
    assert_ne!(again, temporary);
    let (s, _) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": again})).await;
    assert_eq!(s, StatusCode::OK);

    // Delete.
    let (s, to) = fr.post(&format!("/users/{id}/delete"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/users"));
    assert!(!users(&app, &p.token).await.iter().any(|u| u["id"] == id.as_str()));

    // An unknown or malformed id is a 404 page, not a 5xx.
    let (s, _) = fr.post("/users/not-a-uuid/delete", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = fr.post(&format!("/users/{}/delete", uuid::Uuid::new_v4()), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_customer_user_admin_sees_users_without_actions_on_global_admins_and_an_agent_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.customer().await;
    let ua = app.user(&c, &["user_admin"]).await;
    let (s, html) = Browser::new(&app, &ua, "en").get("/users").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("User admin") && html.contains("Add a user"), "{html}");
    assert!(!html.contains("value=\"global_admin\""), "a user admin is not offered global admin");
    let ga_row = &html[html.find(&format!("id=\"user-{}\"", app.user_id(&c.token).await)).unwrap()..];
    assert!(!ga_row[..ga_row.find("</tr>").unwrap()].contains("<form"), "no action on a global admin");
    // Making a global admin takes a global admin: refused with the 403 page.
    let b = Browser::new(&app, &ua, "en");
    let csrf = b.csrf("/users").await;
    let (s, _) = b.post("/users", &[("csrf", &csrf), ("display_name", "X"), ("email", "x@example.com"), ("roles", "global_admin")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let p = app.partner("direct").await;
    let agent = app.user(&p, &["sales_agent"]).await;
    let (s, html) = Browser::new(&app, &agent, "fr").get("/users").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(html.contains("Vos rôles ne le permettent pas."), "{html}");
}

#[tokio::test]
async fn every_post_without_the_form_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let p = app.partner("indirect_reseller").await;
    let other = app.user(&p, &["sales_agent"]).await;
    let other_id = app.user_id(&other).await;
    let b = Browser::new(&app, &p.token, "en");
    let before = users(&app, &p.token).await.len();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/users".into(), vec![("display_name", "Eve"), ("email", "eve@example.com"), ("roles", "sales_agent")]),
        (format!("/users/{other_id}/roles"), vec![("roles", "global_admin")]),
        (format!("/users/{other_id}/reset-password"), vec![]),
        (format!("/users/{other_id}/delete"), vec![("confirm", "yes")]),
        ("/links/providers".into(), vec![("provider_partner_id", "X")]),
        (format!("/links/resellers/{}/accept", p.id), vec![]),
        (format!("/links/resellers/{}/decline", p.id), vec![]),
        (format!("/links/resellers/{}/end", p.id), vec![("confirm", "yes")]),
        (format!("/links/providers/{}/leave", p.id), vec![("confirm", "yes")]),
        ("/account/security/totp".into(), vec![]),
        ("/account/security/totp/confirm".into(), vec![("code", "123456")]),
        ("/account/security/totp/remove".into(), vec![("code", "123456")]),
        (format!("/account/security/sessions/{}/end", uuid::Uuid::new_v4()), vec![]),
    ];
    for (path, fields) in &posts {
        let (s, _) = b.post(path, fields).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path} without a token");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "forged.token"));
        let (s, _) = b.post(path, &wrong).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path} with a wrong token");
    }
    let after = users(&app, &p.token).await;
    assert_eq!(after.len(), before);
    assert_eq!(after.iter().find(|u| u["id"] == other_id.as_str()).unwrap()["roles"], json!(["sales_agent"]));
    let (s, _) = app.get("/api/v1/me", &other).await;
    assert_eq!(s, StatusCode::OK, "the other user's session lives on");
    // Another session's form token is refused too.
    let b2 = Browser::new(&app, &other, "en");
    let foreign = b2.csrf("/account/security").await;
    let (s, _) = b.post("/account/security/totp", &[("csrf", &foreign)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn hostile_names_show_inert_and_hostile_query_strings_get_no_5xx() {
    let app = TestApp::spawn().await;
    let p = app.partner("indirect_reseller").await;
    let hostile = "<script>alert(1)</script>evil\"'&";
    let (s, b) = app
        .post(
            "/api/v1/users",
            Some(&p.token),
            json!({"email": format!("{}@{}", unique("h"), p.email.split('@').nth(1).unwrap()), "display_name": hostile,
                   "password": PASSWORD, "roles": ["sales_agent"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let b = Browser::new(&app, &p.token, "en");
    let (_, html) = b.get("/users").await;
    assert!(!html.contains("<script>alert"), "escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("<bdi>&lt;script&gt;alert(1)&lt;/script&gt;evil&quot;'&amp;</bdi>"), "{html}");
    // A bidi control in a name typed in the portal is refused (422), and what was typed comes
    // back escaped, inside the form.
    let csrf = b.csrf("/users").await;
    let (s, html) = b
        .post(
            "/users",
            &[("csrf", &csrf), ("display_name", "<b>x</b>\u{202E}gpj.exe"), ("email", "x@example.com"), ("roles", "sales_agent")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(!html.contains("<b>x</b>") && html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");
    for path in ["/users", "/links", "/account/security", "/api"] {
        for q in ["?a=%ZZ", "?<script>=1&&&=", "?next=//evil.example&sort=%00", "?x=%E2%80%AE", "?page=-1&page=99999999999999999999"] {
            let (s, _) = b.get(&format!("{path}{q}")).await;
            assert!(!s.is_server_error(), "{path}{q}: {s}");
        }
    }
    // Malformed form bodies are refused without a 5xx.
    let res = reqwest::Client::new()
        .post(format!("{}/users", app.url))
        .header("Cookie", format!("ph_session={}", p.token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("%%%&&=&roles=%FF%FE")
        .send()
        .await
        .unwrap();
    assert!(!res.status().is_server_error(), "{}", res.status());
}

#[tokio::test]
async fn a_reseller_asks_a_provider_which_accepts_on_the_links_page() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let rb = Browser::new(&app, &reseller.token, "fr");
    let (s, html) = rb.get("/links").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Vos fournisseurs indirects") && html.contains("Aucun lien"), "{html}");
    let csrf = rb.csrf("/links").await;
    let (s, html) = rb.post("/links/providers", &[("csrf", &csrf), ("provider_partner_id", "NOPE-NOT-THERE")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (s, to) = rb.post("/links/providers", &[("csrf", &csrf), ("provider_partner_id", &provider.partner_id)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    let (_, html) = rb.get("/links").await;
    assert!(html.contains(&provider.partner_id) && html.contains("En attente"), "{html}");

    let pb = Browser::new(&app, &provider.token, "en");
    let (_, html) = pb.get("/links").await;
    assert!(html.contains("Your indirect resellers") && html.contains(&reseller.partner_id) && html.contains("Pending"), "{html}");
    let csrf = pb.csrf("/links").await;
    let (s, to) = pb.post(&format!("/links/resellers/{}/accept", reseller.id), &[("csrf", &csrf)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    let (_, b) = app.get("/api/v1/providers", &reseller.token).await;
    assert_eq!(b["items"][0]["state"], "active", "{b}");
    let (_, html) = rb.get("/links").await;
    assert!(html.contains("Actif"), "{html}");

    let direct = app.partner("direct").await;
    let (s, html) = Browser::new(&app, &direct.token, "en").get("/links").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("a direct partner has none"), "{html}");
    let customer = app.customer().await;
    let (s, _) = Browser::new(&app, &customer.token, "en").get("/links").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn on_the_links_page_a_provider_declines_and_ends_and_a_reseller_leaves_once_confirmed() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let (rid, pid) = (reseller.id.as_str(), provider.id.as_str());
    let body = json!({"provider_partner_id": provider.partner_id});
    let ask = || app.post("/api/v1/providers", Some(&reseller.token), body.clone());
    let live = |token: String, list: &'static str| {
        let app = &app;
        async move { app.get(list, &token).await.1["total"].as_i64().unwrap() }
    };
    assert_eq!(ask().await.0, StatusCode::CREATED);

    // The provider declines the pending request; someone who may only read sees no button.
    let reader = app.user(&provider, &["sales_agent"]).await;
    let (_, html) = Browser::new(&app, &reader, "en").get("/links").await;
    assert!(html.contains("Pending") && !html.contains("Decline"), "{html}");
    let pb = Browser::new(&app, &provider.token, "en");
    let (_, html) = pb.get("/links").await;
    assert!(html.contains(&format!("id=\"decline-{rid}\"")) && html.contains(&format!("id=\"accept-{rid}\"")), "{html}");
    let csrf = pb.csrf("/links").await;
    let (s, to) = pb.post(&format!("/links/resellers/{rid}/decline"), &[("csrf", &csrf)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    assert_eq!(live(provider.token.clone(), "/api/v1/resellers").await, 0);
    let (_, log) = app.get("/api/v1/audit?action=provider_link.declined", &reseller.token).await;
    assert_eq!(log["total"], 1, "the reseller reads it: {log}");

    // Asked again and accepted: ending takes the box ticked.
    assert_eq!(ask().await.0, StatusCode::CREATED);
    let (s, to) = pb.post(&format!("/links/resellers/{rid}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    let (_, html) = pb.get("/links").await;
    assert!(html.contains(&format!("id=\"end-{rid}\"")) && html.contains("customers keep their relationships"), "{html}");
    let (s, html) = pb.post(&format!("/links/resellers/{rid}/end"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Tick the box to confirm first."), "{html}");
    assert_eq!(live(provider.token.clone(), "/api/v1/resellers").await, 1, "nothing ended");
    let (s, to) = pb.post(&format!("/links/resellers/{rid}/end"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    assert_eq!(live(reseller.token.clone(), "/api/v1/providers").await, 0);

    // Connected again, the reseller leaves, in French, once it ticks the box.
    assert_eq!(ask().await.0, StatusCode::CREATED);
    let (s, _) = app.post(&format!("/api/v1/resellers/{rid}/accept"), Some(&provider.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let rb = Browser::new(&app, &reseller.token, "fr");
    let (_, html) = rb.get("/links").await;
    assert!(html.contains(&format!("id=\"leave-{pid}\"")) && html.contains("Quitter ce fournisseur"), "{html}");
    let csrf = rb.csrf("/links").await;
    let (s, html) = rb.post(&format!("/links/providers/{pid}/leave"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Cochez la case pour confirmer"), "{html}");
    let (s, to) = rb.post(&format!("/links/providers/{pid}/leave"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    assert_eq!(live(provider.token.clone(), "/api/v1/resellers").await, 0);
    let (_, log) = app.get("/api/v1/audit?action=provider_link.ended", &provider.token).await;
    assert_eq!(log["items"][0]["details"]["ended_by"], "reseller", "{log}");

    // A pending request is withdrawn with one button; a link that is gone is 404.
    assert_eq!(ask().await.0, StatusCode::CREATED);
    let (_, html) = rb.get("/links").await;
    assert!(html.contains(&format!("id=\"withdraw-{pid}\"")) && html.contains("Retirer la demande"), "{html}");
    let (s, to) = rb.post(&format!("/links/providers/{pid}/leave"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/links"));
    let (s, _) = rb.post(&format!("/links/providers/{pid}/leave"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = pb.post(&format!("/links/resellers/{rid}/decline"), &[("csrf", &pb.csrf("/links").await)]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.verify_audit().await;
}

fn code_now(app: &TestApp, totp: &TOTP) -> String {
    totp.generate(app.clock.now().unix_timestamp() as u64)
}

#[tokio::test]
async fn the_security_page_lists_and_ends_sessions_and_enrols_and_removes_totp() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let second = app.sign_in(&p.email, PASSWORD).await;
    let b = Browser::new(&app, &p.token, "en");
    let (s, html) = b.get("/account/security").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<h1>Security</h1>") && html.contains("This session") && html.contains("End this session"), "{html}");
    assert!(html.contains("href=\"/account/password\""));
    let (_, fr) = Browser::new(&app, &p.token, "fr").get("/account/security").await;
    assert!(fr.contains("<h1>Sécurité</h1>") && fr.contains("Cette session") && fr.contains("Mettre fin à cette session"), "{fr}");

    // End the other session.
    let (_, sessions) = app.get("/api/v1/me/sessions", &p.token).await;
    let other = sessions["items"].as_array().unwrap().iter().find(|x| x["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let csrf = b.csrf("/account/security").await;
    let (s, to) = b.post(&format!("/account/security/sessions/{other}/end"), &[("csrf", &csrf)]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/account/security"));
    let (s, _) = app.get("/api/v1/me", &second).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the ended session is dead");

    // Enrol: the secret and the otpauth URI as text, then a wrong code, then the right one.
    let (s, html) = b.post("/account/security/totp", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let secret = attr_after(&html, "id=\"totp-secret\"", "value").unwrap();
    let uri = attr_after(&html, "id=\"totp-uri\"", "href").unwrap().replace("&amp;", "&");
    let totp = TOTP::from_url(&uri).unwrap();
    assert_eq!(totp.get_secret_base32(), secret);
    let (s, html) = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", "000000")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("role=\"alert\""));
    let (s, html) = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &code_now(&app, &totp))]).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Your recovery codes"));
    let codes = html.matches("<li><code>").count();
    assert_eq!(codes, 10, "{html}");
    let (_, html) = b.get("/account/security").await;
    assert!(html.contains("Active: signing in asks for a code"), "{html}");
    let (s, _) = app.post("/api/v1/auth/token", None, json!({"email": p.email, "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a second factor is asked for now");

    // Remove with a code (the next step: the confirming one is used up).
    let (s, _) = b.post("/account/security/totp/remove", &[("csrf", &csrf), ("code", "111111")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.clock.advance(time::Duration::seconds(30));
    let (s, to) = b.post("/account/security/totp/remove", &[("csrf", &csrf), ("code", &code_now(&app, &totp))]).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/account/security"));
    let (_, html) = b.get("/account/security").await;
    assert!(html.contains("Not set up"), "{html}");
}

#[tokio::test]
async fn a_user_held_by_require_mfa_reaches_the_security_page_and_nothing_else_until_enrolled() {
    let app = TestApp::spawn_with(Options { require_mfa: true, ..Options::default() }).await;
    let p = app.partner("direct").await;
    let b = Browser::new(&app, &p.token, "en");
    for path in ["/users", "/links", "/home"] {
        let (s, to) = b.get(path).await;
        assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/account/security"), "{path}");
    }
    let (s, html) = b.get("/account/security").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("requires a second factor"), "{html}");
    let (s, _) = b.get("/account/password").await;
    assert_eq!(s, StatusCode::OK);
    let csrf = b.csrf("/account/security").await;
    let (s, html) = b.post("/account/security/totp", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK);
    let uri = attr_after(&html, "id=\"totp-uri\"", "href").unwrap().replace("&amp;", "&");
    let totp = TOTP::from_url(&uri).unwrap();
    let (s, _) = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &code_now(&app, &totp))]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = b.get("/users").await;
    assert_eq!(s, StatusCode::OK, "enrolled: free to go");
}

#[tokio::test]
async fn the_api_reference_shows_every_operation_from_the_openapi_document_offline() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new().get(format!("{}/api", app.url)).header("Accept-Language", "fr").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Référence de l'API</h1>") && html.contains("Paramètres"), "{html}");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing from elsewhere");
    let (_, doc) = app.call(reqwest::Method::GET, "/api/openapi.json", None, None).await;
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys().filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str())) {
            let shown = format!("{} {}", m.to_uppercase(), path);
            assert!(html.contains(&shown), "{shown} is listed");
            n += 1;
        }
    }
    assert!(n > 30, "{n} operations");
    assert!(html.contains("id=\"op-get-api-v1-users\"") && html.contains("href=\"#op-post-api-v1-users\""));
    assert!(html.contains("CreateUserRequest") && html.contains("Problem") && html.contains("<code>422</code>"));
    let (_, en) = Browser::new(&app, "none", "en").get("/api").await;
    assert!(en.contains("<h1>API reference</h1>") && en.contains("Request body"));
    let p = app.partner("direct").await;
    let (s, signed) = Browser::new(&app, &p.token, "en").get("/api").await;
    assert_eq!(s, StatusCode::OK);
    assert!(signed.contains("href=\"/users\"") && signed.contains("Sign out"), "the menu of a signed-in reader");
}

/// `<html lang>` of `path` read with only the session cookie (no language cookie) and a
/// browser asking for English: what a new browser of the same user sees.
async fn lang_in_a_new_browser(app: &TestApp, token: &str, path: &str) -> String {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.url))
        .header("Cookie", format!("ph_session={token}"))
        .header("Accept-Language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    html.split("<html lang=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_language_chosen_when_signed_in_follows_the_user_to_another_browser() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    assert_eq!(lang_in_a_new_browser(&app, &p.token, "/customers").await, "en", "Accept-Language while nothing is chosen");
    let b = Browser::new(&app, &p.token, "en");
    let (_, html) = b.get("/customers").await;
    assert!(html.contains("action=\"/lang/fr\""), "signed in, the switch is a form");
    // Neither a POST without the form token nor a GET (a link from another site) stores it.
    let (s, _) = b.post("/lang/fr", &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = b.get("/lang/fr").await;
    assert!(s.is_redirection());
    assert_eq!(lang_in_a_new_browser(&app, &p.token, "/customers").await, "en");
    // The switch: stored on the user, back to the page it was used on.
    let csrf = b.csrf("/customers").await;
    let res = b
        .client
        .post(format!("{}/lang/fr", app.url))
        .header("Cookie", &b.cookie)
        .header("Referer", format!("{}/customers?q=x", app.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/customers?q=x");
    assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("ph_lang=fr;"));
    // Another browser of the same user, another session: French, whatever the browser asks.
    assert_eq!(lang_in_a_new_browser(&app, &p.token, "/customers").await, "fr");
    let again = app.sign_in(&p.email, PASSWORD).await;
    assert_eq!(lang_in_a_new_browser(&app, &again, "/invitations").await, "fr");
    assert!(Browser::new(&app, &again, "en").get("/users").await.1.contains("<html lang=\"fr\""), "over the switch's cookie too");
    // Recorded once, as the user's own change; choosing it again changes nothing.
    let (s, _) = b.post("/lang/fr", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, audit) = app.get("/api/v1/audit?action=user.updated", &p.token).await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["details"]["locale"], "fr");
    // Back to English, for every browser.
    let (s, _) = b.post("/lang/en", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(lang_in_a_new_browser(&app, &again, "/customers").await, "en");
    app.verify_audit().await;
}

#[tokio::test]
async fn the_users_page_shows_fifty_a_page_with_a_link_to_the_next() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let domain = p.email.split('@').nth(1).unwrap().to_owned();
    for i in 0..50 {
        let body = json!({"email": format!("u{i:02}@{domain}"), "display_name": format!("User {i:02}"), "password": PASSWORD, "roles": ["sales_agent"]});
        let (s, b) = app.post("/api/v1/users", Some(&p.token), body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let browser = Browser::new(&app, &p.token, "en");
    let rows = |html: &str| html.matches("<tr id=\"user-").count();
    let (s, first) = browser.get("/users").await;
    assert_eq!(s, StatusCode::OK);
    assert!(first.contains("51 users"), "the count of the whole list");
    assert_eq!(rows(&first), 50);
    assert!(!first.contains("id=\"first-page\""));
    // The link's href comes before its id.
    let at = first.find("id=\"next-page\"").expect("a link to the next page");
    let tag = &first[first[..at].rfind('<').unwrap()..at];
    let next = tag[tag.find("href=\"").unwrap() + 6..].split('"').next().unwrap().to_owned();
    assert!(next.starts_with("/users?cursor="), "{next}");
    let (s, second) = browser.get(&next).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rows(&second), 1, "the 51st user");
    assert!(second.contains("id=\"first-page\"") && !second.contains("id=\"next-page\""));
    let seen_first: Vec<_> = first.match_indices("<tr id=\"user-").map(|(i, _)| &first[i..i + 50]).collect();
    let last = &second[second.find("<tr id=\"user-").unwrap()..][..50];
    assert!(!seen_first.contains(&last), "no user on both pages");
    // A stale or forged cursor shows the first page.
    let (s, again) = browser.get("/users?cursor=not-a-cursor").await;
    assert_eq!((s, rows(&again)), (StatusCode::OK, 50));
}

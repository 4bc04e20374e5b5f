//! The partner's portal pages for customers and invitations: the customer list and record,
//! "New relationship" and "Request a reseller relationship", the draft page (an edit without
//! the link refused), the invitations list with revoke; in French and English, every POST
//! refused without its form token, hostile names inert, hostile query strings never a 5xx.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

/// A browser of one signed-in user: the API session in the portal's cookie, one language.
struct Browser {
    client: reqwest::Client,
    url: String,
    cookie: String,
}

impl Browser {
    fn new(app: &TestApp, token: &str, lang: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { client, url: app.url.clone(), cookie: format!("ph_session={token}; ph_lang={lang}") }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self.client.get(format!("{}{path}", self.url)).header("Cookie", &self.cookie).send().await.expect("get");
        (res.status(), res.text().await.expect("body"))
    }

    /// POSTs a form; answers the status, the `Location` and the body.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let res = self.client.post(format!("{}{path}", self.url)).header("Cookie", &self.cookie).form(form).send().await.expect("post");
        let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (res.status(), location, res.text().await.expect("body"))
    }

    /// The form token of the session, from any signed-in page.
    async fn csrf(&self) -> String {
        let (_, html) = self.get("/invitations").await;
        let start = html.find("name=\"csrf\" value=\"").expect("a form token") + "name=\"csrf\" value=\"".len();
        html[start..].split('"').next().expect("token").to_owned()
    }
}

/// An invitation id from a draft page's path.
fn draft_id(location: &str) -> String {
    location.trim_start_matches("/invitations/").trim_end_matches("/draft").to_owned()
}

#[tokio::test]
async fn the_customer_list_and_record_speak_both_languages_and_act_through_the_grants() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer_granting(&partner, &["user_admin", "license_admin"]).await;
    // An admin agent: the partner role that acts in a customer's tenant through the grants.
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (fr, en) = (Browser::new(&app, &agent, "fr"), Browser::new(&app, &agent, "en"));

    let (s, html) = fr.get("/customers").await;
    assert_eq!(s, StatusCode::OK);
    for w in ["Liste des clients", "Nouvelle relation", "1 client<", "Administrateur des utilisateurs", &customer.id] {
        assert!(html.contains(w), "{w} missing from {html}");
    }
    let (s, html) = en.get("/customers").await;
    assert_eq!(s, StatusCode::OK);
    for w in ["Customer list", "New relationship", "User administrator"] {
        assert!(html.contains(w), "{w} missing");
    }
    // Search: nothing matches, and the count says so.
    let (_, html) = en.get("/customers?q=no-such-customer-anywhere").await;
    assert!(html.contains("0 customers") && html.contains("No customer matches."), "{html}");

    // The record: Account tab in both languages.
    let (s, html) = fr.get(&format!("/customers/{}", customer.id)).await;
    assert_eq!(s, StatusCode::OK);
    for w in [
        "Compte",
        "Utilisateurs",
        "Licences",
        "Abonnements",
        "Demander une relation de revendeur",
        "Supprimer une relation client",
        "Administrateur de licences",
        "Une invitation acceptée",
        &format!("/customers/{}/remove", customer.id),
    ] {
        assert!(html.contains(w), "{w} missing");
    }
    let (_, html) = en.get(&format!("/customers/{}?tab=account", customer.id)).await;
    for w in ["Request a reseller relationship", "Remove customer relationship", "License administrator", "id=\"global-admin-warning\""] {
        assert!(html.contains(w), "{w} missing");
    }

    let (s, html) = fr.get(&format!("/customers/{}?tab=grants", customer.id)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Droits") && html.contains("Actif") && html.contains("Administrateur de licences"), "{html}");

    // Users tab: create a user (temporary password shown once), then reset its password.
    let csrf = en.csrf().await;
    let (s, _, html) = en
        .post(
            &format!("/customers/{}/users", customer.id),
            &[("csrf", &csrf), ("email", "new.user@tenant.example"), ("display_name", "New user")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Temporary password") && html.contains("id=\"temporary-password\""), "{html}");
    let (_, html) = fr.get(&format!("/customers/{}?tab=users", customer.id)).await;
    assert!(html.contains("new.user@tenant.example") && html.contains("Créer un utilisateur"), "{html}");
    let (s, b) = app.get(&format!("/api/v1/customers/{}/users", customer.id), &agent).await;
    assert_eq!(s, StatusCode::OK);
    let user = b["items"].as_array().expect("items").iter().find(|u| u["email"] == "new.user@tenant.example").expect("created")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _, html) = fr.post(&format!("/customers/{}/users/{user}/reset-password", customer.id), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Mot de passe temporaire"), "{html}");

    // Without the form token: refused, nothing created.
    let (s, _, _) =
        en.post(&format!("/customers/{}/users", customer.id), &[("email", "nope@tenant.example"), ("display_name", "Nope")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = en
        .post(
            &format!("/customers/{}/users", customer.id),
            &[("csrf", "forged"), ("email", "nope@tenant.example"), ("display_name", "Nope")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, html) = en.get(&format!("/customers/{}?tab=users", customer.id)).await;
    assert!(!html.contains("nope@tenant.example"));

    // Licenses and subscriptions tabs: an order, then a license assigned from the form.
    let offer = app.offer("Office Pro").await;
    let sub = app.order(&agent, &customer.id, &offer, 3, None).await;
    let (s, html) = fr.get(&format!("/customers/{}?tab=subscriptions", customer.id)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Office Pro") && html.contains("Actif"), "{html}");
    let (_, html) = en.get(&format!("/customers/{}?tab=licenses", customer.id)).await;
    assert!(html.contains("No license assigned.") && html.contains("Assign a license"), "{html}");
    let (s, location, _) =
        en.post(&format!("/customers/{}/licenses", customer.id), &[("csrf", &csrf), ("user_id", &user), ("subscription_id", &sub)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.ends_with("?tab=licenses"));
    let (_, html) = fr.get(&format!("/customers/{}?tab=licenses", customer.id)).await;
    assert!(html.contains("new.user@tenant.example") && html.contains("Office Pro"), "{html}");
    app.verify_audit().await;
}

/// The seats of one subscription given out, as the JSON API says.
async fn seats_assigned(app: &TestApp, token: &str, customer: &str, sub: &str) -> i64 {
    let (s, b) = app.get(&format!("/api/v1/customers/{customer}/subscriptions"), token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["items"].as_array().expect("items").iter().find(|x| x["id"] == sub).expect("the subscription")["assigned"].as_i64().expect("assigned")
}

#[tokio::test]
async fn a_partner_agent_edits_and_deletes_customer_users_and_releases_licenses_from_the_record() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer_granting(&partner, &["user_admin", "license_admin"]).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (fr, en) = (Browser::new(&app, &agent, "fr"), Browser::new(&app, &agent, "en"));
    let c = &customer.id;
    let (kept, _, _) = app.tenant_user(&agent, c, &[]).await;
    let (gone, _, _) = app.tenant_user(&agent, c, &[]).await;
    let offer = app.offer("Office Pro").await;
    let sub = app.order(&agent, c, &offer, 3, None).await;
    for u in [&kept, &gone] {
        let (s, b) = app.post(&format!("/api/v1/customers/{c}/users/{u}/licenses"), Some(&agent), json!({"subscription_id": sub})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    assert_eq!(seats_assigned(&app, &agent, c, &sub).await, 2);

    // The actions, in both languages, with their stable ids.
    let (_, html) = en.get(&format!("/customers/{c}?tab=users")).await;
    for w in ["Edit", "Delete", &format!("id=\"edit-user-{kept}\""), &format!("id=\"delete-user-{gone}\"")] {
        assert!(html.contains(w), "{w} missing from {html}");
    }
    let (_, html) = fr.get(&format!("/customers/{c}?tab=users")).await;
    assert!(html.contains("Modifier") && html.contains("Supprimer") && html.contains("Je confirme"), "{html}");
    let (_, html) = fr.get(&format!("/customers/{c}?tab=licenses")).await;
    assert!(html.contains("Libérer") && html.contains(&format!("id=\"release-license-{kept}-{sub}\"")), "{html}");
    let (_, html) = en.get(&format!("/customers/{c}?tab=licenses")).await;
    assert!(html.contains("Release"), "{html}");
    let (s, html) = fr.get(&format!("/customers/{c}/users/{kept}/edit")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Modifier l'utilisateur") && html.contains("Enregistrer"), "{html}");

    // Without the form token, or with a forged one: refused, nothing changes.
    let csrf = en.csrf().await;
    let posts = [
        (format!("/customers/{c}/users/{kept}/edit"), vec![("display_name", "Forged"), ("roles", "user_admin")]),
        (format!("/customers/{c}/users/{gone}/delete"), vec![("confirm", "yes")]),
        (format!("/customers/{c}/users/{kept}/licenses/{sub}/release"), vec![]),
    ];
    for (path, form) in &posts {
        let (s, _, _) = en.post(path, form).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        let mut forged = form.clone();
        forged.push(("csrf", "forged"));
        let (s, _, _) = en.post(path, &forged).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, b) = app.get(&format!("/api/v1/customers/{c}/users"), &agent).await;
    let items = b["items"].as_array().expect("items").clone();
    assert!(items.iter().any(|u| u["id"] == gone.as_str()), "not deleted");
    let k = items.iter().find(|u| u["id"] == kept.as_str()).expect("kept");
    assert_eq!((k["display_name"].as_str(), k["roles"].clone()), (Some("Tenant user"), json!([])));
    assert_eq!(seats_assigned(&app, &agent, c, &sub).await, 2);

    // Edit: name and roles, seen by the JSON API; an empty name refused in the reader's words.
    let (s, _, html) = fr.post(&format!("/customers/{c}/users/{kept}/edit"), &[("csrf", &csrf), ("display_name", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Refusé :") && html.contains("Nom"), "{html}");
    let (s, location, _) = en
        .post(
            &format!("/customers/{c}/users/{kept}/edit"),
            &[("csrf", &csrf), ("display_name", "Renamed user"), ("roles", "user_admin"), ("roles", "billing_admin")],
        )
        .await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, format!("/customers/{c}?tab=users").as_str()));
    let (_, b) = app.get(&format!("/api/v1/customers/{c}/users"), &agent).await;
    let k = b["items"].as_array().expect("items").iter().find(|u| u["id"] == kept.as_str()).expect("kept").clone();
    assert_eq!(k["display_name"], "Renamed user");
    let mut roles: Vec<&str> = k["roles"].as_array().expect("roles").iter().filter_map(|r| r.as_str()).collect();
    roles.sort_unstable();
    assert_eq!(roles, ["billing_admin", "user_admin"]);

    // The grants do not reach the customer's global admin: refused in clear words.
    let ga = b["items"].as_array().expect("items").iter().find(|u| u["roles"] == json!(["global_admin"])).expect("the global admin")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _, html) = en.post(&format!("/customers/{c}/users/{ga}/edit"), &[("csrf", &csrf), ("display_name", "GA")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("do not allow this for its users"), "{html}");
    let (s, _, html) = fr.post(&format!("/customers/{c}/users/{ga}/delete"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("ne le permettent pas pour ses utilisateurs"), "{html}");
    // With global admin granted, the customer's last global admin keeps the role: a 409 in clear words.
    let other = app.customer_granting(&partner, &["global_admin"]).await;
    let (_, b) = app.get(&format!("/api/v1/customers/{}/users", other.id), &agent).await;
    let other_ga = b["items"][0]["id"].as_str().expect("id").to_owned();
    let (s, _, html) = en.post(&format!("/customers/{}/users/{other_ga}/edit", other.id), &[("csrf", &csrf), ("display_name", "GA")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("last global administrator stays"), "{html}");
    let (s, _, html) = fr.post(&format!("/customers/{}/users/{other_ga}/delete", other.id), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("dernier administrateur général"), "{html}");

    // Release: the seat is free again.
    let (s, location, _) = fr.post(&format!("/customers/{c}/users/{kept}/licenses/{sub}/release"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.ends_with("?tab=licenses"), "{location}");
    assert_eq!(seats_assigned(&app, &agent, c, &sub).await, 1);
    let (_, b) = app.get(&format!("/api/v1/customers/{c}/users/{kept}/licenses"), &agent).await;
    assert_eq!(b["items"], json!([]));

    // Delete: the box must be ticked; then the user is gone and their license released.
    let (s, _, html) = fr.post(&format!("/customers/{c}/users/{gone}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Cochez la case"), "{html}");
    let (_, _, html) = en.post(&format!("/customers/{c}/users/{gone}/delete"), &[("csrf", &csrf)]).await;
    assert!(html.contains("Tick the box"), "{html}");
    let (s, location, _) = en.post(&format!("/customers/{c}/users/{gone}/delete"), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, format!("/customers/{c}?tab=users").as_str()));
    let (_, b) = app.get(&format!("/api/v1/customers/{c}/users"), &agent).await;
    assert!(!b["items"].as_array().expect("items").iter().any(|u| u["id"] == gone.as_str()), "deleted");
    assert_eq!(seats_assigned(&app, &agent, c, &sub).await, 0);
    let (s, _) = en.get(&format!("/customers/{c}/users/{gone}/edit")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for path in [format!("/customers/{c}/users/zzz/edit"), format!("/customers/{c}/users/zzz/licenses/zzz/release")] {
        let (s, _, _) = en.post(&path, &[("csrf", &csrf)]).await;
        assert!(!s.is_server_error(), "{path}: {s}");
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn a_grant_that_does_not_allow_users_is_a_clear_refusal_in_the_tab() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer_granting(&partner, &["billing_admin"]).await;
    let fr = Browser::new(&app, &partner.token, "fr");
    let (s, html) = fr.get(&format!("/customers/{}?tab=users", customer.id)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("ne le permettent pas pour ses utilisateurs"), "{html}");
}

#[tokio::test]
async fn new_relationship_makes_a_draft_that_keeps_its_link_and_the_invitation_can_be_revoked() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (fr, en) = (Browser::new(&app, &partner.token, "fr"), Browser::new(&app, &partner.token, "en"));
    let (s, html) = en.get("/invitations/new").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("New relationship") && html.contains("Global administrator"), "{html}");
    let csrf = en.csrf().await;

    // Without the form token: refused, no invitation made.
    let (s, _, _) = en.post("/invitations", &[("roles", "user_admin"), ("duration_days", "90")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, b) = app.get("/api/v1/invitations", &partner.token).await;
    assert_eq!(b["total"], 0);

    // No role ticked: the form again, with the service's reason.
    let (s, _, html) = en.post("/invitations", &[("csrf", &csrf), ("duration_days", "90"), ("locale", "fr")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (s, location, _) = en
        .post(
            "/invitations",
            &[("csrf", &csrf), ("roles", "user_admin"), ("roles", "license_admin"), ("duration_days", "90"), ("locale", "fr")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.ends_with("/draft"), "{location}");
    let id = draft_id(&location);
    let (_, inv) = app.get(&format!("/api/v1/invitations/{id}"), &partner.token).await;
    assert_eq!(inv["roles"], json!(["user_admin", "license_admin"]));
    assert_eq!(inv["duration_days"], 90);
    let url = inv["url"].as_str().expect("url").to_owned();

    // The draft page: the text in the invitation's language, mailto, copy, done; no Send without SMTP.
    let (s, html) = fr.get(&location).await;
    assert_eq!(s, StatusCode::OK);
    for w in [
        "Brouillon de message électronique",
        "Ouvrir dans la messagerie",
        "Copier dans le Presse-papiers",
        "Terminé",
        "mailto:",
        "data-copy=\"draft-body\"",
        &url,
    ] {
        assert!(html.contains(w), "{w} missing");
    }
    assert!(!html.contains("id=\"send\""), "no Send button without SMTP");

    // An edit without the link is refused with the reason, keeping the text; with it, saved.
    let (s, _, html) = fr.post(&location, &[("csrf", &csrf), ("subject", "Bonjour"), ("body", "Sans le lien")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("doit contenir le lien personnalisé") && html.contains("Sans le lien"), "{html}");
    let body = format!("Bonjour,\r\nVoici le lien : {url}\r\nMerci");
    let (s, saved, _) = fr.post(&location, &[("csrf", &csrf), ("subject", "Invitation <b>"), ("body", &body)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = en.get(&saved).await;
    assert!(html.contains("Saved.") && html.contains("Invitation &lt;b&gt;") && html.contains("Voici le lien"), "{html}");
    let (_, inv) = app.get(&format!("/api/v1/invitations/{id}"), &partner.token).await;
    assert_eq!(inv["email"]["subject"], "Invitation <b>");

    // The list: pending, with its link again; revoke needs the form token.
    let (_, html) = fr.get("/invitations").await;
    assert!(html.contains("En attente") && html.contains(&url) && html.contains("90 jours"), "{html}");
    let (_, html) = en.get("/invitations").await;
    assert!(html.contains("Pending") && html.contains("Revoke"), "{html}");
    let (s, _, _) = en.post(&format!("/invitations/{id}/revoke"), &[("csrf", "nope")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, inv) = app.get(&format!("/api/v1/invitations/{id}"), &partner.token).await;
    assert_eq!(inv["state"], "pending");
    let (s, location, _) = en.post(&format!("/invitations/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, "/invitations"));
    let (_, html) = en.get("/invitations").await;
    assert!(html.contains("Revoked") && !html.contains(&url), "{html}");
    // A revoked draft can no longer be shown or changed.
    let (s, _) = en.get(&format!("/invitations/{id}/draft")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    app.verify_audit().await;
}

#[tokio::test]
async fn request_a_reseller_relationship_is_bound_and_an_indirect_reseller_picks_its_provider() {
    let app = TestApp::spawn().await;
    let (provider, reseller) = (app.partner("indirect_provider").await, app.partner("indirect_reseller").await);
    app.link(&provider, &reseller).await;
    let customer = app.connected_customer(&reseller).await;
    let en = Browser::new(&app, &reseller.token, "en");
    let (_, html) = en.get("/invitations/new").await;
    assert!(html.contains("Indirect provider") && html.contains(&provider.partner_id), "{html}");
    let csrf = en.csrf().await;
    let (s, location, _) = en
        .post(
            "/invitations",
            &[("csrf", &csrf), ("indirect_provider_id", &provider.id), ("roles", "user_admin"), ("duration_days", "365"), ("locale", "en")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, inv) = app.get(&format!("/api/v1/invitations/{}", draft_id(&location)), &reseller.token).await;
    assert_eq!(inv["indirect_provider_id"], provider.id.as_str());

    // Bound, from the record, asking for global admin.
    let (s, location, _) = en
        .post(
            "/invitations",
            &[("csrf", &csrf), ("customer_id", &customer.id), ("roles", "global_admin"), ("duration_days", "30"), ("locale", "en")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, inv) = app.get(&format!("/api/v1/invitations/{}", draft_id(&location)), &reseller.token).await;
    assert_eq!(inv["customer_id"], customer.id.as_str());
    assert_eq!(inv["roles"], json!(["global_admin"]));
    let (s, html) = en.get(&location).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Draft e-mail message") && html.contains("Open in e-mail") && html.contains("Done"), "{html}");
    assert!(html.contains("Global administrator · 30 days") && html.contains("class=\"warning\""), "{html}");
}

#[tokio::test]
async fn hostile_names_are_inert_and_hostile_queries_never_a_server_error() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    // Bidi controls never get into a name (the domain refuses them; the page says so below).
    let hostile = "<script>alert(1)</script>";
    let name = format!("{hostile} {}", unique("c"));
    let domain = format!("{}.example", unique("hostile"));
    let res = app
        .client
        .post(format!("{}/api/v1/signup", app.url))
        .header("X-Forwarded-For", fresh_client_address())
        .json(&json!({"organization": {"name": name, "domain": domain},
                      "admin": {"email": format!("ga@{domain}"), "display_name": hostile, "password": PASSWORD}}))
        .send()
        .await
        .expect("signup");
    let status = res.status();
    let b: serde_json::Value = res.json().await.expect("body");
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let customer_id = b["organization_id"].as_str().expect("id").to_owned();
    let token = app.sign_in(&format!("ga@{domain}"), PASSWORD).await;
    let inv = app.invite(&partner, json!({"roles": ["user_admin"]})).await;
    let (s, b) = app.accept(&token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let en = Browser::new(&app, &app.user(&partner, &["admin_agent"]).await, "en");
    for path in
        ["/customers".to_owned(), format!("/customers/{customer_id}"), format!("/customers/{customer_id}?tab=users"), "/invitations".into()]
    {
        let (s, html) = en.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(!html.contains("<script>alert"), "{path} shows the name as markup");
        if path != "/invitations" {
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path}: {html}");
        }
    }
    let (_, html) = en.get("/invitations").await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "who accepted, inert: {html}");

    for path in [
        "/customers?q=%00%01&sort=%3Cx%3E&limit=-5&cursor=%FF%FE",
        "/customers?limit=99999999999999999999&cursor=not-a-cursor",
        "/customers?q=%E2%80%AE&sort=-created_at&limit=1",
        "/customers/not-a-uuid",
        "/customers/00000000-0000-0000-0000-000000000000",
        "/customers/%00?tab=%3Cscript%3E",
        &format!("/customers/{customer_id}?tab=%3Cscript%3E&tab=users"),
        "/invitations?state=%3Cx%3E&cursor=%25%25&limit=abc",
        "/invitations/not-a-uuid/draft",
        "/invitations/00000000-0000-0000-0000-000000000000/draft?saved=%00",
    ] {
        let (s, _) = en.get(path).await;
        assert!(!s.is_server_error(), "{path}: {s}");
    }
    let csrf = en.csrf().await;
    let (s, _, html) = en
        .post(
            &format!("/customers/{customer_id}/users"),
            &[("csrf", &csrf), ("email", "bidi@tenant.example"), ("display_name", "Fabrikam\u{202E}moc.evil")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(!html.contains('\u{202E}'), "the refused name is not echoed back");
    for (path, form) in [
        ("/invitations", vec![("csrf", csrf.as_str()), ("customer_id", "zzz")]),
        (
            "/invitations",
            vec![("csrf", csrf.as_str()), ("indirect_provider_id", "00000000-0000-0000-0000-000000000000"), ("roles", "user_admin")],
        ),
        ("/invitations/zzz/revoke", vec![("csrf", csrf.as_str())]),
        ("/customers/zzz/users", vec![("csrf", csrf.as_str())]),
        ("/customers/zzz/licenses", vec![("csrf", csrf.as_str()), ("user_id", "x")]),
    ] {
        let (s, _, _) = en.post(path, &form).await;
        assert!(!s.is_server_error(), "{path}: {s}");
    }
}

#[tokio::test]
async fn with_a_relay_the_draft_page_sends() {
    let (url, mut rx) = crate::smtp::relay().await;
    let smtp = partnerhub_service::SmtpConfig { url, from: "partners@partnerhub.example".into() };
    let app = TestApp::spawn_with(Options { smtp: Some(smtp), ..Options::default() }).await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({"locale": "en"})).await;
    let id = inv["id"].as_str().expect("id");
    let fr = Browser::new(&app, &partner.token, "fr");
    let draft = format!("/invitations/{id}/draft");
    let (s, html) = fr.get(&draft).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"send\"") && html.contains("Envoyer"), "{html}");
    let csrf = fr.csrf().await;
    let send = format!("/invitations/{id}/send");
    let (s, _, _) = fr.post(&send, &[("to", "ga@customer.example")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, html) = fr.post(&send, &[("csrf", &csrf), ("to", "not an address")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (s, location, _) = fr.post(&send, &[("csrf", &csrf), ("to", "ga@customer.example")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let message = rx.recv().await.expect("one message");
    assert!(message.contains("To: ga@customer.example") && message.contains(inv["url"].as_str().expect("url")), "{message}");
    assert!(rx.try_recv().is_err(), "the refused POSTs sent nothing");
    let (_, html) = fr.get(&location).await;
    assert!(html.contains("Mis en file d'envoi"), "{html}");
}

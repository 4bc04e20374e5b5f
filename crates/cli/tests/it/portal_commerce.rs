//! Portal pages of removal, orders and subscriptions, and the audit log, over HTTP with a
//! cookie session (issue 8): what they show in French and English, what their forms change,
//! the form token, inert names and hostile query strings.

use crate::support::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

/// A browser without JavaScript: one session cookie, one language, no redirect followed.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
    content_type: String,
}

impl Browser {
    async fn sign_in(app: &TestApp, email: &str, lang: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = client
            .post(format!("{}/sign-in", app.url))
            .form(&[("email", email), ("password", PASSWORD), ("next", "/home")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
        let set = res.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
        let session = set.split(';').next().unwrap().to_owned();
        Self { client, base: app.url.clone(), cookie: format!("{session}; ph_lang={lang}") }
    }

    fn lang(&self, lang: &str) -> Self {
        let session = self.cookie.split(';').next().unwrap();
        Self { client: self.client.clone(), base: self.base.clone(), cookie: format!("{session}; ph_lang={lang}") }
    }

    async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status();
        let header = |h| res.headers().get(h).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).unwrap_or("").to_owned();
        let location = header(LOCATION);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        Answer { status, location, content_type, body: res.text().await.unwrap() }
    }

    async fn get(&self, path: &str) -> Answer {
        Self::answer(self.client.get(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        Self::answer(self.client.post(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).form(form).send().await.unwrap()).await
    }

    /// The form token of a page this session shows.
    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        csrf_of(&page.body)
    }
}

fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a form token") + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn subscription(app: &TestApp, partner: &Org, customer: &str, sid: &str) -> serde_json::Value {
    let (s, b) = app.get(&format!("/api/v1/customers/{customer}/subscriptions"), &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    b["items"].as_array().unwrap().iter().find(|x| x["id"] == sid).cloned().expect("the subscription")
}

#[tokio::test]
async fn removal_page_shows_blockers_and_the_whole_attestation_and_removes_only_when_ticked() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let sid = app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 3, None).await;
    let en = Browser::sign_in(&app, &partner.email, "en").await;
    let fr = en.lang("fr");
    let path = format!("/customers/{}/remove", customer.id);

    let page = en.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        "Remove customer relationship",
        "and that you agree to defend and hold the operator of this service harmless from any third-party claim to the contrary.",
        "This tool does not generate a notice for the customer or partner.",
        "Active subscription:",
        &format!("/subscriptions?customer={}#sub-{sid}", customer.id),
        r#"type="checkbox" name="attest""#,
    ] {
        assert!(page.body.contains(text), "en page lacks {text}");
    }
    assert!(!page.body.contains("checked"), "the attestation starts unticked");
    let page = fr.get(&path).await;
    for text in [
        "Supprimer une relation client",
        "de défendre et de maintenir l",
        "exploitant de ce service inoffensif de toute réclamation tierce au contraire.",
        "Cet outil ne génère pas d",
        "Abonnement actif :",
    ] {
        assert!(page.body.contains(text), "fr page lacks {text}");
    }

    // No form token, a wrong one: refused, nothing changes.
    assert_eq!(en.post(&path, &[("attest", "yes")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(en.post(&path, &[("attest", "yes"), ("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let csrf = en.csrf(&path).await;
    // Blocked while the subscription is open.
    let blocked = en.post(&path, &[("attest", "yes"), ("csrf", &csrf)]).await;
    assert_eq!(blocked.status, StatusCode::CONFLICT);
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()]);

    // Cancelled through the subscriptions page, then unticked: refused with the reason.
    let cancel = en.post(&format!("/customers/{}/subscriptions/{sid}", customer.id), &[("csrf", &csrf), ("do", "cancelled")]).await;
    assert_eq!(cancel.status, StatusCode::SEE_OTHER, "{}", cancel.body);
    let unticked = fr.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("Cochez la case"), "{}", unticked.body);
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()]);

    let done = en.post(&path, &[("attest", "yes"), ("csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location.starts_with("/customers?removed="), "{}", done.location);
    assert!(app.customer_ids(&partner).await.is_empty());
    // Gone from the caller's list: the page is now a 404 page, not an error.
    assert_eq!(en.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(en.get("/customers/not-a-uuid/remove").await.status, StatusCode::NOT_FOUND);
    app.verify_audit().await;
}

#[tokio::test]
async fn subscriptions_page_lists_filters_and_changes_what_the_placing_partner_may() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let offer = app.offer("<script>alert(1)</script> Mail").await;
    let sid = app.order(&partner.token, &customer.id, &offer, 3, None).await;
    let en = Browser::sign_in(&app, &partner.email, "en").await;
    let fr = en.lang("fr");

    let page = en.get("/subscriptions").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!(r#"id="sub-{sid}""#)));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Mail"), "the offer's name is inert");
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("Suspend") && page.body.contains("Change the quantity"));
    let page = fr.get(&format!("/subscriptions?customer={}&status=active", customer.id)).await;
    assert!(page.body.contains("Suspendre") && page.body.contains("Actif") && page.body.contains("Passer une commande"));
    let none = en.get("/subscriptions?status=cancelled").await;
    assert!(!none.body.contains(&format!(r#"id="sub-{sid}""#)) && none.body.contains("No subscription."));

    let action = format!("/customers/{}/subscriptions/{sid}", customer.id);
    assert_eq!(en.post(&action, &[("do", "suspended")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(en.post(&action, &[("do", "suspended"), ("csrf", "nope")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(subscription(&app, &partner, &customer.id, &sid).await["status"], "active");

    let csrf = en.csrf("/subscriptions").await;
    let r = en.post(&action, &[("csrf", &csrf), ("do", "quantity"), ("quantity", "7"), ("back", "/subscriptions?customer=")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location.starts_with("/subscriptions?"), "{}", r.location);
    assert_eq!(subscription(&app, &partner, &customer.id, &sid).await["quantity"], 7);
    let bad = en.post(&action, &[("csrf", &csrf), ("do", "quantity"), ("quantity", "lots"), ("back", "https://evil.example/")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(subscription(&app, &partner, &customer.id, &sid).await["quantity"], 7);
    assert_eq!(en.post(&action, &[("csrf", &csrf), ("do", "suspended")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(subscription(&app, &partner, &customer.id, &sid).await["status"], "suspended");
    assert!(en.get("/subscriptions").await.body.contains("Reactivate"));
    assert_eq!(en.post(&action, &[("csrf", &csrf), ("do", "active")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(subscription(&app, &partner, &customer.id, &sid).await["status"], "active");

    // The customer reads its tenant's subscriptions, without a form.
    let mine = Browser::sign_in(&app, &customer.email, "fr").await;
    let page = mine.get("/subscriptions").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!(r#"id="sub-{sid}""#)) && page.body.contains("Commandes et abonnements"));
    assert!(!page.body.contains(&action));

    for hostile in [
        "/subscriptions?customer=%3Cscript%3E",
        "/subscriptions?status=%E2%80%AE&page=-1",
        "/subscriptions?page=99999999999999999999999&customer=",
        "/subscriptions?customer=00000000-0000-0000-0000-000000000000",
        "/subscriptions?customer&status&page",
    ] {
        let a = en.get(hostile).await;
        assert!(!a.status.is_server_error() && !a.body.contains("<script>"), "{hostile}: {}", a.status);
        let a = mine.get(&format!("{hostile}&cursor=%00%FF")).await;
        assert!(!a.status.is_server_error(), "{hostile}: {}", a.status);
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn order_page_places_an_order_and_an_indirect_provider_names_the_reseller() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let offer = app.offer("Mail Basic").await;
    let customer = app.customer().await;
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);

    let en = Browser::sign_in(&app, &provider.email, "en").await;
    let path = format!("/customers/{}/orders/new", customer.id);
    let page = en.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Mail Basic") && page.body.contains("Reseller of record") && page.body.contains(&reseller.id));
    let fr = en.lang("fr").get(&path).await;
    assert!(fr.body.contains("Revendeur de référence") && fr.body.contains("6,00 EUR"), "{}", fr.body);
    assert!(page.body.contains("6.00 EUR"));
    let csrf = csrf_of(&page.body);
    let qty = format!("qty-{offer}");

    assert_eq!(en.post(&path, &[(&qty, "2"), ("reseller_id", &reseller.id)]).await.status, StatusCode::FORBIDDEN);
    let nothing = en.post(&path, &[("csrf", &csrf), (&qty, "0"), ("reseller_id", &reseller.id)]).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_reseller = en.post(&path, &[("csrf", &csrf), (&qty, "2"), ("reseller_id", "")]).await;
    assert_eq!(no_reseller.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_reseller.body);
    assert_eq!(app.raw.i64("SELECT count(*) FROM orders").await, 0);

    let placed = en.post(&path, &[("csrf", &csrf), (&qty, "2"), ("reseller_id", &reseller.id)]).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    assert!(placed.location.contains("&order="), "{}", placed.location);
    let shown = en.get(&placed.location).await;
    assert!(shown.body.contains("Order placed") && shown.body.contains("Mail Basic"), "{}", shown.body);
    let (_, subs) = app.get(&format!("/api/v1/customers/{}/subscriptions", customer.id), &provider.token).await;
    assert_eq!(subs["items"][0]["partner_of_record"]["id"], reseller.id.as_str());
    assert_eq!(subs["items"][0]["quantity"], 2);

    // The reseller of record reads it, and may not change it.
    let r = Browser::sign_in(&app, &reseller.email, "en").await;
    let page = r.get("/subscriptions").await;
    assert!(page.body.contains("Only the partner that placed it may change it."), "{}", page.body);
    assert!(!page.body.contains("new-order"));
    app.verify_audit().await;
}

#[tokio::test]
async fn audit_page_filters_pages_and_exports_csv_for_partner_and_customer() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 3, None).await;
    let en = Browser::sign_in(&app, &partner.email, "en").await;

    let page = en.get("/audit").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("order.created") && page.body.contains("invitation.created") && page.body.contains("Download as CSV"));
    let fr = en.lang("fr").get("/audit?action=order.created").await;
    assert!(fr.body.contains("Journal d'audit") && fr.body.contains("order.created") && !fr.body.contains("invitation.created"));
    let nobody = en.get("/audit?actor=nobody-here").await;
    assert!(nobody.body.contains("No record."));
    let today = time::OffsetDateTime::now_utc().date();
    let later = en.get(&format!("/audit?from={}", today.next_day().unwrap().next_day().unwrap())).await;
    assert!(later.body.contains("No record."), "{}", later.body);
    let bad = en.get("/audit?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(en.get("/audit?customer=nope").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = en.get(&format!("/audit?customer={}", uuid::Uuid::new_v4())).await;
    assert!(other.body.contains("No record."), "{}", other.body);
    let this = en.get(&format!("/audit?customer={}&action=order.created", customer.id)).await;
    assert!(this.body.contains("order.created"), "{}", this.body);

    let csv = en.get("/audit.csv?action=order.created&from=&to=&actor=").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    assert!(csv.body.starts_with("seq,at,organization_id,actor_user_id"), "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);

    // The customer sees what the partner did in its tenant.
    let mine = Browser::sign_in(&app, &customer.email, "en").await;
    let page = mine.get("/audit?action=order.created").await;
    assert!(page.body.contains("order.created") && page.body.contains(&partner.email), "{}", page.body);

    for hostile in [
        "/audit?action=%3Cscript%3Ealert(1)%3C/script%3E",
        "/audit?actor=%22%3E%3Cscript%3E%E2%80%AE&to=9999-99-99",
        "/audit?cursor=%00%00garbage&from=2026-02-30",
        "/audit?action=%01",
        "/audit.csv?from=-1",
    ] {
        let a = en.get(hostile).await;
        assert!(!a.status.is_server_error() && !a.body.contains("<script>"), "{hostile}: {} {}", a.status, a.body);
    }
    // No session: the sign-in page, never the log.
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = anon.get(format!("{}/audit.csv", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.verify_audit().await;
}

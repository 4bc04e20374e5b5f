//! Every list of the API pages the same way: `?limit=` (1..500, default 50) and `?cursor=`,
//! answered `{items, next_cursor, total}`; a bad `limit` or `cursor` is `422` naming it.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Every page of `path` (which may hold a query already), `limit` at a time, following
/// `next_cursor` to the end: asserts the total on every page, full pages but the last, and no
/// item twice; answers the items' ids in order.
async fn walk(app: &TestApp, path: &str, token: &str, limit: usize, total: usize) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=total {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (s, b) = app.get(&url, token).await;
        assert_eq!(s, StatusCode::OK, "{url}: {b}");
        assert_eq!(b["total"], json!(total), "{url}: the whole list's total on every page: {b}");
        let items = b["items"].as_array().unwrap();
        assert!(items.len() <= limit, "{url}: at most {limit} items: {b}");
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match b["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit, "{url}: a page before the last is full: {b}");
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(b["next_cursor"].is_null(), "{b}");
                let unique: BTreeSet<_> = ids.iter().collect();
                assert_eq!((ids.len(), unique.len()), (total, total), "{path}: every item once: {ids:?}");
                return ids;
            }
        }
    }
    panic!("{path}: more pages than items")
}

#[tokio::test]
async fn users_page_to_the_end() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    for _ in 0..4 {
        app.user(&p, &["sales_agent"]).await;
    }
    let elsewhere = app.partner("direct").await;
    app.user(&elsewhere, &["sales_agent"]).await;
    let (s, all) = app.get("/api/v1/users?limit=500", &p.token).await;
    assert_eq!((s, all["total"].clone(), all["next_cursor"].clone()), (StatusCode::OK, json!(5), Value::Null), "{all}");
    let in_one: Vec<_> = all["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(walk(&app, "/api/v1/users", &p.token, 2, 5).await, in_one, "the same users in the same order");
    let emails: Vec<_> = all["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted, "by e-mail");
    // A list of one page: no cursor.
    let (_, b) = app.get("/api/v1/users", &p.token).await;
    assert_eq!((b["items"].as_array().unwrap().len(), b["next_cursor"].clone()), (5, Value::Null));
    app.verify_audit().await;
}

#[tokio::test]
async fn providers_and_resellers_page_to_the_end() {
    let app = TestApp::spawn().await;
    let reseller = app.partner("indirect_reseller").await;
    let mut providers = Vec::new();
    for _ in 0..3 {
        let pv = app.partner("indirect_provider").await;
        app.link(&pv, &reseller).await;
        providers.push(pv);
    }
    let ids: BTreeSet<_> = walk(&app, "/api/v1/providers", &reseller.token, 2, 3).await.into_iter().collect();
    assert_eq!(ids, providers.iter().map(|p| p.id.clone()).collect());
    for _ in 0..2 {
        let r = app.partner("indirect_reseller").await;
        app.link(&providers[0], &r).await;
    }
    let resellers = walk(&app, "/api/v1/resellers", &providers[0].token, 2, 3).await;
    assert!(resellers.contains(&reseller.id));
    assert_eq!(walk(&app, "/api/v1/resellers", &providers[1].token, 2, 1).await, vec![reseller.id.clone()]);
}

#[tokio::test]
async fn a_customers_partners_page_to_the_end() {
    let app = TestApp::spawn().await;
    let c = app.customer().await;
    let mut partners = BTreeSet::new();
    for _ in 0..3 {
        let p = app.partner("direct").await;
        let inv = app.invite(&p, json!({})).await;
        let (s, b) = app.accept(&c.token, &inv).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        partners.insert(p.id);
    }
    let other = app.customer().await;
    let p = app.partner("direct").await;
    let (s, _) = app.accept(&other.token, &app.invite(&p, json!({})).await).await;
    assert_eq!(s, StatusCode::CREATED);
    let walked: BTreeSet<_> = walk(&app, "/api/v1/partners", &c.token, 2, 3).await.into_iter().collect();
    assert_eq!(walked, partners);
}

#[tokio::test]
async fn a_customers_grants_page_to_the_end() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let c = app.customer_granting(&p, &["user_admin", "license_admin", "helpdesk_admin", "billing_admin", "global_reader"]).await;
    let path = format!("/api/v1/customers/{}/grants", c.id);
    let (_, all) = app.get(&format!("{path}?limit=500"), &p.token).await;
    let in_one: Vec<_> = all["items"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(walk(&app, &path, &p.token, 2, 5).await, in_one);
    assert_eq!(walk(&app, &path, &p.token, 5, 5).await, in_one, "a last page that is exactly full has no cursor after it");
}

/// Every list route, by the path the OpenAPI document names it, with a caller who may read it.
async fn every_list(app: &TestApp) -> BTreeMap<String, (String, String)> {
    let p = app.partner("direct").await;
    let agent = app.user(&p, &["admin_agent"]).await;
    let c = app.customer_granting(&p, &["user_admin", "license_admin"]).await;
    let tenant_user = app.user_id(&c.token).await;
    let own_user = app.user_id(&p.token).await;
    let reseller = app.partner("indirect_reseller").await;
    let provider = app.partner("indirect_provider").await;
    let cid = &c.id;
    let mut lists = BTreeMap::new();
    let mut add = |template: &str, path: String, token: &str| {
        lists.insert(template.to_owned(), (path, token.to_owned()));
    };
    add("/api/v1/operator/partners", "/api/v1/operator/partners".into(), OPERATOR);
    add("/api/v1/operator/offers", "/api/v1/operator/offers".into(), OPERATOR);
    add("/api/v1/offers", "/api/v1/offers".into(), &p.token);
    add("/api/v1/me/sessions", "/api/v1/me/sessions".into(), &p.token);
    add("/api/v1/users", "/api/v1/users".into(), &p.token);
    add("/api/v1/users/{id}/licenses", format!("/api/v1/users/{own_user}/licenses"), &p.token);
    add("/api/v1/subscriptions", "/api/v1/subscriptions".into(), &c.token);
    add("/api/v1/providers", "/api/v1/providers".into(), &reseller.token);
    add("/api/v1/resellers", "/api/v1/resellers".into(), &provider.token);
    add("/api/v1/customers", "/api/v1/customers".into(), &p.token);
    add("/api/v1/customers/{id}/grants", format!("/api/v1/customers/{cid}/grants"), &p.token);
    add("/api/v1/customers/{id}/subscriptions", format!("/api/v1/customers/{cid}/subscriptions"), &agent);
    add("/api/v1/customers/{id}/users", format!("/api/v1/customers/{cid}/users"), &agent);
    add("/api/v1/customers/{id}/users/{user_id}/licenses", format!("/api/v1/customers/{cid}/users/{tenant_user}/licenses"), &agent);
    add("/api/v1/invitations", "/api/v1/invitations".into(), &p.token);
    add("/api/v1/partners", "/api/v1/partners".into(), &c.token);
    add("/api/v1/audit", "/api/v1/audit".into(), &p.token);
    let (s, hook) = app.post("/api/v1/webhooks", Some(&p.token), json!({"url": "https://1.1.1.1/hook", "events": ["grant.created"]})).await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    add("/api/v1/webhooks", "/api/v1/webhooks".into(), &p.token);
    add("/api/v1/webhooks/{id}/deliveries", format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), &p.token);
    lists
}

/// The GET routes whose answer is a `ListResponse`, as the served OpenAPI document says.
async fn documented_lists(app: &TestApp) -> BTreeMap<String, Value> {
    let doc: Value = app.client.get(format!("{}/api/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let mut out = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(get) = ops.get("get") else { continue };
        let json = &get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        if json.as_str().is_some_and(|r| r.starts_with("#/components/schemas/ListResponse")) {
            out.insert(path.clone(), get["parameters"].clone());
        }
    }
    out
}

#[tokio::test]
async fn every_list_refuses_a_bad_limit_or_cursor_naming_it() {
    let app = TestApp::spawn().await;
    let lists = every_list(&app).await;
    let documented = documented_lists(&app).await;
    assert_eq!(lists.keys().collect::<Vec<_>>(), documented.keys().collect::<Vec<_>>(), "every list route of the API is here");
    let field = |b: &Value| b["errors"].as_array().map(|e| e.iter().map(|x| x["field"].clone()).collect::<Vec<_>>()).unwrap_or_default();
    for (template, (path, token)) in &lists {
        // Declared in the OpenAPI document as optional query parameters.
        let params = documented[template].as_array().unwrap();
        for name in ["limit", "cursor"] {
            let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{template} declares no {name}"));
            assert_eq!((p["in"].as_str(), p["required"].as_bool().unwrap_or(false)), (Some("query"), false), "{template}: {p}");
        }
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!((limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()), (Some(1), Some(500)), "{template}: {limit}");

        for ok in ["1", "500"] {
            let (s, b) = app.get(&format!("{path}?limit={ok}"), token).await;
            assert_eq!(s, StatusCode::OK, "{path}?limit={ok}: {b}");
            assert!(b["items"].is_array() && b["total"].is_i64() && b.as_object().unwrap().contains_key("next_cursor"), "{path}: {b}");
            assert!(b["items"].as_array().unwrap().len() <= ok.parse().unwrap());
        }
        for bad in ["0", "501", "-1", "abc", "", "2.5", "50&limit=60"] {
            let (s, b) = app.get(&format!("{path}?limit={bad}"), token).await;
            assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{path}?limit={bad}: {b}");
            assert_eq!(field(&b), [json!("limit")], "{path}?limit={bad}: {b}");
        }
        for bad in ["not-a-cursor", "zz", ""] {
            let (s, b) = app.get(&format!("{path}?cursor={bad}"), token).await;
            assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{path}?cursor={bad}: {b}");
            assert_eq!(field(&b), [json!("cursor")], "{path}?cursor={bad}: {b}");
        }
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn a_cursor_of_another_list_is_refused_where_it_cannot_be_read() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    app.user(&p, &["sales_agent"]).await;
    let (_, b) = app.get("/api/v1/users?limit=1", &p.token).await;
    let users_cursor = b["next_cursor"].as_str().unwrap().to_owned();
    // The sessions list is ordered by time: an e-mail is no position in it.
    let (s, b) = app.get(&format!("/api/v1/me/sessions?cursor={users_cursor}"), &p.token).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{b}");
    assert_eq!(b["errors"][0]["field"], "cursor", "{b}");
}

#[tokio::test]
async fn without_a_limit_a_page_holds_fifty() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    for _ in 0..51 {
        app.invite(&p, json!({})).await;
    }
    let (_, b) = app.get("/api/v1/invitations", &p.token).await;
    assert_eq!((b["items"].as_array().unwrap().len(), b["total"].as_i64()), (50, Some(51)), "{b}");
    assert!(b["next_cursor"].is_string());
}

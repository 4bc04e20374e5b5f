//! Tenant isolation: another tenant's resource answers 404 exactly like a missing one.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_stranger_partner_gets_404_on_every_id_bearing_route() {
    let app = TestApp::spawn().await;
    let owner = app.partner("indirect_provider").await;
    let stranger = app.partner("indirect_provider").await;
    let customer = app.connected_customer(&owner).await;
    let inv = app.invite(&owner, json!({})).await;
    let inv_id = inv["id"].as_str().unwrap();
    let (_, users) = app.get("/api/v1/users", &owner.token).await;
    let owner_user = users["items"][0]["id"].as_str().unwrap().to_owned();
    let reseller = app.partner("indirect_reseller").await;
    app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": owner.partner_id})).await;
    let missing = uuid::Uuid::now_v7().to_string();

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/customers/{}", customer.id), None),
        (Method::GET, format!("/api/v1/customers/{}/removal-preflight", customer.id), None),
        (Method::POST, format!("/api/v1/customers/{}/remove-relationship", customer.id), Some(json!({"attest_good_faith": true}))),
        (Method::GET, format!("/api/v1/customers/{}/grants", customer.id), None),
        (Method::GET, format!("/api/v1/invitations/{inv_id}"), None),
        (Method::PUT, format!("/api/v1/invitations/{inv_id}/email"), Some(json!({"subject": "s", "body": inv["url"]}))),
        (Method::POST, format!("/api/v1/invitations/{inv_id}/send"), Some(json!({"to": "a@b.example"}))),
        (Method::POST, format!("/api/v1/invitations/{inv_id}/revoke"), Some(json!({}))),
        (Method::PATCH, format!("/api/v1/users/{owner_user}"), Some(json!({"display_name": "x"}))),
        (Method::DELETE, format!("/api/v1/users/{owner_user}"), None),
        (Method::POST, format!("/api/v1/resellers/{}/accept", reseller.id), Some(json!({}))),
        (Method::POST, format!("/api/v1/resellers/{}/decline", reseller.id), Some(json!({}))),
        (Method::DELETE, format!("/api/v1/resellers/{}", reseller.id), None),
        (Method::POST, "/api/v1/invitations".into(), Some(json!({"customer_id": customer.id}))),
    ];
    for (method, path, body) in &routes {
        let (s, b) = app.call(method.clone(), path, Some(&stranger.token), body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
        // Exactly like a missing id.
        let swap = |s: &str| {
            s.replace(&customer.id, &missing).replace(inv_id, &missing).replace(&owner_user, &missing).replace(&reseller.id, &missing)
        };
        let missing_path = swap(path);
        let missing_body = body.as_ref().map(|b| serde_json::from_str::<Value>(&swap(&b.to_string())).unwrap());
        let (s2, b2) = app.call(method.clone(), &missing_path, Some(&owner.token), missing_body).await;
        assert_eq!((s2, b2), (s, b), "{method} {missing_path}");
    }
    // Nothing changed for the owner.
    assert_eq!(app.get("/api/v1/resellers", &owner.token).await.1["items"][0]["state"], "pending");
    assert_eq!(app.customer_ids(&owner).await, vec![customer.id.clone()]);
    let (_, still) = app.get(&format!("/api/v1/invitations/{inv_id}"), &owner.token).await;
    assert_eq!(still["state"], "pending");
    assert_eq!(app.get("/api/v1/users", &owner.token).await.1["total"], 1);
    // Customer side: a partner the customer has no relationship with.
    let other_customer = app.customer().await;
    for path in [format!("/api/v1/partners/{}/revoke-grants", owner.id), format!("/api/v1/partners/{}/remove-relationship", owner.id)] {
        let (s, b) = app.post(&path, Some(&other_customer.token), json!({})).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    // The audit log of one tenant shows nothing of another.
    let (_, audit) = app.get("/api/v1/audit", &stranger.token).await;
    let text = audit.to_string();
    assert!(
        audit["total"].as_i64().unwrap() >= 2 && !text.contains(&owner.id) && !text.contains(&customer.id) && !text.contains(inv_id),
        "{audit}"
    );
    app.verify_audit().await;
}

/// The routes of commerce and of delegated administration, by a stranger's global admin and
/// admin agent: 404 exactly like a missing id, and nothing written.
#[tokio::test]
async fn a_stranger_partner_gets_404_on_every_commerce_and_tenant_route() {
    let app = TestApp::spawn().await;
    let owner = app.partner("direct").await;
    let stranger = app.partner("direct").await;
    let owner_agent = app.user(&owner, &["admin_agent"]).await;
    let stranger_agent = app.user(&stranger, &["admin_agent"]).await;
    let customer = app.connected_customer(&owner).await;
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&owner.token, &customer.id, &offer, 3, None).await;
    let (uid, _, _) = app.tenant_user(&owner_agent, &customer.id, &[]).await;
    let (s, _) = app
        .post(&format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id), Some(&owner_agent), json!({"subscription_id": sid}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let owner_user = app.user_id(&owner_agent).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let c = &customer.id;
    // (as an agent?, method, path, body)
    let routes: Vec<(bool, Method, String, Option<Value>)> = vec![
        (false, Method::POST, format!("/api/v1/customers/{c}/orders"), Some(json!({"items": [{"offer_id": offer, "quantity": 1}]}))),
        (false, Method::GET, format!("/api/v1/customers/{c}/subscriptions"), None),
        (false, Method::PATCH, format!("/api/v1/customers/{c}/subscriptions/{sid}"), Some(json!({"status": "cancelled"}))),
        (false, Method::GET, format!("/api/v1/users/{owner_user}/licenses"), None),
        (false, Method::POST, format!("/api/v1/users/{owner_user}/reset-password"), Some(json!({}))),
        (true, Method::GET, format!("/api/v1/customers/{c}/users"), None),
        (
            true,
            Method::POST,
            format!("/api/v1/customers/{c}/users"),
            Some(json!({"email": "intruder@tenant.example", "display_name": "I"})),
        ),
        (true, Method::PATCH, format!("/api/v1/customers/{c}/users/{uid}"), Some(json!({"display_name": "x"}))),
        (true, Method::DELETE, format!("/api/v1/customers/{c}/users/{uid}"), None),
        (true, Method::POST, format!("/api/v1/customers/{c}/users/{uid}/reset-password"), Some(json!({}))),
        (true, Method::GET, format!("/api/v1/customers/{c}/users/{uid}/licenses"), None),
        (true, Method::POST, format!("/api/v1/customers/{c}/users/{uid}/licenses"), Some(json!({"subscription_id": sid}))),
        (true, Method::DELETE, format!("/api/v1/customers/{c}/users/{uid}/licenses/{sid}"), None),
    ];
    let swap = |s: &str| s.replace(c.as_str(), &missing).replace(&owner_user, &missing);
    for (as_agent, method, path, body) in &routes {
        let token = if *as_agent { &stranger_agent } else { &stranger.token };
        let (s, b) = app.call(method.clone(), path, Some(token), body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
        let own = if *as_agent { &owner_agent } else { &owner.token };
        let missing_body = body.as_ref().map(|b| serde_json::from_str::<Value>(&swap(&b.to_string())).unwrap());
        let (s2, b2) = app.call(method.clone(), &swap(path), Some(own), missing_body).await;
        assert_eq!((s2, b2), (s, b), "{method} {}", swap(path));
    }
    // Nothing changed for the owner.
    let (_, subs) = app.get(&format!("/api/v1/customers/{c}/subscriptions"), &owner.token).await;
    assert_eq!((subs["items"][0]["status"].as_str(), subs["items"][0]["assigned"].as_i64()), (Some("active"), Some(1)));
    let (_, users) = app.get(&format!("/api/v1/customers/{c}/users"), &owner_agent).await;
    assert_eq!(users["total"], 2);
    assert_eq!(app.raw.i64("SELECT count(*) FROM orders").await, 1);
    let (_, audit) = app.get("/api/v1/audit", &stranger.token).await;
    assert!(!audit.to_string().contains(c.as_str()), "{audit}");
    app.verify_audit().await;
}

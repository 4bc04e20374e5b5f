//! Provider links that end: a provider declines a pending request, a provider ends a link, a
//! reseller leaves; customers keep their relationships, and what needed the link stops.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The actions of the audit records `token`'s organization reads, newest first, with the records.
async fn audit(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/audit?action={action}"), token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["items"].as_array().unwrap().clone()
}

async fn request(app: &TestApp, reseller: &Org, provider: &Org) -> (StatusCode, Value) {
    app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": provider.partner_id})).await
}

#[tokio::test]
async fn a_provider_declines_a_request_and_the_reseller_may_ask_again() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    assert_eq!(request(&app, &reseller, &provider).await.0, StatusCode::CREATED);
    let decline = format!("/api/v1/resellers/{}/decline", reseller.id);

    // Only the provider's global admin declines; nobody without a token.
    let agent = app.user(&provider, &["admin_agent"]).await;
    let (s, b) = app.post(&decline, Some(&agent), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, b) = app.call(Method::POST, &decline, None, Some(json!({}))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    let (s, b) = app.post(&decline, Some(&provider.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["id"].as_str(), b["state"].as_str()), (Some(reseller.id.as_str()), Some("declined")));
    assert_eq!(app.get("/api/v1/resellers", &provider.token).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/providers", &reseller.token).await.1["total"], 0);
    let (s, b) = app.post(&decline, Some(&provider.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "declined once");

    // The reseller reads the refusal in its own log, done by the provider.
    let records = audit(&app, &reseller.token, "provider_link.declined").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["actor"]["email"], provider.email.as_str());
    assert_eq!(records[0]["target"]["reseller_id"], reseller.id.as_str());
    assert!(records[0]["target"]["id"].is_string(), "{}", records[0]);

    // Asked again and accepted, the link is not declined any more: it is ended instead.
    assert_eq!(request(&app, &reseller, &provider).await.0, StatusCode::CREATED);
    let (s, _) = app.post(&format!("/api/v1/resellers/{}/accept", reseller.id), Some(&provider.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.post(&decline, Some(&provider.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{b}");
    assert!(b["detail"].as_str().unwrap().contains("end it instead"), "{b}");
    assert_eq!(app.get("/api/v1/providers", &reseller.token).await.1["items"][0]["state"], "active");
    app.verify_audit().await;
}

#[tokio::test]
async fn ending_a_link_keeps_customers_relationships_and_refuses_the_providers_next_order_for_that_reseller() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    assert_eq!(request(&app, &reseller, &provider).await.0, StatusCode::CREATED);
    let (s, _) = app.post(&format!("/api/v1/resellers/{}/accept", reseller.id), Some(&provider.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    // A customer connected to both, through the provider (one invitation naming it).
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    let customer = app.customer().await;
    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let offer = app.offer("Mail Basic").await;
    app.order(&provider.token, &customer.id, &offer, 3, Some(&reseller.id)).await;
    let grants = |org: Org| {
        let app = &app;
        let path = format!("/api/v1/customers/{}/grants", customer.id);
        async move { app.get(&path, &org.token).await.1 }
    };
    let before = (grants(provider.clone()).await, grants(reseller.clone()).await);

    let end = format!("/api/v1/resellers/{}", reseller.id);
    let agent = app.user(&provider, &["admin_agent"]).await;
    assert_eq!(app.delete(&end, &agent).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::DELETE, &end, None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&end, &customer.token).await.0, StatusCode::FORBIDDEN);
    let (s, b) = app.delete(&end, &provider.token).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = app.delete(&end, &provider.token).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "ended once");

    // The customer's relationships and grants are as they were, on both sides.
    assert_eq!(app.customer_ids(&provider).await, vec![customer.id.clone()]);
    assert_eq!(app.customer_ids(&reseller).await, vec![customer.id.clone()]);
    assert_eq!((grants(provider.clone()).await, grants(reseller.clone()).await), before);
    let (_, partners) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(partners["total"], 2, "{partners}");
    // What needs the link stops: the provider's order naming that reseller is refused.
    let (s, b) = app.try_order(&provider.token, &customer.id, &offer, 1, Some(&reseller.id)).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{b}");
    assert_eq!(b["errors"][0]["field"], "reseller_id", "{b}");
    let (s, _) = app.post("/api/v1/invitations", Some(&reseller.token), json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "no invitation naming the provider either");

    // The reseller reads the end in its log; the lists no longer show the link.
    let ended = audit(&app, &reseller.token, "provider_link.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0]["details"]["ended_by"].as_str(), ended[0]["details"]["previous_state"].as_str()),
        (Some("provider"), Some("active"))
    );
    assert_eq!(app.get("/api/v1/resellers", &provider.token).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/providers", &reseller.token).await.1["total"], 0);

    // The same pair connects again; then the reseller leaves.
    assert_eq!(request(&app, &reseller, &provider).await.0, StatusCode::CREATED);
    let (s, _) = app.post(&format!("/api/v1/resellers/{}/accept", reseller.id), Some(&provider.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    app.order(&provider.token, &customer.id, &offer, 1, Some(&reseller.id)).await;
    let leave = format!("/api/v1/providers/{}", provider.id);
    assert_eq!(app.delete(&leave, &provider.token).await.0, StatusCode::NOT_FOUND, "the provider is no reseller of itself");
    let (s, b) = app.delete(&leave, &reseller.token).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let left = audit(&app, &provider.token, "provider_link.ended").await;
    assert_eq!(left.len(), 2);
    assert_eq!(
        (left[0]["details"]["ended_by"].as_str(), left[0]["actor"]["email"].as_str()),
        (Some("reseller"), Some(reseller.email.as_str()))
    );
    assert_eq!(app.customer_ids(&reseller).await, vec![customer.id.clone()]);
    // A pending request is withdrawn the same way.
    assert_eq!(request(&app, &reseller, &provider).await.0, StatusCode::CREATED);
    assert_eq!(app.delete(&leave, &reseller.token).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/resellers", &provider.token).await.1["total"], 0);
    app.verify_audit().await;
}

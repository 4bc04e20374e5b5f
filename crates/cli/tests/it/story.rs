//! The whole story of an indirect sale, end to end through HTTP, in one test: invited
//! together, ordered by the provider for its reseller, administered by the reseller's agent,
//! held while sold, and ended cleanly.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_reseller_and_its_provider_sell_administer_and_part_with_a_customer() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;

    // Invited together: an open invitation of the reseller naming its provider.
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    let customer = app.customer().await;
    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["relationships"].as_array().unwrap().len(), 2);

    // The provider orders for its reseller.
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&provider.token, &customer.id, &offer, 10, Some(&reseller.id)).await;

    // An admin agent of the reseller creates a user of the customer and gives it a seat.
    let agent = app.user(&reseller, &["admin_agent"]).await;
    let (uid, email, temporary) = app.tenant_user(&agent, &customer.id, &[]).await;
    let licenses = format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id);
    let (s, b) = app.post(&licenses, Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, t) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": temporary})).await;
    assert_eq!((s, t["password_change_required"].as_bool()), (StatusCode::OK, Some(true)));

    // The reseller cannot leave while it is partner of record of an open subscription.
    let preflight = format!("/api/v1/customers/{}/removal-preflight", customer.id);
    let remove = format!("/api/v1/customers/{}/remove-relationship", customer.id);
    let (_, pre) = app.get(&preflight, &reseller.token).await;
    assert_eq!(pre["blockers"], json!([{"kind": "active_subscription", "id": sid, "name": "Mail Basic"}]));
    let (s, b) = app.post(&remove, Some(&reseller.token), json!({"attest_good_faith": true})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "removal_blocked"));

    // The provider, which placed it, cancels: the seat goes back.
    let (s, b) =
        app.patch(&format!("/api/v1/customers/{}/subscriptions/{sid}", customer.id), &provider.token, json!({"status": "cancelled"})).await;
    assert_eq!((s, b["status"].as_str(), b["assigned"].as_i64()), (StatusCode::OK, Some("cancelled"), Some(0)));
    assert_eq!(app.get(&licenses, &agent).await.1["total"], 0);

    // Now the reseller removes, with the attestation.
    let (_, pre) = app.get(&preflight, &reseller.token).await;
    assert_eq!(pre["removable"], true);
    let (s, b) = app.post(&remove, Some(&reseller.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "attestation_required"));
    let (s, b) = app.post(&remove, Some(&reseller.token), json!({"attest_good_faith": true})).await;
    assert_eq!((s, b["state"].as_str(), b["revoked_grants"].as_i64()), (StatusCode::OK, Some("removed"), Some(3)));

    // The agent's very next request finds no such customer.
    let (s, b) = app.get(&format!("/api/v1/customers/{}/users", customer.id), &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, _) = app.post(&licenses, Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The provider keeps its relationship, which no longer names the reseller.
    assert_eq!(app.customer_ids(&provider).await, vec![customer.id.clone()]);
    let (_, list) = app.get("/api/v1/customers", &provider.token).await;
    assert_eq!(list["items"][0]["indirect_reseller"], serde_json::Value::Null, "{list}");
    let (_, detail) = app.get(&format!("/api/v1/customers/{}", customer.id), &provider.token).await;
    assert!(!detail["other_partners"].to_string().contains(&reseller.id), "{detail}");
    let (_, partners) = app.get("/api/v1/partners", &customer.token).await;
    let ids: Vec<_> = partners["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [provider.id.as_str()]);
    // The customer's log tells the story.
    let (_, audit) = app.get("/api/v1/audit?limit=100", &customer.token).await;
    let actions: Vec<_> = audit["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for done in ["invitation.accepted", "order.created", "user.created", "license.assigned", "subscription.updated", "relationship.removed"]
    {
        assert!(actions.contains(&done), "{done} missing from {actions:?}");
    }
    app.verify_audit().await;
}

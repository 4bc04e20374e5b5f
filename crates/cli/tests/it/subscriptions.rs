//! Subscriptions: who sees them, who changes them, and the rules of quantity and status.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_subscription_is_read_by_its_placer_and_its_partner_of_record_and_changed_only_by_its_placer() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let other = app.partner("direct").await;
    let stranger = app.partner("direct").await;
    app.link(&provider, &reseller).await;
    let customer = app.customer().await;
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    // Another partner of the same customer, that sold nothing.
    let again = app.invite(&other, json!({})).await;
    assert_eq!(app.accept(&customer.token, &again).await.0, StatusCode::CREATED);
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&provider.token, &customer.id, &offer, 5, Some(&reseller.id)).await;
    let list = format!("/api/v1/customers/{}/subscriptions", customer.id);
    let one = format!("{list}/{sid}");

    for (who, token) in [("placer", &provider.token), ("partner of record", &reseller.token)] {
        let (s, b) = app.get(&list, token).await;
        assert_eq!((s, ids(&b)), (StatusCode::OK, vec![sid.clone()]), "{who}");
        assert_eq!(b["total"], 1);
        let sub = &b["items"][0];
        assert_eq!(
            (sub["placed_by"]["id"].as_str(), sub["partner_of_record"]["id"].as_str()),
            (Some(provider.id.as_str()), Some(reseller.id.as_str()))
        );
        assert_eq!(sub["partner_of_record"]["partner_id"], reseller.partner_id.as_str());
        assert_eq!((sub["offer_id"].as_str(), sub["offer"]["name"].as_str()), (Some(offer.as_str()), Some("Mail Basic")));
    }
    // Another partner of the customer sees none of it; a stranger not even the customer.
    let (s, b) = app.get(&list, &other.token).await;
    assert_eq!((s, b["total"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, b) = app.get(&list, &stranger.token).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, b) = app.patch(&one, &other.token, json!({"quantity": 2})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "exactly like a missing one");
    let (s, b) = app.patch(&one, &stranger.token, json!({"quantity": 2})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // The partner of record reads it but may not change it.
    let (s, b) = app.patch(&one, &reseller.token, json!({"quantity": 2})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    // Its placer may; a helpdesk agent of the placer may read but not change.
    let helpdesk = app.user(&provider, &["helpdesk_agent"]).await;
    assert_eq!(app.get(&list, &helpdesk).await.0, StatusCode::OK);
    assert_eq!(app.patch(&one, &helpdesk, json!({"quantity": 2})).await.0, StatusCode::FORBIDDEN);
    let (s, b) = app.patch(&one, &provider.token, json!({"quantity": 8})).await;
    assert_eq!((s, b["quantity"].as_i64()), (StatusCode::OK, Some(8)), "{b}");

    // The customer's detail counts, as each partner sees them.
    let (_, d) = app.get(&format!("/api/v1/customers/{}", customer.id), &reseller.token).await;
    assert_eq!(d["subscriptions"], json!({"active": 1, "suspended": 0, "cancelled": 0}));
    let (_, d) = app.get(&format!("/api/v1/customers/{}", customer.id), &other.token).await;
    assert_eq!(d["subscriptions"], json!({"active": 0, "suspended": 0, "cancelled": 0}));

    // The audit of the change: the placer, the partner of record and the customer see it.
    for token in [&provider.token, &reseller.token, &customer.token] {
        let (_, a) = app.get("/api/v1/audit?action=subscription.updated", token).await;
        assert_eq!(a["total"], 1, "{a}");
    }
    let (_, a) = app.get("/api/v1/audit?action=subscription.updated", &other.token).await;
    assert_eq!(a["total"], 0);
    app.verify_audit().await;
}

#[tokio::test]
async fn quantity_never_drops_below_the_assigned_seats_and_cancelled_is_final() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&partner.token, &customer.id, &offer, 5, None).await;
    let one = format!("/api/v1/customers/{}/subscriptions/{sid}", customer.id);
    let mut users = Vec::new();
    for _ in 0..2 {
        let (uid, _, _) = app.tenant_user(&agent, &customer.id, &[]).await;
        let (s, b) = app
            .post(&format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id), Some(&agent), json!({"subscription_id": sid}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        users.push(uid);
    }

    let (s, b) = app.patch(&one, &partner.token, json!({"quantity": 1})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "two seats are assigned");
    let (s, b) = app.patch(&one, &partner.token, json!({"quantity": 2})).await;
    assert_eq!((s, b["quantity"].as_i64(), b["assigned"].as_i64()), (StatusCode::OK, Some(2), Some(2)));
    for (body, f) in [
        (json!({"quantity": 0}), "quantity"),
        (json!({"quantity": 100_001}), "quantity"),
        (json!({"status": "paused"}), "status"),
        (json!({}), "body"),
    ] {
        let (s, b) = app.patch(&one, &partner.token, body.clone()).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(f)), "{body}");
    }

    // active -> suspended -> active; a suspended subscription gives no seat.
    let (s, b) = app.patch(&one, &partner.token, json!({"status": "suspended"})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("suspended")));
    let (third, _, _) = app.tenant_user(&agent, &customer.id, &[]).await;
    let (s, b) = app.patch(&one, &partner.token, json!({"quantity": 3})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) =
        app.post(&format!("/api/v1/customers/{}/users/{third}/licenses", customer.id), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (s, b) = app.patch(&one, &partner.token, json!({"status": "active"})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("active")));
    // A suspended subscription holds the relationship too.
    let (s, b) = app.patch(&one, &partner.token, json!({"status": "suspended"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, pre) = app.get(&format!("/api/v1/customers/{}/removal-preflight", customer.id), &partner.token).await;
    assert_eq!(pre["removable"], false);

    // Cancelling releases every license, in the same change.
    let (s, b) = app.patch(&one, &partner.token, json!({"status": "cancelled"})).await;
    assert_eq!((s, b["status"].as_str(), b["assigned"].as_i64()), (StatusCode::OK, Some("cancelled"), Some(0)));
    for uid in &users {
        let (s, l) = app.get(&format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id), &agent).await;
        assert_eq!((s, l["total"].as_i64()), (StatusCode::OK, Some(0)), "{l}");
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM licenses").await, 0);
    assert_eq!(app.raw.i64("SELECT count(*) FROM outbox_events WHERE event_type = 'license.released'").await, 2);
    // Cancelled is final.
    for body in [json!({"status": "active"}), json!({"status": "suspended"}), json!({"quantity": 4})] {
        let (s, b) = app.patch(&one, &partner.token, body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{body}");
    }
    let (_, own) = app.get("/api/v1/subscriptions", &customer.token).await;
    assert_eq!(own["items"][0]["status"], "cancelled");
    let (_, d) = app.get(&format!("/api/v1/customers/{}", customer.id), &partner.token).await;
    assert_eq!(d["subscriptions"], json!({"active": 0, "suspended": 0, "cancelled": 1}));
    let (_, pre) = app.get(&format!("/api/v1/customers/{}/removal-preflight", customer.id), &partner.token).await;
    assert_eq!(pre["removable"], true, "a cancelled subscription holds nothing");
    app.verify_audit().await;
}

//! Licenses: seats of a subscription given to the customer's users, never more than bought,
//! even when many agents assign at once.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn seats_are_assigned_and_released_and_never_past_the_quantity() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&partner.token, &customer.id, &offer, 2, None).await;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(app.tenant_user(&agent, &customer.id, &[]).await.0);
    }
    let assign = |uid: &str| format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id);

    let (s, l) = app.post(&assign(&users[0]), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!((l["subscription_id"].as_str(), l["user_id"].as_str()), (Some(sid.as_str()), Some(users[0].as_str())));
    assert_eq!(l["offer"]["name"], "Mail Basic");
    assert!(l["assigned_at"].is_string());
    let (s, b) = app.post(&assign(&users[0]), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "the same seat twice");
    assert_eq!(app.post(&assign(&users[1]), Some(&agent), json!({"subscription_id": sid})).await.0, StatusCode::CREATED);
    let (s, b) = app.post(&assign(&users[2]), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "past the quantity");

    // A subscription of another customer, or none at all, is not there.
    let other = app.connected_customer(&partner).await;
    let foreign = app.order(&partner.token, &other.id, &offer, 2, None).await;
    let (s, b) = app.post(&assign(&users[2]), Some(&agent), json!({"subscription_id": foreign})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    // A user of another customer neither.
    let (outsider, _, _) = app.tenant_user(&agent, &other.id, &[]).await;
    let (s, b) = app.post(&assign(&outsider), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    let (s, mine) = app.get(&assign(&users[0]), &agent).await;
    assert_eq!((s, mine["total"].as_i64()), (StatusCode::OK, Some(1)));
    let (s, _) = app.delete(&format!("{}/{sid}", assign(&users[0])), &agent).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.delete(&format!("{}/{sid}", assign(&users[0])), &agent).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "released already");
    assert_eq!(
        app.post(&assign(&users[2]), Some(&agent), json!({"subscription_id": sid})).await.0,
        StatusCode::CREATED,
        "the seat is free again"
    );
    let (_, subs) = app.get(&format!("/api/v1/customers/{}/subscriptions", customer.id), &partner.token).await;
    assert_eq!((subs["items"][0]["quantity"].as_i64(), subs["items"][0]["assigned"].as_i64()), (Some(2), Some(2)));
    // Licenses are the tenant's: an agent of another partner with license_admin assigns seats
    // of a subscription it did not sell.
    let second = app.partner("direct").await;
    let inv = app.invite(&second, json!({"roles": ["license_admin"]})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    let second_agent = app.user(&second, &["admin_agent"]).await;
    let (s, _) = app.delete(&format!("{}/{sid}", assign(&users[2])), &second_agent).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.verify_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_assignments_on_five_seats_give_exactly_five() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let sid = app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 5, None).await;
    let mut users = Vec::new();
    for _ in 0..32 {
        users.push(app.tenant_user(&agent, &customer.id, &[]).await.0);
    }
    let paths: Vec<_> = users.iter().map(|uid| format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id)).collect();
    let calls = paths.iter().map(|path| app.post(path, Some(&agent), json!({"subscription_id": sid})));
    let results = futures::future::join_all(calls).await;
    let won = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != StatusCode::CREATED).map(|(s, b)| (*s, code(b).to_owned())).collect();
    assert_eq!(won, 5, "{lost:?}");
    assert!(lost.iter().all(|(s, c)| *s == StatusCode::CONFLICT && c == "conflict"), "{lost:?}");
    assert_eq!(app.raw.i64("SELECT count(*) FROM licenses").await, 5);
    assert_eq!(app.raw.i64("SELECT assigned FROM subscriptions").await, 5);
    assert_eq!(app.raw.i64("SELECT count(*) FROM outbox_events WHERE event_type = 'license.assigned'").await, 5);
    app.verify_audit().await;
}

//! Acceptance is atomic: of many concurrent acceptances, exactly one wins.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_acceptances_give_one_winner_and_one_relationship() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({})).await;
    let calls = (0..32).map(|_| app.accept(&customer.token, &inv));
    let results = futures::future::join_all(calls).await;
    let won = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != StatusCode::CREATED).map(|(s, b)| (*s, code(b).to_owned())).collect();
    assert_eq!(won, 1, "{lost:?}");
    assert!(lost.iter().all(|(s, c)| *s == StatusCode::CONFLICT && c == "invitation_not_pending"), "{lost:?}");
    let (_, mine) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(mine["total"], 1);
    let rels = app.raw.i64("SELECT count(*) FROM relationships").await;
    let grants = app.raw.i64("SELECT count(*) FROM grants").await;
    assert_eq!((rels, grants), (1, 3));
    app.verify_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_invitation_raced_by_many_customers_connects_only_one() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let mut customers = Vec::new();
    for _ in 0..8 {
        customers.push(app.customer().await);
    }
    let inv = app.invite(&partner, json!({})).await;
    let results = futures::future::join_all(customers.iter().map(|c| app.accept(&c.token, &inv))).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s != StatusCode::CREATED)
            .all(|(s, b)| *s == StatusCode::CONFLICT && code(b) == "invitation_not_pending")
    );
    assert_eq!(app.customer_ids(&partner).await.len(), 1);
}

/// An order racing a removal, over HTTP, many times: either the order lands first and blocks
/// the removal, or the removal does and the order is refused. Never an open subscription
/// without the relationships of the partners it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_racing_a_removal_never_leaves_a_subscription_without_its_partners_relationship() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let direct = app.partner("direct").await;
    app.link(&provider, &reseller).await;
    let offer = app.offer("Mail Basic").await;
    let remove = |c: &str| format!("/api/v1/customers/{c}/remove-relationship");
    let attest = json!({"attest_good_faith": true});
    let (mut orders_won, mut removals_won) = (0, 0);
    for _ in 0..12 {
        // The provider orders for its reseller while the reseller removes itself.
        let customer = app.customer().await;
        let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
        assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
        let removal = remove(&customer.id);
        let ((os, ob), (rs, rb)) = tokio::join!(
            app.try_order(&provider.token, &customer.id, &offer, 1, Some(&reseller.id)),
            app.post(&removal, Some(&reseller.token), attest.clone()),
        );
        match (os, rs) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => assert_eq!(code(&rb), "removal_blocked"),
            (StatusCode::FORBIDDEN, StatusCode::OK) => assert_eq!(code(&ob), "no_reseller_relationship"),
            other => panic!("order {other:?} {ob} / removal {rb}"),
        }
        // A direct partner orders while it removes itself.
        let customer = app.connected_customer(&direct).await;
        let removal = remove(&customer.id);
        let ((os, ob), (rs, rb)) = tokio::join!(
            app.try_order(&direct.token, &customer.id, &offer, 1, None),
            app.post(&removal, Some(&direct.token), attest.clone()),
        );
        match (os, rs) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => orders_won += 1,
            (StatusCode::NOT_FOUND, StatusCode::OK) => removals_won += 1,
            other => panic!("order {other:?} {ob} / removal {rb}"),
        }
    }
    let orphans = app
        .raw
        .i64(
            "SELECT count(*) FROM subscriptions s WHERE s.status <> 'cancelled' AND (
               NOT EXISTS (SELECT 1 FROM relationships r WHERE r.partner_org_id = s.partner_of_record AND r.customer_id = s.customer_id AND r.state = 'active')
               OR NOT EXISTS (SELECT 1 FROM relationships r WHERE r.partner_org_id = s.placed_by AND r.customer_id = s.customer_id AND r.state = 'active'))",
        )
        .await;
    assert_eq!(orphans, 0);
    println!("direct races: {orders_won} orders first, {removals_won} removals first");
    app.verify_audit().await;
}

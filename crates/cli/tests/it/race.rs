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

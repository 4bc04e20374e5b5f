//! Open subscriptions hold a relationship, from either side; renewing grants leaves one live
//! grant per role.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_open_subscription_blocks_removal_from_both_sides_until_it_is_cancelled() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let sid = app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 3, None).await;
    let preflight = format!("/api/v1/customers/{}/removal-preflight", customer.id);
    let remove = format!("/api/v1/customers/{}/remove-relationship", customer.id);

    let (s, pre) = app.get(&preflight, &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pre["removable"], false);
    assert_eq!(pre["blockers"], json!([{"kind": "active_subscription", "id": sid, "name": "Mail Basic"}]));
    let (s, b) = app.post(&remove, Some(&partner.token), json!({"attest_good_faith": true})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "removal_blocked"));
    assert_eq!(b["blockers"][0]["id"], sid.as_str());
    // The customer's own removal is held by the same blocker; revoking the grants is not.
    let (s, b) = app.post(&format!("/api/v1/partners/{}/remove-relationship", partner.id), Some(&customer.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "removal_blocked"));
    let (s, b) = app.post(&format!("/api/v1/partners/{}/revoke-grants", partner.id), Some(&customer.token), json!({})).await;
    assert_eq!((s, b["revoked_grants"].as_i64()), (StatusCode::OK, Some(3)));
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()], "nothing else changed");

    let (s, _) =
        app.patch(&format!("/api/v1/customers/{}/subscriptions/{sid}", customer.id), &partner.token, json!({"status": "cancelled"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, pre) = app.get(&preflight, &partner.token).await;
    assert_eq!((pre["removable"].as_bool(), pre["blockers"].clone()), (Some(true), json!([])));
    let (s, b) = app.post(&remove, Some(&partner.token), json!({"attest_good_faith": true})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("removed")), "{b}");
    // The customer still sees the cancelled subscription of its tenant.
    let (_, own) = app.get("/api/v1/subscriptions", &customer.token).await;
    assert_eq!((own["total"].as_i64(), own["items"][0]["status"].as_str()), (Some(1), Some("cancelled")));
    app.verify_audit().await;
}

#[tokio::test]
async fn a_second_bound_invitation_leaves_exactly_one_live_grant_per_role() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let grants = format!("/api/v1/customers/{}/grants", customer.id);
    app.clock.advance(time::Duration::hours(1));
    let inv =
        app.invite(&partner, json!({"customer_id": customer.id, "roles": ["user_admin", "global_reader"], "duration_days": 30})).await;
    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.get(&grants, &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    let items = b["items"].as_array().unwrap();
    let live = |role: &str| items.iter().filter(|g| g["role"] == role && g["state"] == "active").count();
    for (role, n) in [("user_admin", 1), ("global_reader", 1), ("license_admin", 1), ("helpdesk_admin", 1)] {
        assert_eq!(live(role), n, "{role}: {b}");
    }
    let old = items.iter().find(|g| g["role"] == "user_admin" && g["state"] == "revoked").expect("the old user_admin grant ended");
    let new = items.iter().find(|g| g["role"] == "user_admin" && g["state"] == "active").unwrap();
    assert_eq!(old["revoked_at"], new["created_at"], "the old grant ends as the new one starts");
    let days = |g: &serde_json::Value| {
        let t = |k: &str| time::OffsetDateTime::parse(g[k].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        (t("expires_at") - t("created_at")).whole_days()
    };
    assert_eq!(days(new), 30);
    // The customer's view of the partner shows one live grant per role too.
    let (_, partners) = app.get("/api/v1/partners", &customer.token).await;
    let shown: Vec<_> = partners["items"][0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["state"] == "active")
        .map(|g| g["role"].as_str().unwrap())
        .collect();
    assert_eq!(shown.len(), 4, "{shown:?}");
    app.verify_audit().await;
}

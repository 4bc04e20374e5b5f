//! Removing a relationship (PRODUCT.md flow 7): every grant revoked in one transaction, from
//! the partner's side or the customer's; open subscriptions hold a relationship, from either
//! side; renewing grants leaves one live grant per role.

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

#[tokio::test]
async fn removing_a_relationship_revokes_every_grant_in_one_transaction() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    // A second grant set from a bound invitation: removal takes them all.
    let bound = app.invite(&partner, json!({"customer_id": customer.id, "roles": ["billing_admin"]})).await;
    assert_eq!(app.accept(&customer.token, &bound).await.0, StatusCode::CREATED);

    let (s, pre) = app.get(&format!("/api/v1/customers/{}/removal-preflight", customer.id), &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((pre["removable"].as_bool(), pre["grants_to_revoke"].as_i64()), (Some(true), Some(4)));
    assert_eq!(pre["blockers"], json!([]));
    assert!(pre["legal_notice"].as_str().unwrap().contains("notice of termination"));

    let path = format!("/api/v1/customers/{}/remove-relationship", customer.id);
    let sales = app.user(&partner, &["sales_agent"]).await;
    let (s, b) = app.post(&path, Some(&sales), json!({"attest_good_faith": true})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    for body in [json!({}), json!({"attest_good_faith": false})] {
        let (s, b) = app.post(&path, Some(&partner.token), body).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "attestation_required"));
    }
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (s, b) = app.post(&path, Some(&agent), json!({"attest_good_faith": true})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["state"].as_str(), b["revoked_grants"].as_i64()), (Some("removed"), Some(4)));

    // The customer leaves the list; nothing of it answers any more.
    assert!(app.customer_ids(&partner).await.is_empty());
    for p in [
        format!("/api/v1/customers/{}", customer.id),
        format!("/api/v1/customers/{}/grants", customer.id),
        format!("/api/v1/customers/{}/removal-preflight", customer.id),
    ] {
        assert_eq!(app.get(&p, &partner.token).await.0, StatusCode::NOT_FOUND, "{p}");
    }
    let (s, _) = app.post(&path, Some(&partner.token), json!({"attest_good_faith": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "removal happens once");
    let (_, mine) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(mine["total"], 0);

    // The audit record and the events were written with the change.
    let (_, audit) = app.get("/api/v1/audit?action=relationship.removed", &customer.token).await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["details"]["revoked_grants"], 4);
    let events = app
        .raw
        .strings("SELECT event_type FROM outbox_events WHERE event_type IN ('relationship.removed', 'grant.revoked') ORDER BY event_type")
        .await;
    assert_eq!(events, ["grant.revoked", "relationship.removed"]);
    // A new invitation can connect them again.
    let inv = app.invite(&partner, json!({})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    app.verify_audit().await;
}

#[tokio::test]
async fn the_customer_revokes_grants_and_ends_the_relationship() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let (s, b) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (b["items"][0]["id"].as_str(), b["items"][0]["partner_id"].as_str()),
        (Some(partner.id.as_str()), Some(partner.partner_id.as_str()))
    );
    assert_eq!(b["items"][0]["grants"].as_array().map(Vec::len), Some(3));
    let user_admin = app.user(&customer, &["user_admin"]).await;
    assert_eq!(app.get("/api/v1/partners", &user_admin).await.0, StatusCode::FORBIDDEN);

    let (s, b) = app.post(&format!("/api/v1/partners/{}/revoke-grants", partner.id), Some(&customer.token), json!({})).await;
    assert_eq!((s, b["revoked_grants"].as_i64()), (StatusCode::OK, Some(3)));
    let (_, list) = app.get("/api/v1/customers", &partner.token).await;
    assert_eq!(list["items"][0]["grants"], json!([]), "the relationship stays, the grants go");

    let (s, b) = app.post(&format!("/api/v1/partners/{}/remove-relationship", partner.id), Some(&customer.token), json!({})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("removed")));
    assert!(app.customer_ids(&partner).await.is_empty());
    let (_, audit) = app.get("/api/v1/audit?action=relationship.removed", &partner.token).await;
    assert_eq!(audit["items"][0]["details"]["removed_by"], "customer", "the partner sees its relationship ended by the customer");
    app.verify_audit().await;
}

#[tokio::test]
async fn removal_is_refused_while_a_blocker_remains_and_changes_nothing() {
    let app = TestApp::spawn_with(Options {
        blocker: Some(("active_subscription", "SELECT id, name FROM test_holds WHERE partner_org_id = ? AND customer_id = ?")),
        ..Options::default()
    })
    .await;
    let id_type = match backend() {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "uuid",
    };
    app.raw
        .exec(&format!("CREATE TABLE test_holds (partner_org_id {id_type}, customer_id {id_type}, id {id_type}, name TEXT)"))
        .await
        .unwrap();
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let hold = uuid::Uuid::now_v7().to_string();
    let (p, c, h) = (app.raw.uuid(&partner.id), app.raw.uuid(&customer.id), app.raw.uuid(&hold));
    app.raw.exec(&format!("INSERT INTO test_holds VALUES ({p}, {c}, {h}, 'Mail Basic x 10')")).await.unwrap();

    let (_, pre) = app.get(&format!("/api/v1/customers/{}/removal-preflight", customer.id), &partner.token).await;
    assert_eq!(pre["removable"], false);
    assert_eq!(pre["blockers"], json!([{"kind": "active_subscription", "id": hold, "name": "Mail Basic x 10"}]));
    let path = format!("/api/v1/customers/{}/remove-relationship", customer.id);
    let (s, b) = app.post(&path, Some(&partner.token), json!({"attest_good_faith": true})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "removal_blocked"));
    assert_eq!(b["blockers"][0]["id"], hold.as_str());
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()], "nothing changed");
    let (_, g) = app.get(&format!("/api/v1/customers/{}/grants", customer.id), &partner.token).await;
    assert!(g["items"].as_array().unwrap().iter().all(|g| g["state"] == "active"));

    app.raw.exec("DELETE FROM test_holds").await.unwrap();
    let (s, _) = app.post(&path, Some(&partner.token), json!({"attest_good_faith": true})).await;
    assert_eq!(s, StatusCode::OK);
    app.verify_audit().await;
}

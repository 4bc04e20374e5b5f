//! The customer's own view of its tenant (users, subscriptions, licenses, and what partners
//! did there), and the users of one's own organization: roles, the customer's user_admin,
//! password resets.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_customer_sees_its_users_subscriptions_licenses_and_what_partners_did_in_its_tenant() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let customer = app.customer().await;
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    let offer = app.offer("Mail Basic").await;
    let sid = app.order(&provider.token, &customer.id, &offer, 4, Some(&reseller.id)).await;
    let (agent_email, agent) = app.user_with_email(&reseller, &["admin_agent"]).await;
    let (uid, email, _) = app.tenant_user(&agent, &customer.id, &[]).await;
    let (s, b) =
        app.post(&format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id), Some(&agent), json!({"subscription_id": sid})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let (s, users) = app.get("/api/v1/users", &customer.token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(users["items"].as_array().unwrap().iter().any(|u| u["email"] == email.as_str() && u["roles"] == json!([])), "{users}");
    let (s, subs) = app.get("/api/v1/subscriptions", &customer.token).await;
    assert_eq!((s, subs["total"].as_i64()), (StatusCode::OK, Some(1)));
    let sub = &subs["items"][0];
    assert_eq!(
        (sub["quantity"].as_i64(), sub["assigned"].as_i64(), sub["status"].as_str(), sub["offer"]["name"].as_str()),
        (Some(4), Some(1), Some("active"), Some("Mail Basic"))
    );
    assert_eq!(
        (sub["partner_of_record"]["id"].as_str(), sub["placed_by"]["id"].as_str()),
        (Some(reseller.id.as_str()), Some(provider.id.as_str()))
    );
    let (s, licenses) = app.get(&format!("/api/v1/users/{uid}/licenses"), &customer.token).await;
    assert_eq!((s, licenses["items"][0]["subscription_id"].as_str()), (StatusCode::OK, Some(sid.as_str())));

    // Who may read what: billing admins the subscriptions, user admins the users.
    let billing = app.user(&customer, &["billing_admin"]).await;
    let user_admin = app.user(&customer, &["user_admin"]).await;
    assert_eq!(app.get("/api/v1/subscriptions", &billing).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/subscriptions", &user_admin).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/api/v1/users/{uid}/licenses"), &user_admin).await.0, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/users/{uid}/licenses"), &billing).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/subscriptions", &provider.token).await.0, StatusCode::FORBIDDEN, "a customer's own view");
    // Another tenant's user reads as missing.
    let other = app.customer().await;
    let (s, b) = app.get(&format!("/api/v1/users/{uid}/licenses"), &other.token).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // The audit log shows what the partners did in the tenant, and who did it.
    let (_, audit) = app.get("/api/v1/audit", &customer.token).await;
    let actions: Vec<_> = audit["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for done in ["order.created", "user.created", "license.assigned"] {
        assert!(actions.contains(&done), "{done} missing from {actions:?}");
    }
    let by_agent: Vec<_> = audit["items"].as_array().unwrap().iter().filter(|r| r["actor"]["email"] == agent_email.as_str()).collect();
    let agent_actions: Vec<_> = by_agent.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(agent_actions, ["license.assigned", "user.created"], "newest first, named by the partner's agent");
    assert!(by_agent.iter().all(|r| r["customer_id"] == customer.id.as_str()));
    // The reseller sees its own agent's actions; the provider does not see the license.
    let (_, a) = app.get("/api/v1/audit?action=license.assigned", &reseller.token).await;
    assert_eq!(a["total"], 1);
    let (_, a) = app.get("/api/v1/audit?action=license.assigned", &provider.token).await;
    assert_eq!(a["total"], 0);
    app.verify_audit().await;
}

#[tokio::test]
async fn a_user_of_ones_own_organization_needs_a_role_and_a_user_admin_leaves_global_admins_alone() {
    let app = TestApp::spawn().await;
    let customer = app.customer().await;
    let email = format!("{}@x.example", unique("norole"));
    for body in [
        json!({"email": email, "display_name": "N", "password": PASSWORD, "roles": []}),
        json!({"email": email, "display_name": "N", "password": PASSWORD}),
    ] {
        let (s, b) = app.post("/api/v1/users", Some(&customer.token), body).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("roles")), "{b}");
    }

    let (admin_email, user_admin) = app.user_with_email(&customer, &["user_admin"]).await;
    let ga = app.user_id(&customer.token).await;
    // A user_admin manages users...
    let (s, billing) = app
        .post(
            "/api/v1/users",
            Some(&user_admin),
            json!({"email": format!("{}@x.example", unique("b")), "display_name": "B", "password": PASSWORD, "roles": ["billing_admin"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{billing}");
    let billing_id = billing["id"].as_str().unwrap();
    assert_eq!(app.patch(&format!("/api/v1/users/{billing_id}"), &user_admin, json!({"display_name": "Bill"})).await.0, StatusCode::OK);
    // ...but not global admins, and makes no one a global admin.
    let refused = [
        app.post(
            "/api/v1/users",
            Some(&user_admin),
            json!({"email": format!("{}@x.example", unique("g")), "display_name": "G", "password": PASSWORD, "roles": ["global_admin"]}),
        )
        .await,
        app.patch(&format!("/api/v1/users/{billing_id}"), &user_admin, json!({"roles": ["global_admin"]})).await,
        app.patch(&format!("/api/v1/users/{ga}"), &user_admin, json!({"display_name": "Not Grace"})).await,
        app.delete(&format!("/api/v1/users/{ga}"), &user_admin).await,
        app.post(&format!("/api/v1/users/{ga}/reset-password"), Some(&user_admin), json!({})).await,
    ];
    for (s, b) in &refused {
        assert_eq!((*s, code(b)), (StatusCode::FORBIDDEN, "forbidden"), "{b}");
    }
    assert_eq!(app.get("/api/v1/me", &customer.token).await.0, StatusCode::OK, "the global admin kept its session");

    // A reset: a temporary password, the user's sessions end.
    let admin_id = app.user_id(&user_admin).await;
    let (s, r) = app.post(&format!("/api/v1/users/{admin_id}/reset-password"), Some(&customer.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(app.get("/api/v1/me", &user_admin).await.0, StatusCode::UNAUTHORIZED);
    let (_, t) = app.post("/api/v1/auth/token", None, json!({"email": admin_email, "password": r["temporary_password"]})).await;
    assert_eq!(t["password_change_required"], true);
    let (s, b) = app.get("/api/v1/users", t["access_token"].as_str().unwrap()).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "password_change_required"));
    let (s, _) = app.post(&format!("/api/v1/users/{}/reset-password", uuid::Uuid::now_v7()), Some(&customer.token), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A partner's global admin resets its own users the same way.
    let partner = app.partner("direct").await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let agent_id = app.user_id(&agent).await;
    let (s, _) = app.post(&format!("/api/v1/users/{agent_id}/reset-password"), Some(&partner.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", &agent).await.0, StatusCode::UNAUTHORIZED);
    let (s, b) = app.post(&format!("/api/v1/users/{agent_id}/reset-password"), Some(&customer.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "another organization's user");
    app.verify_audit().await;
}

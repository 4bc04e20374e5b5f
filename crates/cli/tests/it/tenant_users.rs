//! A customer's users managed by partner agents through the grants: which grant allows what,
//! which partner role may use which grant, the customer's admins, temporary passwords, and a
//! grant that ends (revoked, expired) refusing the very next request.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

/// What an agent tries in a tenant, and whether it answered anything but 403.
struct Outcome {
    read: bool,
    manage: bool,
    reset: bool,
    license: bool,
}

async fn try_everything(app: &TestApp, agent: &str, customer: &str, target: &str, subscription: &str) -> Outcome {
    let allowed = |s: StatusCode, b: &serde_json::Value| {
        assert!(s.is_success() || (s, code(b)) == (StatusCode::FORBIDDEN, "forbidden"), "{s} {b}");
        s.is_success()
    };
    let (s, b) = app.get(&format!("/api/v1/customers/{customer}/users"), agent).await;
    let read = allowed(s, &b);
    let email = format!("{}@tenant.example", unique("try"));
    let (s, b) =
        app.post(&format!("/api/v1/customers/{customer}/users"), Some(agent), json!({"email": email, "display_name": "Try"})).await;
    let manage = allowed(s, &b);
    let (s, b) = app.post(&format!("/api/v1/customers/{customer}/users/{target}/reset-password"), Some(agent), json!({})).await;
    let reset = allowed(s, &b);
    let (s, b) = app
        .post(&format!("/api/v1/customers/{customer}/users/{target}/licenses"), Some(agent), json!({"subscription_id": subscription}))
        .await;
    let license = allowed(s, &b);
    if license {
        let (s, _) = app.delete(&format!("/api/v1/customers/{customer}/users/{target}/licenses/{subscription}"), agent).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    Outcome { read, manage, reset, license }
}

#[tokio::test]
async fn an_admin_agent_does_what_each_single_grant_allows_and_nothing_more() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    // Another partner with user_admin makes the plain user acted on in each tenant.
    let maker = app.partner("direct").await;
    let maker_agent = app.user(&maker, &["admin_agent"]).await;
    let offer = app.offer("Mail Basic").await;
    // grant -> (read, manage, reset, license), from the delegation table.
    let table = [
        ("global_admin", (true, true, true, true)),
        ("user_admin", (true, true, true, true)),
        ("helpdesk_admin", (true, false, true, false)),
        ("license_admin", (true, false, false, true)),
        ("global_reader", (true, false, false, false)),
    ];
    for (grant, expected) in table {
        let customer = app.customer_granting(&partner, &[grant]).await;
        let inv = app.invite(&maker, json!({"roles": ["user_admin"]})).await;
        assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
        let (target, _, _) = app.tenant_user(&maker_agent, &customer.id, &[]).await;
        let sid = app.order(&partner.token, &customer.id, &offer, 3, None).await;
        let o = try_everything(&app, &agent, &customer.id, &target, &sid).await;
        assert_eq!((o.read, o.manage, o.reset, o.license), expected, "with a {grant} grant");
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn a_helpdesk_agent_resets_passwords_and_other_partner_roles_reach_nothing() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    // The default grants: user_admin, license_admin, helpdesk_admin.
    let customer = app.connected_customer(&partner).await;
    let admin_agent = app.user(&partner, &["admin_agent"]).await;
    let (plain, _, _) = app.tenant_user(&admin_agent, &customer.id, &[]).await;
    let (user_admin, _, _) = app.tenant_user(&admin_agent, &customer.id, &["user_admin"]).await;
    let sid = app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 3, None).await;

    let helpdesk = app.user(&partner, &["helpdesk_agent"]).await;
    let o = try_everything(&app, &helpdesk, &customer.id, &plain, &sid).await;
    assert_eq!((o.read, o.manage, o.reset, o.license), (true, false, true, false));
    // helpdesk_admin alone never reaches the tenant's admins.
    let (s, b) =
        app.post(&format!("/api/v1/customers/{}/users/{user_admin}/reset-password", customer.id), Some(&helpdesk), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _) = app.delete(&format!("/api/v1/customers/{}/users/{plain}", customer.id), &helpdesk).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    for role in ["sales_agent", "global_admin", "billing_admin"] {
        let token = app.user(&partner, &[role]).await;
        let o = try_everything(&app, &token, &customer.id, &plain, &sid).await;
        assert_eq!((o.read, o.manage, o.reset, o.license), (false, false, false, false), "{role}");
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn a_grant_that_ends_refuses_the_very_next_request() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (agent_email, agent) = app.user_with_email(&partner, &["admin_agent"]).await;
    let users = |c: &str| format!("/api/v1/customers/{c}/users");

    // Revoked by the customer: 403 on the next request, the relationship stays.
    let customer = app.connected_customer(&partner).await;
    assert_eq!(app.get(&users(&customer.id), &agent).await.0, StatusCode::OK);
    let (s, _) = app.post(&format!("/api/v1/partners/{}/revoke-grants", partner.id), Some(&customer.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.get(&users(&customer.id), &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()]);

    // No relationship at all: the customer does not exist for the caller.
    let stranger = app.customer().await;
    let (s, b) = app.get(&users(&stranger.id), &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // Expired: past `expires_at` the grant authorizes nothing, with no job needed.
    let expiring = app.customer_granting(&partner, &["user_admin"]).await;
    let inv = app.invite(&partner, json!({"customer_id": expiring.id, "roles": ["user_admin"], "duration_days": 1})).await;
    assert_eq!(app.accept(&expiring.token, &inv).await.0, StatusCode::CREATED);
    assert_eq!(app.get(&users(&expiring.id), &agent).await.0, StatusCode::OK);
    app.clock.advance(time::Duration::hours(11));
    assert_eq!(app.get(&users(&expiring.id), &agent).await.0, StatusCode::OK);
    app.clock.advance(time::Duration::hours(13));
    let agent = app.sign_in(&agent_email, PASSWORD).await;
    let (s, b) = app.get(&users(&expiring.id), &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"), "an expired grant");
    let (s, b) = app.get(&format!("/api/v1/customers/{}/grants", expiring.id), &agent).await;
    let states: Vec<_> = b["items"].as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap()).collect();
    assert_eq!(s, StatusCode::OK);
    assert!(states.contains(&"expired") && !states.contains(&"active"), "{b}");
    app.verify_audit().await;
}

#[tokio::test]
async fn a_customer_global_admin_is_untouchable_without_a_global_admin_grant() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let ga = app.user_id(&customer.token).await;
    let base = format!("/api/v1/customers/{}/users", customer.id);
    let (plain, _, _) = app.tenant_user(&agent, &customer.id, &[]).await;

    let refused = [
        app.post(&format!("{base}/{ga}/reset-password"), Some(&agent), json!({})).await,
        app.patch(&format!("{base}/{ga}"), &agent, json!({"display_name": "Not Grace"})).await,
        app.delete(&format!("{base}/{ga}"), &agent).await,
        app.post(&base, Some(&agent), json!({"email": "new-ga@tenant.example", "display_name": "X", "roles": ["global_admin"]})).await,
        app.patch(&format!("{base}/{plain}"), &agent, json!({"roles": ["global_admin"]})).await,
    ];
    for (s, b) in &refused {
        assert_eq!((*s, code(b)), (StatusCode::FORBIDDEN, "forbidden"), "{b}");
    }
    // The admins below global admin are within a user_admin grant.
    let (s, b) = app.patch(&format!("{base}/{plain}"), &agent, json!({"roles": ["billing_admin"], "display_name": "Bill"})).await;
    assert_eq!((s, b["roles"].clone(), b["display_name"].as_str()), (StatusCode::OK, json!(["billing_admin"]), Some("Bill")));
    let (_, me) = app.get("/api/v1/me", &customer.token).await;
    assert_eq!(me["user"]["display_name"], "Grace", "nothing changed on the global admin");

    // With a global_admin grant, it can.
    let inv = app.invite(&partner, json!({"customer_id": customer.id, "roles": ["global_admin"], "duration_days": 30})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    let (s, b) = app.post(&format!("{base}/{ga}/reset-password"), Some(&agent), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["temporary_password"].as_str().unwrap().len() >= 12);
    assert_eq!(app.get("/api/v1/me", &customer.token).await.0, StatusCode::UNAUTHORIZED, "a reset ends the user's sessions");
    app.verify_audit().await;
}

#[tokio::test]
async fn a_created_user_changes_the_temporary_password_before_anything_else() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (id, email, temporary) = app.tenant_user(&agent, &customer.id, &["user_admin"]).await;
    let (_, listed) = app.get(&format!("/api/v1/customers/{}/users", customer.id), &agent).await;
    assert_eq!(listed["total"], 2);

    let (s, t) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": temporary})).await;
    assert_eq!((s, t["password_change_required"].as_bool()), (StatusCode::OK, Some(true)));
    let token = t["access_token"].as_str().unwrap().to_owned();
    let other_session = app.sign_in(&email, &temporary).await;
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK);
    let (s, b) = app.get("/api/v1/users", &token).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "password_change_required"));
    let (s, b) = app.get("/api/v1/audit", &token).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "password_change_required"));

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    for (body, f) in [
        (change("not the password at all", "a brand new passphrase"), "current_password"),
        (change(&temporary, &temporary), "new_password"),
        (change(&temporary, "short"), "new_password"),
    ] {
        let (s, b) = app.post("/api/v1/me/password", Some(&token), body).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(f)), "{b}");
    }
    let (s, b) = app.post("/api/v1/me/password", Some(&token), change(&temporary, "a brand new passphrase")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // This session now works; every other one ended; the temporary password is gone.
    let (s, users) = app.get("/api/v1/users", &token).await;
    assert_eq!((s, users["total"].as_i64()), (StatusCode::OK, Some(2)));
    assert_eq!(app.get("/api/v1/me", &other_session).await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": temporary})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, t) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": "a brand new passphrase"})).await;
    assert_eq!((s, t["password_change_required"].as_bool()), (StatusCode::OK, Some(false)));

    // A reset by the agent: the sessions end, and the next sign-in must change it again.
    let (s, r) = app.post(&format!("/api/v1/customers/{}/users/{id}/reset-password", customer.id), Some(&agent), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::UNAUTHORIZED);
    let (s, t) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": r["temporary_password"]})).await;
    assert_eq!((s, t["password_change_required"].as_bool()), (StatusCode::OK, Some(true)));
    // The customer sees what the partner did in its tenant.
    let (_, audit) = app.get("/api/v1/audit?action=user.password_reset", &customer.token).await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["customer_id"], customer.id.as_str());
    app.verify_audit().await;
}

#[tokio::test]
async fn deleting_a_customer_user_releases_their_licenses() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let sid = app.order(&partner.token, &customer.id, &app.offer("Mail Basic").await, 2, None).await;
    let subscription = |b: &serde_json::Value| b["items"][0]["assigned"].as_i64();
    let list = format!("/api/v1/customers/{}/subscriptions", customer.id);
    for who in ["partner", "customer"] {
        let (uid, _, _) = app.tenant_user(&agent, &customer.id, &[]).await;
        let (s, b) = app
            .post(&format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id), Some(&agent), json!({"subscription_id": sid}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(subscription(&app.get(&list, &partner.token).await.1), Some(1));
        let (s, _) = match who {
            "partner" => app.delete(&format!("/api/v1/customers/{}/users/{uid}", customer.id), &agent).await,
            _ => app.delete(&format!("/api/v1/users/{uid}"), &customer.token).await,
        };
        assert_eq!(s, StatusCode::NO_CONTENT, "deleted by the {who}");
        assert_eq!(subscription(&app.get(&list, &partner.token).await.1), Some(0), "deleted by the {who}: the seat is free again");
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM outbox_events WHERE event_type = 'license.released'").await, 2);
    // The last global admin of the tenant stays.
    let inv = app.invite(&partner, json!({"customer_id": customer.id, "roles": ["global_admin"], "duration_days": 30})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    let ga = app.user_id(&customer.token).await;
    let (s, b) = app.delete(&format!("/api/v1/customers/{}/users/{ga}", customer.id), &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
    app.verify_audit().await;
}

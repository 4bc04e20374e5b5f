//! The audit log: append-only, hash-chained, readable per tenant, exportable as CSV, and
//! verifiable offline by `partnerhub audit verify`.

use crate::support::*;
use partnerhub_service::SmtpConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::process::Command;

fn verify(db_url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(["audit", "verify", "--database", db_url]).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn flipping_one_stored_byte_is_named_by_audit_verify() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    app.connected_customer(&partner).await;
    let (ok, out) = verify(&app.db.url);
    assert!(ok, "{out}");
    let n = app.raw.i64("SELECT count(*) FROM audit_records").await;
    assert!(n >= 5, "{n}");
    // Records are append-only, even to SQL.
    assert!(app.raw.exec("UPDATE audit_records SET action = 'x' WHERE seq = 3").await.is_err());
    assert!(app.raw.exec("DELETE FROM audit_records WHERE seq = 3").await.is_err());
    // An attacker with the file can drop the trigger; the chain still tells.
    let drop = match backend() {
        Backend::Sqlite => "DROP TRIGGER audit_records_no_update",
        Backend::Postgres => "DROP TRIGGER audit_records_no_update ON audit_records",
    };
    app.raw.exec(drop).await.unwrap();
    app.raw.exec("UPDATE audit_records SET body = replace(body, '\"seq\":3', '\"seq\":3 ') WHERE seq = 3").await.unwrap();
    let (ok, out) = verify(&app.db.url);
    assert!(!ok);
    assert!(out.contains("seq 3"), "{out}");
}

#[tokio::test]
async fn each_organization_reads_the_records_that_concern_it_as_json_or_csv() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let (s, b) = app.get("/api/v1/audit", &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<_> = b["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap().to_owned()).collect();
    // The acceptance's records (newest first: its three grants, its relationship, then the
    // acceptance itself), then what came before.
    assert_eq!(
        actions,
        [
            "grant.created",
            "grant.created",
            "grant.created",
            "relationship.created",
            "invitation.accepted",
            "invitation.created",
            "session.created",
            "organization.created"
        ]
    );
    let change = b["items"][4]["change_id"].as_str().unwrap();
    assert!(b["items"].as_array().unwrap()[..5].iter().all(|r| r["change_id"] == change), "{b}");
    assert_ne!(b["items"][5]["change_id"], change);
    let accepted = &b["items"][4];
    assert_eq!(accepted["customer_id"], customer.id.as_str());
    assert_eq!(accepted["actor"]["email"], customer.email.as_str());
    assert_eq!(accepted["hash"].as_str().unwrap().len(), 64);
    let (_, c) = app.get(&format!("/api/v1/audit?action=invitation.accepted&customer_id={}", customer.id), &customer.token).await;
    assert_eq!(c["total"], 1);
    let (_, page) = app.get("/api/v1/audit?limit=5", &partner.token).await;
    let (_, next) = app.get(&format!("/api/v1/audit?limit=1&cursor={}", page["next_cursor"].as_str().unwrap()), &partner.token).await;
    assert_eq!(next["items"][0]["action"], "invitation.created");

    let res =
        app.client.get(format!("{}/api/v1/audit", app.url)).bearer_auth(&partner.token).header("accept", "text/csv").send().await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert!(lines[0].starts_with("seq,at,organization_id,actor_user_id,actor_email"));
    assert!(lines[0].ends_with(",hash,change_id"), "{csv}");
    assert_eq!(lines.len(), 9, "{csv}");
    assert!(lines[5].contains("invitation.accepted") && lines[5].ends_with(change), "{csv}");

    let agent = app.user(&partner, &["admin_agent"]).await;
    assert_eq!(app.get("/api/v1/audit", &agent).await.0, StatusCode::FORBIDDEN);
    let (_, since) = app.get("/api/v1/audit?since=2999-01-01T00:00:00Z", &partner.token).await;
    assert_eq!(since["total"], 0);
}

#[tokio::test]
async fn creating_a_customer_records_its_relationships_and_grants_under_one_change_id() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let body = json!({"name": "Created Twice", "domain": "created-twice.example",
                      "admin": {"email": "ga@created-twice.example", "display_name": "Grace"}, "reseller_id": reseller.id});
    let (s, b) = app.post("/api/v1/customers", Some(&provider.token), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let customer = b["id"].as_str().unwrap().to_owned();

    let (_, log) = app.get(&format!("/api/v1/audit?customer_id={customer}"), &provider.token).await;
    let items = log["items"].as_array().unwrap();
    let change = items[0]["change_id"].as_str().unwrap().to_owned();
    assert!(items.iter().all(|r| r["change_id"] == change.as_str()), "one change: {log}");
    let count = |action: &str| items.iter().filter(|r| r["action"] == action).count();
    // Two relationships (the provider's and its reseller's), three default grants each.
    assert_eq!((count("organization.created"), count("relationship.created"), count("grant.created"), items.len()), (1, 2, 6, 9), "{log}");
    assert_eq!(items.last().unwrap()["action"], "organization.created", "the organization comes first in the chain");
    let created = items.last().unwrap();
    assert_eq!((created["details"]["kind"].as_str(), created["details"]["created_by"].as_str()), (Some("customer"), Some("partner")));
    let rel = items.iter().find(|r| r["action"] == "relationship.created" && r["details"]["partner_id"] == reseller.id.as_str()).unwrap();
    assert_eq!((rel["target"]["type"].as_str(), rel["details"]["via"].as_str()), (Some("relationship"), Some("created")));
    let grant = items.iter().find(|r| r["action"] == "grant.created").unwrap();
    assert!(grant["target"]["id"].is_string() && grant["details"]["role"].is_string(), "{grant}");
    // The reseller and the customer read the same records.
    let (_, theirs) = app.get(&format!("/api/v1/audit?action=relationship.created&customer_id={customer}"), &reseller.token).await;
    assert_eq!(theirs["total"], 2);
    assert_eq!(theirs["items"][0]["change_id"], change.as_str());

    // The change's outbox events carry the same id: one per relationship and grant.
    let id = app.raw.uuid(&change);
    assert_eq!(app.raw.i64(&format!("SELECT count(*) FROM outbox_events WHERE change_id = {id}")).await, 8);
    assert_eq!(app.raw.i64(&format!("SELECT count(*) FROM audit_records WHERE change_id = {id}")).await, 9);
    let (ok, out) = verify(&app.db.url);
    assert!(ok, "{out}");
    app.verify_audit().await;
}

/// Drives the main flows through HTTP (partners, customers, invitations and their e-mail,
/// provider links, orders, tenant users, licenses, users, passwords, MFA, sessions, removals)
/// and checks that every action they write is one docs/audit.md lists.
#[tokio::test]
async fn every_action_the_main_flows_write_is_listed_in_docs_audit_md() {
    let (url, mut mail) = crate::smtp::relay().await;
    let smtp = SmtpConfig { url, from: "partners@partnerhub.example".into() };
    let app = TestApp::spawn_with(Options { smtp: Some(smtp), ..Options::default() }).await;
    let ok = |s: StatusCode, b: &serde_json::Value| assert!(s.is_success(), "{s}: {b}");

    // Partners and their links: requested, declined, accepted, ended, created by the operator.
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let ask = json!({"provider_partner_id": provider.partner_id});
    for then in ["decline", "accept"] {
        let (s, b) = app.post("/api/v1/providers", Some(&reseller.token), ask.clone()).await;
        ok(s, &b);
        let (s, b) = app.post(&format!("/api/v1/resellers/{}/{then}", reseller.id), Some(&provider.token), json!({})).await;
        ok(s, &b);
    }
    let (s, b) = app.delete(&format!("/api/v1/providers/{}", provider.id), &reseller.token).await;
    ok(s, &b);
    app.link(&provider, &reseller).await;

    // Invitations: created, e-mailed, revoked, declined, accepted; a customer created.
    let direct = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&direct, json!({"locale": "en"})).await;
    let inv_id = inv["id"].as_str().unwrap();
    let (s, b) = app.post(&format!("/api/v1/invitations/{inv_id}/send"), Some(&direct.token), json!({"to": "ga@customer.example"})).await;
    ok(s, &b);
    mail.recv().await.unwrap();
    // The worker writes `email.sent` once the relay took it.
    assert_eq!(crate::smtp::delivery_settled(&app, &direct, inv_id).await["email_delivery"]["state"], "sent");
    let revoked = app.invite(&direct, json!({})).await;
    let (s, b) = app.post(&format!("/api/v1/invitations/{}/revoke", revoked["id"].as_str().unwrap()), Some(&direct.token), json!({})).await;
    ok(s, &b);
    let declined = app.invite(&direct, json!({})).await;
    let (s, b) = app.post("/api/v1/invitations/decline", Some(&customer.token), json!({"token": token_of(&declined)})).await;
    ok(s, &b);
    let (s, b) = app.accept(&customer.token, &inv).await;
    ok(s, &b);
    app.created_customer(&direct).await;

    // Commerce: an offer, an order, a quantity change, a seat given and given back.
    let offer = app.offer("Audited Mail").await;
    let other_offer = app.offer("Withdrawn").await;
    let (s, b) = app.post(&format!("/api/v1/operator/offers/{other_offer}/disable"), Some(OPERATOR), json!({})).await;
    ok(s, &b);
    let sid = app.order(&direct.token, &customer.id, &offer, 3, None).await;
    let (s, b) = app.patch(&format!("/api/v1/customers/{}/subscriptions/{sid}", customer.id), &direct.token, json!({"quantity": 4})).await;
    ok(s, &b);
    let agent = app.user(&direct, &["admin_agent"]).await;
    let (uid, _, _) = app.tenant_user(&agent, &customer.id, &[]).await;
    let licenses = format!("/api/v1/customers/{}/users/{uid}/licenses", customer.id);
    let (s, b) = app.post(&licenses, Some(&agent), json!({"subscription_id": sid})).await;
    ok(s, &b);
    let (s, b) = app.delete(&format!("{licenses}/{sid}"), &agent).await;
    ok(s, &b);

    // Users of one's own organization: changed, reset, deleted; a password changed; MFA.
    let (email, token) = app.user_with_email(&direct, &["sales_agent"]).await;
    let id = app.user_id(&token).await;
    let (s, b) = app.patch(&format!("/api/v1/users/{id}"), &direct.token, json!({"roles": ["sales_agent", "helpdesk_agent"]})).await;
    ok(s, &b);
    let (s, b) = app.post(&format!("/api/v1/users/{id}/reset-password"), Some(&direct.token), json!({})).await;
    ok(s, &b);
    let (s, b) = app.delete(&format!("/api/v1/users/{id}"), &direct.token).await;
    ok(s, &b);
    let _ = email;
    let (email, token) = app.user_with_email(&direct, &["sales_agent"]).await;
    let new_password = "another horse battery staple";
    let (s, b) = app.post("/api/v1/me/password", Some(&token), json!({"current_password": PASSWORD, "new_password": new_password})).await;
    ok(s, &b);
    let (totp, codes) = crate::mfa::enrol(&app, &token).await;
    let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": email, "password": new_password, "totp": codes[0]})).await;
    ok(s, &b);
    let next = crate::mfa::code_at(&app, &totp, 1);
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&token), Some(json!({"code": next}))).await;
    ok(s, &b);
    let (s, b) = app.call(Method::DELETE, "/api/v1/auth/token", Some(&token), None).await;
    ok(s, &b);

    // The customer's side: grants revoked, then the relationship ended (after cancelling).
    let (s, b) =
        app.patch(&format!("/api/v1/customers/{}/subscriptions/{sid}", customer.id), &direct.token, json!({"status": "cancelled"})).await;
    ok(s, &b);
    let (s, b) = app.post(&format!("/api/v1/partners/{}/revoke-grants", direct.id), Some(&customer.token), json!({})).await;
    ok(s, &b);
    let (s, b) = app.post(&format!("/api/v1/partners/{}/remove-relationship", direct.id), Some(&customer.token), json!({})).await;
    ok(s, &b);
    // And a partner's removal, of a customer connected for it.
    let other = app.connected_customer(&provider).await;
    let (s, b) = app
        .post(&format!("/api/v1/customers/{}/remove-relationship", other.id), Some(&provider.token), json!({"attest_good_faith": true}))
        .await;
    ok(s, &b);

    let written = app.written_actions().await;
    let documented = documented_actions();
    let undocumented: Vec<_> = written.iter().filter(|a| !documented.contains(*a)).collect();
    assert!(undocumented.is_empty(), "written but not in docs/audit.md: {undocumented:?}");
    // The flows above did write what they are for (the test would prove little otherwise).
    for a in [
        "organization.created",
        "relationship.created",
        "grant.created",
        "relationship.removed",
        "grant.revoked",
        "invitation.created",
        "invitation.accepted",
        "invitation.declined",
        "invitation.revoked",
        "email.queued",
        "email.sent",
        "order.created",
        "subscription.updated",
        "license.assigned",
        "license.released",
        "offer.created",
        "offer.disabled",
        "user.created",
        "user.updated",
        "user.deleted",
        "user.password_reset",
        "user.password_changed",
        "user.mfa_enrolment_started",
        "user.mfa_enabled",
        "user.mfa_disabled",
        "user.mfa_recovery_code_used",
        "session.created",
        "session.ended",
        "provider_link.created",
        "provider_link.requested",
        "provider_link.accepted",
        "provider_link.declined",
        "provider_link.ended",
    ] {
        assert!(written.contains(a), "{a} was not written: {written:?}");
    }
    // API.md's event names and its three families, and the families we added, nothing else.
    let events = [
        "invitation.created",
        "invitation.accepted",
        "invitation.declined",
        "invitation.revoked",
        "invitation.expired",
        "relationship.created",
        "relationship.removed",
        "grant.created",
        "grant.extended",
        "grant.expiring",
        "grant.revoked",
        "grant.expired",
        "order.created",
        "subscription.updated",
        "license.assigned",
        "license.released",
    ];
    for a in &documented {
        let family = a.split('.').next().unwrap();
        assert!(
            events.contains(&a.as_str())
                || ["user", "session", "provider_link", "organization", "offer", "email", "webhook"].contains(&family),
            "{a} is in no family"
        );
    }
    app.verify_audit().await;
}

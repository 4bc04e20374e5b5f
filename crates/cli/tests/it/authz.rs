//! The allow-table over HTTP: for every action, one of its routes, called by a user holding
//! each single role of each kind of organization. Allowed means anything but 403; refused
//! means 403 `forbidden`. The expectation comes from the domain's table, which another test
//! checks against the README.

use crate::support::*;
use partnerhub_domain::authz::ALLOW_TABLE;
use partnerhub_domain::{Action, OrgKind, allowed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn every_role_meets_the_allow_table_on_a_route_of_every_action() {
    let app = TestApp::spawn().await;
    let partner = app.partner("indirect_provider").await;
    let customer = app.connected_customer(&partner).await;
    let nobody = uuid::Uuid::now_v7();
    let offer = app.offer("Mail Basic").await;
    let tenant = format!("/api/v1/customers/{}", customer.id);
    let request = |action: Action| -> (Method, String, Option<Value>) {
        match action {
            Action::CustomersList => (Method::GET, "/api/v1/customers".into(), None),
            Action::CustomersRead => (Method::GET, format!("/api/v1/customers/{}", customer.id), None),
            Action::CustomersCreate => {
                let d = unique("authz");
                (
                    Method::POST,
                    "/api/v1/customers".into(),
                    Some(
                        json!({"name": d, "domain": format!("{d}.example"), "admin": {"email": format!("ga@{d}.example"), "display_name": "A"}}),
                    ),
                )
            }
            Action::RelationshipsRemove => (Method::GET, format!("/api/v1/customers/{}/removal-preflight", customer.id), None),
            Action::GrantsRead => (Method::GET, format!("/api/v1/customers/{}/grants", customer.id), None),
            Action::InvitationsManage => (Method::GET, "/api/v1/invitations".into(), None),
            Action::ProviderLinksRead => (Method::GET, "/api/v1/resellers".into(), None),
            Action::ProviderLinksManage => (Method::POST, format!("/api/v1/resellers/{nobody}/accept"), Some(json!({}))),
            Action::InvitationsRespond => (Method::POST, "/api/v1/invitations/accept".into(), Some(json!({"token": "unknown"}))),
            Action::PartnersRead => (Method::GET, "/api/v1/partners".into(), None),
            Action::PartnersManage => (Method::POST, format!("/api/v1/partners/{nobody}/revoke-grants"), Some(json!({}))),
            Action::UsersRead => (Method::GET, "/api/v1/users".into(), None),
            Action::UsersManage => (Method::PATCH, format!("/api/v1/users/{nobody}"), Some(json!({"display_name": "x"}))),
            Action::AuditRead => (Method::GET, "/api/v1/audit".into(), None),
            Action::OffersRead => (Method::GET, "/api/v1/offers".into(), None),
            // Allowed: 422, as `nobody` is not one of the provider's resellers.
            Action::OrdersCreate => (
                Method::POST,
                format!("{tenant}/orders"),
                Some(json!({"items": [{"offer_id": offer, "quantity": 1}], "reseller_id": nobody})),
            ),
            Action::SubscriptionsRead => (Method::GET, format!("{tenant}/subscriptions"), None),
            Action::SubscriptionsManage => (Method::PATCH, format!("{tenant}/subscriptions/{nobody}"), Some(json!({"quantity": 2}))),
            // The customer granted the default roles (user_admin, license_admin, helpdesk_admin),
            // so the grants allow what the allow-table lets each role try.
            Action::CustomerUsersRead => (Method::GET, format!("{tenant}/users"), None),
            Action::CustomerUsersManage => (Method::PATCH, format!("{tenant}/users/{nobody}"), Some(json!({"display_name": "x"}))),
            Action::CustomerUsersResetPassword => (Method::POST, format!("{tenant}/users/{nobody}/reset-password"), Some(json!({}))),
            Action::LicensesManage => (Method::POST, format!("{tenant}/users/{nobody}/licenses"), Some(json!({"subscription_id": nobody}))),
            Action::OwnSubscriptionsRead => (Method::GET, "/api/v1/subscriptions".into(), None),
            Action::WebhooksManage => (Method::GET, "/api/v1/webhooks".into(), None),
        }
    };
    let mut checked = 0;
    for (kind, org) in [(OrgKind::Partner, &partner), (OrgKind::Customer, &customer)] {
        for role in kind.roles() {
            let token = app.user(org, &[role.as_str()]).await;
            for (action, name, _, _) in ALLOW_TABLE {
                let (method, path, body) = request(*action);
                let (s, b) = app.call(method.clone(), &path, Some(&token), body).await;
                let may = allowed(kind, &[*role], *action);
                if may {
                    assert_ne!(s, StatusCode::FORBIDDEN, "{name}: {} {} was refused: {method} {path} {b}", kind.as_str(), role.as_str());
                    assert!(s.as_u16() < 500, "{name}: {b}");
                } else {
                    assert_eq!(
                        (s, code(&b)),
                        (StatusCode::FORBIDDEN, "forbidden"),
                        "{name}: {} {} was let through: {method} {path}",
                        kind.as_str(),
                        role.as_str()
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (OrgKind::Partner.roles().len() + OrgKind::Customer.roles().len()) * ALLOW_TABLE.len());
}

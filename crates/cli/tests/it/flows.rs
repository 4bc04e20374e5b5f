//! Every flow of PRODUCT.md 1-4 through HTTP, with the refusals around each (flow 7, removal, is
//! in `removal.rs`).

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn only_connected_customers_are_visible() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let direct = app.partner("direct").await;
    let of_provider = app.connected_customer(&provider).await;
    let of_reseller = app.connected_customer(&reseller).await;
    let _unconnected = app.customer().await;
    // Connecting the reseller to the provider brings neither side the other's customers.
    app.link(&provider, &reseller).await;
    assert_eq!(app.customer_ids(&provider).await, vec![of_provider.id.clone()]);
    assert_eq!(app.customer_ids(&reseller).await, vec![of_reseller.id.clone()]);
    assert!(app.customer_ids(&direct).await.is_empty());
    let (s, b) = app.get("/api/v1/customers", &provider.token).await;
    assert_eq!((s, b["total"].as_i64()), (StatusCode::OK, Some(1)));
    let item = &b["items"][0];
    assert_eq!(item["relationship"]["state"], "active");
    assert_eq!(item["relationship"]["via"], "invitation");
    assert_eq!(item["grants"].as_array().map(Vec::len), Some(3));
    app.verify_audit().await;
}

#[tokio::test]
async fn customer_list_pages_searches_and_sorts() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    for name in ["Delta", "alpha", "Charlie", "bravo", "Echo"] {
        let (s, b) = app
            .post("/api/v1/customers", Some(&partner.token), json!({"name": name, "domain": format!("{}.example", unique(name).to_lowercase()), "admin": {"email": format!("{}@x{}.example", name.to_lowercase(), unique("")), "display_name": "A"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        app.clock.advance(time::Duration::seconds(1));
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/customers?limit=2&cursor={c}"),
            None => "/api/v1/customers?limit=2".into(),
        };
        let (s, b) = app.get(&path, &partner.token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["total"], 5);
        names.extend(b["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()));
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["alpha", "bravo", "Charlie", "Delta", "Echo"]);
    let (_, b) = app.get("/api/v1/customers?sort=-created_at&limit=1", &partner.token).await;
    assert_eq!(b["items"][0]["name"], "Echo");
    let (_, b) =
        app.get(&format!("/api/v1/customers?sort=-created_at&limit=1&cursor={}", b["next_cursor"].as_str().unwrap()), &partner.token).await;
    assert_eq!(b["items"][0]["name"], "bravo", "created just before Echo");
    let (_, b) = app.get("/api/v1/customers?q=HARL", &partner.token).await;
    assert_eq!((b["total"].as_i64(), b["items"][0]["name"].as_str()), (Some(1), Some("Charlie")));
    let (_, b) = app.get("/api/v1/customers?q=%25", &partner.token).await;
    assert_eq!(b["total"], 0, "a % in q is a literal, not a wildcard");
    let (s, b) = app.get("/api/v1/customers?sort=domain", &partner.token).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
}

#[tokio::test]
async fn a_partner_requests_a_relationship_with_an_existing_customer() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (s, created) = app
        .post("/api/v1/customers", Some(&partner.token), json!({"name": "Adventure Works", "domain": "adventure-works.example", "admin": {"email": "ga@adventure-works.example", "display_name": "Grace"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["relationship"]["via"], "created");
    let customer_id = created["id"].as_str().unwrap().to_owned();
    // The partner saw the admin's password: it is only good for setting a new one.
    let temporary = created["admin"]["temporary_password"].as_str().unwrap();
    let customer_token = app.sign_in("ga@adventure-works.example", temporary).await;
    let (s, b) =
        app.post("/api/v1/me/password", Some(&customer_token), json!({"current_password": temporary, "new_password": PASSWORD})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");

    let inv = app
        .invite(
            &partner,
            json!({"customer_id": customer_id, "locale": "fr", "roles": ["user_admin", "global_reader"], "duration_days": 30}),
        )
        .await;
    let url = inv["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/invite/", app.url)), "built from the configured public URL");
    assert!(token_of(&inv).len() >= 43, "at least 256 bits, base64url");
    assert_eq!(inv["state"], "pending");
    let body = inv["email"]["body"].as_str().unwrap();
    assert!(body.contains(&url) && body.contains("relation de revendeur"), "{body}");
    assert!(inv["email"]["subject"].as_str().unwrap().contains("relation de revendeur"));
    assert!(inv["mailto"].as_str().unwrap().starts_with("mailto:?subject="));

    // An edited draft must keep the URL.
    let path = format!("/api/v1/invitations/{}/email", inv["id"].as_str().unwrap());
    let (s, b) = app.call(Method::PUT, &path, Some(&partner.token), Some(json!({"subject": "Hello", "body": "Please accept."}))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "url_missing_from_email"));
    let (s, b) = app
        .call(Method::PUT, &path, Some(&partner.token), Some(json!({"subject": "Hello", "body": format!("Please accept: {url}")})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["email"]["body"], format!("Please accept: {url}"));

    // The URL is shown again while pending.
    let (_, again) = app.get(&format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &partner.token).await;
    assert_eq!(again["url"], url.as_str());

    // Bound: another customer is refused and changes nothing.
    let stranger = app.customer().await;
    let (s, b) = app.accept(&stranger.token, &inv).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "wrong_customer"));

    // The bound customer accepts: the relationship stays, the new grants replace nothing.
    let (s, b) = app.accept(&customer_token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let roles: Vec<_> = b["grants"].as_array().unwrap().iter().map(|g| g["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user_admin", "global_reader"]);
    assert_eq!(b["relationships"][0]["partner"]["partner_id"], partner.partner_id.as_str());
    let (_, after) = app.get(&format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &partner.token).await;
    assert_eq!((after["state"].as_str(), after["url"].is_null(), after["email"].is_null()), (Some("accepted"), true, true));
    app.verify_audit().await;
}

#[tokio::test]
async fn an_indirect_reseller_invites_with_its_provider_and_both_relationships_come_at_once() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let direct = app.partner("direct").await;
    // Not yet linked: refused.
    let (s, b) = app.post("/api/v1/invitations", Some(&reseller.token), json!({"indirect_provider_id": provider.id})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(b["errors"][0]["field"], "indirect_provider_id");
    app.link(&provider, &reseller).await;
    let (s, _) = app.post("/api/v1/invitations", Some(&direct.token), json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "only an indirect reseller names a provider");

    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    assert!(inv["email"]["body"].as_str().unwrap().contains(&format!("Partner {}", provider.partner_id)));
    let customer = app.customer().await;
    let (s, preview) = app.post("/api/v1/invitations/preview", None, json!({"token": token_of(&inv)})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(preview["indirect_provider"]["partner_id"], provider.partner_id.as_str());
    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let partners: Vec<_> = b["relationships"].as_array().unwrap().iter().map(|r| r["partner"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(partners, [reseller.id.clone(), provider.id.clone()]);

    assert_eq!(app.customer_ids(&reseller).await, vec![customer.id.clone()]);
    assert_eq!(app.customer_ids(&provider).await, vec![customer.id.clone()]);
    let (_, list) = app.get("/api/v1/customers", &provider.token).await;
    assert_eq!(list["items"][0]["indirect_reseller"]["id"], reseller.id.as_str());
    let (_, detail) = app.get(&format!("/api/v1/customers/{}", customer.id), &provider.token).await;
    assert_eq!(detail["other_partners"][0]["id"], reseller.id.as_str(), "a provider sees the resellers of its customers");
    let (_, mine) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(mine["total"], 2);
    app.verify_audit().await;
}

#[tokio::test]
async fn the_customer_accepts_once_and_every_other_answer_changes_nothing() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({"roles": ["helpdesk_admin"], "duration_days": 90})).await;

    // Opening the link changes nothing: the page and the preview are reads.
    let page = app.client.get(inv["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("Partner {}", partner.partner_id)) && page.contains(&partner.partner_id));
    let (s, p) = app.post("/api/v1/invitations/preview", None, json!({"token": token_of(&inv)})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (p["partner"]["partner_id"].as_str(), p["state"].as_str(), p["duration_days"].as_i64()),
        (Some(partner.partner_id.as_str()), Some("pending"), Some(90))
    );
    assert_eq!(p["roles"], json!(["helpdesk_admin"]));

    // A partner user, or a customer user who is not global_admin, may not answer.
    let (s, b) = app.accept(&partner.token, &inv).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    let billing = app.user(&customer, &["billing_admin"]).await;
    let (s, _) = app.accept(&billing, &inv).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.post("/api/v1/invitations/accept", None, json!({"token": token_of(&inv)})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = app.post("/api/v1/invitations/accept", Some(&customer.token), json!({"token": "not-a-token"})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["relationships"][0]["state"], "active");
    // Replay: refused.
    let (s, b) = app.accept(&customer.token, &inv).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_not_pending"));
    let (s, b) = app.post("/api/v1/invitations/decline", Some(&customer.token), json!({"token": token_of(&inv)})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_not_pending"));
    // An open invitation from a partner the customer already has.
    let again = app.invite(&partner, json!({})).await;
    let (s, b) = app.accept(&customer.token, &again).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "relationship_exists"));
    let (_, mine) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(mine["total"], 1);
    app.verify_audit().await;
}

#[tokio::test]
async fn revoked_declined_and_expired_invitations_are_refused() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;

    let revoked = app.invite(&partner, json!({})).await;
    let (s, b) =
        app.post(&format!("/api/v1/invitations/{}/revoke", revoked["id"].as_str().unwrap()), Some(&partner.token), json!({})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("revoked")));
    let (s, b) = app.accept(&customer.token, &revoked).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_not_pending"));
    let (s, _) =
        app.post(&format!("/api/v1/invitations/{}/revoke", revoked["id"].as_str().unwrap()), Some(&partner.token), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "revocation is terminal");

    let declined = app.invite(&partner, json!({})).await;
    let (s, _) = app.post("/api/v1/invitations/decline", Some(&customer.token), json!({"token": token_of(&declined)})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.accept(&customer.token, &declined).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_not_pending"));

    let expiring = app.invite(&partner, json!({"expires_in_days": 7})).await;
    app.clock.advance(time::Duration::days(7));
    // Sign-in tokens last 12 hours: both sign in again.
    let customer = Org { token: app.sign_in(&customer.email, PASSWORD).await, ..customer };
    let partner = Org { token: app.sign_in(&partner.email, PASSWORD).await, ..partner };
    let (s, b) = app.accept(&customer.token, &expiring).await;
    assert_eq!((s, code(&b)), (StatusCode::GONE, "invitation_expired"));
    let (_, b) = app.get(&format!("/api/v1/invitations/{}", expiring["id"].as_str().unwrap()), &partner.token).await;
    assert_eq!(b["state"], "expired");
    let (_, b) = app.get("/api/v1/invitations?state=expired", &partner.token).await;
    assert_eq!(b["total"], 1);
    let (_, b) = app.get("/api/v1/invitations?state=pending", &partner.token).await;
    assert_eq!(b["total"], 0);

    assert!(app.customer_ids(&partner).await.is_empty());
    let (_, mine) = app.get("/api/v1/partners", &customer.token).await;
    assert_eq!(mine["total"], 0);
    app.verify_audit().await;
}

#[tokio::test]
async fn invitation_terms_are_bounded_and_only_admins_invite() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    for (body, field) in [
        (json!({"duration_days": 0}), "duration_days"),
        (json!({"duration_days": 731}), "duration_days"),
        (json!({"expires_in_days": 91}), "expires_in_days"),
        (json!({"roles": ["global_admin"], "auto_extend": true}), "auto_extend"),
        (json!({"roles": ["root"]}), "roles"),
        (json!({"locale": "de"}), "locale"),
    ] {
        let (s, b) = app.post("/api/v1/invitations", Some(&partner.token), body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(b["errors"][0]["field"], field, "{body}");
    }
    let inv = app.invite(&partner, json!({"duration_days": 730, "roles": ["global_admin"]})).await;
    assert_eq!((inv["duration_days"].as_i64(), inv["auto_extend"].as_bool()), (Some(730), Some(false)));
    let defaults = app.invite(&partner, json!({})).await;
    assert_eq!(defaults["roles"], json!(["user_admin", "license_admin", "helpdesk_admin"]));
    assert_eq!(defaults["duration_days"], 365);

    for role in ["sales_agent", "helpdesk_agent", "billing_admin"] {
        let token = app.user(&partner, &[role]).await;
        let (s, b) = app.post("/api/v1/invitations", Some(&token), json!({})).await;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"), "{role}");
    }
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (s, _) = app.post("/api/v1/invitations", Some(&agent), json!({})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app.post("/api/v1/invitations", Some(&app.customer().await.token), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "customers do not invite");
}

#[tokio::test]
async fn a_grant_past_its_expiry_authorizes_nothing() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({"duration_days": 1})).await;
    let (s, _) = app.accept(&customer.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app.get(&format!("/api/v1/customers/{}/grants", customer.id), &partner.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["items"].as_array().unwrap().iter().all(|g| g["state"] == "active"));
    app.clock.advance(time::Duration::days(1));
    let partner = Org { token: app.sign_in(&partner.email, PASSWORD).await, ..partner };
    let (_, b) = app.get(&format!("/api/v1/customers/{}/grants", customer.id), &partner.token).await;
    assert!(b["items"].as_array().unwrap().iter().all(|g| g["state"] == "expired"), "{b}");
    let (_, list) = app.get("/api/v1/customers", &partner.token).await;
    assert_eq!(list["items"][0]["grants"], json!([]), "no job ran: the check is on read");
    let (_, pre) = app.get(&format!("/api/v1/customers/{}/removal-preflight", customer.id), &partner.token).await;
    assert_eq!(pre["grants_to_revoke"], 0);
}

#[tokio::test]
async fn resellers_ask_providers_to_connect() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let (s, b) = app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": provider.partner_id})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::CREATED, Some("pending")));
    let (s, _) = app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": provider.partner_id})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, b) = app.get("/api/v1/resellers", &provider.token).await;
    assert_eq!((b["items"][0]["id"].as_str(), b["items"][0]["state"].as_str()), (Some(reseller.id.as_str()), Some("pending")));
    let (s, _) = app.post("/api/v1/invitations", Some(&reseller.token), json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a pending link is not enough");
    let (s, b) = app.post(&format!("/api/v1/resellers/{}/accept", reseller.id), Some(&provider.token), json!({})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("active")));
    let (_, b) = app.get("/api/v1/providers", &reseller.token).await;
    assert_eq!(
        (b["items"][0]["partner_id"].as_str(), b["items"][0]["state"].as_str()),
        (Some(provider.partner_id.as_str()), Some("active"))
    );
    let (s, _) = app.post("/api/v1/providers", Some(&provider.token), json!({"provider_partner_id": provider.partner_id})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only resellers ask");
    let (s, _) = app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": "nope"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn users_are_managed_by_global_admins_and_deleting_one_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (s, me) = app.get("/api/v1/me", &partner.token).await;
    assert_eq!(
        (s, me["organization"]["kind"].as_str(), me["organization"]["partner_id"].as_str()),
        (StatusCode::OK, Some("partner"), Some(partner.partner_id.as_str()))
    );
    let agent = app.user(&partner, &["admin_agent"]).await;
    assert_eq!(app.get("/api/v1/users", &agent).await.0, StatusCode::FORBIDDEN);
    let (_, users) = app.get("/api/v1/users", &partner.token).await;
    assert_eq!(users["total"], 2);
    let agent_id = users["items"].as_array().unwrap().iter().find(|u| u["roles"] == json!(["admin_agent"])).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) =
        app.call(Method::PATCH, &format!("/api/v1/users/{agent_id}"), Some(&partner.token), Some(json!({"roles": ["user_admin"]}))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "user_admin is a customer role");
    let (s, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{agent_id}"),
            Some(&partner.token),
            Some(json!({"roles": ["sales_agent"], "display_name": "Sam"})),
        )
        .await;
    assert_eq!((s, b["roles"].clone(), b["display_name"].as_str()), (StatusCode::OK, json!(["sales_agent"]), Some("Sam")));
    // Losing a role ends the user's sessions (issue 7): the next request is unauthenticated,
    // and a new session holds only the roles left.
    assert_eq!(app.post("/api/v1/invitations", Some(&agent), json!({})).await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = app.call(Method::DELETE, &format!("/api/v1/users/{agent_id}"), Some(&partner.token), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &agent).await.0, StatusCode::UNAUTHORIZED);
    // The last global admin stays.
    let me_id = me["user"]["id"].as_str().unwrap();
    let (s, b) =
        app.call(Method::PATCH, &format!("/api/v1/users/{me_id}"), Some(&partner.token), Some(json!({"roles": ["admin_agent"]}))).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (s, _) = app.call(Method::DELETE, &format!("/api/v1/users/{me_id}"), Some(&partner.token), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = app
        .post(
            "/api/v1/users",
            Some(&partner.token),
            json!({"email": partner.email, "display_name": "Dup", "password": PASSWORD, "roles": ["sales_agent"]}),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
    app.verify_audit().await;
}

#[tokio::test]
async fn sign_in_tokens_expire_and_are_new_each_time() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let second = app.sign_in(&partner.email, PASSWORD).await;
    assert_ne!(second, partner.token);
    assert_eq!(app.get("/api/v1/me", &partner.token).await.0, StatusCode::OK);
    app.clock.advance(time::Duration::hours(12));
    assert_eq!(app.get("/api/v1/me", &partner.token).await.0, StatusCode::UNAUTHORIZED);
    let stored = app.raw.bytes("SELECT token_hash FROM sessions").await;
    assert!(stored.iter().all(|h| h.len() == 32 && h.as_slice() != second.as_bytes()), "only hashes are stored");
}

#[tokio::test]
async fn signing_up_twice_with_one_domain_or_email_conflicts() {
    let app = TestApp::spawn().await;
    let body = json!({"organization": {"name": "Tailspin", "domain": "tailspin.example"}, "admin": {"email": "ga@tailspin.example", "display_name": "T", "password": PASSWORD}});
    assert_eq!(app.post("/api/v1/signup", None, body.clone()).await.0, StatusCode::CREATED);
    let (s, b) = app.post("/api/v1/signup", None, body).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (s, b) = app.post("/api/v1/signup", None, json!({"organization": {"name": "T2", "domain": "t2.example"}, "admin": {"email": "GA@Tailspin.example", "display_name": "T", "password": PASSWORD}})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "e-mail is unique whatever its case");
    let (s, b) = app
        .post(
            "/api/v1/signup",
            None,
            json!({"organization": {"name": "", "domain": "nodot"}, "admin": {"email": "x", "display_name": "T", "password": "short"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["organization.name", "organization.domain", "admin.email", "admin.password"]);
}

#[tokio::test]
async fn a_copy_of_the_database_alone_holds_no_working_invitation_token() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let token = token_of(&inv);
    // Everything the database holds: its files (SQLite, with the write-ahead log), or every
    // row of every table as text (PostgreSQL).
    let text = match backend() {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for f in std::fs::read_dir(app.db.dir()).unwrap() {
                bytes.extend(std::fs::read(f.unwrap().path()).unwrap());
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let tables = app.raw.strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'").await;
            let mut all = String::new();
            for t in tables {
                all.extend(app.raw.strings(&format!("SELECT t::text FROM {t} t")).await);
            }
            all
        }
    };
    assert!(text.contains("invitation.created"), "the dump is real");
    assert!(!text.contains(&token), "the token is stored nowhere, not even in the e-mail draft");
    // An edited draft keeps the URL for the partner, not on disk.
    let url = inv["url"].as_str().unwrap();
    let path = format!("/api/v1/invitations/{}/email", inv["id"].as_str().unwrap());
    let (s, b) =
        app.call(Method::PUT, &path, Some(&partner.token), Some(json!({"subject": "Hi", "body": format!("Click {url} now")}))).await;
    assert_eq!((s, b["email"]["body"].as_str()), (StatusCode::OK, Some(format!("Click {url} now").as_str())));
    assert_eq!(app.raw.strings("SELECT email_body FROM invitations").await, ["Click {invitation_url} now"]);
    // What the database holds is the SHA-256 of the token, which cannot be turned back.
    assert_eq!(app.raw.bytes("SELECT token_hash FROM invitations").await, [sha256(&token).to_vec()]);
}

/// The page behind the URL: GET shows and changes nothing; the form POST, with the CSRF
/// cookie the page set, signs a customer global admin in and accepts.
#[tokio::test]
async fn the_invitation_page_accepts_through_its_form_and_refuses_forged_posts() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.customer().await;
    let inv = app.invite(&partner, json!({"locale": "fr"})).await;
    let url = inv["url"].as_str().unwrap().to_owned();
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(page.headers()["set-cookie"].to_str().unwrap().contains("SameSite=Strict"));
    let html = page.text().await.unwrap();
    assert!(html.contains("relation de revendeur") && html.contains("Accepter"), "the page speaks the invitation's language");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let form = |csrf: &str, decision: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("email", customer.email.clone()),
            ("password", PASSWORD.to_owned()),
            ("decision", decision.to_owned()),
        ]
    };
    // Without the cookie, or with a field that does not match it: refused, nothing changes.
    let res = app.client.post(&url).form(&form(&csrf, "accept")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.client.post(&url).header("cookie", &cookie).form(&form(&"0".repeat(64), "accept")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(app.customer_ids(&partner).await.is_empty());
    // A wrong password: refused.
    let mut bad = form(&csrf, "accept");
    bad[2].1 = "not the password".into();
    let res = app.client.post(&url).header("cookie", &cookie).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The real form accepts, once.
    let res = app.client.post(&url).header("cookie", &cookie).form(&form(&csrf, "accept")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Acceptée"));
    assert_eq!(app.customer_ids(&partner).await, vec![customer.id.clone()]);
    // (The answer redirects to the page, which then says so.) Answered: gone.
    let res = app.client.post(&url).header("cookie", &cookie).form(&form(&csrf, "decline")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    let closed = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(closed.contains("Acceptée") && !closed.contains("name=\"csrf\""), "an answered invitation shows no form");
    app.verify_audit().await;
}

//! Flow 6, orders: who may order for whom, every refusal of `docs/commerce.md` with its exact
//! status and code, and nothing written when refused.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

fn field(b: &serde_json::Value) -> &str {
    b["errors"][0]["field"].as_str().unwrap_or("<no field>")
}

#[tokio::test]
async fn a_direct_partner_orders_for_its_customer_and_is_its_own_partner_of_record() {
    let app = TestApp::spawn().await;
    let direct = app.partner("direct").await;
    let customer = app.connected_customer(&direct).await;
    let mail = app.offer("Mail Basic").await;
    let office = app.offer("Office Suite").await;
    let (s, b) = app
        .post(
            &format!("/api/v1/customers/{}/orders", customer.id),
            Some(&direct.token),
            json!({"items": [{"offer_id": mail, "quantity": 10}, {"offer_id": office, "quantity": 3}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["placed_by"]["id"], direct.id.as_str());
    assert_eq!(b["partner_of_record"]["id"], direct.id.as_str());
    let subs = b["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "one subscription per item");
    assert_eq!(
        (subs[0]["offer_id"].as_str(), subs[0]["quantity"].as_i64(), subs[0]["status"].as_str(), subs[0]["assigned"].as_i64()),
        (Some(mail.as_str()), Some(10), Some("active"), Some(0))
    );
    assert_eq!(subs[1]["offer"]["name"], "Office Suite");
    assert_eq!(subs[1]["offer"]["unit_price_cents"], 600);
    assert_eq!(subs[1]["offer"]["currency"], "EUR");

    // A sales agent orders too; a helpdesk agent may not.
    let sales = app.user(&direct, &["sales_agent"]).await;
    app.order(&sales, &customer.id, &mail, 1, None).await;
    let helpdesk = app.user(&direct, &["helpdesk_agent"]).await;
    let (s, b) = app.try_order(&helpdesk, &customer.id, &mail, 1, None).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));

    // The customer sees the order in its audit log; the partner too.
    for token in [&customer.token, &direct.token] {
        let (_, audit) = app.get("/api/v1/audit?action=order.created", token).await;
        assert_eq!(audit["total"], 2, "{audit}");
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn every_refusal_of_the_order_table_answers_its_own_status_and_code_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let direct = app.partner("direct").await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    let unlinked = app.partner("indirect_reseller").await;
    let linked_but_absent = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    app.link(&provider, &linked_but_absent).await;
    let offer = app.offer("Mail Basic").await;
    let disabled = app.offer("Old Mail").await;
    let (s, b) = app.post(&format!("/api/v1/operator/offers/{disabled}/disable"), Some(OPERATOR), json!({})).await;
    assert_eq!((s, b["active"].as_bool()), (StatusCode::OK, Some(false)));

    // The customer came through the reseller's invitation naming the provider: both connected.
    let customer = app.customer().await;
    let inv = app.invite(&reseller, json!({"indirect_provider_id": provider.id})).await;
    assert_eq!(app.accept(&customer.token, &inv).await.0, StatusCode::CREATED);
    let direct_customer = app.connected_customer(&direct).await;
    let strangers_customer = app.connected_customer(&unlinked).await;

    // The provider orders naming its reseller: the reseller is partner of record.
    let (s, b) = app.try_order(&provider.token, &customer.id, &offer, 5, Some(&reseller.id)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        (b["placed_by"]["id"].as_str(), b["partner_of_record"]["id"].as_str()),
        (Some(provider.id.as_str()), Some(reseller.id.as_str()))
    );
    // The direct partner orders without one.
    app.order(&direct.token, &direct_customer.id, &offer, 5, None).await;
    let (orders, subs) = (app.raw.i64("SELECT count(*) FROM orders").await, app.raw.i64("SELECT count(*) FROM subscriptions").await);
    assert_eq!((orders, subs), (2, 2));

    let refusals = [
        // (who, customer, offer, quantity, reseller_id, status, code, field)
        (
            "direct names a reseller",
            &direct,
            &direct_customer.id,
            &offer,
            1,
            Some(reseller.id.as_str()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "reseller_id",
        ),
        (
            "provider without reseller_id",
            &provider,
            &customer.id,
            &offer,
            1,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "reseller_id",
        ),
        (
            "provider names a reseller that is not its own",
            &provider,
            &customer.id,
            &offer,
            1,
            Some(unlinked.id.as_str()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "reseller_id",
        ),
        (
            "provider names itself",
            &provider,
            &customer.id,
            &offer,
            1,
            Some(provider.id.as_str()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "reseller_id",
        ),
        (
            "its reseller has no relationship with the customer",
            &provider,
            &customer.id,
            &offer,
            1,
            Some(linked_but_absent.id.as_str()),
            StatusCode::FORBIDDEN,
            "no_reseller_relationship",
            "",
        ),
        (
            "provider without its own relationship",
            &provider,
            &strangers_customer.id,
            &offer,
            1,
            Some(reseller.id.as_str()),
            StatusCode::NOT_FOUND,
            "not_found",
            "",
        ),
        ("direct without a relationship", &direct, &customer.id, &offer, 1, None, StatusCode::NOT_FOUND, "not_found", ""),
        ("an indirect reseller orders", &reseller, &customer.id, &offer, 1, None, StatusCode::FORBIDDEN, "forbidden", ""),
        (
            "a disabled offer",
            &direct,
            &direct_customer.id,
            &disabled,
            1,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "items[0].offer_id",
        ),
        (
            "an unknown offer",
            &direct,
            &direct_customer.id,
            &uuid::Uuid::now_v7().to_string(),
            1,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "items[0].offer_id",
        ),
        (
            "no seat",
            &direct,
            &direct_customer.id,
            &offer,
            0,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "items[0].quantity",
        ),
        (
            "too many seats",
            &direct,
            &direct_customer.id,
            &offer,
            100_001,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "items[0].quantity",
        ),
    ];
    for (why, who, cust, off, n, r, status, c, f) in refusals {
        let (s, b) = app.try_order(&who.token, cust, off, n, r).await;
        assert_eq!((s, code(&b)), (status, c), "{why}: {b}");
        if !f.is_empty() {
            assert_eq!(field(&b), f, "{why}: {b}");
        }
    }
    // Items: at least one, at most 50, each field named by its place.
    let path = format!("/api/v1/customers/{}/orders", direct_customer.id);
    let (s, b) = app.post(&path, Some(&direct.token), json!({"items": []})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "items"));
    let many: Vec<_> = (0..51).map(|_| json!({"offer_id": offer, "quantity": 1})).collect();
    let (s, b) = app.post(&path, Some(&direct.token), json!({"items": many})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "items"));
    let (s, b) = app
        .post(&path, Some(&direct.token), json!({"items": [{"offer_id": offer, "quantity": 1}, {"offer_id": disabled, "quantity": -3}]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["items[1].offer_id", "items[1].quantity"], "every failing field at once");

    let after = (app.raw.i64("SELECT count(*) FROM orders").await, app.raw.i64("SELECT count(*) FROM subscriptions").await);
    assert_eq!(after, (orders, subs), "no refused order wrote anything");
    let (_, audit) = app.get("/api/v1/audit?action=order.created", &provider.token).await;
    assert_eq!(audit["total"], 1);
    app.verify_audit().await;
}

#[tokio::test]
async fn the_operator_keeps_the_catalog_and_partners_order_only_enabled_offers() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    for (body, f) in [
        (json!({"name": "", "unit_price_cents": 1, "currency": "EUR"}), "name"),
        (json!({"name": "x", "unit_price_cents": -1, "currency": "EUR"}), "unit_price_cents"),
        (json!({"name": "x", "unit_price_cents": 100_000_001, "currency": "EUR"}), "unit_price_cents"),
        (json!({"name": "x", "unit_price_cents": 1, "currency": "eur"}), "currency"),
    ] {
        let (s, b) = app.post("/api/v1/operator/offers", Some(OPERATOR), body.clone()).await;
        assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, f), "{body}");
    }
    let (s, _) =
        app.post("/api/v1/operator/offers", Some(&partner.token), json!({"name": "x", "unit_price_cents": 1, "currency": "EUR"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "partners do not keep the catalog");
    let zeta = app.offer("Zeta Backup").await;
    let alpha = app.offer("Alpha Mail").await;
    let (s, b) = app.post(&format!("/api/v1/operator/offers/{zeta}/disable"), Some(OPERATOR), json!({})).await;
    assert_eq!((s, b["active"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, b) = app.post(&format!("/api/v1/operator/offers/{zeta}/disable"), Some(OPERATOR), json!({})).await;
    assert_eq!((s, b["active"].as_bool()), (StatusCode::OK, Some(false)), "disabling twice is fine");
    let (s, _) = app.post(&format!("/api/v1/operator/offers/{}/disable", uuid::Uuid::now_v7()), Some(OPERATOR), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, all) = app.get("/api/v1/operator/offers", OPERATOR).await;
    assert_eq!((s, all["total"].as_i64()), (StatusCode::OK, Some(2)));
    let (s, enabled) = app.get("/api/v1/offers", &partner.token).await;
    assert_eq!((s, enabled["total"].as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(enabled["items"][0]["id"], alpha.as_str());
    assert_eq!(enabled["items"][0]["active"], true);
    let customer = app.customer().await;
    assert_eq!(app.get("/api/v1/offers", &customer.token).await.0, StatusCode::FORBIDDEN, "offers are for partner users");

    // Paging by name, with the total of the whole list.
    for name in ["Bravo", "Charlie", "Delta"] {
        app.offer(name).await;
    }
    let (_, first) = app.get("/api/v1/offers?limit=2", &partner.token).await;
    assert_eq!(first["total"], 4);
    let names =
        |b: &serde_json::Value| b["items"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(&first), ["Alpha Mail", "Bravo"]);
    let (_, second) = app.get(&format!("/api/v1/offers?limit=2&cursor={}", first["next_cursor"].as_str().unwrap()), &partner.token).await;
    assert_eq!(names(&second), ["Charlie", "Delta"]);
    assert_eq!(app.get("/api/v1/offers?limit=501", &partner.token).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // The operator's partner list.
    let (s, partners) = app.get("/api/v1/operator/partners", OPERATOR).await;
    assert_eq!((s, partners["total"].as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(
        (partners["items"][0]["partner_id"].as_str(), partners["items"][0]["partner_type"].as_str()),
        (Some(partner.partner_id.as_str()), Some("direct"))
    );
    app.verify_audit().await;
}

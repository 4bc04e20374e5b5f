//! The response cache of the customer list and one customer (issue 9): an answer is served
//! from it only while the caller's organization version (and the customer's, for one
//! customer) is the one it was rendered at and nothing in it has expired; each server process
//! has its own, so a change through one must be seen by the next read through another.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<&str> {
    list["items"].as_array().expect("items").iter().map(|c| c["id"].as_str().expect("id")).collect()
}

fn item<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["items"].as_array().expect("items").iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} not in {list}"))
}

fn roles(customer: &Value) -> Vec<&str> {
    customer["grants"].as_array().expect("grants").iter().map(|g| g["role"].as_str().expect("role")).collect()
}

async fn ok(app: &TestApp, base: &str, path: &str, token: &str) -> Value {
    let (s, b) = app.get_at(base, path, token).await;
    assert_eq!(s, StatusCode::OK, "GET {path}: {b}");
    b
}

/// The cache is used: a row changed under the store (no change, no version moves) does not
/// show until a real change moves the version; then a new customer, a revocation and a removal
/// each show on the very next read.
#[tokio::test]
async fn a_cached_list_and_customer_follow_every_change_at_once() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let c = app.customer_granting(&p, &["global_reader", "helpdesk_admin"]).await;
    let (list, one) = ("/api/v1/customers", format!("/api/v1/customers/{}", c.id));
    let first = ok(&app, &app.url, list, &p.token).await;
    let name = item(&first, &c.id)["name"].as_str().expect("name").to_owned();
    ok(&app, &app.url, &one, &p.token).await;
    // Under the store: no version moves, so the cached answers stand (proof they are cached).
    app.raw.exec(&format!("UPDATE organizations SET name = 'Renamed under the store' WHERE id = {}", app.raw.uuid(&c.id))).await.unwrap();
    assert_eq!(ok(&app, &app.url, list, &p.token).await, first, "the list is served from the cache");
    assert_eq!(ok(&app, &app.url, &one, &p.token).await["name"], name.as_str(), "one customer is served from the cache");

    // A new customer: the list has it, and the rename now shows too (rendered anew).
    let (created, _, _) = app.created_customer(&p).await;
    let after = ok(&app, &app.url, list, &p.token).await;
    assert_eq!(after["total"], 2, "{after}");
    assert!(ids(&after).contains(&created.as_str()), "{after}");
    assert_eq!(item(&after, &c.id)["name"], "Renamed under the store");
    assert_eq!(roles(item(&after, &c.id)), ["global_reader", "helpdesk_admin"]);

    // The customer revokes the partner's grants: gone from the list and from the customer.
    ok(&app, &app.url, &one, &p.token).await;
    let (s, b) = app.post(&format!("/api/v1/partners/{}/revoke-grants", p.id), Some(&c.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(roles(item(&ok(&app, &app.url, list, &p.token).await, &c.id)).is_empty());
    assert!(roles(&ok(&app, &app.url, &one, &p.token).await).is_empty());

    // The partner removes the relationship: the customer is gone from both at once.
    let (s, b) =
        app.post(&format!("/api/v1/customers/{}/remove-relationship", c.id), Some(&p.token), json!({"attest_good_faith": true})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get(&one, &p.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let last = ok(&app, &app.url, list, &p.token).await;
    assert_eq!((ids(&last), last["total"].clone()), (vec![created.as_str()], json!(1)));
    app.verify_audit().await;
}

/// A grant drops out of a cached answer at its expiry instant, with no change in between.
#[tokio::test]
async fn a_grant_drops_out_of_the_cached_answer_at_its_expiry_instant() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let c = app.customer().await;
    let inv = app.invite(&p, json!({"roles": ["global_reader"], "duration_days": 1, "auto_extend": false})).await;
    let (s, b) = app.accept(&c.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Ten seconds before the grant expires (a new session: the first one has expired by then).
    app.clock.advance(time::Duration::days(1) - time::Duration::seconds(10));
    let token = app.sign_in(&p.email, PASSWORD).await;
    let (list, one) = ("/api/v1/customers", format!("/api/v1/customers/{}", c.id));
    for _ in 0..2 {
        assert_eq!(roles(item(&ok(&app, &app.url, list, &token).await, &c.id)), ["global_reader"]);
        assert_eq!(roles(&ok(&app, &app.url, &one, &token).await), ["global_reader"]);
    }
    app.clock.advance(time::Duration::seconds(9));
    assert_eq!(roles(item(&ok(&app, &app.url, list, &token).await, &c.id)), ["global_reader"], "a second before");
    app.clock.advance(time::Duration::seconds(1));
    assert!(roles(item(&ok(&app, &app.url, list, &token).await, &c.id)).is_empty(), "expired at its instant");
    assert!(roles(&ok(&app, &app.url, &one, &token).await).is_empty(), "expired at its instant");
}

/// Two servers on one database, each with its own cache: what changes through one is seen by
/// the next read through the other, and a revoked session or a removed relationship is
/// refused there on the very next request.
#[tokio::test]
async fn two_servers_on_one_database_see_each_others_changes_on_the_next_read() {
    let app = TestApp::spawn().await;
    let b = app.peer().await;
    let p = app.partner("direct").await;
    let c = app.customer_granting(&p, &["global_reader"]).await;
    let (list, one) = ("/api/v1/customers", format!("/api/v1/customers/{}", c.id));
    for _ in 0..2 {
        assert_eq!(ids(&ok(&app, &b, list, &p.token).await), [c.id.as_str()]);
        assert_eq!(roles(&ok(&app, &b, &one, &p.token).await), ["global_reader"]);
    }
    // A new customer through A: B's next list has it.
    let (created, _, _) = app.created_customer(&p).await;
    let seen = ok(&app, &b, list, &p.token).await;
    assert_eq!(seen["total"], 2, "{seen}");
    assert!(ids(&seen).contains(&created.as_str()));
    // The customer revokes the grants through A: B's next answers show none.
    ok(&app, &b, &one, &p.token).await;
    let (s, body) = app.post(&format!("/api/v1/partners/{}/revoke-grants", p.id), Some(&c.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(roles(&ok(&app, &b, &one, &p.token).await).is_empty());
    assert!(roles(item(&ok(&app, &b, list, &p.token).await, &c.id)).is_empty());
    // The customer ends the relationship through A: B refuses the customer on the next request.
    let (s, body) = app.post(&format!("/api/v1/partners/{}/remove-relationship", p.id), Some(&c.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = app.get_at(&b, &one, &p.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(ids(&ok(&app, &b, list, &p.token).await), [created.as_str()]);
    // A session signed out through A is refused by B on the next request, cached answer or not.
    let other = app.sign_in(&p.email, PASSWORD).await;
    ok(&app, &b, list, &other).await;
    let (s, body) = app.delete("/api/v1/auth/token", &other).await;
    assert!(s.is_success(), "{s} {body}");
    let (s, body) = app.get_at(&b, list, &other).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    // The first session is untouched.
    ok(&app, &b, list, &p.token).await;
    app.verify_audit().await;
}

/// A cached answer is its organization's: another partner asking the same path gets its own
/// answer, a user of the same partner the same one, and a caller whose organization may not
/// read customers is refused.
#[tokio::test]
async fn callers_of_other_organizations_or_roles_never_get_a_cached_answer() {
    let app = TestApp::spawn().await;
    let (p1, p2) = (app.partner("direct").await, app.partner("direct").await);
    let c = app.customer_granting(&p1, &["global_reader"]).await;
    let (list, one) = ("/api/v1/customers", format!("/api/v1/customers/{}", c.id));
    assert_eq!(ids(&ok(&app, &app.url, list, &p1.token).await), [c.id.as_str()]);
    ok(&app, &app.url, &one, &p1.token).await;
    let theirs = ok(&app, &app.url, list, &p2.token).await;
    assert_eq!((ids(&theirs).len(), theirs["total"].clone()), (0, json!(0)), "{theirs}");
    let (s, b) = app.get(&one, &p2.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    // The customer itself may not list customers, nor read itself as one.
    for path in [list, one.as_str()] {
        let (s, b) = app.get(path, &c.token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {b}");
    }
    // A user of the same partner who may: the same answer as its admin.
    let sales = app.user(&p1, &["sales_agent"]).await;
    assert_eq!(ok(&app, &app.url, list, &sales).await, ok(&app, &app.url, list, &p1.token).await);
    // Nor is a cached answer shared across the customer's id: another path is another answer.
    let (s, b) = app.get(&format!("/api/v1/customers/{}", p2.id), &p1.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}

/// A reseller leaving a customer changes its provider's answers although none of the change's
/// records is the provider's to read: the provider's list stops naming it, and the customer's
/// other partners lose it, on the next read.
#[tokio::test]
async fn a_reseller_leaving_is_seen_in_its_providers_cached_answers() {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let body = json!({"name": "Customer via reseller", "domain": format!("{}.example", unique("via")),
                      "admin": {"email": format!("ga@{}.example", unique("via")), "display_name": "Grace"}, "reseller_id": reseller.id});
    let (s, b) = app.post("/api/v1/customers", Some(&provider.token), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let customer = b["id"].as_str().expect("id").to_owned();
    let (list, one) = ("/api/v1/customers", format!("/api/v1/customers/{customer}"));
    for _ in 0..2 {
        assert_eq!(item(&ok(&app, &app.url, list, &provider.token).await, &customer)["indirect_reseller"]["id"], reseller.id.as_str());
        assert_eq!(ok(&app, &app.url, &one, &provider.token).await["other_partners"][0]["id"], reseller.id.as_str());
    }
    let (s, b) = app
        .post(&format!("/api/v1/customers/{customer}/remove-relationship"), Some(&reseller.token), json!({"attest_good_faith": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(item(&ok(&app, &app.url, list, &provider.token).await, &customer)["indirect_reseller"].is_null());
    let detail = ok(&app, &app.url, &one, &provider.token).await;
    assert!(detail["indirect_reseller"].is_null(), "{detail}");
    assert_eq!(detail["other_partners"], json!([]), "{detail}");
    app.verify_audit().await;
}

/// One customer's other partners change with relationships that are the customer's to read
/// but not the caller's: its answer watches the customer's version too.
#[tokio::test]
async fn a_customers_other_partners_follow_relationships_the_caller_is_not_told_of() {
    let app = TestApp::spawn().await;
    let (provider, other_provider) = (app.partner("indirect_provider").await, app.partner("indirect_provider").await);
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    app.link(&other_provider, &reseller).await;
    let c = app.connected_customer(&provider).await;
    let one = format!("/api/v1/customers/{}", c.id);
    for _ in 0..2 {
        assert_eq!(ok(&app, &app.url, &one, &provider.token).await["other_partners"], json!([]));
    }
    // The reseller comes to the customer through the other provider: `provider` reads none of it.
    let inv = app.invite(&reseller, json!({"indirect_provider_id": other_provider.id})).await;
    let (s, b) = app.accept(&c.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let detail = ok(&app, &app.url, &one, &provider.token).await;
    assert_eq!(detail["other_partners"][0]["id"], reseller.id.as_str(), "{detail}");
    app.verify_audit().await;
}

//! Query plans of the hot paths, checked against the migrated schema: a lookup that falls back
//! to scanning a table gets slower as the table grows, which no functional test notices.

use crate::commerce::SUBSCRIPTION_BY_ID;
use crate::rows::SUBSCRIPTION_SELECT;
use rusqlite::Connection;

/// An empty database with every migration applied, in order.
fn migrated() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    let mut files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect::<Vec<_>>();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        c.execute_batch(&std::fs::read_to_string(f).unwrap()).unwrap();
    }
    c
}

/// The `detail` lines of `EXPLAIN QUERY PLAN sql`, every parameter bound to NULL.
fn plan(c: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let params = vec![rusqlite::types::Value::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn assert_no_scan(c: &Connection, sql: &str) -> Vec<String> {
    let plan = plan(c, sql);
    assert!(plan.iter().all(|l| !l.starts_with("SCAN") || l == "SCAN CONSTANT ROW"), "{sql}\nscans: {plan:#?}");
    plan
}

#[test]
fn a_placed_order_reads_its_subscriptions_back_by_primary_key() {
    assert_no_scan(&migrated(), &format!("{SUBSCRIPTION_SELECT}{SUBSCRIPTION_BY_ID}"));
}

#[test]
fn a_lookup_of_an_order_s_subscriptions_uses_an_index() {
    let c = migrated();
    let plan = assert_no_scan(&c, "SELECT id FROM subscriptions WHERE order_id = ?");
    assert!(plan.iter().any(|l| l.contains("subscriptions_order")), "{plan:#?}");
    assert_no_scan(&c, &format!("{SUBSCRIPTION_SELECT} WHERE s.order_id = ? ORDER BY s.id"));
}

/// The customer list, page by page, whatever the partner's number of customers: the total is
/// one primary-key probe, each page walks its index in order (no sort of the partner's
/// relationships), and the page's grants are index probes by (partner, customer).
#[test]
fn the_customer_list_reads_a_page_whatever_the_partner_s_size() {
    use crate::relationships::{CUSTOMER_COUNT, customer_page_sql, live_grants_sql};
    use partnerhub_store::CustomerSort;
    let c = migrated();
    let count = assert_no_scan(&c, CUSTOMER_COUNT);
    assert!(count.iter().any(|l| l.contains("partner_customer_counts USING PRIMARY KEY")), "{count:#?}");
    for (sort, index) in [(CustomerSort::Name, "relationships_by_name"), (CustomerSort::NewestFirst, "relationships_by_created")] {
        for after in [false, true] {
            let page = assert_no_scan(&c, &customer_page_sql(sort, false, after));
            assert!(page.iter().any(|l| l.contains(index)), "{page:#?}");
            assert!(page.iter().all(|l| !l.contains("TEMP B-TREE")), "{page:#?}");
        }
    }
    let grants = assert_no_scan(&c, &live_grants_sql(50));
    assert!(grants.iter().any(|l| l.starts_with("SEARCH grants USING INDEX") && l.contains("customer_id=?")), "{grants:#?}");
}

/// One customer: whether the caller has a provider link is two index probes.
#[test]
fn a_provider_link_is_looked_up_by_index() {
    let plan = assert_no_scan(&migrated(), crate::relationships::PROVIDER_LINKED);
    assert_eq!(plan.iter().filter(|l| l.contains("provider_links USING")).count(), 2, "{plan:#?}");
}

/// A partner's page of a customer's subscriptions: the count and the filter read the customer's
/// index entries only (placed_by and partner_of_record are in the index), never a row each.
#[test]
fn a_partner_s_subscription_page_counts_from_the_index_alone() {
    let c = migrated();
    let filter = " WHERE s.customer_id = ?1 AND (s.placed_by = ?2 OR s.partner_of_record = ?2)";
    let count = assert_no_scan(&c, &format!("SELECT count(*) FROM subscriptions s{filter}"));
    assert!(count.iter().any(|l| l.contains("COVERING INDEX subscriptions_customer")), "{count:#?}");
    let page = assert_no_scan(&c, &format!("{SUBSCRIPTION_SELECT}{filter} AND s.id > ?3 ORDER BY s.id LIMIT ?4"));
    assert!(page.iter().any(|l| l.contains("subscriptions_customer")), "{page:#?}");
    assert!(page.iter().all(|l| !l.contains("TEMP B-TREE")), "no sort: {page:#?}");
}

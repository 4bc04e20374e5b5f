//! `partnerhub bench seed`: the benchmark dataset, loaded in bulk, is one the service serves as
//! its own: the audit chain verifies, the partners' lists hold what was asked with its grants,
//! the seeded users sign in, and one partner does not see another's customers. On SQLite, and on
//! PostgreSQL in the suite's re-run.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::process::Command;

fn seed(url: &str, pairs_file: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_partnerhub"))
        .args(["bench", "seed", "--database", url, "--pairs", "30", "--pairs-file"])
        .arg(pairs_file)
        .args(["--partners", "20", "--customers", "500", "--measured-partner-customers", "200", "--small-partner-customers", "20"])
        .args(["--grants-per-customer", "3", "--audit-records", "2000", "--password", "seeded-password-1"])
        .env("PARTNERHUB_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_seeded_dataset_verifies_pages_with_grants_and_keeps_partners_apart() {
    let app = TestApp::spawn().await;
    let pairs_file = app.db.dir().join("pairs.txt");
    let out = seed(&app.db.url, &pairs_file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench seed failed: {stderr}");
    assert!(stderr.contains("seeded in") && stderr.contains("2000 audit records"), "{stderr}");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["counts"]["grants"], 1500, "{info}");
    assert_eq!(info["counts"]["organizations"], 550, "500 customers, 20 partners and 30 pair customers: {info}");
    assert_eq!((info["counts"]["sessions"].clone(), info["counts"]["invitations"].clone()), (Value::from(30), Value::from(30)));
    assert_eq!(info["order_customers"].as_array().map(Vec::len), Some(16), "{info}");

    // Every reference holds (PostgreSQL's load may skip the per-row foreign key checks).
    for orphans in [
        "SELECT count(*) FROM audit_visibility v LEFT JOIN audit_records a ON a.seq = v.seq WHERE a.seq IS NULL",
        "SELECT count(*) FROM grants g LEFT JOIN relationships r ON r.id = g.relationship_id WHERE r.id IS NULL",
        "SELECT count(*) FROM relationships r LEFT JOIN organizations c ON c.id = r.customer_id LEFT JOIN organizations p ON p.id = r.partner_org_id WHERE c.id IS NULL OR p.id IS NULL",
        "SELECT count(*) FROM users u LEFT JOIN organizations o ON o.id = u.organization_id WHERE o.id IS NULL",
    ] {
        assert_eq!(app.raw.i64(orphans).await, 0, "{orphans}");
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM audit_visibility").await, 4000);

    let verify = Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(["audit", "verify", "--database", &app.db.url]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("2000 records"));
    app.verify_audit().await;

    let password = "seeded-password-1";
    let measured = app.sign_in(info["measured_partner"]["admin"].as_str().unwrap(), password).await;
    let (s, page) = app.get("/api/v1/customers", &measured).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 50, "a full page");
    for c in items {
        assert_eq!(c["grants"].as_array().map(Vec::len), Some(3), "every seeded customer carries its 3 grants: {c}");
    }
    assert!(page["next_cursor"].is_string(), "{page}");
    let small = app.sign_in(info["small_partner"]["admin"].as_str().unwrap(), password).await;
    assert_eq!(app.get("/api/v1/customers", &small).await.1["total"], 20);

    // Isolation holds for seeded rows: the measured partner reads its own customer, not another's.
    let own = info["customer"]["id"].as_str().unwrap();
    let (s, b) = app.get(&format!("/api/v1/customers/{own}"), &measured).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let other = info["other_partner_customer_id"].as_str().unwrap();
    let (s, b) = app.get(&format!("/api/v1/customers/{other}"), &measured).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another partner's customer: {b}");
    let (s, b) = app.get(&format!("/api/v1/customers/{other}"), &small).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // The customer's user signs in too, and sees its one partner.
    let customer = app.sign_in(info["customer"]["user"].as_str().unwrap(), password).await;
    let (s, b) = app.get("/api/v1/partners", &customer).await;
    assert_eq!((s, b["total"].clone()), (StatusCode::OK, Value::from(1)), "{b}");

    // Each pair is an acceptance waiting to happen: its bearer is its customer's global admin,
    // and its token an open invitation of another partner (never the measured one), once.
    let pairs = std::fs::read_to_string(&pairs_file).unwrap();
    let pairs: Vec<(&str, &str)> = pairs.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(pairs.len(), 30);
    for (bearer, token) in &pairs[..3] {
        let (s, b) = app.post("/api/v1/invitations/accept", Some(bearer), serde_json::json!({"token": token})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["grants"].as_array().map(Vec::len), Some(3), "{b}");
        let (s, b) = app.post("/api/v1/invitations/accept", Some(bearer), serde_json::json!({"token": token})).await;
        assert_eq!(s, StatusCode::CONFLICT, "a second acceptance: {b}");
    }
    assert_eq!(app.get("/api/v1/customers", &measured).await.1["total"], 200, "the pairs are not the measured partner's");

    // A second seed is refused: it would fork the chain and clash with the rows already there.
    let again = seed(&app.db.url, &app.db.dir().join("again.txt"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));
    app.verify_audit().await;
}

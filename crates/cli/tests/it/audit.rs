//! The audit log: append-only, hash-chained, readable per tenant, exportable as CSV, and
//! verifiable offline by `partnerhub audit verify`.

use crate::support::*;
use reqwest::StatusCode;
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
    assert_eq!(actions, ["invitation.accepted", "invitation.created", "session.created", "partner.created"]);
    let accepted = &b["items"][0];
    assert_eq!(accepted["customer_id"], customer.id.as_str());
    assert_eq!(accepted["actor"]["email"], customer.email.as_str());
    assert_eq!(accepted["hash"].as_str().unwrap().len(), 64);
    let (_, c) = app.get(&format!("/api/v1/audit?action=invitation.accepted&customer_id={}", customer.id), &customer.token).await;
    assert_eq!(c["total"], 1);
    let (_, page) = app.get("/api/v1/audit?limit=1", &partner.token).await;
    let (_, next) = app.get(&format!("/api/v1/audit?limit=1&cursor={}", page["next_cursor"].as_str().unwrap()), &partner.token).await;
    assert_eq!(next["items"][0]["action"], "invitation.created");

    let res =
        app.client.get(format!("{}/api/v1/audit", app.url)).bearer_auth(&partner.token).header("accept", "text/csv").send().await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert!(lines[0].starts_with("seq,at,organization_id,actor_user_id,actor_email"));
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[1].contains("invitation.accepted"));

    let agent = app.user(&partner, &["admin_agent"]).await;
    assert_eq!(app.get("/api/v1/audit", &agent).await.0, StatusCode::FORBIDDEN);
    let (_, since) = app.get("/api/v1/audit?since=2999-01-01T00:00:00Z", &partner.token).await;
    assert_eq!(since["total"], 0);
}

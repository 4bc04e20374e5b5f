//! PostgreSQL: the whole HTTP suite again on PostgreSQL, the two schemas kept identical, and
//! several server processes sharing one database.

use crate::crash::{post, start_with};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;

/// Runs this very test binary again with `PARTNERHUB_TEST_BACKEND=postgres`: every HTTP test
/// of the suite, each on a fresh PostgreSQL database (the browser tests once, on SQLite: they
/// test pages, not storage).
#[tokio::test]
async fn the_http_suite_passes_on_postgres() {
    if backend() == Backend::Postgres || postgres_server().await.is_none() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = tokio::process::Command::new(exe)
        .args(["--skip", "pg::", "--skip", "conformance::", "--skip", "browser::", "--skip", "browser_story::", "--test-threads", "3"])
        .env("PARTNERHUB_TEST_BACKEND", "postgres")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary =
        stdout.lines().filter(|l| l.starts_with("test result") || l.contains("FAILED") || l.contains("panicked")).collect::<Vec<_>>();
    println!("PostgreSQL run of the HTTP suite: {}", summary.join("\n"));
    assert!(out.status.success(), "the HTTP suite fails on PostgreSQL:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" passed; 0 failed"), "{stdout}");
}

/// table -> (columns with nullability, primary key, foreign keys, indexes).
#[derive(Debug, Default, PartialEq)]
struct Table {
    columns: BTreeMap<String, bool>,
    primary_key: Vec<String>,
    foreign_keys: Vec<String>,
    indexes: BTreeMap<String, String>,
}

fn predicate(p: &str) -> String {
    p.to_lowercase().replace("::text", "").replace(['(', ')', ' ', '"'], "")
}

async fn sqlite_schema(pool: &sqlx::SqlitePool) -> BTreeMap<String, Table> {
    use sqlx::Row;
    let mut out = BTreeMap::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for t in tables {
        let mut table = Table::default();
        let mut pk = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name, \"notnull\", pk FROM pragma_table_info('{t}')")))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let (name, notnull, pkpos): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            table.columns.insert(name.clone(), notnull == 1 || pkpos > 0);
            if pkpos > 0 {
                pk.push((pkpos, name));
            }
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list('{t}')")))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let (from, table_to, to): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            table.foreign_keys.push(format!("{from} -> {table_to}.{to}"));
        }
        table.foreign_keys.sort();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name, \"unique\", origin FROM pragma_index_list('{t}')")))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let (name, unique, origin): (String, i64, String) = (r.get(0), r.get(1), r.get(2));
            let cols: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_index_info('{name}') ORDER BY seqno")))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            match origin.as_str() {
                "pk" => continue,
                // A column-level UNIQUE: named by its columns, as PostgreSQL names it differently.
                "u" => {
                    table.indexes.insert(format!("unique({})", cols.join(",")), "unique".into());
                    continue;
                }
                _ => {}
            }
            let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = ?").bind(&name).fetch_one(pool).await.unwrap();
            let pred = sql.to_lowercase().split_once(" where ").map(|(_, p)| predicate(p)).unwrap_or_default();
            table.indexes.insert(name, format!("{}({}) {}", if unique == 1 { "unique" } else { "" }, cols.join(","), pred));
        }
        out.insert(t, table);
    }
    out
}

async fn postgres_schema(pool: &sqlx::PgPool) -> BTreeMap<String, Table> {
    use sqlx::Row;
    let mut out = BTreeMap::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for t in tables {
        let mut table = Table::default();
        for r in sqlx::query("SELECT column_name::text, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1").bind(&t).fetch_all(pool).await.unwrap() {
            table.columns.insert(r.get(0), r.get(1));
        }
        table.primary_key = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        )
        .bind(&t)
        .fetch_all(pool)
        .await
        .unwrap();
        for r in sqlx::query(
            "SELECT a.attname::text, cf.relname::text, af.attname::text FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             JOIN pg_class cf ON cf.oid = c.confrelid
             JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
             WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
        )
        .bind(&t)
        .fetch_all(pool)
        .await
        .unwrap()
        {
            let (from, table_to, to): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            table.foreign_keys.push(format!("{from} -> {table_to}.{to}"));
        }
        table.foreign_keys.sort();
        for r in sqlx::query(
            "SELECT ci.relname::text, i.indisunique, i.indisprimary, EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid),
                    coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
                    (SELECT string_agg(a.attname::text, ',' ORDER BY array_position(i.indkey, a.attnum)) FROM pg_attribute a
                      WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
             FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid WHERE i.indrelid = $1::regclass",
        )
        .bind(&t)
        .fetch_all(pool)
        .await
        .unwrap()
        {
            let (name, unique, primary, constraint, pred, cols): (String, bool, bool, bool, String, Option<String>) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
            let cols = cols.unwrap_or_default();
            if primary {
                continue;
            }
            if constraint {
                table.indexes.insert(format!("unique({cols})"), "unique".into());
                continue;
            }
            table.indexes.insert(name, format!("{}({cols}) {}", if unique { "unique" } else { "" }, predicate(&pred)));
        }
        out.insert(t, table);
    }
    out
}

#[tokio::test]
async fn both_backends_have_the_same_tables_columns_keys_and_indexes() {
    if postgres_server().await.is_none() {
        return;
    }
    let lite = TestDb::fresh(Backend::Sqlite).await;
    let pg = TestDb::fresh(Backend::Postgres).await;
    let (_, lite_raw) = open_store(&lite, None).await;
    let (_, pg_raw) = open_store(&pg, None).await;
    let (Raw::Sqlite(l), Raw::Postgres(p)) = (&lite_raw, &pg_raw) else { unreachable!() };
    let (ls, mut ps) = (sqlite_schema(l).await, postgres_schema(p).await);
    // PostgreSQL only: the changes committed but not yet linked into the audit chain (its many
    // writers link after commit; SQLite's one writer appends inside the change, docs/audit.md).
    assert!(ps.remove("audit_pending").is_some(), "PostgreSQL has audit_pending");
    assert!(ls.len() >= 10, "{ls:#?}");
    assert_eq!(ls.keys().collect::<Vec<_>>(), ps.keys().collect::<Vec<_>>(), "the same tables");
    for (name, lt) in &ls {
        assert_eq!(Some(lt), ps.get(name), "table {name} differs (left SQLite, right PostgreSQL)");
    }
    // Migrations of the same names, applied in the same order.
    let l_migs: Vec<String> = sqlx::query_scalar("SELECT description FROM _sqlx_migrations ORDER BY version").fetch_all(l).await.unwrap();
    let p_migs: Vec<String> = sqlx::query_scalar("SELECT description FROM _sqlx_migrations ORDER BY version").fetch_all(p).await.unwrap();
    assert_eq!(l_migs, p_migs);
}

/// Two `partnerhub serve` processes on one PostgreSQL database: sessions, the secret, the
/// acceptance race and revocation all hold across processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_share_one_database() {
    if postgres_server().await.is_none() {
        return;
    }
    let db = TestDb::fresh(Backend::Postgres).await;
    // No PARTNERHUB_SECRET: the first process generates one and keeps it in the database.
    let mut a = start_with(&db.url, &[]);
    let mut b = start_with(&db.url, &[]);
    let c = reqwest::Client::new();
    let (s, partner) = post(&c, format!("{}/api/v1/operator/partners", a.url), Some("op"),
        json!({"name": "Shared", "partner_type": "direct", "partner_id": "S1", "domain": "shared.example", "admin": {"email": "ga@shared.example", "display_name": "A", "password": PASSWORD}})).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{partner}");
    // A token issued by one process works on the other.
    let (_, t) =
        post(&c, format!("{}/api/v1/auth/token", a.url), None, json!({"email": "ga@shared.example", "password": PASSWORD})).await.unwrap();
    let partner_token = t["access_token"].as_str().unwrap().to_owned();
    let (s, cust) = post(&c, format!("{}/api/v1/signup", b.url), None,
        json!({"organization": {"name": "Cust", "domain": "cust.example"}, "admin": {"email": "ga@cust.example", "display_name": "C", "password": PASSWORD}})).await.unwrap();
    assert_eq!(s, StatusCode::CREATED);
    let customer_id = cust["organization_id"].as_str().unwrap().to_owned();
    let (_, t) =
        post(&c, format!("{}/api/v1/auth/token", b.url), None, json!({"email": "ga@cust.example", "password": PASSWORD})).await.unwrap();
    let customer_token = t["access_token"].as_str().unwrap().to_owned();
    let (s, inv) = post(&c, format!("{}/api/v1/invitations", b.url), Some(&partner_token), json!({})).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    // Both processes derive the same URL: they share the secret through the database.
    let seen_by_a: serde_json::Value = c
        .get(format!("{}/api/v1/invitations/{}", a.url, inv["id"].as_str().unwrap()))
        .bearer_auth(&partner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = inv["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    assert_eq!(seen_by_a["url"].as_str().unwrap().rsplit('/').next(), Some(token.as_str()));

    // 64 concurrent acceptances, split across both processes: one winner.
    let calls = (0..64).map(|i| {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        post(&c, format!("{url}/api/v1/invitations/accept"), Some(&customer_token), json!({"token": token}))
    });
    let results: Vec<_> = futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
    let won = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let lost: Vec<_> = results.iter().filter(|(s, _)| *s != StatusCode::CREATED).map(|(s, b)| (*s, code(b).to_owned())).collect();
    assert_eq!(won, 1, "{lost:?}");
    assert!(lost.iter().all(|(s, c)| *s == StatusCode::CONFLICT && c == "invitation_not_pending"), "{lost:?}");

    // A removal on one process is refused access on the other in the very next request.
    let grants = format!("{}/api/v1/customers/{customer_id}/grants", b.url);
    assert_eq!(c.get(&grants).bearer_auth(&partner_token).send().await.unwrap().status(), StatusCode::OK);
    let (s, _) = post(
        &c,
        format!("{}/api/v1/customers/{customer_id}/remove-relationship", a.url),
        Some(&partner_token),
        json!({"attest_good_faith": true}),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c.get(&grants).bearer_auth(&partner_token).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    for server in [&mut a, &mut b] {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(["audit", "verify", "--database", &db.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

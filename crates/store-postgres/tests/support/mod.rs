//! A fresh PostgreSQL database per test, on the server `PARTNERHUB_TEST_POSTGRES_URL` names
//! (any database on it; default `postgres://postgres@127.0.0.1:5432/postgres`), dropped after.

use partnerhub_store_postgres::{PgOptions, PgStore};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn server_url() -> String {
    std::env::var("PARTNERHUB_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// A fresh database, dropped (WITH (FORCE)) when this is.
pub struct TestDb {
    server: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> Self {
        let server = server_url();
        let name = format!("ph_store_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.expect("connect to PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create database");
        let _ = sqlx::Connection::close(conn).await;
        let (base, _) = server.rsplit_once('/').expect("the URL names a database");
        let url = format!("{base}/{name}");
        Self { server, name, url }
    }

    /// The database's URL, for a second store on it (another server process).
    #[allow(dead_code, reason = "the pg tests use it; the conformance tests, which share this module, do not")]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside a runtime; a thread with its own does the work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await {
                    let _ =
                        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A store on a fresh database; `None` (said loudly) where no PostgreSQL answers outside CI.
/// In CI, or when `PARTNERHUB_TEST_POSTGRES_URL` is set, a missing server fails the test.
pub async fn fresh() -> Option<(PgStore, TestDb)> {
    let server = server_url();
    if let Err(e) = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await {
        let explicit = std::env::var("PARTNERHUB_TEST_POSTGRES_URL").is_ok_and(|s| !s.is_empty());
        if explicit || std::env::var("CI").is_ok() {
            panic!("PostgreSQL is required here but {server} does not answer: {e}");
        }
        eprintln!("\n*** SKIPPED: no PostgreSQL at {server} ({e}); set PARTNERHUB_TEST_POSTGRES_URL to run the PostgreSQL tests ***\n");
        return None;
    }
    let db = TestDb::create().await;
    let store = PgStore::open(&db.url, PgOptions { max_connections: 8, ..PgOptions::default() }).await.expect("open store");
    Some((store, db))
}

//! `TestApp`: a server on port 0 over a fresh database, a clock the test can move, and
//! helpers that speak the API the way a client would.

use partnerhub_domain::{Clock, ManualClock};
use partnerhub_service::{PasswordHasher, Secret, Service, ServiceConfig, SmtpConfig};
use partnerhub_store::{AuditVerification, Store};
use partnerhub_store_postgres::{PgOptions, PgStore};
use partnerhub_store_sqlite::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const OPERATOR: &str = "operator-token-for-tests";
pub const PASSWORD: &str = "correct horse battery staple";

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Which database the HTTP suite runs on: `PARTNERHUB_TEST_BACKEND=postgres` or SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("PARTNERHUB_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL server for tests, from `PARTNERHUB_TEST_POSTGRES_URL` (any database on the
/// server; tests create and drop their own). In CI, or when the variable is set, a server that
/// does not answer fails the test; elsewhere the caller is told to skip, loudly.
pub async fn postgres_server() -> Option<String> {
    let explicit = std::env::var("PARTNERHUB_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty());
    let url = explicit.clone().unwrap_or_else(|| DEFAULT_POSTGRES.to_owned());
    let probe = tokio::time::timeout(std::time::Duration::from_secs(10), <sqlx::PgConnection as sqlx::Connection>::connect(&url)).await;
    match probe {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            Some(url)
        }
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            if explicit.is_some() || std::env::var("CI").is_ok() {
                panic!("PostgreSQL is required here but {url} does not answer: {why}");
            }
            eprintln!("\n*** SKIPPED: no PostgreSQL at {url} ({why}); set PARTNERHUB_TEST_POSTGRES_URL to run the PostgreSQL tests ***\n");
            None
        }
    }
}

/// A fresh database for one test; a PostgreSQL one is dropped when this is.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: tempfile::TempDir,
    pg: Option<(String, String)>, // (server url, database name)
}

impl TestDb {
    pub async fn fresh(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self { url: format!("sqlite://{}", dir.path().join("test.db").display()), backend, dir, pg: None },
            Backend::Postgres => {
                let server = postgres_server().await.expect("the PostgreSQL suite needs PostgreSQL");
                let name = format!("ph_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create database");
                let url = match server.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("PARTNERHUB_TEST_POSTGRES_URL needs a database path"),
                };
                Self { url, backend, dir, pg: Some((server, name)) }
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.pg.take() else { return };
        // Drop runs outside any runtime we may block; a thread with its own does the work.
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

/// Direct access under the store, for tests that must check or tamper with rows.
#[derive(Clone)]
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            Raw::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        }
    }
    pub async fn i64(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("query"),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("query"),
        }
    }
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect("query"),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect("query"),
        }
    }
    pub async fn bytes(&self, sql: &str) -> Vec<Vec<u8>> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect("query"),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect("query"),
        }
    }
    /// A UUID as an SQL literal of this backend.
    pub fn uuid(&self, id: &str) -> String {
        match self {
            Raw::Sqlite(_) => format!("X'{}'", id.replace('-', "")),
            Raw::Postgres(_) => format!("'{id}'::uuid"),
        }
    }
}

/// Opens the store of a test database, with an optional extra removal blocker whose SQL uses
/// `?` placeholders for (partner, customer).
pub async fn open_store(db: &TestDb, blocker: Option<(&'static str, &'static str)>) -> (Arc<dyn Store>, Raw) {
    match db.backend {
        Backend::Sqlite => {
            let mut store = SqliteStore::open(&db.url).await.expect("open store");
            if let Some((kind, sql)) = blocker {
                store = store.with_blocker(partnerhub_store_sqlite::BlockerQuery { kind, sql: sql.into() });
            }
            // Tests reach under the store through a connection of their own.
            let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&db.url).await.expect("raw connection"));
            (Arc::new(store), raw)
        }
        Backend::Postgres => {
            // Few connections per test: many tests share one server (max_connections 100 by default).
            let opts = PgOptions { max_connections: 5, ..PgOptions::default() };
            let mut store = PgStore::open(&db.url, opts).await.expect("open store");
            if let Some((kind, sql)) = blocker {
                let sql = sql.replacen('?', "$1", 1).replacen('?', "$2", 1);
                store = store.with_blocker(partnerhub_store_postgres::BlockerQuery { kind, sql });
            }
            let raw = Raw::Postgres(store.pool().clone());
            (Arc::new(store), raw)
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub raw: Raw,
    pub db: TestDb,
    /// The service under the server, for what HTTP cannot say (another client address).
    pub service: Service,
    /// Its configuration, for another node over the same database (see `another_node`).
    pub config: ServiceConfig,
}

/// An organization created through the API, with a signed-in global admin.
#[derive(Clone, Debug)]
pub struct Org {
    pub id: String,
    pub partner_id: String,
    pub email: String,
    pub token: String,
}

#[derive(Default)]
pub struct Options {
    pub smtp: Option<SmtpConfig>,
    /// An extra kind of removal blocker `(kind, SQL with ? for partner and customer)`, as the
    /// commerce tables will add.
    pub blocker: Option<(&'static str, &'static str)>,
    /// `--require-mfa`.
    pub require_mfa: bool,
    /// `--trusted-proxies`. `None`: `127.0.0.1/32`, the test client itself, so a request
    /// without `X-Forwarded-For` comes from 127.0.0.1 as ever, and one with it names its own
    /// client address (helpers sign up each customer from a fresh one, under the sign-up
    /// limit). `Some("")`: no proxy is trusted and the header is ignored.
    pub trusted_proxies: Option<&'static str>,
    /// With `smtp`: no e-mail worker in the background (the test runs
    /// `Service::deliver_mail` itself, at the times it chooses).
    pub no_mail_worker: bool,
    /// Run the webhook delivery worker (on the test's clock), with `--webhook-allow-insecure`
    /// as given.
    pub webhooks: Option<bool>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        // Errors the server logs show up in a failing test's output.
        let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
        let db = TestDb::fresh(backend()).await;
        let (store, raw) = open_store(&db, opts.blocker).await;
        let start = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("time");
        let clock = ManualClock::new(start);
        let (url, service, config) = serve(store.clone(), &clock, opts).await;
        Self { url, client: reqwest::Client::new(), clock, store, raw, db, service, config }
    }

    /// Another node over the same database, with the same clock and configuration: a store of
    /// its own on PostgreSQL (its own connections, as another process has); on SQLite, where
    /// one process owns the file, the same store.
    pub async fn another_node(&self) -> Service {
        let store: Arc<dyn Store> = match self.db.backend {
            Backend::Sqlite => self.store.clone(),
            Backend::Postgres => Arc::new(
                PgStore::open(&self.db.url, PgOptions { max_connections: 5, ..PgOptions::default() }).await.expect("open another store"),
            ),
        };
        Service::new(store, Arc::new(self.clock.clone()) as Arc<dyn Clock>, self.config.clone()).expect("service")
    }

    /// Another server over this test's database, as another process would be: a store, pool,
    /// service and caches of its own, on the same clock. Answers its URL.
    pub async fn peer(&self) -> String {
        let (store, _) = open_store(&self.db, None).await;
        serve(store, &self.clock, Options::default()).await.0
    }

    /// A GET to the server at `base` (this one's or a peer's).
    pub async fn get_at(&self, base: &str, path: &str, token: &str) -> (StatusCode, Value) {
        let res = self.client.get(format!("{base}{path}")).bearer_auth(token).send().await.expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// An anonymous POST from a client address of its own (the test client is a trusted
    /// proxy naming it in `X-Forwarded-For`), for tests that send more than a client may.
    pub async fn post_from_fresh_client(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.url))
            .header("X-Forwarded-For", fresh_client_address())
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let (s, b) = self.post("/api/v1/auth/token", None, json!({"email": email, "password": password})).await;
        assert_eq!(s, StatusCode::OK, "sign-in of {email}: {b}");
        b["access_token"].as_str().expect("token").to_owned()
    }

    /// A partner enrolled by the operator, its global admin signed in.
    pub async fn partner(&self, partner_type: &str) -> Org {
        let pid = unique("P");
        let domain = format!("{}.example", pid.to_lowercase());
        let email = format!("ga@{domain}");
        let (s, b) = self
            .post(
                "/api/v1/operator/partners",
                Some(OPERATOR),
                json!({"name": format!("Partner {pid}"), "partner_type": partner_type, "partner_id": pid, "domain": domain,
                       "admin": {"email": email, "display_name": "Ada", "password": PASSWORD}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let token = self.sign_in(&email, PASSWORD).await;
        Org { id: b["id"].as_str().expect("id").to_owned(), partner_id: pid, email, token }
    }

    /// A customer that signed up by itself, its global admin signed in.
    /// A customer created by `partner` (`POST /customers`): (customer id, admin e-mail, the
    /// admin's temporary password).
    pub async fn created_customer(&self, partner: &Org) -> (String, String, String) {
        let name = unique("created");
        let email = format!("ga@{name}.example");
        let body = json!({"name": format!("Customer {name}"), "domain": format!("{name}.example"),
                          "admin": {"email": email, "display_name": "Grace"}});
        let (s, b) = self.post("/api/v1/customers", Some(&partner.token), body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        (b["id"].as_str().expect("id").to_owned(), email, b["admin"]["temporary_password"].as_str().expect("temporary password").to_owned())
    }

    pub async fn customer(&self) -> Org {
        let name = unique("customer");
        let domain = format!("{name}.example");
        let email = format!("ga@{domain}");
        let body = json!({"organization": {"name": format!("Customer {name}"), "domain": domain},
                          "admin": {"email": email, "display_name": "Grace", "password": PASSWORD}});
        // Each customer signs up from a client address of its own (sign-up is limited per client).
        let res = self
            .client
            .post(format!("{}/api/v1/signup", self.url))
            .header("X-Forwarded-For", fresh_client_address())
            .json(&body)
            .send()
            .await
            .expect("request");
        let s = res.status();
        let b: Value = res.json().await.expect("body");
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let token = self.sign_in(&email, PASSWORD).await;
        Org { id: b["organization_id"].as_str().expect("id").to_owned(), partner_id: String::new(), email, token }
    }

    /// Another user in `org` with `roles`, signed in; answers its token.
    pub async fn user(&self, org: &Org, roles: &[&str]) -> String {
        self.user_with_email(org, roles).await.1
    }

    /// Another user in `org` with `roles`, signed in; answers its e-mail and its token.
    pub async fn user_with_email(&self, org: &Org, roles: &[&str]) -> (String, String) {
        let email = format!("{}@{}", unique("u"), org.email.split('@').nth(1).expect("domain"));
        let (s, b) = self
            .post(
                "/api/v1/users",
                Some(&org.token),
                json!({"email": email, "display_name": "Someone", "password": PASSWORD, "roles": roles}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let token = self.sign_in(&email, PASSWORD).await;
        (email, token)
    }

    pub async fn link(&self, provider: &Org, reseller: &Org) {
        let (s, b) = self
            .post("/api/v1/operator/provider-links", Some(OPERATOR), json!({"provider_id": provider.id, "reseller_id": reseller.id}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// Creates an invitation; answers the whole response.
    pub async fn invite(&self, partner: &Org, body: Value) -> Value {
        let (s, b) = self.post("/api/v1/invitations", Some(&partner.token), body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    pub async fn accept(&self, customer_token: &str, invitation: &Value) -> (StatusCode, Value) {
        self.post("/api/v1/invitations/accept", Some(customer_token), json!({"token": token_of(invitation)})).await
    }

    /// A customer connected to `partner` by an accepted open invitation.
    pub async fn connected_customer(&self, partner: &Org) -> Org {
        let c = self.customer().await;
        let inv = self.invite(partner, json!({})).await;
        let (s, b) = self.accept(&c.token, &inv).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        c
    }

    /// A customer connected to `partner` by an accepted invitation asking for `roles`.
    pub async fn customer_granting(&self, partner: &Org, roles: &[&str]) -> Org {
        let c = self.customer().await;
        let inv = self.invite(partner, json!({"roles": roles})).await;
        let (s, b) = self.accept(&c.token, &inv).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        c
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// An enabled offer in the operator's catalog; answers its id.
    pub async fn offer(&self, name: &str) -> String {
        let (s, b) =
            self.post("/api/v1/operator/offers", Some(OPERATOR), json!({"name": name, "unit_price_cents": 600, "currency": "EUR"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_str().expect("id").to_owned()
    }

    /// Places an order of `quantity` seats of one offer; answers the status and the body.
    pub async fn try_order(&self, token: &str, customer: &str, offer: &str, quantity: i64, reseller: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({"items": [{"offer_id": offer, "quantity": quantity}]});
        if let Some(r) = reseller {
            body["reseller_id"] = json!(r);
        }
        self.post(&format!("/api/v1/customers/{customer}/orders"), Some(token), body).await
    }

    /// An order that must succeed; answers the id of its one subscription.
    pub async fn order(&self, token: &str, customer: &str, offer: &str, quantity: i64, reseller: Option<&str>) -> String {
        let (s, b) = self.try_order(token, customer, offer, quantity, reseller).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["subscriptions"][0]["id"].as_str().expect("subscription id").to_owned()
    }

    /// A user of the customer created by a partner agent through its grants: (id, e-mail,
    /// temporary password).
    pub async fn tenant_user(&self, agent: &str, customer: &str, roles: &[&str]) -> (String, String, String) {
        let email = format!("{}@tenant.example", unique("user"));
        let (s, b) = self
            .post(
                &format!("/api/v1/customers/{customer}/users"),
                Some(agent),
                json!({"email": email, "display_name": "Tenant user", "roles": roles}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let field = |k: &str| b[k].as_str().expect(k).to_owned();
        (field("id"), field("email"), field("temporary_password"))
    }

    /// A signed-in user's id, from `GET /me`.
    pub async fn user_id(&self, token: &str) -> String {
        let (s, b) = self.get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["user"]["id"].as_str().expect("id").to_owned()
    }

    pub async fn customer_ids(&self, partner: &Org) -> Vec<String> {
        let (s, b) = self.get("/api/v1/customers", &partner.token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"].as_array().expect("items").iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect()
    }

    /// The audit chain must be whole after every test (kanidm's `verify()` after each test),
    /// and every action written must be one docs/audit.md lists.
    pub async fn verify_audit(&self) {
        assert!(matches!(self.store.verify_audit_chain().await.expect("verify"), AuditVerification::Whole { .. }));
        let documented = documented_actions();
        for action in self.written_actions().await {
            assert!(documented.contains(&action), "`{action}` is written but not listed in docs/audit.md");
        }
    }

    /// Every distinct audit action in the database.
    /// On PostgreSQL a change made by a background worker (the e-mail worker, the scheduler)
    /// is visible before its chainer run links its records (docs/audit.md): verifying the
    /// chain links everything committed first, as `GET /audit` does.
    pub async fn written_actions(&self) -> std::collections::BTreeSet<String> {
        self.store.verify_audit_chain().await.expect("verify");
        self.raw.strings("SELECT DISTINCT action FROM audit_records").await.into_iter().collect()
    }
}

/// A server on port 0 over `store`: answers its URL and its service.
async fn serve(store: Arc<dyn Store>, clock: &ManualClock, opts: Options) -> (String, Service, ServiceConfig) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let url = format!("http://{addr}");
    let config = ServiceConfig {
        public_url: url.clone(),
        secret: Secret::new(b"test secret, 32 bytes or more, fine".to_vec()),
        operator_token_hash: Some(sha256(OPERATOR)),
        session_ttl: time::Duration::hours(12),
        smtp: opts.smtp,
        password_hasher: PasswordHasher::default(),
        temporary_password_ttl: time::Duration::hours(72),
        require_mfa: opts.require_mfa,
        operator_name: None,
        webhook_allow_insecure: opts.webhooks.unwrap_or(false),
    };
    let mail_worker = config.smtp.is_some() && !opts.no_mail_worker;
    let service = Service::new(store, Arc::new(clock.clone()) as Arc<dyn Clock>, config.clone()).expect("service");
    if mail_worker {
        // As `serve` runs it: e-mails queued by a request are sent at once.
        partnerhub_service::spawn_mail_worker(service.clone());
    }
    let trusted_proxies = partnerhub_web::TrustedProxies::parse(opts.trusted_proxies.unwrap_or("127.0.0.1/32")).expect("trusted proxies");
    let app = partnerhub_web::router_with(service.clone(), partnerhub_web::WebConfig { trusted_proxies });
    if opts.webhooks.is_some() {
        // The clock only moves when a test moves it, by hours at a time: a lease of 30 days
        // never runs out under a worker that is sending.
        let config = partnerhub_service::DeliveryConfig {
            poll: std::time::Duration::from_millis(20),
            lease: std::time::Duration::from_secs(30 * 86_400),
            ..Default::default()
        };
        partnerhub_service::spawn_delivery(service.clone(), config).expect("delivery worker");
    }
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    (url, service, config)
}

/// A client address no other request of this test binary used (in 198.18.0.0/15, the
/// benchmarking range).
pub fn fresh_client_address() -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("198.{}.{}.{}", 18 + (n >> 16) % 2, (n >> 8) % 256, n % 256)
}

/// The actions of docs/audit.md's table "Every action": the first cell of each row, in
/// backticks. Read from the file, so that the document and the code cannot drift apart.
pub fn documented_actions() -> std::collections::BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit.md")).expect("docs/audit.md");
    let table = doc.split("## Every action").nth(1).expect("a section `Every action`");
    let table = table.split("\n## ").next().unwrap_or_default();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|a| a.split('.').count() == 2 && a.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'))
        .map(str::to_owned)
        .collect()
}

pub fn token_of(invitation: &Value) -> String {
    invitation["url"].as_str().expect("url").rsplit('/').next().expect("token").to_owned()
}

pub fn sha256(s: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).into()
}

pub fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("<no code>")
}

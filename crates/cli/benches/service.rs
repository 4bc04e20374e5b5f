//! The service layer's hot paths at the issue-9 shape, without HTTP or a load generator, so a
//! regression shows in `cargo bench` alone: a page of 50 customers with their grants out of the
//! partner's 10,000, one customer, and a durable acceptance (its own customer and invitation each
//! time), on SQLite loaded by the same bulk seed as `partnerhub bench seed`.
//!
//!     cargo bench -p partnerhub --bench service
//!
//! Time per call is criterion's estimate; `--bench service -- --profile-time 10` under callgrind
//! gives instructions.

// A benchmark harness, like a test: a failed set-up or call should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use partnerhub_domain::{Clock, OrganizationId, Password, SystemClock};
use partnerhub_service::{PasswordHasher, Secret, Service, ServiceConfig};
use partnerhub_store::seed::{Seed, SeedSpec};
use partnerhub_store::{CustomerQuery, CustomerSort, Store};
use partnerhub_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const PASSWORD: &str = "bench-password-1";
/// Acceptances available; criterion's runs of the acceptance below stay well under it.
const PAIRS: usize = 40_000;

struct World {
    _dir: tempfile::TempDir,
    service: Service,
    seed: Arc<Seed>,
    partner_token: String,
    next_pair: AtomicUsize,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let hasher = PasswordHasher::default();
    let spec = SeedSpec {
        partners: 10,
        customers: 10_100,
        measured: 10_000,
        small: 50,
        grants_per_customer: 3,
        audit_records: 20_000,
        pairs: PAIRS,
        password_hash: hasher.hash(&Password::parse("password", PASSWORD).expect("password")).await.expect("hash"),
        now: SystemClock.now(),
    };
    let seed = Arc::new(Seed::new(spec).expect("seed"));
    let store = SqliteStore::open(&url).await.expect("open");
    store.bulk_seed(seed.clone()).await.expect("bulk seed");
    drop(store);
    SqliteStore::checkpoint(&url).expect("checkpoint");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.expect("open"));
    let config = ServiceConfig {
        public_url: "http://127.0.0.1:8080".into(),
        secret: Secret::new(b"benchmark secret, 32 bytes or more".to_vec()),
        operator_token_hash: None,
        session_ttl: time::Duration::hours(12),
        smtp: None,
        password_hasher: hasher,
        temporary_password_ttl: time::Duration::hours(72),
        require_mfa: false,
        operator_name: None,
        webhook_allow_insecure: false,
    };
    let service = Service::new(store, Arc::new(SystemClock), config).expect("service");
    let (partner_token, _) = service.sign_in(&Seed::admin_email(0), PASSWORD, "127.0.0.1").await.expect("sign in");
    World { _dir: dir, service, seed, partner_token, next_pair: AtomicUsize::new(0) }
}

fn paths(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let w = rt.block_on(world());
    let page = || CustomerQuery { limit: 50, cursor: None, q: None, sort: CustomerSort::Name };
    let one = OrganizationId(w.seed.customer_id(0));

    let mut g = c.benchmark_group("service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("list customers, page of 50 of 10,000 with grants", |b| {
        b.to_async(&rt).iter(|| async {
            let caller = w.service.authenticate(&w.partner_token).await.expect("caller");
            let p = w.service.list_customers(&caller, page()).await.expect("page");
            assert_eq!(p.items.len(), 50);
        })
    });
    g.bench_function("one customer", |b| {
        b.to_async(&rt).iter(|| async {
            let caller = w.service.authenticate(&w.partner_token).await.expect("caller");
            w.service.customer(&caller, one).await.expect("customer");
        })
    });
    g.sample_size(20);
    g.bench_function("accept an invitation (durable: answered after the WAL sync)", |b| {
        b.to_async(&rt).iter(|| async {
            let i = w.next_pair.fetch_add(1, Ordering::Relaxed);
            let pair = w.seed.pairs().get(i).expect("acceptance pairs exhausted: raise PAIRS");
            let caller = w.service.authenticate(&pair.bearer).await.expect("caller");
            w.service.accept_invitation(&caller, &pair.token, "127.0.0.1").await.expect("accepted");
        })
    });
    g.finish();
}

criterion_group!(benches, paths);
criterion_main!(benches);

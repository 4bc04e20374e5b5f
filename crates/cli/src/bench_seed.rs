//! `partnerhub bench seed`: loads the benchmark dataset of issue 9 in bulk (not through HTTP):
//! partners, customers held through active relationships with grants, and an audit chain that
//! `audit verify` checks. SQLite: one transaction of prepared statements; PostgreSQL: COPY in one
//! transaction, then VACUUM ANALYZE. Prints the time and the rows per table on stderr, and on
//! stdout one JSON object naming what the benchmark signs in as and asks for.

use crate::DatabaseArg;
use crate::startup::{Existing, Failure, open_store};
use partnerhub_domain::Password;
use partnerhub_service::PasswordHasher;
use partnerhub_store::seed::{Seed, SeedCounts, SeedSpec};
use partnerhub_store_postgres::{PgOptions, PgStore};
use partnerhub_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// Partners (direct); partner 0 is the measured one, partner 1 the small one.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(3..=1_000_000))]
    partners: u32,
    /// Customers, each held by one partner through an active relationship.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    customers: u32,
    /// Customers of the measured partner (partner 0).
    #[arg(long, default_value_t = 10_000)]
    measured_partner_customers: u32,
    /// Customers of the small partner (partner 1), to compare the list's latency with.
    #[arg(long, default_value_t = 100)]
    small_partner_customers: u32,
    /// Grants of each relationship (1 to 5 delegated roles).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=5))]
    grants_per_customer: u32,
    /// Records of the audit chain.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(0..=100_000_000))]
    audit_records: u32,
    /// Acceptance pairs: customers of their own, each with a session of its global admin and an
    /// open invitation of one of the other partners (not the measured or the small one).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pairs: u32,
    /// Where to write the pairs, one `BEARER INVITATION_TOKEN` per line (for bench/accept.lua).
    #[arg(long)]
    pairs_file: Option<std::path::PathBuf>,
    /// Customers of the measured partner named in the output's `order_customers` (to order for).
    #[arg(long, default_value_t = 16)]
    order_customers: u32,
    /// The password of every seeded user (hashed once, the hash shared).
    #[arg(long, env = "PARTNERHUB_BENCH_PASSWORD", default_value = "bench-password-1", hide_env_values = true)]
    password: String,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let password = Password::parse("password", &args.password)
        .map_err(|_| Failure::error("--password must be 12 to 1024 characters", "choose a longer --password"))?;
    if args.measured_partner_customers + args.small_partner_customers > args.customers {
        return Err(Failure::error(
            "--measured-partner-customers and --small-partner-customers add up to more than --customers",
            "raise --customers or lower the other two",
        ));
    }
    if args.pairs > 0 && args.pairs_file.is_none() {
        return Err(Failure::error("--pairs needs --pairs-file: the tokens are kept nowhere else", "add --pairs-file PATH"));
    }
    let started = Instant::now();
    let password_hash = PasswordHasher::default().hash(&password).await?;
    let spec = SeedSpec {
        partners: args.partners as usize,
        customers: args.customers as usize,
        measured: args.measured_partner_customers as usize,
        small: args.small_partner_customers as usize,
        grants_per_customer: args.grants_per_customer as usize,
        audit_records: args.audit_records as usize,
        pairs: args.pairs as usize,
        password_hash,
        now: time::OffsetDateTime::now_utc(),
    };
    let seed = Arc::new(Seed::new(spec)?);
    if let Some(path) = &args.pairs_file {
        // Written first: a load that fails leaves a file naming nothing, which the run notices.
        let lines: String = seed.pairs().iter().map(|p| format!("{} {}\n", p.bearer, p.token)).collect();
        std::fs::write(path, lines)
            .map_err(|e| Failure::error(format!("cannot write --pairs-file {}: {e}", path.display()), "choose a writable path"))?;
    }
    let url = args.database.url.as_str();
    // Migrated (and the URL checked, with its one-line errors) by the ordinary open first.
    drop(open_store(&args.database, Existing::CreateIfMissing).await?);
    let opened = Instant::now();
    let counts: SeedCounts = if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url).await?;
        let mut counts = store.bulk_seed(seed.clone()).await?;
        counts.phases.push(("load", opened.elapsed().as_secs_f64()));
        let t = Instant::now();
        drop(store);
        SqliteStore::checkpoint(url)?;
        counts.phases.push(("checkpoint", t.elapsed().as_secs_f64()));
        counts
    } else {
        let opts = PgOptions {
            max_connections: 2,
            statement_timeout: std::time::Duration::from_millis(args.database.db_statement_timeout_ms),
            acquire_timeout: std::time::Duration::from_millis(args.database.db_acquire_timeout_ms),
        };
        PgStore::open(url, opts).await?.bulk_seed(&seed).await?
    };
    let loaded = opened.elapsed();
    eprintln!(
        "seeded in {:.1} s (load {:.1} s): {} organizations, {} users, {} relationships, {} grants, {} audit records, {} audit visibility rows",
        started.elapsed().as_secs_f64(),
        loaded.as_secs_f64(),
        counts.organizations,
        counts.users,
        counts.relationships,
        counts.grants,
        counts.audit_records,
        counts.audit_visibility
    );
    let phases = counts.phases.iter().map(|(name, s)| format!("{name} {s:.1} s")).collect::<Vec<_>>();
    eprintln!("steps: {}", phases.join(", "));
    let other =
        (seed.spec.customers > seed.spec.measured + seed.spec.small).then(|| seed.customer_id(seed.spec.measured + seed.spec.small));
    let out = serde_json::json!({
        "password": args.password,
        "measured_partner": {"id": seed.partner_id(0), "admin": Seed::admin_email(0), "customers": seed.spec.measured},
        "small_partner": {"id": seed.partner_id(1), "admin": Seed::admin_email(1), "customers": seed.spec.small},
        "customer": {"id": seed.customer_id(0), "user": Seed::CUSTOMER_EMAIL},
        "other_partner_customer_id": other,
        "order_customers": (0..seed.spec.measured.min(args.order_customers as usize)).map(|i| seed.customer_id(i)).collect::<Vec<_>>(),
        "pairs": seed.pairs().len(),
        "counts": {
            "organizations": counts.organizations, "users": counts.users, "relationships": counts.relationships,
            "grants": counts.grants, "audit_records": counts.audit_records, "audit_visibility": counts.audit_visibility,
            "sessions": counts.sessions, "invitations": counts.invitations,
        },
        "seconds": started.elapsed().as_secs_f64(),
        "steps": counts.phases.iter().map(|(name, s)| serde_json::json!({"step": name, "seconds": s})).collect::<Vec<_>>(),
    });
    println!("{out}");
    Ok(())
}

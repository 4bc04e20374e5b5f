//! The PostgreSQL implementation of the store: for several server processes sharing one
//! database. It behaves exactly as the SQLite store does (same tenant scoping, conditional
//! updates, errors, cursors, ordering, audit chain bytes); only the concurrency is real here.
//!
//! Transactions run at READ COMMITTED. What SQLite gets from having one writer, this store
//! gets from:
//! - conditional updates (`... WHERE state = 'pending' AND expires_at > $now`): of concurrent
//!   writers, the losers re-evaluate the row after the winner commits and change nothing;
//! - unique indexes (`relationships_one_active`, ...), mapped to `StoreError::Conflict`;
//! - the audit chain linked after commit by a chainer per process, under an advisory lock that
//!   no change's transaction takes (see `audit`, `chainer`);
//! - a lock on the organization row while a change could leave it without a global admin;
//! - row locks on what an action relies on (a relationship, its grants) behind a fair
//!   advisory gate, all taken in one order (see `locks`).
//!
//! Round trips are what costs here, so a change is a few statements: the work itself as one
//! statement of data-modifying CTEs where that is easy (see [`fenced`]), then the pending row
//! of its audit records and outbox events; the hottest (an invitation, an open acceptance) are
//! one statement outside a transaction (see `audit::chained`).

/// `format!` for SQL built from this crate's own constants (column lists, table names),
/// never from input: values always go through `bind`.
macro_rules! sqlf {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod audit;
mod bulk;
mod chainer;
mod commerce;
pub mod connect;
mod idempotency;
mod invitations;
mod locks;
mod lookups;
mod mfa;
mod organizations;
mod paging;
mod relationships;
mod rows;
mod schedule;
mod sessions;
mod tenant;
mod webhooks;

use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rows::*;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgPool, Postgres, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Pool and timeout settings for PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections per server process.
    pub max_connections: u32,
    /// `statement_timeout` set on every connection.
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { max_connections: 16, statement_timeout: Duration::from_secs(5), acquire_timeout: Duration::from_secs(5) }
    }
}

/// One kind of thing that blocks removing a relationship: a query over
/// `$1` = partner organization id, `$2` = customer id, answering rows of `(id uuid, name text)`.
#[derive(Debug, Clone)]
pub struct BlockerQuery {
    pub kind: &'static str,
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    blockers: Vec<BlockerQuery>,
    /// Session look-ups, batched (see `lookups`).
    lookups: std::sync::Arc<lookups::Lookups>,
    /// Links committed changes into the audit chain (see `chainer`).
    chainer: std::sync::Arc<chainer::Chainer>,
}

pub(crate) type Tx = Transaction<'static, Postgres>;
pub(crate) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// The `org_versions` row that is every organization's version at once ([`Versions::epoch`]).
pub(crate) const EPOCH_ORG: uuid::Uuid = uuid::Uuid::nil();

/// A pooled connection idle for longer than this is pinged before use (a server restart or a
/// network idle timeout may have cut it); a busy one goes straight to work, saving a round trip.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

impl PgStore {
    /// Connects to the database at `url` (`postgres://...`) and migrates it.
    pub async fn open(url: &str, opts: PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(db)?
            // A 2xx answer is durable: commits wait for the WAL flush, whatever the server's default.
            .options([("statement_timeout", format!("{}ms", opts.statement_timeout.as_millis())), ("synchronous_commit", "on".to_owned())]);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect.clone())
            .await
            .map_err(db)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(e.to_string()))?;
        // Two drain tasks: the look-ups waiting while a statement runs make the next batch, so
        // batches grow with the load. Measured at issue 9's dataset (bench/scale.sh, PostgreSQL,
        // the cached list, ratios to /healthz): 4 tasks 0.21-0.24, 8 tasks 0.24, 2 tasks
        // 0.32-0.37 with a p99 of 3 ms, 1 task 0.42-0.57 but a p99 of 40-77 ms in two runs of
        // three (every request waits behind the one statement when the database stalls, as after
        // the bulk load). More statements in flight cost the database more CPU than they save.
        let lookups = lookups::Lookups::start(pool.clone(), 2);
        let chainer = std::sync::Arc::new(chainer::Chainer::start(connect)?);
        Ok(Self { pool, blockers: default_blockers(), lookups: std::sync::Arc::new(lookups), chainer })
    }

    /// Adds a kind of removal blocker (the commerce tables add theirs this way).
    pub fn with_blocker(mut self, blocker: BlockerQuery) -> Self {
        self.blockers.push(blocker);
        self
    }

    /// The pool, for tests that must reach under the store (tampering with the audit chain).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(db)
    }

    /// Commits a change's transaction, then waits until its audit records are linked into the
    /// chain (and its events are in the outbox), so that the answer it gives is there for the
    /// client's next read. The change is durable at the commit: if linking fails, it is logged
    /// and the next run links it (see `chainer`).
    pub(crate) async fn commit(&self, tx: Tx) -> StoreResult<()> {
        tx.commit().await.map_err(db)?;
        self.settle().await;
        Ok(())
    }

    /// Waits until every change committed before the call is linked into the audit chain.
    ///
    /// When that run fails, the change stands (it was committed) and the chainer's next run
    /// links it, but its organizations' versions move only then: a cached answer would be served
    /// past it until that run. So every organization's version moves now instead
    /// ([`Versions::epoch`]): each node's next cached read misses.
    pub(crate) async fn settle(&self) {
        let Err(e) = self.chainer.settle().await else { return };
        tracing::warn!(error = %e, "linking audit records after a commit failed; the chainer's next tick tries again");
        let bumped = sqlx::query(
            "INSERT INTO org_versions (organization_id, version) VALUES ($1, 1)
             ON CONFLICT (organization_id) DO UPDATE SET version = org_versions.version + 1",
        )
        .bind(EPOCH_ORG)
        .execute(&self.pool)
        .await;
        if let Err(e) = bumped {
            tracing::error!(error = %e, "cannot move every organization's version after a failed chain run: cached reads may miss that change until the next run");
        }
    }
}

/// What blocks a removal in every store: an open (active or suspended) subscription of the
/// customer that the removing partner placed or is partner of record of.
fn default_blockers() -> Vec<BlockerQuery> {
    vec![BlockerQuery {
        kind: "active_subscription",
        sql: "SELECT s.id, o.name FROM subscriptions s JOIN offers o ON o.id = s.offer_id
              WHERE (s.partner_of_record = $1 OR s.placed_by = $1) AND s.customer_id = $2 AND s.status <> 'cancelled'
              ORDER BY s.id"
            .into(),
    }]
}

/// Maps driver errors to store errors, naming the uniqueness rule that refused a write: the
/// unique indexes carry the very names of the `constraint` module.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        let known = [
            constraint::DOMAIN_TAKEN,
            constraint::PARTNER_ID_TAKEN,
            constraint::EMAIL_TAKEN,
            constraint::ACTIVE_RELATIONSHIP,
            constraint::PROVIDER_LINK_EXISTS,
            constraint::GRANT_WARNED,
        ];
        // A primary key is named by PostgreSQL, not by us.
        if d.constraint() == Some("licenses_pkey") {
            return StoreError::Conflict { constraint: constraint::LICENSE_EXISTS };
        }
        return match known.into_iter().find(|k| d.constraint() == Some(*k)) {
            Some(constraint) => StoreError::Conflict { constraint },
            None => StoreError::Database(e.to_string()),
        };
    }
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Database(other.to_string()),
    }
}

/// A statement of data-modifying CTEs (`ctes`) and a `done` (a SELECT with a column `n`) that
/// reads every one of them to its end: the caller checks `n` before it appends the change.
/// (It took the chain lock too, until the chain was linked after commit: see `audit::chain`.)
pub(crate) fn fenced(ctes: &str, done: &str) -> String {
    format!("WITH {ctes}, done AS MATERIALIZED ({done}) SELECT done.* FROM done")
}

/// `n` of a [`fenced`] statement.
pub(crate) fn n_of(r: &PgRow) -> StoreResult<i64> {
    r.try_get("n").map_err(db)
}

/// The relationships and grants of an acceptance or a creation, as three CTEs `rels`, `ended`
/// and `grs` over arrays bound from `$base` on (see [`bind_rels_grants`]); all act only if
/// `gate` holds, in that order (each reads the one before), as SQLite inserts them, so that a
/// refused relationship is the error reported. As in SQLite, a relationship is made only to an
/// organization of kind `customer`, whose name and creation time it copies.
///
/// A new grant replaces the partner's unrevoked grant of the same role in that customer (a
/// renewal): `ended` ends the old one at the new one's start, or at its own expiry if that came
/// first, before `grs` inserts, so that `grants_one_live_role` holds. Read
/// `(SELECT count(*) FROM ended)` for how many were replaced. The old grants are locked by id
/// first (`old`), as every change of grants does, after the pairs' gates, which the caller
/// takes exclusive in an earlier statement where grants may already exist (see `locks`).
///
/// Without `replace`, no grant is ended: for grants that all name a relationship made here,
/// where no unrevoked grant of the pair can exist (a removal revokes them all); if one did,
/// `grants_one_live_role` would refuse the statement.
pub(crate) fn rels_grants_ctes(base: usize, gate: &str, replace: bool) -> String {
    let p = |i: usize| format!("${}", base + i);
    format!(
        "rels AS (
             INSERT INTO relationships (id, partner_org_id, customer_id, state, via, invitation_id, indirect_reseller_id, customer_name, customer_created_at, created_at)
             SELECT t.id, t.partner_org_id, o.id, 'active', t.via, t.invitation_id, t.indirect_reseller_id, o.name, o.created_at, t.created_at
             FROM unnest({}::uuid[], {}::uuid[], {}::text[], {}::uuid[], {}::uuid[], {}::timestamptz[], {}::uuid[])
                  AS t(id, partner_org_id, via, invitation_id, indirect_reseller_id, created_at, customer_id)
             JOIN organizations o ON o.id = t.customer_id AND o.kind = 'customer'
             WHERE {gate}
             RETURNING 1
         ), old AS MATERIALIZED (
             SELECT g.id FROM grants g
             JOIN unnest({p9}::uuid[], {p10}::uuid[], {p11}::text[]) AS n(partner_org_id, customer_id, role)
               ON g.partner_org_id = n.partner_org_id AND g.customer_id = n.customer_id AND g.role = n.role
             WHERE {replace} AND g.revoked_at IS NULL AND {gate} AND (SELECT count(*) FROM rels) >= 0
             ORDER BY g.id FOR NO KEY UPDATE OF g
         ), ended AS (
             UPDATE grants g SET revoked_at = least(n.created_at, g.expires_at)
             FROM unnest({p9}::uuid[], {p10}::uuid[], {p11}::text[], {p12}::timestamptz[]) AS n(partner_org_id, customer_id, role, created_at)
             WHERE g.id IN (SELECT id FROM old)
               AND g.partner_org_id = n.partner_org_id AND g.customer_id = n.customer_id AND g.role = n.role AND g.revoked_at IS NULL
             RETURNING 1
         ), grs AS (
             INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, duration_days)
             SELECT t.*, greatest(1, least(730, round(extract(epoch FROM t.expires_at - t.created_at) / 86400)::bigint))
             FROM unnest({}::uuid[], {}::uuid[], {}::uuid[], {}::uuid[], {}::text[], {}::timestamptz[], {}::timestamptz[], {}::boolean[])
                  AS t(id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend)
             WHERE {gate} AND (SELECT count(*) FROM ended) >= 0
             RETURNING 1
         )",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        p(11),
        p(12),
        p(13),
        p(14),
        p9 = p(9),
        p10 = p(10),
        p11 = p(11),
        p12 = p(12),
    )
}

/// Records in the change how many grants a renewal replaced (see [`rels_grants_ctes`]), when any.
pub(crate) fn record_replaced(change: &mut Change, replaced: i64) {
    if replaced > 0 {
        change.record("replaced_grants", replaced);
    }
}

pub(crate) fn bind_rels_grants<'q>(q: PgQuery<'q>, rels: &[NewRelationship], grants: &[NewGrant]) -> PgQuery<'q> {
    q.bind(rels.iter().map(|r| r.id.0).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.partner_org_id.0).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.via).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.invitation_id.map(|i| i.0)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.indirect_reseller_id.map(|i| i.0)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| pt(r.created_at)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.customer_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.relationship_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.partner_org_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.customer_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.role.as_str()).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| pt(g.created_at)).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| pt(g.expires_at)).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.auto_extend).collect::<Vec<_>>())
}

/// The organization insert as a CTE `org` over `$1..$7` (see [`bind_org`]).
pub(crate) const ORG_INSERT: &str = "org AS (
    INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id)";

pub(crate) fn bind_org<'q>(q: PgQuery<'q>, org: &NewOrganization) -> PgQuery<'q> {
    q.bind(org.id.0)
        .bind(org.kind.as_str())
        .bind(org.name.clone())
        .bind(org.domain.clone())
        .bind(org.partner_type.map(PartnerType::as_str))
        .bind(org.partner_id.clone())
        .bind(pt(org.created_at))
}

/// The user insert as a CTE `usr` over `$base..$base+7`, after `after` when given (a CTE it
/// reads, so that it runs first: the organization before its admin, as SQLite inserts them).
pub(crate) fn user_insert(base: usize, after: Option<&str>) -> String {
    let p = |i: usize| format!("${}", base + i);
    let cols = "id, organization_id, email, display_name, password_hash, roles, password_change_required, created_at";
    let vals = (0..8).map(p).collect::<Vec<_>>().join(", ");
    match after {
        Some(cte) => format!("usr AS (INSERT INTO users ({cols}) SELECT {vals} FROM {cte} RETURNING 1)"),
        None => format!("usr AS (INSERT INTO users ({cols}) VALUES ({vals}) RETURNING 1)"),
    }
}

pub(crate) fn bind_user<'q>(q: PgQuery<'q>, u: &NewUser) -> PgQuery<'q> {
    q.bind(u.id.0)
        .bind(u.organization_id.0)
        .bind(u.email.clone())
        .bind(u.display_name.clone())
        .bind(u.password_hash.clone())
        .bind(roles_json(&u.roles))
        .bind(u.password_change_required)
        .bind(pt(u.created_at))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>> {
        // Two statements: the read must see a secret another process committed while the
        // insert waited for it.
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('server_secret', $1) ON CONFLICT (key) DO NOTHING")
            .bind(generated)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let v: Vec<u8> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'server_secret'").fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(v)
    }
}

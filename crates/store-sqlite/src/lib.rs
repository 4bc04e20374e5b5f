//! The SQLite implementation of the store: the embedded default.
//!
//! Durability: WAL; a write is answered only after the transaction holding it has committed
//! and the WAL holding that commit has been synced to disk, so a 2xx survives kill -9 and power
//! loss. Speed: reads run inline on a small pool of read-only connections; writes go to one
//! writer thread that takes every write waiting for it into one transaction, a savepoint each (a
//! refused write rolls back alone), and commits; a syncer thread makes the batches committed
//! meanwhile durable with one flush and answers them, while the writer runs the next (`db.rs`).
//! Migrations are applied with sqlx's migrator, as on PostgreSQL, so both keep the same
//! `_sqlx_migrations` history.

mod audit;
mod bulk;
mod commerce;
mod db;
mod idempotency;
mod invitations;
mod mfa;
mod organizations;
mod paging;
#[cfg(test)]
mod plans;
mod relationships;
mod rows;
mod schedule;
mod sessions;
mod tenant;
mod webhooks;

use async_trait::async_trait;
use db::{Db, err};
use partnerhub_domain::*;
use partnerhub_store::*;
use rows::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One kind of thing that blocks removing a relationship: a query over
/// `(partner_org_id, customer_id)` answering rows of `(id BLOB, name TEXT)`.
#[derive(Debug, Clone)]
pub struct BlockerQuery {
    pub kind: &'static str,
    pub sql: String,
}

#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
    blockers: Arc<Vec<BlockerQuery>>,
}

impl SqliteStore {
    /// The file `url` names, as `open` reads it; `None` for an in-memory database.
    pub fn file(url: &str) -> StoreResult<Option<std::path::PathBuf>> {
        let opts = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Database(e.to_string()))?;
        let name = opts.get_filename();
        Ok((!name.as_os_str().is_empty() && name.as_os_str() != ":memory:").then(|| name.to_path_buf()))
    }

    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`) and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let path = opts.get_filename().to_string_lossy().into_owned();
        let migrate =
            SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(|e| StoreError::Database(e.to_string()))?;
        MIGRATOR.run(&migrate).await.map_err(|e| StoreError::Database(e.to_string()))?;
        migrate.close().await;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        // Reads run on the async worker threads (one per core) and a few blocking ones.
        let db = Db::open(&path, cores + 2)?;
        Ok(Self { db, blockers: Arc::new(default_blockers()) })
    }

    /// Adds a kind of removal blocker (the commerce tables add theirs this way).
    pub fn with_blocker(mut self, blocker: BlockerQuery) -> Self {
        Arc::make_mut(&mut self.blockers).push(blocker);
        self
    }
}

/// What blocks a removal in every store: an open (active or suspended) subscription of the
/// customer that the removing partner placed or is partner of record of.
fn default_blockers() -> Vec<BlockerQuery> {
    vec![BlockerQuery {
        kind: "active_subscription",
        sql: "SELECT s.id, o.name FROM subscriptions s JOIN offers o ON o.id = s.offer_id
              WHERE (s.partner_of_record = ?1 OR s.placed_by = ?1) AND s.customer_id = ?2 AND s.status <> 'cancelled'
              ORDER BY s.id"
            .into(),
    }]
}

pub(crate) fn blob(id: Uuid) -> Sql {
    Sql::Blob(id.as_bytes().to_vec())
}

pub(crate) fn exec(c: &Connection, sql: &str, args: impl rusqlite::Params) -> StoreResult<usize> {
    c.prepare_cached(sql).and_then(|mut s| s.execute(args)).map_err(err)
}

pub(crate) fn one<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut stmt = c.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(args).map_err(err)?;
    match rows.next().map_err(err)? {
        Some(r) => f(r),
        None => Err(StoreError::NotFound),
    }
}

pub(crate) fn all<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(args).map_err(err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        out.push(f(r)?);
    }
    Ok(out)
}

/// A page out of `limit + 1` rows: the extra row only says that there is more.
pub(crate) fn paged<T>(mut items: Vec<T>, limit: i64, total: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor, total }
}

pub(crate) fn scalar_i64(c: &Connection, sql: &str, args: impl rusqlite::Params) -> StoreResult<i64> {
    c.prepare_cached(sql).and_then(|mut s| s.query_row(args, |r| r.get(0))).map_err(err)
}

pub(crate) fn write_change(c: &Connection, change: &Change) -> StoreResult<()> {
    for e in change.records() {
        audit::append(c, change.id, e)?;
    }
    bump_versions(c, change.records().flat_map(|e| e.visible_to.iter().copied()))?;
    for ev in &change.events {
        let payload = serde_json::json!({
            "id": ev.id,
            "type": ev.event_type,
            "occurred_at": rfc3339(ev.occurred_at),
            "data": ev.data,
        });
        exec(
            c,
            "INSERT INTO outbox_events (id, event_type, organization_id, payload, created_at, change_id) VALUES (?, ?, ?, ?, ?, ?)",
            params![ev.id, ev.event_type, ev.organization_id.0, payload.to_string(), ts(ev.occurred_at), change.id],
        )?;
    }
    Ok(())
}

/// Bumps the version of each organization (once each, however often named), in the writing
/// transaction: what it reads may have changed (see `Versions`).
pub(crate) fn bump_versions(c: &Connection, orgs: impl IntoIterator<Item = OrganizationId>) -> StoreResult<()> {
    let mut orgs: Vec<OrganizationId> = orgs.into_iter().collect();
    orgs.sort();
    orgs.dedup();
    for org in orgs {
        exec(
            c,
            "INSERT INTO org_versions (organization_id, version) VALUES (?, 1)
             ON CONFLICT (organization_id) DO UPDATE SET version = version + 1",
            params![org.0],
        )?;
    }
    Ok(())
}

pub(crate) fn insert_org(c: &Connection, org: &NewOrganization) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            org.id.0,
            org.kind.as_str(),
            org.name,
            org.domain,
            org.partner_type.map(PartnerType::as_str),
            org.partner_id,
            ts(org.created_at)
        ],
    )?;
    Ok(())
}

pub(crate) fn insert_user(c: &Connection, u: &NewUser) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO users (id, organization_id, email, display_name, password_hash, roles, password_change_required, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            u.id.0,
            u.organization_id.0,
            u.email,
            u.display_name,
            u.password_hash,
            roles_json(&u.roles),
            u.password_change_required,
            ts(u.created_at)
        ],
    )?;
    Ok(())
}

/// Inserts the relationships and the grants. A new grant replaces the partner's unrevoked grant
/// of the same role in that customer (a renewal): the old one ends now, or at its own expiry if
/// that came first, so that one unrevoked grant per role remains (`grants_one_live_role`).
/// Answers how many grants were replaced.
pub(crate) fn insert_relationships(c: &Connection, rels: &[NewRelationship], grants: &[NewGrant]) -> StoreResult<i64> {
    for r in rels {
        exec(
            c,
            "INSERT INTO relationships (id, partner_org_id, customer_id, state, via, invitation_id, indirect_reseller_id, customer_name, customer_created_at, created_at)
             SELECT ?, ?, o.id, 'active', ?, ?, ?, o.name, o.created_at, ? FROM organizations o WHERE o.id = ? AND o.kind = 'customer'",
            params![r.id.0, r.partner_org_id.0, r.via, r.invitation_id.map(|i| i.0), r.indirect_reseller_id.map(|i| i.0), ts(r.created_at), r.customer_id.0],
        )?;
    }
    let mut replaced = 0;
    for g in grants {
        replaced += exec(
            c,
            "UPDATE grants SET revoked_at = min(?1, expires_at) WHERE partner_org_id = ?2 AND customer_id = ?3 AND role = ?4 AND revoked_at IS NULL",
            params![ts(g.created_at), g.partner_org_id.0, g.customer_id.0, g.role.as_str()],
        )? as i64;
        exec(
            c,
            "INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, duration_days)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                g.id.0,
                g.relationship_id.0,
                g.partner_org_id.0,
                g.customer_id.0,
                g.role.as_str(),
                ts(g.created_at),
                ts(g.expires_at),
                g.auto_extend,
                partnerhub_store::codec::grant_period_days(g.created_at, g.expires_at)
            ],
        )?;
    }
    Ok(replaced)
}

pub(crate) fn org_in(c: &Connection, id: OrganizationId) -> StoreResult<Organization> {
    one(c, &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?"), params![id.0], |r| org_from(r, ""))
}

pub(crate) const ORG_COLS: &str = "id, kind, name, domain, partner_type, partner_id, created_at";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.read(|c| scalar_i64(c, "SELECT 1", []).map(|_| ()))
    }

    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>> {
        let generated = generated.to_vec();
        self.db
            .write(move |c| {
                exec(c, "INSERT INTO settings (key, value) VALUES ('server_secret', ?) ON CONFLICT (key) DO NOTHING", params![generated])?;
                c.prepare_cached("SELECT value FROM settings WHERE key = 'server_secret'")
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(err)
            })
            .await
    }
}

//! The benchmark dataset's bulk load (`partnerhub bench seed`): one transaction of prepared
//! statements on the writer connection, never a request path.

use crate::SqliteStore;
use crate::db::err;
use partnerhub_store::seed::{PAIR_ROLES, Seed, SeedCounts};
use partnerhub_store::{StoreError, StoreResult};
use rusqlite::{Connection, params};
use std::sync::Arc;

impl SqliteStore {
    /// Loads `seed` into an empty database (no organization, no audit record), in one
    /// transaction: all of it or none.
    pub async fn bulk_seed(&self, seed: Arc<Seed>) -> StoreResult<SeedCounts> {
        self.db.write(move |c| load(c, &seed)).await
    }

    /// Copies the WAL into the database file and empties it (`PRAGMA wal_checkpoint(TRUNCATE)`),
    /// on a connection of its own: after a bulk load the server starts on a compact file, as it
    /// would after a long run of automatic checkpoints.
    pub fn checkpoint(url: &str) -> StoreResult<()> {
        let Some(path) = Self::file(url)? else { return Ok(()) };
        let c = Connection::open(path).map_err(err)?;
        c.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(err)
    }
}

fn load(c: &Connection, seed: &Seed) -> StoreResult<SeedCounts> {
    let existing: i64 =
        c.query_row("SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM audit_records)", [], |r| r.get(0)).map_err(err)?;
    if existing > 0 {
        return Err(StoreError::Database("bench seed: the database is not empty (seed a fresh one)".into()));
    }
    // A large page cache for this transaction only: the indexes are written in bulk.
    let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0)).map_err(err)?;
    c.pragma_update(None, "cache_size", -262_144).map_err(err)?;
    let counts = insert(c, seed);
    c.pragma_update(None, "cache_size", cache).map_err(err)?;
    counts
}

fn insert(c: &Connection, seed: &Seed) -> StoreResult<SeedCounts> {
    let mut n = SeedCounts::default();
    let mut s = c
        .prepare("INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .map_err(err)?;
    for o in seed.organizations() {
        let (kind, ptype) = if o.partner { ("partner", Some("direct")) } else { ("customer", None) };
        s.execute(params![o.id, kind, o.name, o.domain, ptype, o.partner_id, o.created_at]).map_err(err)?;
        n.organizations += 1;
    }
    let mut s = c
        .prepare(
            "INSERT INTO users (id, organization_id, email, display_name, password_hash, roles, password_change_required, created_at)
             VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        )
        .map_err(err)?;
    for u in seed.users() {
        s.execute(params![u.id, u.organization_id, u.email, u.display_name, seed.spec.password_hash, u.roles, u.created_at])
            .map_err(err)?;
        n.users += 1;
    }
    let mut session = c
        .prepare("INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .map_err(err)?;
    let mut invitation = c
        .prepare(
            "INSERT INTO invitations (id, partner_org_id, roles, duration_days, auto_extend, locale, state, token_hash,
                                      email_subject, email_body, created_by, created_at, expires_at)
             VALUES (?, ?, ?, 365, 0, 'en', 'pending', ?, 'bench', 'bench', ?, ?, ?)",
        )
        .map_err(err)?;
    let (now, session_end, invitation_end) = (seed.now(), seed.pair_session_expiry(), seed.pair_invitation_expiry());
    for p in seed.pairs() {
        session.execute(params![p.bearer_hash(), p.session_id, p.user_id, p.customer_id, now, session_end]).map_err(err)?;
        n.sessions += 1;
        invitation
            .execute(params![p.invitation_id, p.partner_id, PAIR_ROLES, p.token_hash(), p.created_by, now, invitation_end])
            .map_err(err)?;
        n.invitations += 1;
    }
    let mut rel = c
        .prepare(
            "INSERT INTO relationships (id, partner_org_id, customer_id, state, via, customer_name, customer_created_at, created_at)
             VALUES (?, ?, ?, 'active', 'created', ?, ?, ?)",
        )
        .map_err(err)?;
    let mut grant = c
        .prepare(
            "INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, duration_days)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, max(1, min(730, (?7 - ?6 + 43200000000) / 86400000000)))",
        )
        .map_err(err)?;
    for (r, grants) in seed.relationships() {
        rel.execute(params![r.id, r.partner_id, r.customer_id, r.customer_name, r.customer_created_at, r.created_at]).map_err(err)?;
        n.relationships += 1;
        for g in grants {
            grant
                .execute(params![g.id, g.relationship_id, g.partner_id, g.customer_id, g.role, g.created_at, g.expires_at])
                .map_err(err)?;
            n.grants += 1;
        }
    }
    let mut rec = c
        .prepare(
            "INSERT INTO audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash, change_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .map_err(err)?;
    let mut visible = Vec::with_capacity(seed.spec.audit_records * 2);
    for (a, orgs) in seed.audit() {
        rec.execute(params![a.seq, a.at, a.organization_id, a.action, a.customer_id, a.body, a.prev_hash, a.hash, a.change_id])
            .map_err(err)?;
        n.audit_records += 1;
        visible.extend(orgs.map(|o| (o, a.seq)));
    }
    // In key order: the visibility index is then written front to back.
    visible.sort_unstable();
    visible.dedup();
    let mut vis = c.prepare("INSERT INTO audit_visibility (organization_id, seq) VALUES (?, ?)").map_err(err)?;
    for (org, seq) in visible {
        vis.execute(params![org, seq]).map_err(err)?;
        n.audit_visibility += 1;
    }
    Ok(n)
}

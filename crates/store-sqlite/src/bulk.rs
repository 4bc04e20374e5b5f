//! The benchmark dataset's bulk load (`partnerhub bench seed`): one transaction of prepared
//! statements on the writer connection, never a request path.

use crate::SqliteStore;
use crate::db::err;
use partnerhub_store::seed::{PAIR_ROLES, Seed, SeedCounts};
use partnerhub_store::{StoreError, StoreResult};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl SqliteStore {
    /// Loads `seed` into an empty database (no organization, no audit record), in one
    /// transaction: all of it or none.
    pub async fn bulk_seed(&self, seed: Arc<Seed>) -> StoreResult<SeedCounts> {
        self.db.write(move |c| load(c, &seed)).await
    }

    /// Copies the WAL into the database file and empties it (`PRAGMA wal_checkpoint(TRUNCATE)`),
    /// on a connection of its own: after a bulk load the server starts on a compact file, as it
    /// would after a long run of automatic checkpoints. Fails unless the WAL is empty at the end.
    pub fn checkpoint(url: &str) -> StoreResult<()> {
        let Some(path) = Self::file(url)? else { return Ok(()) };
        truncate_wal(&path, CHECKPOINT_PATIENCE)
    }
}

/// How long [`SqliteStore::checkpoint`] keeps trying: the store just dropped may still be copying
/// a gigabyte of WAL on its checkpointer thread.
const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(600);

/// Truncates the WAL of `path`, retrying while another connection stands in the way.
///
/// `wal_checkpoint(TRUNCATE)` answers `busy = 1` at once, without calling the busy handler, when
/// another connection is running a checkpoint: the store just dropped closes its connections
/// on its own threads, and its checkpointer may still be copying the load. Taking that answer
/// as done left the whole load in a gigabyte of WAL, copied back by the server's checkpointer
/// during the first measurements.
fn truncate_wal(path: &Path, patience: Duration) -> StoreResult<()> {
    let c = Connection::open(path).map_err(err)?;
    c.busy_timeout(Duration::from_millis(100)).map_err(err)?;
    let deadline = Instant::now() + patience;
    loop {
        let (busy, frames): (i64, i64) = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
        // -1 frames: not in WAL mode, nothing to copy.
        if busy == 0 && frames <= 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StoreError::Database(format!(
                "cannot empty the WAL of {} (busy {busy}, {frames} frames left): another connection holds it",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::temp_db;

    fn wal_len(path: &Path) -> u64 {
        std::fs::metadata(format!("{}-wal", path.display())).map(|m| m.len()).unwrap_or(0)
    }

    /// A reader holding an old snapshot keeps the WAL from being emptied: the checkpoint must
    /// wait for it, and fail, not answer as if done, when it never lets go.
    #[test]
    fn the_wal_is_emptied_or_the_checkpoint_fails() {
        let (_dir, path) = temp_db("bulk.db");
        let path = Path::new(&path);
        let w = Connection::open(path).unwrap();
        w.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (v BLOB)").unwrap();
        let reader = Connection::open(path).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM t;").unwrap();
        w.execute("INSERT INTO t VALUES (zeroblob(100000))", []).unwrap();
        assert!(wal_len(path) > 100_000);

        let refused = truncate_wal(path, Duration::from_millis(300)).unwrap_err();
        assert!(refused.to_string().contains("cannot empty the WAL"), "{refused}");
        assert!(wal_len(path) > 100_000);

        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            reader.execute_batch("COMMIT").unwrap();
        });
        truncate_wal(path, Duration::from_secs(10)).unwrap();
        release.join().unwrap();
        assert_eq!(wal_len(path), 0);
        assert_eq!(w.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
    }
}

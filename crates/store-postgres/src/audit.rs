//! The audit chain: append (inside the caller's transaction), list, verify; and the store's
//! `AuditStore` methods.
//! `hash = SHA-256(prev_hash || body)`, where `body` is the canonical JSON of the record,
//! stored verbatim so that verification hashes exactly the bytes that were hashed. The bodies
//! and hashes are byte for byte those the SQLite store writes.
//!
//! One chain, whatever the number of server processes, linked after the changes commit: a
//! change writes its records as a pending row in its own transaction, with no global lock, and
//! [`chain`] links the pending rows into the chain under a transaction-level advisory lock
//! ([`LOCK`]), many changes per transaction, reading the head after taking the lock (in a
//! later statement: a statement sees the database as it was when it started, before it waited).
//! The request that made a change answers once it is linked (see `chainer`).

use crate::rows::{from_ts, pt, rfc3339, ts};
use crate::{PgQuery, PgStore, db};
use async_trait::async_trait;
use partnerhub_domain::OrganizationId;
use partnerhub_store::codec::{ChainWalk, StoredRecord, chain_hash};
use partnerhub_store::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// The advisory lock that serializes links into the chain (key 0x7068617564697431, "phaudit1"),
/// held by [`chain`] until it commits; also by what must see no event enter the outbox meanwhile
/// (a webhook reading its starting position).
pub(crate) const LOCK: &str = "pg_advisory_xact_lock(8099831086649537585)";

/// Writes the audit records and outbox events of `change` as one pending row, in the caller's
/// transaction and without a global lock; the chainer links them once it commits (see
/// [`chain`]).
pub(crate) async fn append(conn: &mut PgConnection, change: &Change) -> StoreResult<()> {
    append_bumping(conn, change, &[]).await
}

/// [`append`], bumping also the versions of `bump`: organizations whose reads the change alters
/// although none of its records is theirs to read.
pub(crate) async fn append_bumping(conn: &mut PgConnection, change: &Change, bump: &[Uuid]) -> StoreResult<()> {
    let sql = format!("WITH done AS MATERIALIZED (SELECT 1::bigint AS n), {} SELECT count(*) AS n FROM pend", pending_cte(0));
    bind_pending(sqlx::query(sqlx::AssertSqlSafe(sql)), change, bump)?.fetch_one(&mut *conn).await.map_err(db)?;
    Ok(())
}

/// One statement that does a change's work and writes its pending row: `ctes` do the work
/// (binding `$1..$base`), `done` (a SELECT with a column `n`) reads every one of them to its
/// end; the pending row is written when `n > 0`. Bind the work's parameters, then
/// [`bind_pending`]. Answers `done`'s columns. Run outside a transaction, the statement
/// commits as it ends: one round trip for the whole change.
pub(crate) fn chained(ctes: &str, done: &str, base: usize) -> String {
    format!("WITH {ctes}, done AS MATERIALIZED ({done}), {} SELECT done.* FROM done, (SELECT count(*) FROM pend) AS p", pending_cte(base))
}

/// The CTE `pend` that writes the pending row after `done`, over `$base+1..$base+4`.
fn pending_cte(base: usize) -> String {
    format!(
        "pend AS (INSERT INTO audit_pending (change_id, records, events, bump)
                  SELECT ${}, ${}::jsonb, ${}::jsonb, ${}::uuid[] FROM done WHERE done.n > 0 RETURNING 1)",
        base + 1,
        base + 2,
        base + 3,
        base + 4
    )
}

/// A pending audit record: its body split around its seq (see [`canonical_parts`]).
#[derive(Serialize, Deserialize)]
struct PendingRecord {
    pre: String,
    post: String,
    at: i64,
    organization_id: Option<Uuid>,
    action: String,
    customer_id: Option<Uuid>,
    visible: Vec<Uuid>,
}

#[derive(Serialize, Deserialize)]
struct PendingEvent {
    id: Uuid,
    event_type: String,
    organization_id: Uuid,
    payload: String,
    at: i64,
}

/// Binds what [`pending_cte`] writes: the change's records, its events and the versions it bumps.
pub(crate) fn bind_pending<'q>(q: PgQuery<'q>, change: &Change, bump: &[Uuid]) -> StoreResult<PgQuery<'q>> {
    let mut records = Vec::new();
    let mut bumps: Vec<Uuid> = bump.to_vec();
    for e in change.records() {
        let (pre, post) = canonical_parts(change.id, e)?;
        let mut visible = e.visible_to.iter().map(|o| o.0).collect::<Vec<_>>();
        visible.sort();
        visible.dedup();
        bumps.extend(&visible);
        records.push(PendingRecord {
            pre,
            post,
            at: ts(e.at),
            organization_id: e.actor.organization_id.map(|o| o.0),
            action: e.action.to_owned(),
            customer_id: e.customer_id.map(|c| c.0),
            visible,
        });
    }
    bumps.sort();
    bumps.dedup();
    let events = change
        .events
        .iter()
        .map(|ev| PendingEvent {
            id: ev.id,
            event_type: ev.event_type.to_owned(),
            organization_id: ev.organization_id.0,
            payload: serde_json::json!({
                "id": ev.id,
                "type": ev.event_type,
                "occurred_at": rfc3339(ev.occurred_at),
                "data": ev.data,
            })
            .to_string(),
            at: ts(ev.occurred_at),
        })
        .collect::<Vec<_>>();
    Ok(q.bind(change.id).bind(to_json(&records)?).bind(to_json(&events)?).bind(bumps))
}

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(e.to_string()))
}

/// Changes one run links at most, in one transaction; the chainer runs again while a run
/// links that many (see `chainer`).
pub(crate) const MAX_LINKED: i64 = 4096;

/// Links every committed pending change into the chain, in one transaction under the chain
/// lock ([`LOCK`]): reads the head (after the lock, so the last chainer's commit is seen),
/// takes the pending rows in order, hashes each record over the one before, writes the
/// records, who may read them, the outbox events (numbered here, under the lock: the outbox
/// position is commit order) and the version bumps, and deletes the pending rows. Answers how
/// many changes it linked. Any number of server processes may run it at once: they take
/// turns, and each links what the others committed too.
pub(crate) async fn chain(conn: &mut PgConnection) -> StoreResult<usize> {
    // By the primary key, not by a scan of the table: the rows a run deleted stay in the heap
    // until vacuum, and a scan would read them all; the index marks them dead once seen.
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT n FROM audit_pending ORDER BY n LIMIT 1").fetch_optional(&mut *conn).await.map_err(db)?;
    if pending.is_none() {
        return Ok(0);
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LOCK}::text"))).execute(&mut *tx).await.map_err(db)?;
    let rows = sqlx::query(
        "DELETE FROM audit_pending WHERE n IN (SELECT n FROM audit_pending ORDER BY n LIMIT $1)
         RETURNING n, change_id, records::text, events::text, bump",
    )
    .bind(MAX_LINKED)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    if rows.is_empty() {
        tx.commit().await.map_err(db)?;
        return Ok(0);
    }
    let mut changes = Vec::with_capacity(rows.len());
    for r in &rows {
        let n: i64 = r.try_get(0).map_err(db)?;
        let change_id: Uuid = r.try_get(1).map_err(db)?;
        let records: Vec<PendingRecord> = parse(&r.try_get::<String, _>(2).map_err(db)?)?;
        let events: Vec<PendingEvent> = parse(&r.try_get::<String, _>(3).map_err(db)?)?;
        let bump: Vec<Uuid> = r.try_get(4).map_err(db)?;
        changes.push((n, change_id, records, events, bump));
    }
    changes.sort_by_key(|c| c.0);
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await.map_err(db)?;
    let (mut seq, mut prev) = head.unwrap_or((0, vec![0u8; 32]));
    // In statements of at most about CHUNK_BYTES each, in chain order, in the one transaction.
    let mut chunk = Chunk::default();
    for (_, change_id, records, events, bump) in &changes {
        for r in records {
            seq += 1;
            let body = format!("{}{seq}{}", r.pre, r.post);
            let hash = chain_hash(&prev, body.as_bytes());
            chunk.bytes += body.len() + 200;
            chunk.seq.push(seq);
            chunk.at.push(from_ts(r.at));
            chunk.organization_id.push(r.organization_id);
            chunk.action.push(r.action.clone());
            chunk.customer_id.push(r.customer_id);
            chunk.body.push(body);
            chunk.prev_hash.push(std::mem::replace(&mut prev, hash.clone()));
            chunk.hash.push(hash);
            chunk.change_id.push(*change_id);
            chunk.vis_seq.extend(std::iter::repeat_n(seq, r.visible.len()));
            chunk.vis_org.extend(&r.visible);
        }
        for e in events {
            chunk.bytes += e.payload.len() + 100;
            chunk.ev_id.push(e.id);
            chunk.ev_type.push(e.event_type.clone());
            chunk.ev_org.push(e.organization_id);
            chunk.ev_payload.push(e.payload.clone());
            chunk.ev_at.push(from_ts(e.at));
            chunk.ev_change.push(*change_id);
        }
        chunk.bumps.extend(bump);
        if chunk.bytes >= CHUNK_BYTES {
            std::mem::take(&mut chunk).write(&mut tx).await?;
        }
    }
    if chunk.bytes > 0 {
        chunk.write(&mut tx).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(changes.len())
}

/// Runs [`chain`] until a run links fewer than [`MAX_LINKED`] changes (a backlog after a crash
/// may hold more), so that every change committed before the call is linked.
pub(crate) async fn chain_all(conn: &mut PgConnection) -> StoreResult<()> {
    while chain(conn).await? as i64 >= MAX_LINKED {}
    Ok(())
}

/// The size of one statement of a chain run, in bytes of its values: under one TLS record
/// (16 KiB), so that the statement goes out in one write. sqlx 0.9 leaves Nagle's algorithm on
/// (its TCP sockets lack TCP_NODELAY, sqlx issue #4335), so a second write right after a first
/// waits until the server acknowledges the first, which it delays by ~40 ms; with TLS (what
/// `sslmode=prefer`, the default, gives where the server offers it, loopback included) a
/// statement longer than a record is two writes. Measured (strace): runs written as one
/// statement of 30 KB stalled 43 ms each, and the server made ~340 invitations/s where a Unix
/// socket made 1,967/s.
const CHUNK_BYTES: usize = 10 * 1024;

/// Records, readers, events and version bumps for one statement of a chain run.
#[derive(Default)]
struct Chunk {
    bytes: usize,
    seq: Vec<i64>,
    at: Vec<OffsetDateTime>,
    organization_id: Vec<Option<Uuid>>,
    action: Vec<String>,
    customer_id: Vec<Option<Uuid>>,
    body: Vec<String>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    change_id: Vec<Uuid>,
    vis_seq: Vec<i64>,
    vis_org: Vec<Uuid>,
    ev_id: Vec<Uuid>,
    ev_type: Vec<String>,
    ev_org: Vec<Uuid>,
    ev_payload: Vec<String>,
    ev_at: Vec<OffsetDateTime>,
    ev_change: Vec<Uuid>,
    bumps: Vec<Uuid>,
}

impl Chunk {
    /// One statement. The events take their positions in the order given (the sequence is
    /// drawn after the sort), under the lock; the versions are bumped in key order.
    async fn write(mut self, conn: &mut PgConnection) -> StoreResult<()> {
        self.bumps.sort();
        self.bumps.dedup();
        sqlx::query(
            "WITH a AS (
                 INSERT INTO audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash, change_id)
                 SELECT * FROM unnest($1::int8[], $2::timestamptz[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::bytea[], $8::bytea[], $9::uuid[])
                 RETURNING 1
             ), v AS (
                 INSERT INTO audit_visibility (organization_id, seq) SELECT * FROM unnest($10::uuid[], $11::int8[])
             ), ev AS (
                 INSERT INTO outbox_events (id, event_type, organization_id, payload, created_at, change_id, position)
                 SELECT t.id, t.event_type, t.organization_id, t.payload, t.created_at, t.change_id, nextval('outbox_position')
                 FROM (SELECT * FROM unnest($12::uuid[], $13::text[], $14::uuid[], $15::text[], $16::timestamptz[], $17::uuid[])
                           WITH ORDINALITY AS u(id, event_type, organization_id, payload, created_at, change_id, k)
                       ORDER BY k) AS t
             ), ver AS (
                 INSERT INTO org_versions (organization_id, version)
                 SELECT o.org, 1 FROM unnest($18::uuid[]) AS o(org) ORDER BY o.org
                 ON CONFLICT (organization_id) DO UPDATE SET version = org_versions.version + 1
             )
             SELECT count(*) FROM a",
        )
        .bind(&self.seq)
        .bind(&self.at)
        .bind(&self.organization_id)
        .bind(&self.action)
        .bind(&self.customer_id)
        .bind(&self.body)
        .bind(&self.prev_hash)
        .bind(&self.hash)
        .bind(&self.change_id)
        .bind(&self.vis_org)
        .bind(&self.vis_seq)
        .bind(&self.ev_id)
        .bind(&self.ev_type)
        .bind(&self.ev_org)
        .bind(&self.ev_payload)
        .bind(&self.ev_at)
        .bind(&self.ev_change)
        .bind(&self.bumps)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Database(format!("a pending audit row does not parse: {e}")))
}

fn canonical_value(seq: i64, change_id: Uuid, e: &AuditEntry) -> Value {
    partnerhub_store::codec::audit_body(seq, change_id, e)
}

#[cfg(test)]
fn canonical(seq: i64, change_id: Uuid, e: &AuditEntry) -> String {
    canonical_value(seq, change_id, e).to_string()
}

/// The canonical body around its `seq`: `pre + seq + post` is `canonical(seq, e)` for every
/// seq. Written as `serde_json` writes a compact object: `{`, `"key":value` joined by `,`, `}`.
fn canonical_parts(change_id: Uuid, e: &AuditEntry) -> StoreResult<(String, String)> {
    let Value::Object(map) = canonical_value(0, change_id, e) else {
        return Err(StoreError::Database("canonical audit record is not an object".into()));
    };
    let mut parts = [String::from("{"), String::new()];
    let mut at = 0;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            parts[at].push(',');
        }
        parts[at].push_str(&Value::String(k.clone()).to_string());
        parts[at].push(':');
        if k == "seq" {
            at = 1;
        } else {
            parts[at].push_str(&v.to_string());
        }
    }
    parts[at].push('}');
    if at == 0 {
        return Err(StoreError::Database("canonical audit record has no seq".into()));
    }
    let [pre, post] = parts;
    Ok((pre, post))
}

/// Records read per statement by `verify`: each read is one statement under the pool's statement
/// timeout, however long the chain.
const VERIFY_BATCH: i64 = 20_000;

/// Walks the chain from its first record to the head it had when the walk began, in batches of
/// `VERIFY_BATCH` along the primary key: one statement for a million records outlasts the
/// statement timeout on a slow machine, and records linked during the walk are after that head.
pub(crate) async fn verify(conn: &mut PgConnection, batch: i64) -> StoreResult<AuditVerification> {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM audit_records").fetch_one(&mut *conn).await.map_err(db)?;
    let mut walk = ChainWalk::default();
    while walk.next_seq() <= head {
        // A prepared query: binary values (the simple protocol's text times fail to parse without a fraction).
        let rows = sqlx::query(
            "SELECT seq, at, action, body, prev_hash, hash, change_id FROM audit_records
             WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(walk.next_seq())
        .bind(head)
        .bind(batch.max(1))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        if rows.is_empty() {
            return Ok(AuditVerification::Broken { seq: walk.next_seq(), reason: format!("record missing (the head is {head})") });
        }
        for r in rows {
            let body: Option<String> = r.try_get("body").ok();
            let (prev, hash): (Vec<u8>, Vec<u8>) = (r.try_get("prev_hash").map_err(db)?, r.try_get("hash").map_err(db)?);
            let (action, at): (String, OffsetDateTime) = (r.try_get("action").map_err(db)?, r.try_get("at").map_err(db)?);
            let record = StoredRecord {
                seq: r.try_get("seq").map_err(db)?,
                body: body.as_deref(),
                prev_hash: &prev,
                hash: &hash,
                action: &action,
                at: &rfc3339(at),
                change_id: r.try_get("change_id").map_err(db)?,
            };
            if let Err(broken) = walk.check(record) {
                return Ok(broken);
            }
        }
    }
    Ok(walk.whole())
}

pub(crate) async fn list(conn: &mut PgConnection, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
    let filter = |b: &mut QueryBuilder<Postgres>| {
        b.push(" FROM audit_visibility v JOIN audit_records a ON a.seq = v.seq WHERE v.organization_id = ").push_bind(org.0);
        if let Some(a) = &f.action {
            b.push(" AND a.action = ").push_bind(a.clone());
        }
        if let Some(c) = f.customer_id {
            b.push(" AND a.customer_id = ").push_bind(c.0);
        }
        if let Some(s) = f.since {
            b.push(" AND a.at >= ").push_bind(pt(s));
        }
        if let Some(u) = f.until {
            b.push(" AND a.at < ").push_bind(pt(u));
        }
    };
    let cursor = f.cursor.as_deref().map(|c| c.parse::<i64>().map_err(|_| StoreError::BadCursor)).transpose()?;
    // The total and the page in one statement: the total over the filter, the page after the cursor.
    let mut b = QueryBuilder::<Postgres>::new("SELECT t.total, p.seq, p.body, p.hash FROM (SELECT count(*) AS total");
    filter(&mut b);
    b.push(") AS t LEFT JOIN LATERAL (SELECT a.seq, a.body, a.hash");
    filter(&mut b);
    if let Some(seq) = cursor {
        b.push(" AND v.seq < ").push_bind(seq);
    }
    // SQLite reads a negative LIMIT as none.
    b.push(" ORDER BY v.seq DESC LIMIT ").push_bind((f.limit + 1 >= 0).then_some(f.limit + 1));
    b.push(") AS p ON true ORDER BY p.seq DESC");
    let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
    let total: i64 = match rows.first() {
        Some(r) => r.try_get(0).map_err(db)?,
        None => 0,
    };
    let mut page = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(seq) = r.try_get::<Option<i64>, _>(1).map_err(db)? {
            page.push((seq, r));
        }
    }
    let mut items = Vec::new();
    for (seq, r) in page.iter().take(f.limit as usize) {
        let body: String = r.try_get(2).map_err(db)?;
        let hash: Vec<u8> = r.try_get(3).map_err(db)?;
        items.push(AuditRecord {
            seq: *seq,
            body: serde_json::from_str(&body).map_err(|e| StoreError::Database(e.to_string()))?,
            hash: hex::encode(hash),
        });
    }
    let next_cursor = if page.len() as i64 > f.limit { items.last().map(|a| a.seq.to_string()) } else { None };
    Ok(Page { items, next_cursor, total })
}

impl PgStore {
    /// `verify_audit_chain`, reading `batch` records per statement (tests walk a short chain in
    /// several batches this way). What is committed but not yet linked (a process crashed in
    /// between) is linked first: the chain verified is every change committed.
    pub async fn verify_audit_chain_in_batches(&self, batch: i64) -> StoreResult<AuditVerification> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        chain_all(&mut conn).await?;
        verify(&mut conn, batch).await
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification> {
        self.verify_audit_chain_in_batches(VERIFY_BATCH).await
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        // Every change committed before this read is in the log it reads, whoever made it (a
        // background worker's change is visible before its run links it; see `chainer`).
        self.settle().await;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        list(&mut conn, org, f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partnerhub_domain::{Role, UserId};
    use serde_json::json;

    #[test]
    fn the_spliced_body_is_the_canonical_body() {
        let org = OrganizationId(uuid::Uuid::now_v7());
        let e = AuditEntry {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap(),
            actor: Actor {
                user_id: Some(UserId(uuid::Uuid::now_v7())),
                email: Some("a\"b@x".into()),
                roles: vec![Role::GlobalAdmin],
                organization_id: Some(org),
            },
            action: "invitation.accepted",
            target: json!({"type": "invitation", "seq": 0, "zz": "\u{e9}\n"}),
            customer_id: None,
            details: json!({"seq": 7, "grants": [{"id": 1}], "note": "{\"seq\":0}"}),
            visible_to: vec![org, org],
        };
        let change_id = uuid::Uuid::now_v7();
        let (pre, post) = canonical_parts(change_id, &e).unwrap();
        for seq in [1, 9, 10, 12345, i64::MAX] {
            assert_eq!(format!("{pre}{seq}{post}"), canonical(seq, change_id, &e));
        }
        assert!(canonical(1, change_id, &e).contains("\"at\":\"2023-11-14T22:13:20.123456Z\""));
        assert!(canonical(1, change_id, &e).contains(&format!("\"change_id\":\"{change_id}\"")));
    }
}

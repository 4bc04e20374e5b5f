//! The audit chain: append (inside the caller's transaction), list, verify; and the store's
//! `AuditStore` methods.
//! `hash = SHA-256(prev_hash || body)`, where `body` is the canonical JSON of the record,
//! stored verbatim so that verification hashes exactly the bytes that were hashed. The bodies
//! and hashes are byte for byte those the SQLite store writes.
//!
//! One chain, whatever the number of server processes: `append` runs under a transaction-level
//! advisory lock ([`LOCK`]), taken in an earlier statement of the same transaction, so the
//! chain head it reads is the last committed one and nobody else appends until commit. (Not in
//! the same statement: a statement sees the database as it was when it started, before it
//! waited for the lock.)

use crate::rows::{pt, rfc3339};
use crate::{PgStore, db};
use async_trait::async_trait;
use partnerhub_domain::OrganizationId;
use partnerhub_store::codec::chain_hash;
use partnerhub_store::*;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Takes the advisory lock that serializes appends to the chain (key 0x7068617564697431,
/// "phaudit1"), for the statements that fold it in (see `crate::fenced`): the last lock a
/// writing transaction takes, right before `append`.
pub(crate) const LOCK: &str = "pg_advisory_xact_lock(8099831086649537585)";

/// Appends the audit records of `change` and writes its outbox events, in one statement
/// (one round trip, however many records: the chain lock is held until commit). The chain lock
/// must be held (see [`LOCK`]), taken by an earlier statement: this one's snapshot then shows
/// the head as the last appender committed it. The records follow one another in the chain:
/// a recursive CTE hashes each over the one before.
pub(crate) async fn append(conn: &mut PgConnection, change: &Change) -> StoreResult<()> {
    let records: Vec<&AuditEntry> = change.records().collect();
    let (mut pres, mut posts) = (Vec::with_capacity(records.len()), Vec::with_capacity(records.len()));
    let (mut vis_n, mut vis_org) = (Vec::new(), Vec::new());
    for (i, e) in records.iter().enumerate() {
        let (pre, post) = canonical_parts(change.id, e)?;
        pres.push(pre);
        posts.push(post);
        let mut visible = e.visible_to.iter().map(|o| o.0).collect::<Vec<_>>();
        visible.sort();
        visible.dedup();
        vis_n.extend(std::iter::repeat_n(i as i64 + 1, visible.len()));
        vis_org.extend(visible);
    }
    let events = &change.events;
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut orgs = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut created = Vec::with_capacity(events.len());
    for ev in events {
        let payload = serde_json::json!({
            "id": ev.id,
            "type": ev.event_type,
            "occurred_at": rfc3339(ev.occurred_at),
            "data": ev.data,
        });
        ids.push(ev.id);
        types.push(ev.event_type);
        orgs.push(ev.organization_id.0);
        payloads.push(payload.to_string());
        created.push(pt(ev.occurred_at));
    }
    // Each body is the canonical JSON with its seq spliced in; the hash is computed over the
    // same text, so what is stored is exactly what was hashed.
    sqlx::query(
        "WITH RECURSIVE head AS (
             SELECT coalesce(h.seq, 0) + 1 AS seq, coalesce(h.hash, decode(repeat('00', 32), 'hex')) AS prev
             FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1) AS h ON true
         ), recs AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[], $6::uuid[])
                 WITH ORDINALITY AS t(pre, post, at, organization_id, action, customer_id, n)
         ), chain AS (
             SELECT r.n, h.seq, h.prev, b.body, sha256(h.prev || convert_to(b.body, 'UTF8')) AS hash
             FROM head h JOIN recs r ON r.n = 1, LATERAL (SELECT r.pre || h.seq::text || r.post AS body) AS b
             UNION ALL
             SELECT r.n, c.seq + 1, c.hash, b.body, sha256(c.hash || convert_to(b.body, 'UTF8'))
             FROM chain c JOIN recs r ON r.n = c.n + 1, LATERAL (SELECT r.pre || (c.seq + 1)::text || r.post AS body) AS b
         ), a AS (
             INSERT INTO audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash, change_id)
             SELECT c.seq, r.at, r.organization_id, r.action, r.customer_id, c.body, c.prev, c.hash, $14
             FROM chain c JOIN recs r ON r.n = c.n
             RETURNING seq
         ), v AS (
             INSERT INTO audit_visibility (organization_id, seq)
             SELECT o.org, c.seq FROM unnest($7::int8[], $8::uuid[]) AS o(n, org) JOIN chain c ON c.n = o.n
         ), ev AS (
             INSERT INTO outbox_events (id, event_type, organization_id, payload, created_at, change_id)
             SELECT t.*, $14 FROM unnest($9::uuid[], $10::text[], $11::uuid[], $12::text[], $13::timestamptz[]) AS t
         ), ver AS (
             INSERT INTO org_versions (organization_id, version)
             SELECT DISTINCT o.org, 1 FROM unnest($8::uuid[]) AS o(org) ORDER BY o.org
             ON CONFLICT (organization_id) DO UPDATE SET version = org_versions.version + 1
         )
         SELECT count(*) AS n FROM a",
    )
    .bind(pres)
    .bind(posts)
    .bind(records.iter().map(|e| pt(e.at)).collect::<Vec<_>>())
    .bind(records.iter().map(|e| e.actor.organization_id.map(|o| o.0)).collect::<Vec<_>>())
    .bind(records.iter().map(|e| e.action).collect::<Vec<_>>())
    .bind(records.iter().map(|e| e.customer_id.map(|c| c.0)).collect::<Vec<_>>())
    .bind(vis_n)
    .bind(vis_org)
    .bind(ids)
    .bind(types)
    .bind(orgs)
    .bind(payloads)
    .bind(created)
    .bind(change.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Bumps the version of each organization (once each) whose reads a change alters although
/// none of its records is theirs to read (see `Versions`). Like [`append`], under the chain
/// lock: every bump happens under it, so two bumping transactions never wait for each other.
pub(crate) async fn bump_versions(conn: &mut PgConnection, orgs: &[uuid::Uuid]) -> StoreResult<()> {
    if orgs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO org_versions (organization_id, version)
         SELECT DISTINCT o.org, 1 FROM unnest($1::uuid[]) AS o(org) ORDER BY o.org
         ON CONFLICT (organization_id) DO UPDATE SET version = org_versions.version + 1",
    )
    .bind(orgs)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
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

pub(crate) async fn verify(conn: &mut PgConnection) -> StoreResult<AuditVerification> {
    use futures_lite::StreamExt;
    // A prepared query: binary values (the simple protocol's text times fail to parse without a fraction).
    let mut rows =
        sqlx::query("SELECT seq, at, action, body, prev_hash, hash, change_id FROM audit_records ORDER BY seq").fetch(&mut *conn);
    let mut expected_prev = vec![0u8; 32];
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    while let Some(r) = rows.next().await {
        let r = r.map_err(db)?;
        let seq: i64 = r.try_get("seq").map_err(db)?;
        let broken = |reason: &str| Ok(AuditVerification::Broken { seq, reason: reason.to_owned() });
        if seq != expected_seq {
            return Ok(AuditVerification::Broken { seq: expected_seq, reason: format!("record missing (next is {seq})") });
        }
        let body: String = match r.try_get("body") {
            Ok(b) => b,
            Err(_) => return broken("body is not text"),
        };
        let prev: Vec<u8> = r.try_get("prev_hash").map_err(db)?;
        let hash: Vec<u8> = r.try_get("hash").map_err(db)?;
        if prev != expected_prev {
            return broken("prev_hash does not match the previous record's hash");
        }
        if chain_hash(&prev, body.as_bytes()) != hash {
            return broken("hash does not match the record");
        }
        // The columns used for filtering must agree with the hashed body.
        let parsed: serde_json::Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => return broken("body is not JSON"),
        };
        let action: String = r.try_get("action").map_err(db)?;
        let at: OffsetDateTime = r.try_get("at").map_err(db)?;
        // Records older than `change_id` have it neither in the body nor in the column.
        let change_id: Option<Uuid> = r.try_get("change_id").map_err(db)?;
        if parsed["seq"] != seq
            || parsed["action"] != action.as_str()
            || parsed["at"] != rfc3339(at).as_str()
            || parsed["change_id"] != serde_json::json!(change_id)
        {
            return broken("indexed columns disagree with the record");
        }
        expected_prev = hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(AuditVerification::Whole { records: count })
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

#[async_trait]
impl AuditStore for PgStore {
    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        verify(&mut conn).await
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
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

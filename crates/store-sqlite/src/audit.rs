//! The audit chain: append (inside the caller's transaction), list, verify; and the store's
//! `AuditStore` methods.
//! `hash = SHA-256(prev_hash || body)`, where `body` is the canonical JSON of the record,
//! stored verbatim so that verification hashes exactly the bytes that were hashed.

use crate::SqliteStore;
use crate::db::err;
use crate::rows::{from_ts, rfc3339, ts};
use async_trait::async_trait;
use partnerhub_domain::OrganizationId;
use partnerhub_store::codec::{ChainWalk, StoredRecord, chain_hash};
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use uuid::Uuid;

pub(crate) fn append(c: &Connection, change_id: Uuid, e: &AuditEntry) -> StoreResult<i64> {
    let head: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(err)?;
    let (prev_seq, prev_hash) = head.unwrap_or((0, vec![0u8; 32]));
    let seq = prev_seq + 1;
    let body = canonical(seq, change_id, e);
    let hash = chain_hash(&prev_hash, body.as_bytes());
    c.prepare_cached(
        "INSERT INTO audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash, change_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            ts(e.at),
            e.actor.organization_id.map(|o| o.0),
            e.action,
            e.customer_id.map(|c| c.0),
            body,
            prev_hash,
            hash,
            change_id
        ])
    })
    .map_err(err)?;
    let mut visible = e.visible_to.clone();
    visible.sort();
    visible.dedup();
    let mut ins = c.prepare_cached("INSERT INTO audit_visibility (organization_id, seq) VALUES (?, ?)").map_err(err)?;
    for org in visible {
        ins.execute(params![org.0, seq]).map_err(err)?;
    }
    Ok(seq)
}

fn canonical(seq: i64, change_id: Uuid, e: &AuditEntry) -> String {
    partnerhub_store::codec::audit_body(seq, change_id, e).to_string()
}

pub(crate) fn verify(c: &Connection) -> StoreResult<AuditVerification> {
    let mut stmt = c.prepare("SELECT seq, at, action, body, prev_hash, hash, change_id FROM audit_records ORDER BY seq").map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut walk = ChainWalk::default();
    while let Some(r) = rows.next().map_err(err)? {
        let body = r.get::<_, String>(3).ok();
        let (prev, hash): (Vec<u8>, Vec<u8>) = (r.get(4).map_err(err)?, r.get(5).map_err(err)?);
        let (action, at): (String, i64) = (r.get(2).map_err(err)?, r.get(1).map_err(err)?);
        let record = StoredRecord {
            seq: r.get(0).map_err(err)?,
            body: body.as_deref(),
            prev_hash: &prev,
            hash: &hash,
            action: &action,
            at: &rfc3339(from_ts(at)),
            change_id: r.get(6).map_err(err)?,
        };
        if let Err(broken) = walk.check(record) {
            return Ok(broken);
        }
    }
    Ok(walk.whole())
}

pub(crate) fn list(c: &Connection, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
    let mut filter = String::from(" FROM audit_visibility v JOIN audit_records a ON a.seq = v.seq WHERE v.organization_id = ?");
    let mut args: Vec<Sql> = vec![Sql::Blob(org.0.as_bytes().to_vec())];
    if let Some(a) = &f.action {
        filter.push_str(" AND a.action = ?");
        args.push(Sql::Text(a.clone()));
    }
    if let Some(cid) = f.customer_id {
        filter.push_str(" AND a.customer_id = ?");
        args.push(Sql::Blob(cid.0.as_bytes().to_vec()));
    }
    if let Some(s) = f.since {
        filter.push_str(" AND a.at >= ?");
        args.push(Sql::Integer(ts(s)));
    }
    if let Some(u) = f.until {
        filter.push_str(" AND a.at < ?");
        args.push(Sql::Integer(ts(u)));
    }
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*){filter}"))
        .and_then(|mut s| s.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(err)?;
    let mut page_sql = format!("SELECT a.seq, a.body, a.hash{filter}");
    if let Some(cur) = &f.cursor {
        let seq: i64 = cur.parse().map_err(|_| StoreError::BadCursor)?;
        page_sql.push_str(" AND v.seq < ?");
        args.push(Sql::Integer(seq));
    }
    page_sql.push_str(" ORDER BY v.seq DESC LIMIT ?");
    args.push(Sql::Integer(f.limit + 1));
    let mut stmt = c.prepare_cached(&page_sql).map_err(err)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let mut items = Vec::new();
    for (seq, body, hash) in rows.iter().take(f.limit as usize) {
        items.push(AuditRecord {
            seq: *seq,
            body: serde_json::from_str(body).map_err(|e| StoreError::Database(e.to_string()))?,
            hash: hex::encode(hash),
        });
    }
    let next_cursor = if rows.len() as i64 > f.limit { items.last().map(|a| a.seq.to_string()) } else { None };
    Ok(Page { items, next_cursor, total })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification> {
        self.db.read(verify)
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        self.db.read(|c| list(c, org, f))
    }
}

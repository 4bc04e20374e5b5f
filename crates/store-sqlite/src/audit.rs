//! The audit chain: append (inside the caller's transaction), list, verify.
//! `hash = SHA-256(prev_hash || body)`, where `body` is the canonical JSON of the record,
//! stored verbatim so that verification hashes exactly the bytes that were hashed.

use crate::db;
use crate::rows::{from_ts, rfc3339, ts};
use partnerhub_domain::OrganizationId;
use partnerhub_store::*;
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

pub(crate) async fn append(tx: &mut SqliteConnection, e: &AuditEntry) -> StoreResult<i64> {
    let head = sqlx::query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await.map_err(db)?;
    let (prev_seq, prev_hash): (i64, Vec<u8>) = match head {
        Some(r) => (r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?),
        None => (0, vec![0u8; 32]),
    };
    let seq = prev_seq + 1;
    let body = canonical(seq, e);
    let hash = chain_hash(&prev_hash, body.as_bytes());
    sqlx::query(
        "INSERT INTO audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(ts(e.at))
    .bind(e.actor.organization_id.map(|o| o.0))
    .bind(e.action)
    .bind(e.customer_id.map(|c| c.0))
    .bind(&body)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let mut visible = e.visible_to.clone();
    visible.sort();
    visible.dedup();
    for org in visible {
        sqlx::query("INSERT INTO audit_visibility (organization_id, seq) VALUES (?, ?)")
            .bind(org.0)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    Ok(seq)
}

/// The record as hashed. Field order is fixed by the `json!` macro's sorted keys.
fn canonical(seq: i64, e: &AuditEntry) -> String {
    serde_json::json!({
        "seq": seq,
        "at": rfc3339(from_ts(ts(e.at))),
        "organization_id": e.actor.organization_id,
        "actor": {"user_id": e.actor.user_id, "email": e.actor.email, "roles": e.actor.roles},
        "action": e.action,
        "target": e.target,
        "customer_id": e.customer_id,
        "details": e.details,
        "visible_to": e.visible_to,
    })
    .to_string()
}

fn chain_hash(prev: &[u8], body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(body);
    h.finalize().to_vec()
}

pub(crate) async fn verify(conn: &mut SqliteConnection) -> StoreResult<AuditVerification> {
    use sqlx::Executor;
    let mut rows = conn.fetch("SELECT seq, at, action, body, prev_hash, hash FROM audit_records ORDER BY seq");
    let mut expected_prev = vec![0u8; 32];
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    use futures_lite::StreamExt;
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
        let at: i64 = r.try_get("at").map_err(db)?;
        if parsed["seq"] != seq || parsed["action"] != action.as_str() || parsed["at"] != rfc3339(from_ts(at)).as_str() {
            return broken("indexed columns disagree with the record");
        }
        expected_prev = hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(AuditVerification::Whole { records: count })
}

pub(crate) async fn list(conn: &mut SqliteConnection, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
    let filter = |b: &mut QueryBuilder<Sqlite>| {
        b.push(" FROM audit_visibility v JOIN audit_records a ON a.seq = v.seq WHERE v.organization_id = ").push_bind(org.0);
        if let Some(a) = &f.action {
            b.push(" AND a.action = ").push_bind(a.clone());
        }
        if let Some(c) = f.customer_id {
            b.push(" AND a.customer_id = ").push_bind(c.0);
        }
        if let Some(s) = f.since {
            b.push(" AND a.at >= ").push_bind(ts(s));
        }
        if let Some(u) = f.until {
            b.push(" AND a.at < ").push_bind(ts(u));
        }
    };
    let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*)");
    filter(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await.map_err(db)?;
    let mut b = QueryBuilder::<Sqlite>::new("SELECT a.seq, a.body, a.hash");
    filter(&mut b);
    if let Some(c) = &f.cursor {
        let seq: i64 = c.parse().map_err(|_| StoreError::BadCursor)?;
        b.push(" AND v.seq < ").push_bind(seq);
    }
    b.push(" ORDER BY v.seq DESC LIMIT ").push_bind(f.limit + 1);
    let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
    let mut items = Vec::new();
    for r in rows.iter().take(f.limit as usize) {
        let body: String = r.try_get(1).map_err(db)?;
        let hash: Vec<u8> = r.try_get(2).map_err(db)?;
        items.push(AuditRecord {
            seq: r.try_get(0).map_err(db)?,
            body: serde_json::from_str(&body).map_err(|e| StoreError::Database(e.to_string()))?,
            hash: hex::encode(hash),
        });
    }
    let next_cursor = if rows.len() as i64 > f.limit { items.last().map(|a| a.seq.to_string()) } else { None };
    Ok(Page { items, next_cursor, total })
}

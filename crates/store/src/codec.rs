//! Encodings every backend shares, so that what clients and the audit chain see is the same
//! byte for byte whichever database is behind: stored times, role lists, list cursors, the
//! canonical audit record and the chain hash.

use crate::{AuditEntry, AuditVerification, StoreError, StoreResult};
use partnerhub_domain::{DelegatedRole, Role};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// Microseconds since the Unix epoch, truncated toward zero: the precision both databases keep.
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The days of one period of a grant running from `created_at` to `expires_at` (to the nearest
/// day, within 1..=730): what an auto-extension adds.
pub fn grant_period_days(created_at: OffsetDateTime, expires_at: OffsetDateTime) -> i64 {
    const DAY_US: i64 = 86_400_000_000;
    ((micros(expires_at) - micros(created_at) + DAY_US / 2) / DAY_US).clamp(1, 730)
}

pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub fn roles_json(roles: &[Role]) -> String {
    serde_json::to_string(&roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

pub fn delegated_json(roles: &[DelegatedRole]) -> String {
    serde_json::to_string(&roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// The names in a stored role list.
pub fn role_names(s: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Database(format!("bad role list: {e}")))
}

/// Cursors are opaque to clients: hex of `key \x1f uuid`.
pub fn encode_cursor(key: &str, id: Uuid) -> String {
    hex::encode(format!("{key}\u{1f}{id}"))
}

pub fn decode_cursor(c: &str) -> StoreResult<(String, Uuid)> {
    let bytes = hex::decode(c).map_err(|_| StoreError::BadCursor)?;
    let s = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let (k, id) = s.rsplit_once('\u{1f}').ok_or(StoreError::BadCursor)?;
    // Keys are names and numbers this store wrote; a control character was never handed out
    // (and PostgreSQL text cannot hold NUL).
    if k.chars().any(char::is_control) {
        return Err(StoreError::BadCursor);
    }
    Ok((k.to_owned(), Uuid::parse_str(id).map_err(|_| StoreError::BadCursor)?))
}

/// The key of a cursor over a time (then the id): its microseconds.
pub fn time_key(t: OffsetDateTime) -> String {
    micros(t).to_string()
}

pub fn parse_time_key(k: &str) -> StoreResult<i64> {
    k.parse().map_err(|_| StoreError::BadCursor)
}

/// The key of a cursor over a time then a text (then the id): `micros text`.
pub fn time_text_key(t: OffsetDateTime, text: &str) -> String {
    format!("{} {text}", micros(t))
}

pub fn parse_time_text_key(k: &str) -> StoreResult<(i64, String)> {
    let (t, text) = k.split_once(' ').ok_or(StoreError::BadCursor)?;
    Ok((parse_time_key(t)?, text.to_owned()))
}

/// The audit record as hashed. serde_json's map sorts keys, so its text is canonical.
/// `change_id` is the id the records and events of one change share (records written before
/// it existed have none, and their stored bodies still verify as they were hashed).
pub fn audit_body(seq: i64, change_id: Uuid, e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "seq": seq,
        "change_id": change_id,
        "at": rfc3339(from_micros(micros(e.at))),
        "organization_id": e.actor.organization_id,
        "actor": {"user_id": e.actor.user_id, "email": e.actor.email, "roles": e.actor.roles},
        "action": e.action,
        "target": e.target,
        "customer_id": e.customer_id,
        "details": e.details,
        "visible_to": e.visible_to,
    })
}

/// The warning thresholds (days) already given for a grant, from the comma-separated list both
/// stores aggregate in SQL (`NULL` when none).
pub fn warned_days(list: Option<String>) -> Vec<i64> {
    list.unwrap_or_default().split(',').filter_map(|d| d.trim().parse().ok()).collect()
}

/// One audit record as stored, read back for verification. `body` is `None` when the column
/// does not hold text; `at` is the record's time column in RFC 3339.
pub struct StoredRecord<'a> {
    pub seq: i64,
    pub body: Option<&'a str>,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
    pub action: &'a str,
    pub at: &'a str,
    pub change_id: Option<Uuid>,
}

/// A walk along the audit chain in seq order, as both stores' `audit verify` read it: each
/// record must follow the last one checked, hash over it, and agree with its own indexed columns.
pub struct ChainWalk {
    next_seq: i64,
    prev_hash: Vec<u8>,
}

impl Default for ChainWalk {
    fn default() -> Self {
        Self { next_seq: 1, prev_hash: vec![0u8; 32] }
    }
}

impl ChainWalk {
    /// The seq the next record must have (records checked so far: one less).
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Checks `r`, the next record read; answers how the chain is broken there, if it is.
    pub fn check(&mut self, r: StoredRecord<'_>) -> Result<(), AuditVerification> {
        let seq = r.seq;
        let broken = |reason: &str| Err(AuditVerification::Broken { seq, reason: reason.to_owned() });
        if seq != self.next_seq {
            return Err(AuditVerification::Broken { seq: self.next_seq, reason: format!("record missing (next is {seq})") });
        }
        let Some(body) = r.body else { return broken("body is not text") };
        if r.prev_hash != self.prev_hash.as_slice() {
            return broken("prev_hash does not match the previous record's hash");
        }
        if chain_hash(r.prev_hash, body.as_bytes()) != r.hash {
            return broken("hash does not match the record");
        }
        // The columns used for filtering must agree with the hashed body.
        let Ok(parsed) = serde_json::from_str::<serde_json::Value>(body) else { return broken("body is not JSON") };
        // Records older than `change_id` have it neither in the body nor in the column.
        if parsed["seq"] != seq
            || parsed["action"] != r.action
            || parsed["at"] != r.at
            || parsed["change_id"] != serde_json::json!(r.change_id)
        {
            return broken("indexed columns disagree with the record");
        }
        self.prev_hash = r.hash.to_vec();
        self.next_seq += 1;
        Ok(())
    }

    /// The verdict once every record is checked.
    pub fn whole(&self) -> AuditVerification {
        AuditVerification::Whole { records: self.next_seq - 1 }
    }
}

/// `SHA-256(prev_hash || body)`: one link of the audit chain.
pub fn chain_hash(prev: &[u8], body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(body);
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk both stores' `audit verify` share: a whole chain verifies, and each way of
    /// breaking a record is named at that record.
    #[test]
    fn the_chain_walk_names_the_first_broken_record() {
        let at = from_micros(micros(OffsetDateTime::now_utc()));
        let entry = |action: &'static str| AuditEntry {
            at,
            actor: crate::Actor { user_id: None, email: None, roles: vec![], organization_id: None },
            action,
            target: serde_json::json!({}),
            customer_id: None,
            details: serde_json::json!({}),
            visible_to: vec![],
        };
        let change = Uuid::now_v7();
        // Three stored records: (seq, body, prev_hash, hash, action).
        type Stored = (i64, String, Vec<u8>, Vec<u8>, &'static str);
        let mut chain: Vec<Stored> = Vec::new();
        let mut prev = vec![0u8; 32];
        for (seq, action) in [(1, "a.one"), (2, "a.two"), (3, "a.three")] {
            let body = audit_body(seq, change, &entry(action)).to_string();
            let hash = chain_hash(&prev, body.as_bytes());
            chain.push((seq, body, prev.clone(), hash.clone(), action));
            prev = hash;
        }
        let at = rfc3339(at);
        let walk = |records: &[Stored], body_is_text: bool| {
            let mut w = ChainWalk::default();
            for (seq, body, prev, hash, action) in records {
                let r = StoredRecord {
                    seq: *seq,
                    body: body_is_text.then_some(body.as_str()),
                    prev_hash: prev,
                    hash,
                    action,
                    at: &at,
                    change_id: Some(change),
                };
                if let Err(broken) = w.check(r) {
                    return broken;
                }
            }
            w.whole()
        };
        let broken = |seq: i64, reason: &str| AuditVerification::Broken { seq, reason: reason.to_owned() };
        assert_eq!(walk(&chain, true), AuditVerification::Whole { records: 3 });
        assert_eq!(walk(&chain, false), broken(1, "body is not text"));
        assert_eq!(walk(&[chain[0].clone(), chain[2].clone()], true), broken(2, "record missing (next is 3)"));
        let mut tampered = chain.clone();
        tampered[1].1 = tampered[1].1.replace("a.two", "a.twx");
        assert_eq!(walk(&tampered, true), broken(2, "hash does not match the record"));
        let mut relinked = chain.clone();
        relinked[2].2 = vec![1u8; 32];
        assert_eq!(walk(&relinked, true), broken(3, "prev_hash does not match the previous record's hash"));
        let mut column = chain.clone();
        column[1].4 = "a.other";
        assert_eq!(walk(&column, true), broken(2, "indexed columns disagree with the record"));
        let mut not_json = chain.clone();
        not_json[0].1 = "not json".into();
        not_json[0].3 = chain_hash(&not_json[0].2, b"not json");
        assert_eq!(walk(&not_json, true), broken(1, "body is not JSON"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor("Ada \u{e9}", id)).ok(), Some(("Ada \u{e9}".to_owned(), id)));
        let nul_key = hex::encode(format!("\0\u{1f}{id}"));
        for bad in ["", "zz", "00", &hex::encode("no separator"), &nul_key] {
            assert!(matches!(decode_cursor(bad), Err(StoreError::BadCursor)), "{bad}");
        }
    }

    #[test]
    fn time_keys_round_trip_and_reject_garbage() {
        let t = from_micros(1_700_000_000_123_456);
        assert_eq!(parse_time_key(&time_key(t)).ok(), Some(1_700_000_000_123_456));
        assert_eq!(parse_time_text_key(&time_text_key(t, "user_admin")).ok(), Some((1_700_000_000_123_456, "user_admin".to_owned())));
        for bad in ["", "x", "12x", "1.5"] {
            assert!(matches!(parse_time_key(bad), Err(StoreError::BadCursor)), "{bad}");
        }
        for bad in ["", "12", "x role", " role"] {
            assert!(matches!(parse_time_text_key(bad), Err(StoreError::BadCursor)), "{bad}");
        }
    }

    #[test]
    fn times_are_cut_toward_zero_to_the_microsecond() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(micros(t), -1);
        assert_eq!(from_micros(micros(t)).unix_timestamp_nanos(), -1_000);
    }
}

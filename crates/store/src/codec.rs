//! Encodings every backend shares, so that what clients and the audit chain see is the same
//! byte for byte whichever database is behind: stored times, role lists, list cursors, the
//! canonical audit record and the chain hash.

use crate::{AuditEntry, StoreError, StoreResult};
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

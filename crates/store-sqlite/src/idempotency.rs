//! Idempotency keys. A claim reads and writes the key in one write job: the one writer
//! thread runs jobs one at a time, so concurrent claims cannot both win.

use crate::db::err;
use crate::rows::*;
use crate::{SqliteStore, exec, one};
use async_trait::async_trait;
use partnerhub_store::*;
use rusqlite::params;
use time::OffsetDateTime;

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        caller: &str,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<IdempotencyClaim> {
        let (caller, key, hash) = (caller.to_owned(), key.to_owned(), request_hash.to_vec());
        self.db
            .write(move |c| {
                let found = one(
                    c,
                    "SELECT request_hash, created_at, claimed_at, status, content_type, body FROM idempotency_keys WHERE caller = ? AND key = ?",
                    params![caller, key],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0).map_err(err)?,
                            r.get::<_, i64>(1).map_err(err)?,
                            r.get::<_, i64>(2).map_err(err)?,
                            r.get::<_, Option<i64>>(3).map_err(err)?,
                            r.get::<_, Option<String>>(4).map_err(err)?,
                            r.get::<_, Option<Vec<u8>>>(5).map_err(err)?,
                        ))
                    },
                );
                let now_us = ts(now);
                let row = match found {
                    Err(StoreError::NotFound) => None,
                    other => Some(other?),
                };
                let fresh = match &row {
                    None => true,
                    Some((_, created_at, ..)) => *created_at <= now_us - IDEMPOTENCY_TTL_SECS * 1_000_000,
                };
                if fresh {
                    exec(
                        c,
                        "INSERT INTO idempotency_keys (caller, key, request_hash, created_at, claimed_at) VALUES (?1, ?2, ?3, ?4, ?4)
                         ON CONFLICT (caller, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at,
                           claimed_at = excluded.claimed_at, status = NULL, content_type = NULL, body = NULL",
                        params![caller, key, hash, now_us],
                    )?;
                    return Ok(IdempotencyClaim::Claimed);
                }
                let Some((stored_hash, _, claimed_at, status, content_type, body)) = row else { return Ok(IdempotencyClaim::Claimed) };
                if stored_hash != hash {
                    return Ok(IdempotencyClaim::Mismatch);
                }
                if let Some(status) = status {
                    let status = u16::try_from(status).map_err(|_| StoreError::Database(format!("kept status {status}")))?;
                    return Ok(IdempotencyClaim::Replay(KeptResponse { status, content_type, body: body.unwrap_or_default() }));
                }
                if claimed_at <= now_us - IDEMPOTENCY_STALE_CLAIM_SECS * 1_000_000 {
                    exec(c, "UPDATE idempotency_keys SET claimed_at = ? WHERE caller = ? AND key = ?", params![now_us, caller, key])?;
                    return Ok(IdempotencyClaim::Claimed);
                }
                Ok(IdempotencyClaim::InFlight)
            })
            .await
    }

    async fn complete_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8], response: KeptResponse) -> StoreResult<()> {
        let (caller, key, hash) = (caller.to_owned(), key.to_owned(), request_hash.to_vec());
        self.db
            .write(move |c| {
                exec(
                    c,
                    "UPDATE idempotency_keys SET status = ?, content_type = ?, body = ?
                     WHERE caller = ? AND key = ? AND request_hash = ? AND status IS NULL",
                    params![i64::from(response.status), response.content_type, response.body, caller, key, hash],
                )
                .map(|_| ())
            })
            .await
    }

    async fn release_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8]) -> StoreResult<()> {
        let (caller, key, hash) = (caller.to_owned(), key.to_owned(), request_hash.to_vec());
        self.db
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM idempotency_keys WHERE caller = ? AND key = ? AND request_hash = ? AND status IS NULL",
                    params![caller, key, hash],
                )
                .map(|_| ())
            })
            .await
    }

    async fn purge_idempotency_keys(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let before = ts(now) - IDEMPOTENCY_TTL_SECS * 1_000_000;
        self.db.write(move |c| exec(c, "DELETE FROM idempotency_keys WHERE created_at <= ?", params![before]).map(|n| n as u64)).await
    }
}

//! Idempotency keys. A claim is one atomic upsert that takes the key when it is free (new,
//! expired, or claimed by the same request and left stale); otherwise the key's row says
//! why not. Concurrent claims of a free key wait on its unique index: one wins.

use crate::rows::*;
use crate::{PgStore, db};
use async_trait::async_trait;
use partnerhub_store::*;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_idempotency_key(
        &self,
        caller: &str,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<IdempotencyClaim> {
        let expired = pt(now - Duration::seconds(IDEMPOTENCY_TTL_SECS));
        let stale = pt(now - Duration::seconds(IDEMPOTENCY_STALE_CLAIM_SECS));
        // A key released between the upsert and the read is simply claimed again.
        for _ in 0..3 {
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (caller, key, request_hash, created_at, claimed_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (caller, key) DO UPDATE SET
                   request_hash = excluded.request_hash,
                   created_at = CASE WHEN idempotency_keys.created_at <= $5 THEN excluded.created_at ELSE idempotency_keys.created_at END,
                   claimed_at = excluded.claimed_at, status = NULL, content_type = NULL, body = NULL
                 WHERE idempotency_keys.created_at <= $5
                    OR (idempotency_keys.status IS NULL AND idempotency_keys.request_hash = excluded.request_hash
                        AND idempotency_keys.claimed_at <= $6)
                 RETURNING 1",
            )
            .bind(caller)
            .bind(key)
            .bind(request_hash)
            .bind(pt(now))
            .bind(expired)
            .bind(stale)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
            if claimed.is_some() {
                return Ok(IdempotencyClaim::Claimed);
            }
            let row = sqlx::query("SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE caller = $1 AND key = $2")
                .bind(caller)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            let Some(row) = row else { continue };
            let stored: Vec<u8> = row.try_get(0).map_err(db)?;
            if stored != request_hash {
                return Ok(IdempotencyClaim::Mismatch);
            }
            let status: Option<i32> = row.try_get(1).map_err(db)?;
            return Ok(match status {
                Some(status) => IdempotencyClaim::Replay(KeptResponse {
                    status: u16::try_from(status).map_err(|_| StoreError::Database(format!("kept status {status}")))?,
                    content_type: row.try_get(2).map_err(db)?,
                    body: row.try_get::<Option<Vec<u8>>, _>(3).map_err(db)?.unwrap_or_default(),
                }),
                None => IdempotencyClaim::InFlight,
            });
        }
        Ok(IdempotencyClaim::InFlight)
    }

    async fn complete_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8], response: KeptResponse) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, body = $3
             WHERE caller = $4 AND key = $5 AND request_hash = $6 AND status IS NULL",
        )
        .bind(i32::from(response.status))
        .bind(response.content_type)
        .bind(response.body)
        .bind(caller)
        .bind(key)
        .bind(request_hash)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn release_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND request_hash = $3 AND status IS NULL")
            .bind(caller)
            .bind(key)
            .bind(request_hash)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
            .bind(pt(now - Duration::seconds(IDEMPOTENCY_TTL_SECS)))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected())
    }
}

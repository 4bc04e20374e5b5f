//! Sign-in sessions and the rate-limit counters.

use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{PgStore, audit, db, fenced, n_of};
use async_trait::async_trait;
use partnerhub_domain::{OrganizationId, SessionId, UserId};
use partnerhub_store::codec::time_key;
use partnerhub_store::*;
use sqlx::Row;
use time::OffsetDateTime;

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(&self, s: NewSession, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Expired sessions of this user go as a new one comes, and so do the oldest live ones
        // past the bound (this one counts). The user row is locked first, in a statement of its
        // own, FOR NO KEY UPDATE: concurrent sign-ins of one user take turns (each then sees
        // the sessions the one before committed, so the bound holds), while the KEY SHARE
        // locks of others (licenses, foreign keys) do not wait; the insert's foreign-key check,
        // which runs after the chain lock, waits for nobody; and sessions are locked after
        // their user, as a deletion of the user locks them.
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE").bind(s.user_id.0).fetch_optional(&mut *tx).await.map_err(db)?;
        let sql = fenced(
            "u AS MATERIALIZED (SELECT id FROM users WHERE id = $3),
             d AS (DELETE FROM sessions WHERE user_id = (SELECT id FROM u) AND (expires_at <= $5 OR id NOT IN
                     (SELECT id FROM sessions WHERE user_id = $3 AND expires_at > $5 ORDER BY created_at DESC, id DESC LIMIT $7)) RETURNING 1),
             i AS (INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at)
                   SELECT $1, $2, $3, $4, $5, $6 FROM (SELECT count(*) FROM d) AS expired
                   RETURNING 1)",
            "SELECT (SELECT count(*) FROM i) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s.token_hash)
            .bind(s.id.0)
            .bind(s.user_id.0)
            .bind(s.organization_id.0)
            .bind(pt(s.created_at))
            .bind(pt(s.expires_at))
            .bind(MAX_SESSIONS_PER_USER - 1)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("session not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn list_sessions(&self, user: UserId, now: OffsetDateTime, page: &PageQuery) -> StoreResult<Page<SessionInfo>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: "id, created_at, expires_at", from: "sessions", key: Key::NewestFirst("created_at"), id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE user_id = ").push_bind(user.0).push(" AND expires_at > ").push_bind(pt(now));
            },
            page,
            |r| {
                Ok(SessionInfo {
                    id: SessionId(r.try_get("id").map_err(db)?),
                    created_at: r.try_get("created_at").map_err(db)?,
                    expires_at: r.try_get("expires_at").map_err(db)?,
                })
            },
            |s| (time_key(s.created_at), s.id.0),
        )
        .await
    }

    async fn end_session(&self, user: UserId, id: SessionId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced("d AS (DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING 1)", "SELECT (SELECT count(*) FROM d) AS n");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).bind(user.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let s = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(pt(now)).execute(&self.pool).await.map_err(db)?;
        let r = sqlx::query("DELETE FROM rate_limits WHERE coalesce(forget_at, window_end) <= $1")
            .bind(pt(now))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(s.rows_affected() + r.rows_affected())
    }

    async fn principal_versions(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        watch: Option<OrganizationId>,
    ) -> StoreResult<Option<(Principal, Versions)>> {
        // Batched with the look-ups of other requests waiting at the same instant (`lookups`).
        self.lookups.principal(token_hash, now, watch).await
    }

    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let end = from_ts(ts(now).saturating_add(window_secs.saturating_mul(1_000_000)));
        let r = sqlx::query(
            "INSERT INTO rate_limits (key, window_end, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN rate_limits.window_end <= $3 THEN 1 ELSE rate_limits.attempts + 1 END,
               window_end = CASE WHEN rate_limits.window_end <= $3 THEN excluded.window_end ELSE rate_limits.window_end END
             RETURNING attempts, window_end",
        )
        .bind(key)
        .bind(end)
        .bind(pt(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?))
    }

    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let r = sqlx::query("SELECT attempts, window_end FROM rate_limits WHERE key = $1 AND window_end > $2")
            .bind(key)
            .bind(pt(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match r {
            Some(r) => Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)),
            None => Ok((0, now)),
        }
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1").bind(key).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn hit(&self, key: &str, limit: &Limit, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        // $2 now, $3 window (s), $4 limit, $5 longest lockout (s), $6 remembered (s). An
        // UPSERT's SET reads the row as it was, so `window_end` is written out for `forget_at`.
        let window_end = "CASE WHEN rate_limits.window_end <= $2::timestamptz THEN $2::timestamptz + $3::bigint * interval '1 second'
                WHEN rate_limits.attempts + 1 = $4::bigint
                  THEN rate_limits.window_end + (greatest(rate_limits.lock_secs, $3::bigint) - $3::bigint) * interval '1 second'
                ELSE rate_limits.window_end END";
        let sql = format!(
            "INSERT INTO rate_limits (key, window_end, attempts, lock_secs, forget_at)
             VALUES ($1, $2::timestamptz + $3::bigint * interval '1 second', 1, $3::bigint, $2::timestamptz + ($3::bigint + $6::bigint) * interval '1 second')
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN rate_limits.window_end <= $2::timestamptz THEN 1 ELSE rate_limits.attempts + 1 END,
               window_end = {window_end},
               lock_secs = CASE WHEN coalesce(rate_limits.forget_at, rate_limits.window_end) <= $2::timestamptz THEN $3::bigint
                 WHEN rate_limits.window_end > $2::timestamptz AND rate_limits.attempts + 1 = $4::bigint
                   THEN least(greatest(rate_limits.lock_secs, $3::bigint) * 2, greatest($5::bigint, $3::bigint))
                 ELSE greatest(rate_limits.lock_secs, $3::bigint) END,
               forget_at = ({window_end}) + $6::bigint * interval '1 second'
             RETURNING attempts, window_end"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(pt(now))
            .bind(limit.window_secs)
            .bind(limit.limit)
            .bind(limit.max_lock_secs)
            .bind(limit.remember_secs())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?))
    }

    async fn uncount(&self, key: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE rate_limits SET attempts = attempts - 1 WHERE key = $1 AND window_end > $2 AND attempts > 0")
            .bind(key)
            .bind(pt(now))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

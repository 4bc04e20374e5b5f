//! Sign-in sessions and the rate-limit counters.

use crate::db::err;
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{SqliteStore, blob, exec, one, write_change};
use async_trait::async_trait;
use partnerhub_domain::{OrganizationId, SessionId, UserId};
use partnerhub_store::codec::time_key;
use partnerhub_store::*;
use rusqlite::params;
use rusqlite::types::Value as Sql;
use time::OffsetDateTime;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: NewSession, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                // Expired sessions of this user go as a new one comes, and so do the oldest live
                // ones past the bound (this one counts).
                exec(
                    c,
                    "DELETE FROM sessions WHERE user_id = ?1 AND (expires_at <= ?2 OR id NOT IN
                       (SELECT id FROM sessions WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC, id DESC LIMIT ?3))",
                    params![s.user_id.0, ts(s.created_at), MAX_SESSIONS_PER_USER - 1],
                )?;
                exec(
                    c,
                    "INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    params![s.token_hash, s.id.0, s.user_id.0, s.organization_id.0, ts(s.created_at), ts(s.expires_at)],
                )?;
                write_change(c, &change)
            })
            .await
    }

    async fn list_sessions(&self, user: UserId, now: OffsetDateTime, page: &PageQuery) -> StoreResult<Page<SessionInfo>> {
        let keys = Keyset { cols: "id, created_at, expires_at", from: "sessions", key: Key::NewestFirst("created_at"), id: "id" };
        let args = vec![blob(user.0), Sql::Integer(ts(now))];
        self.db.read(|c| {
            keys.fetch(
                c,
                " WHERE user_id = ? AND expires_at > ?",
                args,
                page,
                |r| {
                    Ok(SessionInfo {
                        id: SessionId(r.get(0).map_err(err)?),
                        created_at: from_ts(r.get(1).map_err(err)?),
                        expires_at: from_ts(r.get(2).map_err(err)?),
                    })
                },
                |s| (time_key(s.created_at), s.id.0),
            )
        })
    }

    async fn end_session(&self, user: UserId, id: SessionId, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                if exec(c, "DELETE FROM sessions WHERE id = ? AND user_id = ?", params![id.0, user.0])? == 0 {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.db
            .write(move |c| {
                let s = exec(c, "DELETE FROM sessions WHERE expires_at <= ?", params![ts(now)])?;
                let r = exec(c, "DELETE FROM rate_limits WHERE coalesce(forget_at, window_end) <= ?", params![ts(now)])?;
                Ok((s + r) as u64)
            })
            .await
    }

    async fn principal_versions(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        watch: Option<OrganizationId>,
    ) -> StoreResult<Option<(Principal, Versions)>> {
        self.db.read(|c| {
            let sql = "SELECT u.id, u.organization_id, u.email, u.display_name, u.roles, u.password_change_required, u.locale, u.created_at, s.id AS session_id,
                    o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.domain AS o_domain, o.partner_type AS o_partner_type,
                    o.partner_id AS o_partner_id, o.created_at AS o_created_at,
                    coalesce((SELECT version FROM org_versions WHERE organization_id = u.organization_id), 0) AS caller_version,
                    coalesce((SELECT version FROM org_versions WHERE organization_id = ?3), 0) AS watched_version
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
             JOIN organizations o ON o.id = u.organization_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2";
            match one(c, sql, params![token_hash, ts(now), watch.map(|w| w.0)], |r| {
                let principal = Principal {
                    session_id: SessionId(r.get("session_id").map_err(err)?),
                    user: user_from(r)?,
                    organization: org_from(r, "o_")?,
                };
                let versions = Versions {
                    caller: r.get("caller_version").map_err(err)?,
                    watched: r.get("watched_version").map_err(err)?,
                    epoch: 0,
                };
                Ok((principal, versions))
            }) {
                Ok(p) => Ok(Some(p)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let key = key.to_owned();
        self.db
            .write(move |c| {
                let end = ts(now) + window_secs * 1_000_000;
                one(
                    c,
                    "INSERT INTO rate_limits (key, window_end, attempts) VALUES (?1, ?2, 1)
                     ON CONFLICT (key) DO UPDATE SET
                       attempts = CASE WHEN rate_limits.window_end <= ?3 THEN 1 ELSE rate_limits.attempts + 1 END,
                       window_end = CASE WHEN rate_limits.window_end <= ?3 THEN excluded.window_end ELSE rate_limits.window_end END
                     RETURNING attempts, window_end",
                    params![key, end, ts(now)],
                    |r| Ok((r.get(0).map_err(err)?, from_ts(r.get(1).map_err(err)?))),
                )
            })
            .await
    }

    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        self.db.read(|c| {
            match one(c, "SELECT attempts, window_end FROM rate_limits WHERE key = ? AND window_end > ?", params![key, ts(now)], |r| {
                Ok((r.get(0).map_err(err)?, from_ts(r.get(1).map_err(err)?)))
            }) {
                Err(StoreError::NotFound) => Ok((0, now)),
                other => other,
            }
        })
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.db.write(move |c| exec(c, "DELETE FROM rate_limits WHERE key = ?", params![key]).map(|_| ())).await
    }

    async fn hit(&self, key: &str, limit: &Limit, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let (key, l) = (key.to_owned(), *limit);
        // ?2 now (µs), ?3 window (s), ?4 limit, ?5 longest lockout (s), ?6 remembered (s).
        // An UPSERT's SET reads the row as it was, so `window_end` is written out for `forget_at`.
        let window_end = "CASE WHEN rate_limits.window_end <= ?2 THEN ?2 + ?3 * 1000000
                WHEN rate_limits.attempts + 1 = ?4 THEN rate_limits.window_end + (max(rate_limits.lock_secs, ?3) - ?3) * 1000000
                ELSE rate_limits.window_end END";
        let sql = format!(
            "INSERT INTO rate_limits (key, window_end, attempts, lock_secs, forget_at) VALUES (?1, ?2 + ?3 * 1000000, 1, ?3, ?2 + (?3 + ?6) * 1000000)
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN rate_limits.window_end <= ?2 THEN 1 ELSE rate_limits.attempts + 1 END,
               window_end = {window_end},
               lock_secs = CASE WHEN coalesce(rate_limits.forget_at, rate_limits.window_end) <= ?2 THEN ?3
                 WHEN rate_limits.window_end > ?2 AND rate_limits.attempts + 1 = ?4 THEN min(max(rate_limits.lock_secs, ?3) * 2, max(?5, ?3))
                 ELSE max(rate_limits.lock_secs, ?3) END,
               forget_at = ({window_end}) + ?6 * 1000000
             RETURNING attempts, window_end"
        );
        self.db
            .write(move |c| {
                one(c, &sql, params![key, ts(now), l.window_secs, l.limit, l.max_lock_secs, l.remember_secs()], |r| {
                    Ok((r.get(0).map_err(err)?, from_ts(r.get(1).map_err(err)?)))
                })
            })
            .await
    }

    async fn uncount(&self, key: &str, now: OffsetDateTime) -> StoreResult<()> {
        let key = key.to_owned();
        self.db
            .write(move |c| {
                exec(
                    c,
                    "UPDATE rate_limits SET attempts = attempts - 1 WHERE key = ? AND window_end > ? AND attempts > 0",
                    params![key, ts(now)],
                )
                .map(|_| ())
            })
            .await
    }
}

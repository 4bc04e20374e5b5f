//! TOTP secrets (sealed by the service), their last used step and recovery codes.
//!
//! Every audited change locks the user row first (`organizations::lock_user`), as a password
//! change or a deletion of the user does: the cascade of a deletion then never waits for a
//! row these hold while they wait for the chain lock. A step's use is one conditional update
//! of the secret's row: of concurrent uses of one code, one wins.

use crate::organizations::lock_user;
use crate::rows::*;
use crate::{PgStore, audit, db, fenced, n_of};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use time::OffsetDateTime;

#[async_trait]
impl MfaStore for PgStore {
    async fn totp(&self, user: UserId) -> StoreResult<Option<Totp>> {
        let r = sqlx::query("SELECT sealed_secret, confirmed_at, last_used_step FROM totp_secrets WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        r.map(|r| {
            Ok(Totp {
                user_id: user,
                sealed_secret: get(&r, "sealed_secret")?,
                confirmed_at: get(&r, "confirmed_at")?,
                last_used_step: get(&r, "last_used_step")?,
            })
        })
        .transpose()
    }

    async fn start_totp(
        &self,
        org: OrganizationId,
        user: UserId,
        sealed_secret: Vec<u8>,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, org, user, false).await?;
        // A pending enrolment is replaced; an active one is kept (and refused).
        let sql = fenced(
            "i AS (INSERT INTO totp_secrets (user_id, organization_id, sealed_secret, created_at, confirmed_at, last_used_step)
                   VALUES ($1, $2, $3, $4, NULL, NULL)
                   ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at,
                     last_used_step = NULL
                   WHERE totp_secrets.confirmed_at IS NULL
                   RETURNING 1)",
            "SELECT (SELECT count(*) FROM i) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.0)
            .bind(org.0)
            .bind(sealed_secret)
            .bind(pt(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::TOTP_ACTIVE });
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn confirm_totp(&self, org: OrganizationId, user: UserId, t: TotpConfirmation, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, org, user, false).await?;
        let sql = fenced(
            "c AS (UPDATE totp_secrets SET confirmed_at = $1, last_used_step = $2
                   WHERE user_id = $3 AND organization_id = $4 AND sealed_secret = $5 AND confirmed_at IS NULL
                   RETURNING user_id),
             old AS (DELETE FROM totp_recovery_codes WHERE user_id = (SELECT user_id FROM c) RETURNING 1),
             new AS (INSERT INTO totp_recovery_codes (user_id, code_hash)
                     SELECT c.user_id, h FROM c, unnest($6::bytea[]) AS h WHERE (SELECT count(*) FROM old) >= 0
                     RETURNING 1)",
            "SELECT (SELECT count(*) FROM c) AS n, (SELECT count(*) FROM new) AS codes",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pt(t.now))
            .bind(t.step)
            .bind(user.0)
            .bind(org.0)
            .bind(&t.sealed_secret)
            .bind(&t.recovery_code_hashes)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::TOTP_NOT_PENDING });
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE totp_secrets SET last_used_step = $1
             WHERE user_id = $2 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $1)",
        )
        .bind(step)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, org: OrganizationId, user: UserId, code_hash: &[u8], change: Change) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, org, user, false).await?;
        let sql = fenced(
            "d AS (DELETE FROM totp_recovery_codes WHERE user_id = $1 AND code_hash = $2
                     AND EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = $1 AND t.organization_id = $3 AND t.confirmed_at IS NOT NULL)
                   RETURNING 1)",
            "SELECT (SELECT count(*) FROM d) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.0).bind(code_hash).bind(org.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn remove_totp(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, org, user, false).await?;
        let sql = fenced(
            "t AS (DELETE FROM totp_secrets WHERE user_id = $1 AND organization_id = $2 RETURNING user_id),
             r AS (DELETE FROM totp_recovery_codes WHERE user_id = (SELECT user_id FROM t) RETURNING 1)",
            "SELECT (SELECT count(*) FROM t) AS n, (SELECT count(*) FROM r) AS codes",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.0).bind(org.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }
}

//! TOTP secrets (sealed by the service), their last used step and recovery codes.

use crate::db::err;
use crate::rows::*;
use crate::{SqliteStore, exec, one, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::{Connection, params};
use time::OffsetDateTime;

/// `NotFound` unless `user` is a user of `org`, as PostgreSQL's lock of the user row answers.
fn user_in(c: &Connection, org: OrganizationId, user: UserId) -> StoreResult<()> {
    let found: i64 =
        one(c, "SELECT count(*) FROM users WHERE id = ? AND organization_id = ?", params![user.0, org.0], |r| r.get(0).map_err(err))?;
    if found == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[async_trait]
impl MfaStore for SqliteStore {
    async fn totp(&self, user: UserId) -> StoreResult<Option<Totp>> {
        self.db.read(|c| {
            match one(c, "SELECT sealed_secret, confirmed_at, last_used_step FROM totp_secrets WHERE user_id = ?", params![user.0], |r| {
                Ok(Totp {
                    user_id: user,
                    sealed_secret: r.get(0).map_err(err)?,
                    confirmed_at: r.get::<_, Option<i64>>(1).map_err(err)?.map(from_ts),
                    last_used_step: r.get(2).map_err(err)?,
                })
            }) {
                Ok(t) => Ok(Some(t)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    async fn start_totp(
        &self,
        org: OrganizationId,
        user: UserId,
        sealed_secret: Vec<u8>,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                user_in(c, org, user)?;
                // A pending enrolment is replaced; an active one is kept (and refused).
                let n = exec(
                    c,
                    "INSERT INTO totp_secrets (user_id, organization_id, sealed_secret, created_at, confirmed_at, last_used_step)
                     VALUES (?1, ?2, ?3, ?4, NULL, NULL)
                     ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at,
                       last_used_step = NULL
                     WHERE totp_secrets.confirmed_at IS NULL",
                    params![user.0, org.0, sealed_secret, ts(now)],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::TOTP_ACTIVE });
                }
                write_change(c, &change)
            })
            .await
    }

    async fn confirm_totp(&self, org: OrganizationId, user: UserId, t: TotpConfirmation, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                user_in(c, org, user)?;
                let n = exec(
                    c,
                    "UPDATE totp_secrets SET confirmed_at = ?1, last_used_step = ?2
                     WHERE user_id = ?3 AND organization_id = ?4 AND sealed_secret = ?5 AND confirmed_at IS NULL",
                    params![ts(t.now), t.step, user.0, org.0, t.sealed_secret],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::TOTP_NOT_PENDING });
                }
                exec(c, "DELETE FROM totp_recovery_codes WHERE user_id = ?", params![user.0])?;
                for h in &t.recovery_code_hashes {
                    exec(c, "INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES (?, ?)", params![user.0, h])?;
                }
                write_change(c, &change)
            })
            .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE totp_secrets SET last_used_step = ?1
                     WHERE user_id = ?2 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < ?1)",
                    params![step, user.0],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn use_recovery_code(&self, org: OrganizationId, user: UserId, code_hash: &[u8], change: Change) -> StoreResult<bool> {
        let code_hash = code_hash.to_vec();
        self.db
            .write(move |c| {
                user_in(c, org, user)?;
                let n = exec(
                    c,
                    "DELETE FROM totp_recovery_codes WHERE user_id = ?1 AND code_hash = ?2
                       AND EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = ?1 AND t.organization_id = ?3 AND t.confirmed_at IS NOT NULL)",
                    params![user.0, code_hash, org.0],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                write_change(c, &change)?;
                Ok(true)
            })
            .await
    }

    async fn remove_totp(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                user_in(c, org, user)?;
                let n = exec(c, "DELETE FROM totp_secrets WHERE user_id = ? AND organization_id = ?", params![user.0, org.0])?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                exec(c, "DELETE FROM totp_recovery_codes WHERE user_id = ?", params![user.0])?;
                write_change(c, &change)
            })
            .await
    }
}

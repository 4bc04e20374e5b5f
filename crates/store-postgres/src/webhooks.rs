//! Webhooks: endpoints, the delivery worker's leases and positions, and the attempt log (see
//! `partnerhub_store::WebhookStore` and docs/events.md). Several processes share the work:
//! a claim takes due endpoints `FOR UPDATE SKIP LOCKED` and leases them, so two workers never
//! hold one endpoint; every later write of the worker is conditional on still holding it.

use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{PgStore, audit, db};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::codec::time_key;
use partnerhub_store::*;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

const COLS: &str = "id, organization_id, url, events, created_at, state, attempt, first_failure_at, retry_at";
const TARGET_COLS: &str = "lease_owner, id, organization_id, url, events, created_at, state, attempt, first_failure_at, retry_at, secret, previous_secret, previous_secret_until, position";
const EVENT_COLS: &str = "position, id, event_type, organization_id, created_at, payload";
const ATTEMPT_COLS: &str = "id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, error";

fn webhook_from(r: &PgRow) -> StoreResult<Webhook> {
    let events: String = get(r, "events")?;
    Ok(Webhook {
        id: get(r, "id")?,
        organization_id: OrganizationId(get(r, "organization_id")?),
        url: get(r, "url")?,
        events: names(&events)?,
        created_at: get(r, "created_at")?,
        state: get(r, "state")?,
        attempt: get(r, "attempt")?,
        first_failure_at: get(r, "first_failure_at")?,
        retry_at: get(r, "retry_at")?,
    })
}

fn target_from(r: &PgRow) -> StoreResult<WebhookTarget> {
    let previous: Option<Vec<u8>> = get(r, "previous_secret")?;
    let until: Option<OffsetDateTime> = get(r, "previous_secret_until")?;
    Ok(WebhookTarget {
        webhook: webhook_from(r)?,
        secret: get(r, "secret")?,
        previous_secret: previous.zip(until),
        position: get(r, "position")?,
        lease: get(r, "lease_owner")?,
    })
}

fn event_from(r: &PgRow) -> StoreResult<OutboxEvent> {
    let payload: String = get(r, "payload")?;
    Ok(OutboxEvent {
        position: get(r, "position")?,
        id: get(r, "id")?,
        event_type: get(r, "event_type")?,
        organization_id: OrganizationId(get(r, "organization_id")?),
        created_at: get(r, "created_at")?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Database(format!("an outbox payload is not JSON: {e}")))?,
    })
}

fn attempt_from(r: &PgRow) -> StoreResult<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        id: get(r, "id")?,
        webhook_id: get(r, "webhook_id")?,
        event_id: get(r, "event_id")?,
        event_type: get(r, "event_type")?,
        attempt: get(r, "attempt")?,
        at: get(r, "at")?,
        status: get(r, "status")?,
        latency_ms: get(r, "latency_ms")?,
        error: get(r, "error")?,
    })
}

async fn webhook_in(conn: &mut PgConnection, org: OrganizationId, id: Uuid) -> StoreResult<Webhook> {
    let r = sqlx::query(sqlf!("SELECT {COLS} FROM webhooks WHERE id = $1 AND organization_id = $2"))
        .bind(id)
        .bind(org.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
    webhook_from(&r)
}

async fn insert_attempt(conn: &mut PgConnection, a: &DeliveryAttempt) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id)
    .bind(a.webhook_id)
    .bind(a.event_id)
    .bind(&a.event_type)
    .bind(a.attempt)
    .bind(pt(a.at))
    .bind(a.status)
    .bind(a.latency_ms)
    .bind(&a.error)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, w: NewWebhook, change: Change) -> StoreResult<Webhook> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, organization_id, url, events, secret, created_at, position, state, attempt)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 'active', 0)",
        )
        .bind(w.id)
        .bind(w.organization_id.0)
        .bind(&w.url)
        .bind(serde_json::Value::from(w.events.clone()).to_string())
        .bind(&w.secret)
        .bind(pt(w.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // The position is read under the chain lock (taken after the insert's own locks): events
        // enter the outbox only under it (see `audit::chain`), so none commits between it and this.
        sqlx::query(sqlf!("SELECT {}::text", audit::LOCK)).execute(&mut *tx).await.map_err(db)?;
        // Its organization's last event (the index `outbox_by_recipient` answers it at once).
        sqlx::query(
            "UPDATE webhooks SET position = (SELECT coalesce(max(position), 0) FROM outbox_events WHERE organization_id = $2) WHERE id = $1",
        )
        .bind(w.id)
        .bind(w.organization_id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        audit::append(&mut tx, &change).await?;
        let created = webhook_in(&mut tx, w.organization_id, w.id).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    async fn list_webhooks(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<Webhook>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: COLS, from: "webhooks", key: Key::Id, id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE organization_id = ").push_bind(org.0);
            },
            page,
            webhook_from,
            |w| (String::new(), w.id),
        )
        .await
    }

    async fn webhook(&self, org: OrganizationId, id: Uuid) -> StoreResult<Webhook> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        webhook_in(&mut conn, org, id).await
    }

    async fn delete_webhook(&self, org: OrganizationId, id: Uuid, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: OrganizationId,
        id: Uuid,
        secret: Vec<u8>,
        previous_until: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Webhook> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_until = $1, secret = $2 WHERE id = $3 AND organization_id = $4",
        )
        .bind(pt(previous_until))
        .bind(&secret)
        .bind(id)
        .bind(org.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        let w = webhook_in(&mut tx, org, id).await?;
        self.commit(tx).await?;
        Ok(w)
    }

    async fn list_delivery_attempts(&self, org: OrganizationId, id: Uuid, page: &PageQuery) -> StoreResult<Page<DeliveryAttempt>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        webhook_in(&mut conn, org, id).await?;
        let keys = Keyset { cols: ATTEMPT_COLS, from: "webhook_attempts", key: Key::NewestFirst("at"), id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE webhook_id = ").push_bind(id);
            },
            page,
            attempt_from,
            |a| (time_key(a.at), a.id),
        )
        .await
    }

    async fn claim_webhooks(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: i64) -> StoreResult<Vec<WebhookTarget>> {
        let rows = sqlx::query(sqlf!(
            "WITH due AS (
                 SELECT w.id FROM webhooks w
                 WHERE (w.lease_until IS NULL OR w.lease_until < $1) AND (w.retry_at IS NULL OR w.retry_at <= $1)
                   AND EXISTS (SELECT 1 FROM outbox_events e WHERE e.organization_id = w.organization_id AND e.position > w.position)
                 ORDER BY w.retry_at NULLS FIRST, w.id LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE webhooks w SET lease_owner = gen_random_uuid(), lease_until = $2 FROM due WHERE w.id = due.id
             RETURNING {}",
            TARGET_COLS.split(", ").map(|c| format!("w.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(pt(now))
        .bind(pt(lease_until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(target_from).collect()
    }

    async fn events_after(&self, org: OrganizationId, after: i64, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {EVENT_COLS} FROM outbox_events WHERE organization_id = $1 AND position > $2 ORDER BY position LIMIT $3"
        ))
        .bind(org.0)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(event_from).collect()
    }

    async fn skip_events(&self, webhook: Uuid, owner: Uuid, position: i64, lease_until: OffsetDateTime) -> StoreResult<bool> {
        let n = sqlx::query("UPDATE webhooks SET position = $1, lease_until = $2 WHERE id = $3 AND lease_owner = $4 AND position < $1")
            .bind(position)
            .bind(pt(lease_until))
            .bind(webhook)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn record_attempt(&self, owner: Uuid, a: DeliveryAttempt, outcome: AttemptOutcome) -> StoreResult<bool> {
        // One statement (one round trip, atomic): the attempt is logged only if the update found
        // the endpoint still held by `owner`.
        let (update, base) = match &outcome {
            AttemptOutcome::Delivered { .. } => (
                "UPDATE webhooks SET position = $1, lease_until = $2, state = 'active', attempt = 0, first_failure_at = NULL, retry_at = NULL
                 WHERE id = $3 AND lease_owner = $4 AND position < $1 RETURNING 1",
                5,
            ),
            AttemptOutcome::Failed { .. } => (
                "UPDATE webhooks SET attempt = attempt + 1, first_failure_at = coalesce(first_failure_at, $5), retry_at = $1,
                        state = CASE WHEN $2 THEN 'failing' ELSE state END, lease_owner = NULL, lease_until = NULL
                 WHERE id = $3 AND lease_owner = $4 RETURNING 1",
                6,
            ),
        };
        let p: Vec<String> = (base..base + 9).map(|i| format!("${i}")).collect();
        let sql = format!(
            "WITH u AS ({update})
             INSERT INTO webhook_attempts (id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, error)
             SELECT {} WHERE EXISTS (SELECT 1 FROM u)",
            p.join(", ")
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql));
        let q = match &outcome {
            AttemptOutcome::Delivered { position, lease_until } => q.bind(*position).bind(pt(*lease_until)).bind(a.webhook_id).bind(owner),
            AttemptOutcome::Failed { retry_at, failing } => {
                q.bind(pt(*retry_at)).bind(*failing).bind(a.webhook_id).bind(owner).bind(pt(a.at))
            }
        };
        let n = q
            .bind(a.id)
            .bind(a.webhook_id)
            .bind(a.event_id)
            .bind(&a.event_type)
            .bind(a.attempt)
            .bind(pt(a.at))
            .bind(a.status)
            .bind(a.latency_ms)
            .bind(&a.error)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn release_webhook(&self, webhook: Uuid, owner: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(webhook)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        let rows = sqlx::query(sqlf!("SELECT {EVENT_COLS} FROM outbox_events ORDER BY position DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(event_from).collect()
    }

    async fn outbox_event(&self, id: Uuid) -> StoreResult<OutboxEvent> {
        let r = sqlx::query(sqlf!("SELECT {EVENT_COLS} FROM outbox_events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        event_from(&r)
    }

    async fn webhook_target(&self, id: Uuid) -> StoreResult<WebhookTarget> {
        let r = sqlx::query(sqlf!("SELECT {TARGET_COLS} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        Ok(WebhookTarget { lease: None, ..target_from(&r)? })
    }

    async fn recent_attempts(&self, webhook: Option<Uuid>, limit: i64) -> StoreResult<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {ATTEMPT_COLS} FROM webhook_attempts WHERE ($1::uuid IS NULL OR webhook_id = $1) ORDER BY at DESC, id DESC LIMIT $2"
        ))
        .bind(webhook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(attempt_from).collect()
    }

    async fn log_attempt(&self, a: DeliveryAttempt) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_attempt(&mut conn, &a).await
    }
}

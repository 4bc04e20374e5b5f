//! Webhooks: endpoints, the delivery worker's leases and positions, and the attempt log (see
//! `partnerhub_store::WebhookStore` and docs/events.md). One writer commits at a time, so the
//! leases here are plain conditional updates.

use crate::db::err;
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{SqliteStore, all, blob, exec, one, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::codec::time_key;
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

const COLS: &str = "id, organization_id, url, events, created_at, state, attempt, first_failure_at, retry_at";
const TARGET_COLS: &str = "id, organization_id, url, events, created_at, state, attempt, first_failure_at, retry_at, secret, previous_secret, previous_secret_until, position";
const EVENT_COLS: &str = "position, id, event_type, organization_id, created_at, payload";
const ATTEMPT_COLS: &str = "id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, error";

fn get<T: rusqlite::types::FromSql>(r: &Row<'_>, col: &str) -> StoreResult<T> {
    r.get(col).map_err(err)
}

fn webhook_from(r: &Row<'_>) -> StoreResult<Webhook> {
    let events: String = get(r, "events")?;
    Ok(Webhook {
        id: get(r, "id")?,
        organization_id: OrganizationId(get(r, "organization_id")?),
        url: get(r, "url")?,
        events: names(&events)?,
        created_at: from_ts(get(r, "created_at")?),
        state: get(r, "state")?,
        attempt: get(r, "attempt")?,
        first_failure_at: get::<Option<i64>>(r, "first_failure_at")?.map(from_ts),
        retry_at: get::<Option<i64>>(r, "retry_at")?.map(from_ts),
    })
}

fn target_from(r: &Row<'_>) -> StoreResult<WebhookTarget> {
    let previous: Option<Vec<u8>> = get(r, "previous_secret")?;
    let until: Option<i64> = get(r, "previous_secret_until")?;
    Ok(WebhookTarget {
        webhook: webhook_from(r)?,
        secret: get(r, "secret")?,
        previous_secret: previous.zip(until.map(from_ts)),
        position: get(r, "position")?,
        lease: None,
    })
}

fn event_from(r: &Row<'_>) -> StoreResult<OutboxEvent> {
    let payload: String = get(r, "payload")?;
    Ok(OutboxEvent {
        position: get(r, "position")?,
        id: get(r, "id")?,
        event_type: get(r, "event_type")?,
        organization_id: OrganizationId(get(r, "organization_id")?),
        created_at: from_ts(get(r, "created_at")?),
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Database(format!("an outbox payload is not JSON: {e}")))?,
    })
}

fn attempt_from(r: &Row<'_>) -> StoreResult<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        id: get(r, "id")?,
        webhook_id: get(r, "webhook_id")?,
        event_id: get(r, "event_id")?,
        event_type: get(r, "event_type")?,
        attempt: get(r, "attempt")?,
        at: from_ts(get(r, "at")?),
        status: get(r, "status")?,
        latency_ms: get(r, "latency_ms")?,
        error: get(r, "error")?,
    })
}

fn webhook_in(c: &Connection, org: OrganizationId, id: Uuid) -> StoreResult<Webhook> {
    one(c, &format!("SELECT {COLS} FROM webhooks WHERE id = ? AND organization_id = ?"), params![id, org.0], webhook_from)
}

fn insert_attempt(c: &Connection, a: &DeliveryAttempt) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO webhook_attempts (id, webhook_id, event_id, event_type, attempt, at, status, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![a.id, a.webhook_id, a.event_id, a.event_type, a.attempt, ts(a.at), a.status, a.latency_ms, a.error],
    )?;
    Ok(())
}

fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, w: NewWebhook, change: Change) -> StoreResult<Webhook> {
        self.db
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO webhooks (id, organization_id, url, events, secret, created_at, position, state, attempt)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT coalesce(max(position), 0) FROM outbox_events WHERE organization_id = ?2), 'active', 0)",
                    params![w.id, w.organization_id.0, w.url, events_json(&w.events), w.secret, ts(w.created_at)],
                )?;
                write_change(c, &change)?;
                webhook_in(c, w.organization_id, w.id)
            })
            .await
    }

    async fn list_webhooks(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<Webhook>> {
        let keyset = Keyset { cols: COLS, from: "webhooks", key: Key::Id, id: "id" };
        self.db.read(|c| keyset.fetch(c, " WHERE organization_id = ?", vec![blob(org.0)], page, webhook_from, |w| (String::new(), w.id)))
    }

    async fn webhook(&self, org: OrganizationId, id: Uuid) -> StoreResult<Webhook> {
        self.db.read(|c| webhook_in(c, org, id))
    }

    async fn delete_webhook(&self, org: OrganizationId, id: Uuid, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                if exec(c, "DELETE FROM webhooks WHERE id = ? AND organization_id = ?", params![id, org.0])? == 0 {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn rotate_webhook_secret(
        &self,
        org: OrganizationId,
        id: Uuid,
        secret: Vec<u8>,
        previous_until: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Webhook> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?, secret = ? WHERE id = ? AND organization_id = ?",
                    params![ts(previous_until), secret, id, org.0],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)?;
                webhook_in(c, org, id)
            })
            .await
    }

    async fn list_delivery_attempts(&self, org: OrganizationId, id: Uuid, page: &PageQuery) -> StoreResult<Page<DeliveryAttempt>> {
        let keyset = Keyset { cols: ATTEMPT_COLS, from: "webhook_attempts", key: Key::NewestFirst("at"), id: "id" };
        self.db.read(|c| {
            webhook_in(c, org, id)?;
            keyset.fetch(c, " WHERE webhook_id = ?", vec![blob(id)], page, attempt_from, |a| (time_key(a.at), a.id))
        })
    }

    async fn claim_webhooks(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: i64) -> StoreResult<Vec<WebhookTarget>> {
        let due = "(w.lease_until IS NULL OR w.lease_until < ?1) AND (w.retry_at IS NULL OR w.retry_at <= ?1)
                   AND EXISTS (SELECT 1 FROM outbox_events e WHERE e.organization_id = w.organization_id AND e.position > w.position)";
        // A read first: most polls find nothing, and need not queue behind the writer.
        let any: Vec<i64> =
            self.db.read(|c| all(c, &format!("SELECT 1 FROM webhooks w WHERE {due} LIMIT 1"), params![ts(now)], |r| get(r, "1")))?;
        if any.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .write(move |c| {
                let ids: Vec<Uuid> = all(
                    c,
                    &format!("SELECT w.id FROM webhooks w WHERE {due} ORDER BY w.retry_at, w.id LIMIT ?2"),
                    params![ts(now), limit],
                    |r| get(r, "id"),
                )?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let lease = Uuid::now_v7();
                    exec(c, "UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE id = ?", params![lease, ts(lease_until), id])?;
                    let target = one(c, &format!("SELECT {TARGET_COLS} FROM webhooks WHERE id = ?"), params![id], target_from)?;
                    out.push(WebhookTarget { lease: Some(lease), ..target });
                }
                Ok(out)
            })
            .await
    }

    async fn events_after(&self, org: OrganizationId, after: i64, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        // Only what is on disk leaves the process: a reader sees a commit just before it is durable.
        let durable = self.db.durable_position();
        self.db.read(|c| {
            all(
                c,
                &format!(
                    "SELECT {EVENT_COLS} FROM outbox_events WHERE organization_id = ? AND position > ? AND position <= ? ORDER BY position LIMIT ?"
                ),
                params![org.0, after, durable, limit],
                event_from,
            )
        })
    }

    async fn skip_events(&self, webhook: Uuid, owner: Uuid, position: i64, lease_until: OffsetDateTime) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                Ok(exec(
                    c,
                    "UPDATE webhooks SET position = ?, lease_until = ? WHERE id = ? AND lease_owner = ? AND position < ?",
                    params![position, ts(lease_until), webhook, owner, position],
                )? == 1)
            })
            .await
    }

    async fn record_attempt(&self, owner: Uuid, a: DeliveryAttempt, outcome: AttemptOutcome) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = match &outcome {
                    AttemptOutcome::Delivered { position, lease_until } => exec(
                        c,
                        "UPDATE webhooks SET position = ?, lease_until = ?, state = 'active', attempt = 0, first_failure_at = NULL, retry_at = NULL
                         WHERE id = ? AND lease_owner = ? AND position < ?",
                        params![position, ts(*lease_until), a.webhook_id, owner, position],
                    )?,
                    AttemptOutcome::Failed { retry_at, failing } => exec(
                        c,
                        "UPDATE webhooks SET attempt = attempt + 1, first_failure_at = coalesce(first_failure_at, ?), retry_at = ?,
                                state = CASE WHEN ? THEN 'failing' ELSE state END, lease_owner = NULL, lease_until = NULL
                         WHERE id = ? AND lease_owner = ?",
                        params![ts(a.at), ts(*retry_at), failing, a.webhook_id, owner],
                    )?,
                };
                if n == 0 {
                    return Ok(false);
                }
                insert_attempt(c, &a)?;
                Ok(true)
            })
            .await
    }

    async fn release_webhook(&self, webhook: Uuid, owner: Uuid) -> StoreResult<()> {
        self.db
            .write(move |c| {
                exec(
                    c,
                    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                    params![webhook, owner],
                )?;
                Ok(())
            })
            .await
    }

    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        self.db
            .read(|c| all(c, &format!("SELECT {EVENT_COLS} FROM outbox_events ORDER BY position DESC LIMIT ?"), params![limit], event_from))
    }

    async fn outbox_event(&self, id: Uuid) -> StoreResult<OutboxEvent> {
        self.db.read(|c| one(c, &format!("SELECT {EVENT_COLS} FROM outbox_events WHERE id = ?"), params![id], event_from))
    }

    async fn webhook_target(&self, id: Uuid) -> StoreResult<WebhookTarget> {
        self.db.read(|c| one(c, &format!("SELECT {TARGET_COLS} FROM webhooks WHERE id = ?"), params![id], target_from))
    }

    async fn recent_attempts(&self, webhook: Option<Uuid>, limit: i64) -> StoreResult<Vec<DeliveryAttempt>> {
        let (filter, mut args) = match webhook {
            Some(w) => (" WHERE webhook_id = ?", vec![blob(w)]),
            None => ("", Vec::new()),
        };
        args.push(Sql::Integer(limit));
        self.db.read(|c| {
            all(
                c,
                &format!("SELECT {ATTEMPT_COLS} FROM webhook_attempts{filter} ORDER BY at DESC, id DESC LIMIT ?"),
                rusqlite::params_from_iter(args.iter()),
                attempt_from,
            )
        })
    }

    async fn log_attempt(&self, a: DeliveryAttempt) -> StoreResult<()> {
        self.db.write(move |c| insert_attempt(c, &a)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use crate::db::Db;
    use crate::db::testing::{eventually, gated_sync, temp_db};
    use partnerhub_domain::*;
    use partnerhub_store::*;
    use serde_json::json;
    use std::sync::Arc;

    /// A webhook reads an event only once its commit is on disk: committed but not yet synced,
    /// the event is in the table (readers see it) but `events_after` does not give it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhooks_read_only_durable_events() {
        let (_dir, path) = temp_db("durable.db");
        drop(SqliteStore::open(&format!("sqlite://{path}")).await.expect("create and migrate"));
        let (release, sync, _) = gated_sync();
        let store = Arc::new(SqliteStore { db: Db::open_with(&path, 2, Some(sync)).expect("open"), blockers: Arc::default() });

        let org = OrganizationId::new();
        let at = time::OffsetDateTime::now_utc();
        let event = Event { id: uuid::Uuid::now_v7(), event_type: "offer.created", organization_id: org, occurred_at: at, data: json!({}) };
        let change = Change {
            events: vec![event],
            ..Change::new(AuditEntry {
                at,
                actor: Actor { user_id: None, email: Some("operator@example".into()), roles: vec![], organization_id: None },
                action: "offer.created",
                target: json!({"type": "offer"}),
                customer_id: None,
                details: json!({}),
                visible_to: vec![],
            })
        };
        let offer = NewOffer { id: OfferId::new(), name: "Mail".into(), unit_price_cents: 600, currency: "EUR".into(), created_at: at };
        let write = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.create_offer(offer, change).await }
        });
        let in_table = || store.db.read(|c| crate::scalar_i64(c, "SELECT count(*) FROM outbox_events", [])).expect("a read");
        eventually("the change never committed", || in_table() == 1).await;
        assert!(store.events_after(org, 0, 100).await.expect("events").is_empty(), "an event was read before it was durable");
        release.send(Ok(())).expect("release the sync");
        write.await.expect("the task").expect("the write");
        let events = store.events_after(org, 0, 100).await.expect("events");
        assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), ["offer.created"]);
    }
}

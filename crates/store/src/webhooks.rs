//! Webhooks (issue 10): an organization's endpoints, the delivery bookkeeping the workers keep
//! on them, and the log of every attempt. Design: `docs/events.md`.
//!
//! Each endpoint reads the outbox on its own: `position` is the outbox position (commit order)
//! of the last event it is done with, so its events go out one at a time, in order. A worker
//! holds an endpoint by a lease (`lease_owner`, `lease_until`) while it sends; a lease that
//! runs out (a killed process) is taken by the next worker that looks.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// An endpoint as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: OffsetDateTime,
    /// `active`, or `failing` once an event has failed for longer than the retry window.
    pub state: String,
    /// Failed attempts of the event it is stuck on (0 when none).
    pub attempt: i64,
    /// The first failed attempt of the event it is stuck on.
    pub first_failure_at: Option<OffsetDateTime>,
    /// When the next attempt is due after a failure.
    pub retry_at: Option<OffsetDateTime>,
}

/// An endpoint as the delivery worker needs it: with its sealed secrets and its place.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub webhook: Webhook,
    /// The secret key, sealed by the service.
    pub secret: Vec<u8>,
    /// The secret before the last rotation, sealed, and until when it signs too.
    pub previous_secret: Option<(Vec<u8>, OffsetDateTime)>,
    /// The outbox position of the last event it is done with.
    pub position: i64,
    /// The claim that leased it (fresh for every claim): later writes of the worker name it,
    /// and do nothing once another claim has taken the endpoint.
    pub lease: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub url: String,
    pub events: Vec<String>,
    pub secret: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// An event as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Commit order across the database.
    pub position: i64,
    pub id: Uuid,
    pub event_type: String,
    pub organization_id: OrganizationId,
    pub created_at: OffsetDateTime,
    /// `{"id", "type", "occurred_at", "data"}` as written with the change.
    pub payload: serde_json::Value,
}

/// One delivery attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    /// 1 for the first attempt of an event on this endpoint; a replay counts on.
    pub attempt: i64,
    pub at: OffsetDateTime,
    /// The HTTP status answered, if any.
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What an attempt by a lease holder changes on its endpoint.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// Delivered: the endpoint is done with the event at `position`; the lease runs on to
    /// `lease_until`.
    Delivered { position: i64, lease_until: OffsetDateTime },
    /// Failed: try again at `retry_at`; `failing` marks the endpoint failing. The lease ends.
    Failed { retry_at: OffsetDateTime, failing: bool },
}

/// Webhook endpoints and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers an endpoint; it receives the events committed after it.
    async fn create_webhook(&self, webhook: NewWebhook, change: Change) -> StoreResult<Webhook>;
    /// The organization's endpoints, oldest first.
    async fn list_webhooks(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<Webhook>>;
    /// One endpoint of the organization (`NotFound` for another's).
    async fn webhook(&self, org: OrganizationId, id: Uuid) -> StoreResult<Webhook>;
    /// Deletes the endpoint and its delivery log.
    async fn delete_webhook(&self, org: OrganizationId, id: Uuid, change: Change) -> StoreResult<()>;
    /// A new sealed secret; the current one keeps signing until `previous_until`.
    async fn rotate_webhook_secret(
        &self,
        org: OrganizationId,
        id: Uuid,
        secret: Vec<u8>,
        previous_until: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Webhook>;
    /// The endpoint's delivery attempts, newest first.
    async fn list_delivery_attempts(&self, org: OrganizationId, id: Uuid, page: &PageQuery) -> StoreResult<Page<DeliveryAttempt>>;

    // ---- the delivery worker (no tenant: it serves every organization) ----
    /// Leases until `lease_until` up to `limit` endpoints that have events after their position,
    /// are due (`retry_at` passed) and are not leased by another claim; each gets a fresh lease
    /// id (`WebhookTarget::lease`), the `owner` of the worker's later writes.
    async fn claim_webhooks(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: i64) -> StoreResult<Vec<WebhookTarget>>;
    /// The endpoint's organization's events after `after`, in commit order.
    async fn events_after(&self, org: OrganizationId, after: i64, limit: i64) -> StoreResult<Vec<OutboxEvent>>;
    /// Moves the endpoint past events it does not subscribe to, if `owner` still holds it.
    async fn skip_events(&self, webhook: Uuid, owner: Uuid, position: i64, lease_until: OffsetDateTime) -> StoreResult<bool>;
    /// Logs an attempt and applies its outcome, in one transaction, if `owner` still holds the
    /// endpoint; `false` (and nothing written) otherwise.
    async fn record_attempt(&self, owner: Uuid, attempt: DeliveryAttempt, outcome: AttemptOutcome) -> StoreResult<bool>;
    /// Gives the lease back (nothing left to send).
    async fn release_webhook(&self, webhook: Uuid, owner: Uuid) -> StoreResult<()>;

    // ---- the `events` command (operator, no tenant) ----
    /// The most recent outbox events, newest first.
    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>>;
    /// One outbox event.
    async fn outbox_event(&self, id: Uuid) -> StoreResult<OutboxEvent>;
    /// Any endpoint, with its secrets (for a replay).
    async fn webhook_target(&self, id: Uuid) -> StoreResult<WebhookTarget>;
    /// The most recent attempts, of one endpoint or of all, newest first.
    async fn recent_attempts(&self, webhook: Option<Uuid>, limit: i64) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Logs an attempt that changes nothing else (a replay).
    async fn log_attempt(&self, attempt: DeliveryAttempt) -> StoreResult<()>;
}

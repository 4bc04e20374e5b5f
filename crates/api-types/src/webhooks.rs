//! Webhooks on the wire: endpoints, their secrets (shown once) and their delivery log.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/partnerhub", "events": ["relationship.created", "relationship.removed"]}))]
pub struct CreateWebhookRequest {
    /// `https://` to a public address (`http://` and private addresses only when the server
    /// runs with `--webhook-allow-insecure`); at most 2,048 characters.
    pub url: String,
    /// 1 to 16 event names of API.md (`invitation.created`, `relationship.removed`, ...).
    pub events: Vec<String>,
}

/// An endpoint of the caller's organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `active`, or `failing` once an event has failed for longer than 3 days (deliveries go
    /// on, less often, until one succeeds).
    pub state: String,
    /// Failed attempts of the event the endpoint is waiting on (0 when none).
    pub failed_attempts: i64,
    /// When the next attempt is due after a failure.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A new endpoint, with its signing secret: shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookResponse {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_` + base64 of the key (Standard Webhooks).
    pub secret: String,
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The new signing secret, shown this once; the old one keeps signing too for 24 hours.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecretResponse {
    pub secret: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: Uuid,
    pub event_id: Uuid,
    /// The event's name.
    pub event: String,
    /// 1 for an event's first attempt on this endpoint; 0 for a replay by the operator.
    pub attempt: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The HTTP status the endpoint answered; null when it did not answer.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// Why no answer came (time-out, refused address, ...); null when one did.
    pub error: Option<String>,
}

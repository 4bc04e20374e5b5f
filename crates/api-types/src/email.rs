//! The e-mail outbox as the API shows it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An e-mail in partnerhub's outbox: `queued` (sent by a worker, tried again with backoff
/// while the relay is out of reach or answers 4xx), `sent`, or `failed` (the relay answered
/// 5xx, or it was given up).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailDelivery {
    #[schema(value_type = crate::EmailDeliveryState)]
    pub state: String,
    pub to: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Why the last attempt did not deliver: `unreachable` (the relay could not be reached or
    /// talked to), `refused_for_now` (4xx), `refused` (5xx), `abandoned`.
    pub last_error_kind: Option<String>,
    /// The relay's answer or the connection's error, as it came.
    pub last_error: Option<String>,
    /// When the next attempt is due (while queued).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

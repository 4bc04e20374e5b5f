//! `Idempotency-Key`: a POST's key, claimed by its caller with a hash of the request, then
//! completed with the answer, which a retry with the same key and request gets again for
//! 24 hours (docs/accounts.md, "Idempotency").

use crate::*;
use async_trait::async_trait;
use time::OffsetDateTime;

/// How long an answer is kept for its key.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 60 * 60;
/// A claim never completed (its process died after the change, or before it could keep the
/// answer) may be claimed again after this long.
pub const IDEMPOTENCY_STALE_CLAIM_SECS: i64 = 60;

/// An answer as kept: status, `Content-Type` and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is this request's now (new, expired, or claimed by the same request more than
    /// `IDEMPOTENCY_STALE_CLAIM_SECS` ago): run it, then complete or release the key.
    Claimed,
    /// The same request was answered: answer this again.
    Replay(KeptResponse),
    /// The key was used with another request (another body, method or path).
    Mismatch,
    /// The same request is still running.
    InFlight,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `(caller, key)` for the request hashing to `request_hash`, atomically: of
    /// concurrent claims of a free key, one is `Claimed` and the others see it `InFlight`.
    async fn claim_idempotency_key(
        &self,
        caller: &str,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<IdempotencyClaim>;
    /// Keeps the answer of a claimed key (nothing when the claim is no longer this request's).
    async fn complete_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8], response: KeptResponse) -> StoreResult<()>;
    /// Frees a claimed key whose answer is not kept (5xx): a retry runs again.
    async fn release_idempotency_key(&self, caller: &str, key: &str, request_hash: &[u8]) -> StoreResult<()>;
    /// Deletes the keys older than `IDEMPOTENCY_TTL_SECS` at `now`; answers how many.
    async fn purge_idempotency_keys(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

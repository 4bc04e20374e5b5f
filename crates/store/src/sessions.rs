//! Sign-in sessions and the rate-limit counters.

use crate::*;
use async_trait::async_trait;
use time::OffsetDateTime;

/// Sessions and rate limits.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: NewSession, change: Change) -> StoreResult<()>;
    /// The signed-in user behind a session token hash, if the session is live at `now`.
    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>>;
    /// Counts one attempt against `key` in a fixed window; answers how many attempts the
    /// window holds now and when it ends.
    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    /// Attempts counted against `key` in the current window, and when it ends.
    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;
}

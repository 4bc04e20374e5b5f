//! Sign-in sessions and the rate-limit counters.

use crate::*;
use async_trait::async_trait;
use partnerhub_domain::{OrganizationId, SessionId, UserId};
use time::OffsetDateTime;

/// Sessions one user may hold; a sign-in past it ends the oldest.
pub const MAX_SESSIONS_PER_USER: i64 = 10;

/// Organization versions (`org_versions`, 0 without a row): each is bumped in the transaction of
/// every change that may alter what that organization reads, that is, for every organization an
/// audit record of the change is visible to, and for those the store finds affected besides (a
/// provider whose relationship stops naming a reseller that left). Equal versions at two reads,
/// with nothing expiring in between, mean equal answers: what the response cache relies on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Versions {
    /// The caller's organization.
    pub caller: i64,
    /// The organization a read also depends on (a customer, for its detail); 0 when none.
    pub watched: i64,
    /// Every organization's version at once: the row of the nil organization id. PostgreSQL
    /// moves it when a change committed but the chain run that bumps its organizations' versions
    /// failed (see `PgStore::settle`), so no cached answer is served past that change while its
    /// own bumps wait for the next run. Always 0 on SQLite, which bumps in the writing
    /// transaction.
    pub epoch: i64,
}

/// A session as its user sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Sessions and rate limits.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// A new session; in the same transaction the user's expired sessions end, and so do the
    /// oldest beyond [`MAX_SESSIONS_PER_USER`] counting this one.
    async fn create_session(&self, session: NewSession, change: Change) -> StoreResult<()>;
    /// The user's live sessions at `now`, newest first (by creation time then id, both descending).
    async fn list_sessions(&self, user: UserId, now: OffsetDateTime, page: &PageQuery) -> StoreResult<Page<SessionInfo>>;
    /// Ends session `id` of `user` (sign-out, or revoking one); `NotFound` if it is not theirs.
    async fn end_session(&self, user: UserId, id: SessionId, change: Change) -> StoreResult<()>;
    /// Deletes expired sessions and rate-limit windows that are over (and no longer
    /// remembered); idempotent, and several processes may run it at once. Answers how many
    /// rows went.
    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64>;
    /// The signed-in user behind a session token hash, if the session is live at `now`.
    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>> {
        Ok(self.principal_versions(token_hash, now, None).await?.map(|(p, _)| p))
    }
    /// [`principal`](Self::principal) and, read by the same statement (one round trip), the
    /// versions of the caller's organization and of `watch` (see [`Versions`]).
    async fn principal_versions(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        watch: Option<OrganizationId>,
    ) -> StoreResult<Option<(Principal, Versions)>>;
    /// Counts one attempt against `key` in a fixed window; answers how many attempts the
    /// window holds now and when it ends.
    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    /// Attempts counted against `key` in the current window, and when it ends.
    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;
    /// Counts one attempt against `key` FIRST, in one atomic statement, before the work it
    /// guards is done, so N concurrent attempts see N distinct counts: answers the count
    /// (the attempt may go on while it is at most `limit.limit`) and when the key frees up.
    /// The attempt that reaches the limit locks the key until its window ends, stretched to
    /// the key's current lockout length, which then doubles up to `limit.max_lock_secs`
    /// (remembered that long after the window ends).
    async fn hit(&self, key: &str, limit: &Limit, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)>;
    /// Takes one attempt back from `key`'s current window (an attempt counted first that
    /// turned out to be no failure).
    async fn uncount(&self, key: &str, now: OffsetDateTime) -> StoreResult<()>;
}

/// A counted-first limit: `limit` attempts per window of `window_secs`; each further lockout
/// of the same key lasts twice as long as the one before, up to `max_lock_secs` (a limit with
/// `max_lock_secs <= window_secs` never grows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: i64,
    pub window_secs: i64,
    pub max_lock_secs: i64,
}

impl Limit {
    /// How long after its window a key's lockout length is remembered.
    pub fn remember_secs(&self) -> i64 {
        if self.max_lock_secs > self.window_secs { self.max_lock_secs } else { 0 }
    }
}

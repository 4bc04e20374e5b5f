//! TOTP second factor (RFC 6238): a sealed secret per user, pending until confirmed, the last
//! time step whose code was accepted, and single-use recovery codes stored as SHA-256.
//! The store never sees a secret in clear: the service seals it before it comes here.

use crate::*;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A user's TOTP as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totp {
    pub user_id: UserId,
    /// The secret as the service sealed it (nonce, ciphertext and tag).
    pub sealed_secret: Vec<u8>,
    /// `None` while the enrolment is pending: sign-in does not ask for a code yet.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last time step (Unix time / 30 s) whose code was accepted.
    pub last_used_step: Option<i64>,
}

impl Totp {
    pub fn active(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// What activates a pending enrolment.
#[derive(Debug, Clone)]
pub struct TotpConfirmation {
    /// The sealed secret the confirming code was checked against.
    pub sealed_secret: Vec<u8>,
    /// The step of the confirming code: it counts as used.
    pub step: i64,
    /// SHA-256 of each new recovery code.
    pub recovery_code_hashes: Vec<Vec<u8>>,
    pub now: OffsetDateTime,
}

/// TOTP enrolment, use and removal. Every change but a step's use writes its audit record and
/// events in the same transaction; a step's use is a guard like a rate-limit counter (the
/// sign-in that consumed it is audited as the session it opens).
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The user's TOTP, pending or active.
    async fn totp(&self, user: UserId) -> StoreResult<Option<Totp>>;
    /// Starts an enrolment with a new sealed secret, replacing a pending one;
    /// `Conflict(TOTP_ACTIVE)` when the user already has an active TOTP; `NotFound` when the
    /// user is not in `org`.
    async fn start_totp(
        &self,
        org: OrganizationId,
        user: UserId,
        sealed_secret: Vec<u8>,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()>;
    /// Activates the pending enrolment whose secret is `c.sealed_secret`, with `c.step` as its
    /// last used step, and stores `c.recovery_code_hashes` as the user's only recovery codes.
    /// `Conflict(TOTP_NOT_PENDING)` when that enrolment is no longer pending (confirmed,
    /// replaced or removed meanwhile); `NotFound` when the user is not in `org`.
    async fn confirm_totp(&self, org: OrganizationId, user: UserId, c: TotpConfirmation, change: Change) -> StoreResult<()>;
    /// Records `step` as used if it is later than the last used one, in one atomic statement:
    /// `false` when it is not (a replayed code, or a concurrent use of the same code).
    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
    /// Consumes one unused recovery code of an active TOTP: `false` when there is none with
    /// that hash (the audit record is then not written); `NotFound` when the user is not in
    /// `org`.
    async fn use_recovery_code(&self, org: OrganizationId, user: UserId, code_hash: &[u8], change: Change) -> StoreResult<bool>;
    /// Removes the user's TOTP and recovery codes; `NotFound` when there is none.
    async fn remove_totp(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()>;
}

//! `ServiceError`: only the outcomes a caller branches on. The web layer maps each to one
//! problem+json code of `API.md`; no driver error crosses this line.

use partnerhub_domain::{RemovalBlocker, ValidationErrors};
use partnerhub_store::{StoreError, constraint};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no, bad or expired credentials")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// A uniqueness rule: the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("the partner already has an active relationship with that customer")]
    RelationshipExists,
    #[error("the invitation was already accepted, declined or revoked")]
    InvitationNotPending,
    #[error("the invitation has expired")]
    InvitationExpired,
    #[error("the invitation is bound to another customer")]
    WrongCustomer,
    #[error("the e-mail body must contain the invitation URL")]
    UrlMissingFromEmail,
    #[error("removal needs `attest_good_faith: true`")]
    AttestationRequired,
    #[error("removal is blocked")]
    RemovalBlocked(Vec<RemovalBlocker>),
    #[error("the partner has no active reseller relationship with that customer")]
    NoResellerRelationship,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("no SMTP relay is configured")]
    EmailNotConfigured,
    #[error("the SMTP relay refused the message: {0}")]
    EmailFailed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::BadCursor => ServiceError::Validation(ValidationErrors::one("cursor", "is not a cursor this list handed out")),
            StoreError::Blocked(b) => ServiceError::RemovalBlocked(b),
            StoreError::Conflict { constraint } => match constraint {
                constraint::ACTIVE_RELATIONSHIP => ServiceError::RelationshipExists,
                constraint::INVITATION_NOT_PENDING => ServiceError::InvitationNotPending,
                constraint::DOMAIN_TAKEN => ServiceError::Conflict("that domain is already taken".into()),
                constraint::EMAIL_TAKEN => ServiceError::Conflict("that e-mail address is already taken".into()),
                constraint::PARTNER_ID_TAKEN => ServiceError::Conflict("that partner id is already taken".into()),
                constraint::LAST_GLOBAL_ADMIN => ServiceError::Conflict("an organization must keep at least one global_admin".into()),
                constraint::PROVIDER_LINK_EXISTS => ServiceError::Conflict("these partners are already linked".into()),
                constraint::NOT_A_PROVIDER => ServiceError::Validation(ValidationErrors::one(
                    "provider_id",
                    "the link must join an indirect provider to an indirect reseller",
                )),
                other => ServiceError::Conflict(format!("conflict on {other}")),
            },
            StoreError::Database(m) => ServiceError::Internal(m),
        }
    }
}

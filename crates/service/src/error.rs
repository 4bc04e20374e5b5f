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
    /// Signed in with a temporary password: only the password change is allowed.
    #[error("signed in with a temporary password: change it first (POST /api/v1/me/password)")]
    PasswordChangeRequired,
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
    /// Bounded work (password hashing) is full: try again shortly.
    #[error("the server is busy; try again in {retry_after_secs} seconds")]
    Overloaded { retry_after_secs: u64 },
    /// The user has TOTP and the sign-in gave no valid code.
    #[error("this account needs a TOTP code (or a recovery code) in `totp`")]
    MfaRequired,
    /// `--require-mfa` and the user has no TOTP yet: only enrolment is allowed.
    #[error("this server requires multi-factor authentication for your roles: enrol a TOTP first (POST /api/v1/me/mfa/totp)")]
    MfaEnrollmentRequired,
    /// The same `Idempotency-Key` came with a different body.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyKeyInFlight,
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
            StoreError::Forbidden => ServiceError::Forbidden,
            StoreError::Conflict { constraint } => match constraint {
                constraint::ACTIVE_RELATIONSHIP => ServiceError::RelationshipExists,
                constraint::INVITATION_NOT_PENDING => ServiceError::InvitationNotPending,
                // A renewal whose relationship a removal ended after the service read it:
                // accepting again reads the relationships afresh.
                constraint::RELATIONSHIP_ENDED => {
                    ServiceError::Conflict("the relationship ended while the invitation was being accepted; accept it again".into())
                }
                constraint::DOMAIN_TAKEN => ServiceError::Conflict("that domain is already taken".into()),
                constraint::EMAIL_TAKEN => ServiceError::Conflict("that e-mail address is already taken".into()),
                constraint::PARTNER_ID_TAKEN => ServiceError::Conflict("that partner id is already taken".into()),
                constraint::LAST_GLOBAL_ADMIN => ServiceError::Conflict("an organization must keep at least one global_admin".into()),
                constraint::PROVIDER_LINK_EXISTS => ServiceError::Conflict("these partners are already linked".into()),
                constraint::NOT_A_PROVIDER => ServiceError::Validation(ValidationErrors::one(
                    "provider_id",
                    "the link must join an indirect provider to an indirect reseller",
                )),
                constraint::NO_RESELLER_RELATIONSHIP => ServiceError::NoResellerRelationship,
                constraint::NOT_AN_ACTIVE_RESELLER => {
                    ServiceError::Validation(ValidationErrors::one("reseller_id", "is not one of your active indirect resellers"))
                }
                constraint::OFFER_UNAVAILABLE => {
                    ServiceError::Validation(ValidationErrors::one("items", "names an offer that does not exist or is disabled"))
                }
                constraint::QUANTITY_BELOW_ASSIGNED => {
                    ServiceError::Conflict("the quantity cannot drop below the licenses assigned; release licenses first".into())
                }
                constraint::SUBSCRIPTION_CANCELLED => ServiceError::Conflict("the subscription is cancelled, which is final".into()),
                constraint::SUBSCRIPTION_NOT_ACTIVE => {
                    ServiceError::Conflict("licenses are assigned only from an active subscription".into())
                }
                constraint::NO_SEATS => ServiceError::Conflict("every seat of the subscription is assigned".into()),
                constraint::LICENSE_EXISTS => ServiceError::Conflict("the user already holds a license of that subscription".into()),
                other => ServiceError::Conflict(format!("conflict on {other}")),
            },
            StoreError::Database(m) => ServiceError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relationship_ended_during_acceptance_says_to_accept_again() {
        let e = ServiceError::from(StoreError::Conflict { constraint: constraint::RELATIONSHIP_ENDED });
        assert!(
            matches!(&e, ServiceError::Conflict(m) if m == "the relationship ended while the invitation was being accepted; accept it again"),
            "{e:?}"
        );
    }
}

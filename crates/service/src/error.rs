//! `ServiceError`: only the outcomes a caller branches on. The web layer maps each to one
//! problem+json code of `API.md`; no driver error crosses this line.

use partnerhub_domain::{RemovalBlocker, ValidationErrors};
use partnerhub_store::{StoreError, constraint};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no, bad or expired credentials")]
    Unauthenticated,
    /// The server runs without an operator token: no bearer can call the operator's routes.
    #[error(
        "this server runs without an operator token, so /api/v1/operator/* is disabled: restart it with PARTNERHUB_OPERATOR_TOKEN (or --operator-token) set"
    )]
    OperatorApiDisabled,
    #[error("not allowed")]
    Forbidden,
    /// Signed in with a temporary password: only the password change is allowed.
    #[error("signed in with a temporary password: change it first (POST /api/v1/me/password)")]
    PasswordChangeRequired,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// A rule of the current state refuses the change: which one, so that each face can say it
    /// in its own words.
    #[error("{0}")]
    Conflict(Conflict),
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
    /// The relay answered, and refused the message (an SMTP 4xx or 5xx reply).
    #[error("the SMTP relay refused the message: {0}")]
    EmailFailed(String),
    /// The relay could not be reached or talked to: connection refused, time-out, a name that
    /// does not resolve, TLS.
    #[error("the SMTP relay could not be reached: {0}")]
    EmailUnreachable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The rules of the current state a change can run into (`409 conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A renewal whose relationship a removal ended after the service read it.
    RelationshipEnded,
    DomainTaken,
    EmailTaken,
    PartnerIdTaken,
    LastGlobalAdmin,
    ProviderLinkExists,
    /// A decline of a link that is active already.
    ProviderLinkNotPending,
    ResellerDisconnected,
    QuantityBelowAssigned,
    SubscriptionCancelled,
    SubscriptionNotActive,
    NoSeats,
    LicenseExists,
    TotpActive,
    NoTotpPending,
    EnrolmentChanged,
    /// A store rule this version has no words for (named by its constraint).
    Other(&'static str),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::RelationshipEnded => "the relationship ended while the invitation was being accepted; accept it again",
            Conflict::DomainTaken => "that domain is already taken",
            Conflict::EmailTaken => "that e-mail address is already taken",
            Conflict::PartnerIdTaken => "that partner id is already taken",
            Conflict::LastGlobalAdmin => "an organization must keep at least one global_admin",
            Conflict::ProviderLinkExists => "these partners are already linked",
            Conflict::ProviderLinkNotPending => "the link is active, not a pending request: end it instead",
            Conflict::ResellerDisconnected => "the reseller is no longer connected to that indirect provider",
            Conflict::QuantityBelowAssigned => "the quantity cannot drop below the licenses assigned; release licenses first",
            Conflict::SubscriptionCancelled => "the subscription is cancelled, which is final",
            Conflict::SubscriptionNotActive => "licenses are assigned only from an active subscription",
            Conflict::NoSeats => "every seat of the subscription is assigned",
            Conflict::LicenseExists => "the user already holds a license of that subscription",
            Conflict::TotpActive => "TOTP is already active: remove it first (DELETE /api/v1/me/mfa/totp)",
            Conflict::NoTotpPending => "no TOTP enrolment is pending: start one (POST /api/v1/me/mfa/totp)",
            Conflict::EnrolmentChanged => "the enrolment changed meanwhile: start again",
            Conflict::Other(constraint) => return write!(f, "conflict on {constraint}"),
        })
    }
}

impl From<Conflict> for ServiceError {
    fn from(c: Conflict) -> Self {
        ServiceError::Conflict(c)
    }
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
                constraint::RELATIONSHIP_ENDED => Conflict::RelationshipEnded.into(),
                constraint::DOMAIN_TAKEN => Conflict::DomainTaken.into(),
                constraint::EMAIL_TAKEN => Conflict::EmailTaken.into(),
                constraint::PARTNER_ID_TAKEN => Conflict::PartnerIdTaken.into(),
                constraint::LAST_GLOBAL_ADMIN => Conflict::LastGlobalAdmin.into(),
                constraint::PROVIDER_LINK_EXISTS => Conflict::ProviderLinkExists.into(),
                constraint::PROVIDER_LINK_NOT_PENDING => Conflict::ProviderLinkNotPending.into(),
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
                constraint::QUANTITY_BELOW_ASSIGNED => Conflict::QuantityBelowAssigned.into(),
                constraint::SUBSCRIPTION_CANCELLED => Conflict::SubscriptionCancelled.into(),
                constraint::SUBSCRIPTION_NOT_ACTIVE => Conflict::SubscriptionNotActive.into(),
                constraint::NO_SEATS => Conflict::NoSeats.into(),
                constraint::LICENSE_EXISTS => Conflict::LicenseExists.into(),
                other => Conflict::Other(other).into(),
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
            matches!(&e, ServiceError::Conflict(Conflict::RelationshipEnded))
                && e.to_string() == "the relationship ended while the invitation was being accepted; accept it again",
            "{e:?}"
        );
    }
}

//! The partnerhub domain: ids, validated values, the invitation, relationship and grant
//! state machines and the role allow-table. Pure and synchronous: no I/O, no clock reads.

pub mod authz;
pub mod clock;
pub mod commerce;
pub mod delegation;
pub mod ids;
pub mod invitation;
pub mod values;

pub use authz::{Action, OrgKind, Role, allowed};
pub use clock::{Clock, ManualClock, SystemClock};
pub use commerce::{Currency, SubscriptionStatus};
pub use delegation::TenantAction;
pub use ids::*;
pub use invitation::{DelegatedRole, InvitationState, InvitationTerms};
pub use values::*;

use serde::Serialize;

/// One field that failed validation; the API reports these under `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

/// Input that does not fit the rules; carries every failing field, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("validation failed: {0:?}")]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}

/// Collects field errors while parsing a request, then yields all of them at once.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn check<T>(&mut self, result: Result<T, ValidationErrors>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.extend(e.0);
                None
            }
        }
    }
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(ValidationErrors(self.0)) }
    }
}

/// Why a relationship cannot be removed yet. Each kind of blocker is found by its own
/// query in the store; the commerce work adds `active_subscription` without reshaping this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovalBlocker {
    pub kind: String,
    pub id: uuid::Uuid,
    pub name: String,
}

/// The legal reminder shown with every removal (from the seed): partnerhub does not send
/// the notice of termination a contract may require.
pub const LEGAL_NOTICE: &str = "partnerhub does not send a notice of termination to the customer. \
If your agreement with the customer or partner requires a legal notice of termination, you must send it yourself.";

/// The good-faith statement the partner attests before a removal (from the seed).
pub const GOOD_FAITH_STATEMENT: &str = "The decision to end the relationship with this customer was made in good faith, \
for legitimate business purposes and in accordance with your agreement with the customer or partner.";

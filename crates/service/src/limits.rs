//! The limits of what one client or one organization may start in an hour
//! (docs/accounts.md, "Rate limits"): sign-ups, customer creations and invitation sendings.
//! Counted first: the attempt is counted by one atomic statement before anything else runs,
//! so concurrent attempts cannot slip past the limit.

use crate::{Caller, Service, ServiceResult};
use partnerhub_domain::Action;
use partnerhub_store::Limit;

const HOUR: i64 = 60 * 60;

/// `limit` per hour, then refused until the hour ends (no growing lockout).
fn hourly(limit: i64) -> Limit {
    Limit { limit, window_secs: HOUR, max_lock_secs: 0 }
}

/// What is limited, and by how much per hour: (per client, per organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `POST /signup`: 10 per client (anonymous).
    SignUp,
    /// `POST /customers`: 30 per client, 200 per organization.
    CustomerCreation,
    /// `POST /invitations/{id}/send`: 60 per client, 500 per organization.
    InvitationSend,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Limited::SignUp => "sign-up",
            Limited::CustomerCreation => "customers",
            Limited::InvitationSend => "invitation-send",
        }
    }

    /// (per client, per organization) in an hour.
    pub fn per_hour(self) -> (i64, Option<i64>) {
        match self {
            Limited::SignUp => (10, None),
            Limited::CustomerCreation => (30, Some(200)),
            Limited::InvitationSend => (60, Some(500)),
        }
    }

    /// What the caller must be allowed to do for its attempts to count against its
    /// organization (a caller without the role is refused before it can spend the budget).
    fn action(self) -> Option<Action> {
        match self {
            Limited::SignUp => None,
            Limited::CustomerCreation => Some(Action::CustomersCreate),
            Limited::InvitationSend => Some(Action::InvitationsManage),
        }
    }
}

impl Service {
    /// Counts one attempt of `what` by `caller` from `client`, and refuses it with 429 (and
    /// when to retry) once the client's or the organization's hour is used up. The
    /// organization's count is not spent by a client already refused.
    pub async fn admit(&self, what: Limited, caller: &Caller, client: &str) -> ServiceResult<()> {
        let org = match what.action() {
            Some(action) => Some(caller.require(action)?.organization.id),
            None => None,
        };
        let (per_client, per_org) = what.per_hour();
        self.count_first(&format!("{}:client:{client}", what.name()), &hourly(per_client)).await?;
        if let (Some(org), Some(limit)) = (org, per_org) {
            self.count_first(&format!("{}:org:{}", what.name(), org.0), &hourly(limit)).await?;
        }
        Ok(())
    }
}

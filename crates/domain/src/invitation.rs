//! The invitation state machine and the bounds on what an invitation may ask for.

use crate::{ValidationErrors, Validator};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A delegated admin role a partner asks for in the customer's tenant (GDAP-style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegatedRole {
    GlobalAdmin,
    UserAdmin,
    LicenseAdmin,
    HelpdeskAdmin,
    BillingAdmin,
    GlobalReader,
}

impl DelegatedRole {
    pub const ALL: [DelegatedRole; 6] = [
        DelegatedRole::GlobalAdmin,
        DelegatedRole::UserAdmin,
        DelegatedRole::LicenseAdmin,
        DelegatedRole::HelpdeskAdmin,
        DelegatedRole::BillingAdmin,
        DelegatedRole::GlobalReader,
    ];
    pub const DEFAULT: [DelegatedRole; 3] = [DelegatedRole::UserAdmin, DelegatedRole::LicenseAdmin, DelegatedRole::HelpdeskAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            DelegatedRole::GlobalAdmin => "global_admin",
            DelegatedRole::UserAdmin => "user_admin",
            DelegatedRole::LicenseAdmin => "license_admin",
            DelegatedRole::HelpdeskAdmin => "helpdesk_admin",
            DelegatedRole::BillingAdmin => "billing_admin",
            DelegatedRole::GlobalReader => "global_reader",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Declined => "declined",
            InvitationState::Revoked => "revoked",
            InvitationState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Declined, Self::Revoked, Self::Expired].into_iter().find(|st| st.as_str() == s)
    }

    /// The state as the world sees it: a pending invitation past `expires_at` is expired,
    /// whether or not anything has written that down yet.
    pub fn effective(self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Self {
        if self == Self::Pending && now >= expires_at { Self::Expired } else { self }
    }

    /// Whether a customer may still accept or decline, or the partner revoke: only a pending,
    /// unexpired invitation. Accepted, declined, revoked and expired are terminal.
    pub fn check_open(self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Result<(), InvitationClosed> {
        match self.effective(expires_at, now) {
            Self::Pending => Ok(()),
            Self::Expired => Err(InvitationClosed::Expired),
            _ => Err(InvitationClosed::NotPending),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvitationClosed {
    #[error("the invitation is no longer pending")]
    NotPending,
    #[error("the invitation has expired")]
    Expired,
}

pub const MAX_GRANT_DAYS: i64 = 730;
pub const DEFAULT_GRANT_DAYS: i64 = 365;
pub const MAX_INVITATION_DAYS: i64 = 90;

/// What an invitation asks of the customer, within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationTerms {
    pub roles: Vec<DelegatedRole>,
    pub duration_days: i64,
    pub auto_extend: bool,
    pub expires_in_days: i64,
}

impl InvitationTerms {
    pub fn parse(
        roles: Option<&[String]>,
        duration_days: Option<i64>,
        auto_extend: Option<bool>,
        expires_in_days: Option<i64>,
    ) -> Result<Self, ValidationErrors> {
        let mut v = Validator::default();
        let roles = match roles {
            None => DelegatedRole::DEFAULT.to_vec(),
            Some([]) => {
                v.push("roles", "ask for at least one role");
                vec![]
            }
            Some(names) => {
                let mut out = Vec::new();
                for name in names {
                    match DelegatedRole::parse(name) {
                        Some(r) if !out.contains(&r) => out.push(r),
                        Some(_) => v.push("roles", format!("`{name}` is listed twice")),
                        None => v.push("roles", format!("`{name}` is not a delegated admin role")),
                    }
                }
                out.sort();
                out
            }
        };
        let duration_days = duration_days.unwrap_or(DEFAULT_GRANT_DAYS);
        if !(1..=MAX_GRANT_DAYS).contains(&duration_days) {
            v.push("duration_days", format!("must be between 1 and {MAX_GRANT_DAYS}"));
        }
        let auto_extend = auto_extend.unwrap_or(false);
        if auto_extend && roles.contains(&DelegatedRole::GlobalAdmin) {
            v.push("auto_extend", "a grant of global_admin is never extended automatically");
        }
        let expires_in_days = expires_in_days.unwrap_or(MAX_INVITATION_DAYS);
        if !(1..=MAX_INVITATION_DAYS).contains(&expires_in_days) {
            v.push("expires_in_days", format!("must be between 1 and {MAX_INVITATION_DAYS}"));
        }
        v.finish()?;
        Ok(Self { roles, duration_days, auto_extend, expires_in_days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::{Duration, macros::datetime};

    #[test]
    fn defaults_follow_the_contract() {
        let t = InvitationTerms::parse(None, None, None, None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(t.roles, DelegatedRole::DEFAULT.to_vec());
        assert_eq!((t.duration_days, t.auto_extend, t.expires_in_days), (365, false, 90));
    }

    #[test]
    fn auto_extension_is_refused_with_global_admin() {
        let roles = vec!["global_admin".to_owned()];
        let e = InvitationTerms::parse(Some(&roles), None, Some(true), None);
        assert_eq!(e.err().map(|e| e.0[0].field.clone()).as_deref(), Some("auto_extend"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let roles = vec!["root".to_owned()];
        let e = InvitationTerms::parse(Some(&roles), Some(731), None, Some(0)).err();
        let fields: Vec<_> = e.map(|e| e.0.into_iter().map(|f| f.field).collect()).unwrap_or_default();
        assert_eq!(fields, ["roles", "duration_days", "expires_in_days"]);
    }

    proptest::proptest! {
        #[test]
        fn durations_are_bounded(d in -1000i64..2000, x in -100i64..200) {
            let ok = InvitationTerms::parse(None, Some(d), None, Some(x)).is_ok();
            proptest::prop_assert_eq!(ok, (1..=730).contains(&d) && (1..=90).contains(&x));
        }

        /// Only a pending invitation before its expiry may be answered; every other state is terminal.
        #[test]
        fn only_pending_and_unexpired_is_open(state_ix in 0usize..5, offset in -100i64..100) {
            let states = [InvitationState::Pending, InvitationState::Accepted, InvitationState::Declined, InvitationState::Revoked, InvitationState::Expired];
            let state = states[state_ix];
            let expires = datetime!(2030-01-01 0:00 UTC);
            let now = expires + Duration::seconds(offset);
            let open = state.check_open(expires, now).is_ok();
            proptest::prop_assert_eq!(open, state == InvitationState::Pending && offset < 0);
        }
    }
}

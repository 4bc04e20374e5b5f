//! Delegated administration: what a partner user may do in a customer's tenant through the
//! grants the customer gave the partner. The allow-table says which partner roles may try an
//! action at all; this table says which granted roles enable it, which granted roles each
//! partner role may use, and what it takes to act on the tenant's own admins.
//! The store calls [`authorize`] inside the transaction that acts, with the grants as they
//! are then, so a revocation is honoured by the very next request.

use crate::{DelegatedRole, Role};

/// An action in a customer's tenant that needs a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantAction {
    ReadUsers,
    ManageUsers,
    ResetPassword,
    ManageLicenses,
}

impl TenantAction {
    pub const ALL: [TenantAction; 4] =
        [TenantAction::ReadUsers, TenantAction::ManageUsers, TenantAction::ResetPassword, TenantAction::ManageLicenses];

    /// The granted roles that enable this action.
    pub fn enabled_by(self) -> &'static [DelegatedRole] {
        use DelegatedRole::*;
        match self {
            TenantAction::ReadUsers => &[GlobalAdmin, UserAdmin, HelpdeskAdmin, LicenseAdmin, GlobalReader],
            TenantAction::ManageUsers => &[GlobalAdmin, UserAdmin],
            TenantAction::ResetPassword => &[GlobalAdmin, UserAdmin, HelpdeskAdmin],
            TenantAction::ManageLicenses => &[GlobalAdmin, UserAdmin, LicenseAdmin],
        }
    }
}

/// The granted roles a partner user holding `roles` may use: an admin agent any, a helpdesk
/// agent only `helpdesk_admin` and `global_reader`, anyone else none.
pub fn usable(roles: &[Role]) -> Vec<DelegatedRole> {
    if roles.contains(&Role::AdminAgent) {
        DelegatedRole::ALL.to_vec()
    } else if roles.contains(&Role::HelpdeskAgent) {
        vec![DelegatedRole::HelpdeskAdmin, DelegatedRole::GlobalReader]
    } else {
        Vec::new()
    }
}

/// Why the grants do not allow an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("no live grant of a role that allows this")]
    NoFittingGrant,
    #[error("acting on a customer global admin, or giving that role, needs a live global_admin grant")]
    GlobalAdminTarget,
    #[error("acting on a customer admin needs a live global_admin or user_admin grant")]
    AdminTarget,
}

/// May a partner user holding `agent_roles` take `action` in a tenant where the partner holds
/// the live grants `granted`? `target` is the customer roles of the user acted on (if any) and
/// `giving` the customer roles the action would give them.
pub fn authorize(
    action: TenantAction,
    agent_roles: &[Role],
    granted: &[DelegatedRole],
    target: Option<&[Role]>,
    giving: &[Role],
) -> Result<(), Denied> {
    let usable = usable(agent_roles);
    let effective: Vec<DelegatedRole> = granted.iter().copied().filter(|g| usable.contains(g)).collect();
    if !effective.iter().any(|g| action.enabled_by().contains(g)) {
        return Err(Denied::NoFittingGrant);
    }
    let changes_someone = !matches!(action, TenantAction::ReadUsers);
    let target = target.unwrap_or(&[]);
    let holds = |r: DelegatedRole| effective.contains(&r);
    if changes_someone && (target.contains(&Role::GlobalAdmin) || giving.contains(&Role::GlobalAdmin)) && !holds(DelegatedRole::GlobalAdmin)
    {
        return Err(Denied::GlobalAdminTarget);
    }
    let admin = |roles: &[Role]| roles.iter().any(|r| matches!(r, Role::UserAdmin | Role::BillingAdmin));
    if changes_someone && (admin(target) || admin(giving)) && !(holds(DelegatedRole::GlobalAdmin) || holds(DelegatedRole::UserAdmin)) {
        return Err(Denied::AdminTarget);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DelegatedRole as G;
    use Role::*;

    #[test]
    fn an_admin_agent_uses_every_granted_role_and_a_helpdesk_agent_only_two() {
        assert_eq!(usable(&[AdminAgent]), G::ALL.to_vec());
        assert_eq!(usable(&[HelpdeskAgent]), vec![G::HelpdeskAdmin, G::GlobalReader]);
        for other in [GlobalAdmin, SalesAgent, BillingAdmin] {
            assert!(usable(&[other]).is_empty(), "{other:?}");
        }
    }

    #[test]
    fn a_helpdesk_agent_resets_passwords_of_ordinary_users_and_nothing_more() {
        let granted = G::ALL;
        assert_eq!(authorize(TenantAction::ResetPassword, &[HelpdeskAgent], &granted, Some(&[]), &[]), Ok(()));
        assert_eq!(authorize(TenantAction::ReadUsers, &[HelpdeskAgent], &granted, None, &[]), Ok(()));
        assert_eq!(authorize(TenantAction::ManageUsers, &[HelpdeskAgent], &granted, None, &[]), Err(Denied::NoFittingGrant));
        assert_eq!(authorize(TenantAction::ManageLicenses, &[HelpdeskAgent], &granted, None, &[]), Err(Denied::NoFittingGrant));
        assert_eq!(authorize(TenantAction::ResetPassword, &[HelpdeskAgent], &granted, Some(&[UserAdmin]), &[]), Err(Denied::AdminTarget));
    }

    #[test]
    fn a_customer_global_admin_is_touched_only_with_a_global_admin_grant() {
        let without = [G::UserAdmin, G::LicenseAdmin, G::HelpdeskAdmin];
        for action in [TenantAction::ManageUsers, TenantAction::ResetPassword] {
            assert_eq!(authorize(action, &[AdminAgent], &without, Some(&[GlobalAdmin]), &[]), Err(Denied::GlobalAdminTarget));
            assert_eq!(authorize(action, &[AdminAgent], &[G::GlobalAdmin], Some(&[GlobalAdmin]), &[]), Ok(()));
        }
        assert_eq!(authorize(TenantAction::ManageUsers, &[AdminAgent], &without, None, &[GlobalAdmin]), Err(Denied::GlobalAdminTarget));
        assert_eq!(authorize(TenantAction::ReadUsers, &[AdminAgent], &without, Some(&[GlobalAdmin]), &[]), Ok(()));
    }

    #[test]
    fn no_grant_no_action_whatever_the_role() {
        for action in TenantAction::ALL {
            for role in [GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin] {
                assert_eq!(authorize(action, &[role], &[], None, &[]), Err(Denied::NoFittingGrant));
            }
        }
    }

    proptest::proptest! {
        /// More grants never take a permission away, nor does using more roles.
        #[test]
        fn more_grants_never_deny_more(mask in 0u8..64, extra in 0usize..6, action_ix in 0usize..4, target_ix in 0usize..4) {
            let granted: Vec<G> = G::ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, g)| *g).collect();
            let mut more = granted.clone();
            more.push(G::ALL[extra]);
            let targets: [&[Role]; 4] = [&[], &[GlobalAdmin], &[UserAdmin], &[BillingAdmin]];
            let action = TenantAction::ALL[action_ix];
            let t = Some(targets[target_ix]);
            proptest::prop_assert!(authorize(action, &[AdminAgent], &granted, t, &[]).is_err() || authorize(action, &[AdminAgent], &more, t, &[]).is_ok());
        }
    }
}

//! The allow-table: which role, in which kind of organization, may take which action.
//! This is the only place that answers "may this user do that"; the README shows it as a
//! table and a test checks the two agree, pair by pair.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Partner,
    Customer,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Partner => "partner",
            OrgKind::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "partner" => Some(OrgKind::Partner),
            "customer" => Some(OrgKind::Customer),
            _ => None,
        }
    }
    /// The roles a user of this kind of organization may hold.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            OrgKind::Partner => &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin],
            OrgKind::Customer => &[GlobalAdmin, UserAdmin, BillingAdmin],
        }
    }
}

/// A role held by a user in its own organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    GlobalAdmin,
    AdminAgent,
    SalesAgent,
    HelpdeskAgent,
    BillingAdmin,
    UserAdmin,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::GlobalAdmin, Role::AdminAgent, Role::SalesAgent, Role::HelpdeskAgent, Role::BillingAdmin, Role::UserAdmin];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GlobalAdmin => "global_admin",
            Role::AdminAgent => "admin_agent",
            Role::SalesAgent => "sales_agent",
            Role::HelpdeskAgent => "helpdesk_agent",
            Role::BillingAdmin => "billing_admin",
            Role::UserAdmin => "user_admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Everything a signed-in user can ask for that the allow-table rules on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CustomersList,
    CustomersRead,
    CustomersCreate,
    RelationshipsRemove,
    GrantsRead,
    InvitationsManage,
    ProviderLinksRead,
    ProviderLinksManage,
    InvitationsRespond,
    PartnersRead,
    PartnersManage,
    UsersRead,
    UsersManage,
    AuditRead,
    OffersRead,
    OrdersCreate,
    SubscriptionsRead,
    SubscriptionsManage,
    CustomerUsersRead,
    CustomerUsersManage,
    CustomerUsersResetPassword,
    LicensesManage,
    OwnSubscriptionsRead,
    WebhooksManage,
}

use Role::*;

/// (action, partner roles allowed, customer roles allowed). A user holding several roles is
/// allowed when any of them is.
pub const ALLOW_TABLE: &[(Action, &str, &[Role], &[Role])] = &[
    (Action::CustomersList, "customers.list", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::CustomersRead, "customers.read", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::CustomersCreate, "customers.create", &[GlobalAdmin, AdminAgent, SalesAgent], &[]),
    (Action::RelationshipsRemove, "relationships.remove", &[GlobalAdmin, AdminAgent], &[]),
    (Action::GrantsRead, "grants.read", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::InvitationsManage, "invitations.manage", &[GlobalAdmin, AdminAgent], &[]),
    (Action::ProviderLinksRead, "provider_links.read", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::ProviderLinksManage, "provider_links.manage", &[GlobalAdmin], &[]),
    (Action::InvitationsRespond, "invitations.respond", &[], &[GlobalAdmin]),
    (Action::PartnersRead, "partners.read", &[], &[GlobalAdmin]),
    (Action::PartnersManage, "partners.manage", &[], &[GlobalAdmin]),
    (Action::UsersRead, "users.read", &[GlobalAdmin], &[GlobalAdmin, UserAdmin]),
    (Action::UsersManage, "users.manage", &[GlobalAdmin], &[GlobalAdmin, UserAdmin]),
    (Action::AuditRead, "audit.read", &[GlobalAdmin], &[GlobalAdmin]),
    (Action::OffersRead, "offers.read", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::OrdersCreate, "orders.create", &[GlobalAdmin, AdminAgent, SalesAgent], &[]),
    (Action::SubscriptionsRead, "subscriptions.read", &[GlobalAdmin, AdminAgent, SalesAgent, HelpdeskAgent, BillingAdmin], &[]),
    (Action::SubscriptionsManage, "subscriptions.manage", &[GlobalAdmin, AdminAgent, SalesAgent], &[]),
    // Acting in a customer's tenant: the grants decide further (see `delegation`).
    (Action::CustomerUsersRead, "customer_users.read", &[AdminAgent, HelpdeskAgent], &[]),
    (Action::CustomerUsersManage, "customer_users.manage", &[AdminAgent], &[]),
    (Action::CustomerUsersResetPassword, "customer_users.reset_password", &[AdminAgent, HelpdeskAgent], &[]),
    (Action::LicensesManage, "licenses.manage", &[AdminAgent], &[]),
    (Action::OwnSubscriptionsRead, "own_subscriptions.read", &[], &[GlobalAdmin, BillingAdmin]),
    (Action::WebhooksManage, "webhooks.manage", &[GlobalAdmin], &[GlobalAdmin]),
];

impl Action {
    pub fn name(self) -> &'static str {
        ALLOW_TABLE.iter().find(|row| row.0 == self).map(|row| row.1).unwrap_or("unknown")
    }

    /// The action in a customer's tenant that this one takes through the grants, if any.
    pub fn in_tenant(self) -> Option<crate::TenantAction> {
        use crate::TenantAction as T;
        match self {
            Action::CustomerUsersRead => Some(T::ReadUsers),
            Action::CustomerUsersManage => Some(T::ManageUsers),
            Action::CustomerUsersResetPassword => Some(T::ResetPassword),
            Action::LicensesManage => Some(T::ManageLicenses),
            _ => None,
        }
    }
}

/// May a user of an organization of `kind`, holding `roles`, take `action`?
pub fn allowed(kind: OrgKind, roles: &[Role], action: Action) -> bool {
    let Some((_, _, partner, customer)) = ALLOW_TABLE.iter().find(|row| row.0 == action) else {
        return false;
    };
    let permitted = match kind {
        OrgKind::Partner => partner,
        OrgKind::Customer => customer,
    };
    // A role that does not belong to this kind of organization never counts.
    roles.iter().any(|r| kind.roles().contains(r) && permitted.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_row() {
        for (i, row) in ALLOW_TABLE.iter().enumerate() {
            assert_eq!(ALLOW_TABLE.iter().filter(|r| r.0 == row.0).count(), 1, "row {i}");
        }
    }

    #[test]
    fn a_role_of_the_other_kind_of_organization_is_never_allowed_anything() {
        for (action, _, _, _) in ALLOW_TABLE {
            assert!(!allowed(OrgKind::Customer, &[AdminAgent, SalesAgent, HelpdeskAgent], *action));
            assert!(!allowed(OrgKind::Partner, &[UserAdmin], *action));
        }
    }

    #[test]
    fn no_roles_allow_nothing() {
        for (action, _, _, _) in ALLOW_TABLE {
            assert!(!allowed(OrgKind::Partner, &[], *action));
            assert!(!allowed(OrgKind::Customer, &[], *action));
        }
    }

    /// The README's table, parsed: (action name, partner roles, customer roles).
    fn readme_table() -> Vec<(String, Vec<String>, Vec<String>)> {
        let readme = include_str!("../../../README.md");
        let start = readme.find("<!-- allow-table -->").expect("README has the allow-table");
        let end = readme.find("<!-- /allow-table -->").expect("README closes the allow-table");
        let roles = |cell: &str| cell.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect::<Vec<_>>();
        readme[start..end]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), roles(cells[3]), roles(cells[4]))
            })
            .collect()
    }

    #[test]
    fn the_code_allows_exactly_what_the_readme_table_says_for_every_role_and_action() {
        let table = readme_table();
        assert_eq!(table.len(), ALLOW_TABLE.len(), "one README row per action");
        for (action, name, _, _) in ALLOW_TABLE {
            let (_, partner, customer) =
                table.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("{name} is missing from the README"));
            for kind in [OrgKind::Partner, OrgKind::Customer] {
                let documented = if kind == OrgKind::Partner { partner } else { customer };
                for role in Role::ALL {
                    let expected = documented.iter().any(|r| r == role.as_str());
                    assert_eq!(allowed(kind, &[role], *action), expected, "{name}: {} {}", kind.as_str(), role.as_str());
                }
            }
        }
    }

    /// A partner role may try a tenant action exactly when some granted role it may use enables
    /// it: the allow-table and the delegation table cannot disagree.
    #[test]
    fn the_allow_table_lets_a_role_try_a_tenant_action_exactly_when_a_usable_grant_enables_it() {
        for (action, name, _, _) in ALLOW_TABLE {
            let Some(tenant) = action.in_tenant() else { continue };
            for role in OrgKind::Partner.roles() {
                let reachable = crate::delegation::usable(&[*role]).iter().any(|g| tenant.enabled_by().contains(g));
                assert_eq!(allowed(OrgKind::Partner, &[*role], *action), reachable, "{name}: {}", role.as_str());
            }
        }
    }

    proptest::proptest! {
        /// Holding more roles never takes a permission away.
        #[test]
        fn roles_are_monotonic(mask in 0u8..64, extra in 0usize..6, action_ix in 0usize..64, partner: bool) {
            let kind = if partner { OrgKind::Partner } else { OrgKind::Customer };
            let roles: Vec<Role> = Role::ALL.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, r)| *r).collect();
            let mut more = roles.clone();
            more.push(Role::ALL[extra]);
            let action = ALLOW_TABLE[action_ix % ALLOW_TABLE.len()].0;
            proptest::prop_assert!(!allowed(kind, &roles, action) || allowed(kind, &more, action));
        }
    }
}

//! A partner agent acting in a customer's tenant through the grants the customer gave: the
//! tenant's users, their passwords and their licenses; and the customer's own view of its
//! users' licenses. The allow-table says which partner roles may try; the store decides with
//! the grants as they are in the transaction that acts (`delegation::authorize`), so a
//! revoked or expired grant stops working on the very next request.

use crate::auth::temporary_password;
use crate::organizations::parse_roles;
use crate::{Caller, Service, ServiceError, ServiceResult};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::{Value, json};

pub struct NewTenantUserInput {
    pub email: String,
    pub display_name: String,
    /// Customer roles; none makes a user without an admin role.
    pub roles: Vec<String>,
}

impl Service {
    /// Authorizes `action` by the allow-table and describes it for the store's check of the
    /// grants.
    fn tenant_access<'c>(
        &self,
        caller: &'c Caller,
        customer: OrganizationId,
        action: Action,
    ) -> ServiceResult<(&'c Principal, TenantAccess)> {
        let p = caller.require(action)?;
        let in_tenant = action.in_tenant().ok_or_else(|| ServiceError::Internal(format!("{} is not a tenant action", action.name())))?;
        let access =
            TenantAccess { partner: p.organization.id, customer, agent_roles: p.user.roles.clone(), action: in_tenant, now: self.now() };
        Ok((p, access))
    }

    /// What a partner did in a tenant: seen by the partner and by the customer, with one event
    /// of the same name sent to `notify`.
    fn tenant_change(
        &self,
        caller: &Caller,
        access: &TenantAccess,
        action: &'static str,
        target: Value,
        data: Value,
        notify: OrganizationId,
    ) -> Change {
        let mut change = self.change(caller, action, target, Some(access.customer), data.clone(), vec![access.partner, access.customer]);
        let mut event = data;
        event["customer_id"] = json!(access.customer);
        event["partner_id"] = json!(access.partner);
        change.events.push(self.event(action, notify, event));
        change
    }

    pub async fn tenant_users(&self, caller: &Caller, customer: OrganizationId, page: PageQuery) -> ServiceResult<Page<User>> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersRead)?;
        Ok(self.store.tenant_users(&access, &page).await?)
    }

    /// A user of the customer with a temporary password, shown once.
    pub async fn create_tenant_user(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        input: NewTenantUserInput,
    ) -> ServiceResult<(User, String)> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersManage)?;
        let mut v = Validator::default();
        let email = v.check(Email::parse("email", &input.email));
        let name = v.check(DisplayName::parse("display_name", &input.display_name));
        let roles = v.check(parse_roles(OrgKind::Customer, &input.roles));
        v.finish()?;
        let (Some(email), Some(name), Some(roles)) = (email, name, roles) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        let password = temporary_password();
        let user = NewUser {
            id: UserId::new(),
            organization_id: customer,
            email: email.as_str().to_owned(),
            display_name: name.as_str().to_owned(),
            password_hash: self.config.password_hasher.hash(&Password::parse("password", &password)?).await?,
            roles,
            // The partner saw this password: it is only good for setting a new one.
            password_change_required: true,
            created_at: self.now(),
        };
        let change = self.tenant_change(
            caller,
            &access,
            "user.created",
            json!({"type": "user", "id": user.id}),
            json!({"user_id": user.id, "email": user.email, "roles": user.roles}),
            customer,
        );
        let created = self.store.create_tenant_user(&access, user, change).await?;
        Ok((created, password))
    }

    pub async fn update_tenant_user(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        user: UserId,
        roles: Option<Vec<String>>,
        display_name: Option<String>,
    ) -> ServiceResult<User> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersManage)?;
        let mut v = Validator::default();
        let roles = roles.and_then(|r| v.check(parse_roles(OrgKind::Customer, &r)));
        let name = display_name.and_then(|n| v.check(DisplayName::parse("display_name", &n)));
        v.finish()?;
        let change = self.tenant_change(
            caller,
            &access,
            "user.updated",
            json!({"type": "user", "id": user}),
            json!({"user_id": user, "roles": roles, "display_name": name.as_ref().map(|n| n.as_str())}),
            customer,
        );
        let patch = UserPatch { roles, display_name: name.map(|n| n.as_str().to_owned()), locale: None };
        Ok(self.store.update_tenant_user(&access, user, patch, change).await?)
    }

    /// Deletes the user, ends their sessions and releases their licenses.
    pub async fn delete_tenant_user(&self, caller: &Caller, customer: OrganizationId, user: UserId) -> ServiceResult<()> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersManage)?;
        let change =
            self.tenant_change(caller, &access, "user.deleted", json!({"type": "user", "id": user}), json!({"user_id": user}), customer);
        Ok(self.store.delete_tenant_user(&access, user, change).await?)
    }

    /// A temporary password for a user of the customer, shown once; their sessions end.
    pub async fn reset_tenant_user_password(&self, caller: &Caller, customer: OrganizationId, user: UserId) -> ServiceResult<String> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersResetPassword)?;
        let password = temporary_password();
        let hash = self.config.password_hasher.hash(&Password::parse("password", &password)?).await?;
        let change = self.tenant_change(
            caller,
            &access,
            "user.password_reset",
            json!({"type": "user", "id": user}),
            json!({"user_id": user}),
            customer,
        );
        self.store.reset_tenant_user_password(&access, user, hash, change).await?;
        Ok(password)
    }

    /// One seat of an active subscription of the customer to one of its users.
    pub async fn assign_license(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        user: UserId,
        subscription: SubscriptionId,
    ) -> ServiceResult<License> {
        let (p, access) = self.tenant_access(caller, customer, Action::LicensesManage)?;
        let change = self.tenant_change(
            caller,
            &access,
            "license.assigned",
            json!({"type": "license", "subscription_id": subscription, "user_id": user}),
            json!({"subscription_id": subscription, "user_id": user}),
            p.organization.id,
        );
        Ok(self.store.assign_license(&access, user, subscription, change).await?)
    }

    pub async fn release_license(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        user: UserId,
        subscription: SubscriptionId,
    ) -> ServiceResult<()> {
        let (p, access) = self.tenant_access(caller, customer, Action::LicensesManage)?;
        let change = self.tenant_change(
            caller,
            &access,
            "license.released",
            json!({"type": "license", "subscription_id": subscription, "user_id": user}),
            json!({"subscription_id": subscription, "user_id": user}),
            p.organization.id,
        );
        Ok(self.store.release_license(&access, user, subscription, change).await?)
    }

    /// A page of a tenant user's licenses, for a partner agent who may read the tenant's users.
    pub async fn tenant_user_licenses(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        user: UserId,
        page: PageQuery,
    ) -> ServiceResult<Page<License>> {
        let (_, access) = self.tenant_access(caller, customer, Action::CustomerUsersRead)?;
        Ok(self.store.tenant_user_licenses(&access, user, &page).await?)
    }

    /// A page of the licenses of a user of the caller's own organization (another
    /// organization's user reads as missing, not as one without licenses).
    pub async fn user_licenses(&self, caller: &Caller, user: UserId, page: PageQuery) -> ServiceResult<Page<License>> {
        let p = caller.require(Action::UsersRead)?;
        Ok(self.store.user_licenses(p.organization.id, user, &page).await?)
    }
}

//! Organizations and their users: operator enrollment of partners, customer sign-up, users
//! of one's own organization, and links between indirect providers and resellers.

use crate::auth::temporary_password;
use crate::{Caller, Service, ServiceError, ServiceResult};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;

pub struct NewPartnerInput {
    pub name: String,
    pub partner_type: String,
    pub partner_id: String,
    pub domain: String,
    pub admin_email: String,
    pub admin_display_name: String,
    pub admin_password: String,
}

pub struct SignupInput {
    pub name: String,
    pub domain: String,
    pub admin_email: String,
    pub admin_display_name: String,
    pub admin_password: String,
}

pub struct NewUserInput {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<String>,
}

/// Parses role names for a user of an organization of `kind`.
pub(crate) fn parse_roles(kind: OrgKind, names: &[String]) -> Result<Vec<Role>, ValidationErrors> {
    let mut v = Validator::default();
    let mut out = Vec::new();
    for n in names {
        match Role::parse(n) {
            Some(r) if kind.roles().contains(&r) => {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
            _ => v.push("roles", format!("`{n}` is not a role of a {} organization", kind.as_str())),
        }
    }
    v.finish()?;
    out.sort();
    Ok(out)
}

/// A customer's `user_admin` manages the tenant's users but not its global admins, and
/// cannot make anyone one: that takes a global admin (the same rule partners meet through
/// their grants, see `delegation`).
fn guard_global_admins(p: &Principal, target: &[Role], giving: &[Role]) -> ServiceResult<()> {
    let touches_global_admin = target.contains(&Role::GlobalAdmin) || giving.contains(&Role::GlobalAdmin);
    if touches_global_admin && !p.user.roles.contains(&Role::GlobalAdmin) {
        return Err(ServiceError::Forbidden);
    }
    Ok(())
}

struct ParsedAdmin {
    email: Email,
    name: DisplayName,
    password: Password,
}

fn parse_admin(v: &mut Validator, email: &str, name: &str, password: &str, org_name: &str) -> Option<ParsedAdmin> {
    let email_in = email;
    let email = v.check(Email::parse("admin.email", email));
    let name_in = name;
    let name = v.check(DisplayName::parse("admin.display_name", name));
    let password = v.check(Password::parse("admin.password", password));
    if let Some(p) = &password {
        crate::auth::check_strength(v, "admin.password", p.expose(), &[email_in, name_in, org_name]);
    }
    Some(ParsedAdmin { email: email?, name: name?, password: password? })
}

impl Service {
    async fn new_org_with_admin(
        &self,
        caller: &Caller,
        org: NewOrganization,
        admin: ParsedAdmin,
        created_by: &'static str,
    ) -> ServiceResult<(NewOrganization, UserId)> {
        let hash = self.config.password_hasher.hash(&admin.password).await?;
        let user = NewUser {
            id: UserId::new(),
            organization_id: org.id,
            email: admin.email.as_str().to_owned(),
            display_name: admin.name.as_str().to_owned(),
            password_hash: hash,
            roles: vec![Role::GlobalAdmin],
            password_change_required: false,
            created_at: org.created_at,
        };
        let user_id = user.id;
        let change = self.change(
            caller,
            "organization.created",
            json!({"type": "organization", "id": org.id}),
            (org.kind == OrgKind::Customer).then_some(org.id),
            json!({"name": org.name, "domain": org.domain, "kind": org.kind.as_str(), "partner_type": org.partner_type.map(|t| t.as_str()),
                   "partner_id": org.partner_id, "admin_user_id": user_id, "admin_email": user.email, "created_by": created_by}),
            vec![org.id],
        );
        self.store.create_organization(org.clone(), user, change).await?;
        Ok((org, user_id))
    }

    /// Operator: enroll a partner with its first global admin.
    pub async fn create_partner(&self, caller: &Caller, input: NewPartnerInput) -> ServiceResult<(NewOrganization, UserId)> {
        if !matches!(caller, Caller::Operator) {
            return Err(ServiceError::Unauthenticated);
        }
        let mut v = Validator::default();
        let name = v.check(DisplayName::parse("name", &input.name));
        let partner_type = PartnerType::parse(&input.partner_type);
        if partner_type.is_none() {
            v.push("partner_type", "must be direct, indirect_provider or indirect_reseller");
        }
        let partner_id = v.check(PartnerPublicId::parse("partner_id", &input.partner_id));
        let domain = v.check(DomainName::parse("domain", &input.domain));
        let admin = parse_admin(&mut v, &input.admin_email, &input.admin_display_name, &input.admin_password, &input.name);
        v.finish()?;
        let (Some(name), Some(partner_type), Some(partner_id), Some(domain), Some(admin)) = (name, partner_type, partner_id, domain, admin)
        else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        let org = NewOrganization {
            id: OrganizationId::new(),
            kind: OrgKind::Partner,
            name: name.as_str().to_owned(),
            domain: domain.as_str().to_owned(),
            partner_type: Some(partner_type),
            partner_id: Some(partner_id.as_str().to_owned()),
            created_at: self.now(),
        };
        self.new_org_with_admin(caller, org, admin, "operator").await
    }

    /// Anyone: sign up a new customer organization with its first global admin.
    pub async fn signup(&self, input: SignupInput) -> ServiceResult<(OrganizationId, UserId)> {
        let mut v = Validator::default();
        let name = v.check(DisplayName::parse("organization.name", &input.name));
        let domain = v.check(DomainName::parse("organization.domain", &input.domain));
        let admin = parse_admin(&mut v, &input.admin_email, &input.admin_display_name, &input.admin_password, &input.name);
        v.finish()?;
        let (Some(name), Some(domain), Some(admin)) = (name, domain, admin) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        let org = NewOrganization {
            id: OrganizationId::new(),
            kind: OrgKind::Customer,
            name: name.as_str().to_owned(),
            domain: domain.as_str().to_owned(),
            partner_type: None,
            partner_id: None,
            created_at: self.now(),
        };
        let (org, user) = self.new_org_with_admin(&Caller::Anonymous, org, admin, "signup").await?;
        Ok((org.id, user))
    }

    /// A page of the users of the caller's organization, by e-mail.
    pub async fn list_users(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<User>> {
        let p = caller.require(Action::UsersRead)?;
        Ok(self.store.list_users(p.organization.id, &page).await?)
    }

    /// One user of the caller's organization.
    pub async fn user(&self, caller: &Caller, user: UserId) -> ServiceResult<User> {
        let p = caller.require(Action::UsersRead)?;
        Ok(self.store.user(p.organization.id, user).await?)
    }

    pub async fn create_user(&self, caller: &Caller, input: NewUserInput) -> ServiceResult<User> {
        self.create_user_as(caller, input, false).await
    }

    /// As [`Service::create_user`], with a temporary password made here and answered this
    /// once (the portal's way): the user's first sign-in may only change it.
    pub async fn create_user_with_temporary_password(
        &self,
        caller: &Caller,
        email: String,
        display_name: String,
        roles: Vec<String>,
    ) -> ServiceResult<(User, String)> {
        let password = crate::auth::temporary_password();
        let input = NewUserInput { email, display_name, password: password.clone(), roles };
        let user = self.create_user_as(caller, input, true).await?;
        Ok((user, password))
    }

    async fn create_user_as(&self, caller: &Caller, input: NewUserInput, temporary: bool) -> ServiceResult<User> {
        let p = caller.require(Action::UsersManage)?;
        let kind = p.organization.kind;
        let mut v = Validator::default();
        let email = v.check(Email::parse("email", &input.email));
        let name = v.check(DisplayName::parse("display_name", &input.display_name));
        let password = v.check(Password::parse("password", &input.password));
        if password.is_some() {
            crate::auth::check_strength(&mut v, "password", &input.password, &[&input.email, &input.display_name, &p.organization.name]);
        }
        // As `PATCH` refuses: a user of one's own organization holds at least one role.
        let roles = if input.roles.is_empty() {
            v.push("roles", "a user needs at least one role");
            None
        } else {
            v.check(parse_roles(kind, &input.roles))
        };
        v.finish()?;
        let (Some(email), Some(name), Some(password), Some(roles)) = (email, name, password, roles) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        guard_global_admins(p, &[], &roles)?;
        let org = p.organization.id;
        let user = NewUser {
            id: UserId::new(),
            organization_id: org,
            email: email.as_str().to_owned(),
            display_name: name.as_str().to_owned(),
            password_hash: self.config.password_hasher.hash(&password).await?,
            roles,
            password_change_required: temporary,
            created_at: self.now(),
        };
        let out = user.user();
        let change = self.change(
            caller,
            "user.created",
            json!({"type": "user", "id": user.id}),
            (kind == OrgKind::Customer).then_some(org),
            json!({"email": user.email, "roles": user.roles}),
            vec![org],
        );
        self.store.create_user(org, user, change).await?;
        Ok(out)
    }

    pub async fn update_user(
        &self,
        caller: &Caller,
        id: UserId,
        roles: Option<Vec<String>>,
        display_name: Option<String>,
    ) -> ServiceResult<User> {
        let p = caller.require(Action::UsersManage)?;
        let kind = p.organization.kind;
        let mut v = Validator::default();
        let roles = match roles {
            Some(r) if r.is_empty() => {
                v.push("roles", "a user needs at least one role");
                None
            }
            Some(r) => v.check(parse_roles(kind, &r)),
            None => None,
        };
        let name = display_name.and_then(|n| v.check(DisplayName::parse("display_name", &n)));
        v.finish()?;
        let org = p.organization.id;
        let target = self.store.user(org, id).await?;
        guard_global_admins(p, &target.roles, roles.as_deref().unwrap_or_default())?;
        let change = self.change(
            caller,
            "user.updated",
            json!({"type": "user", "id": id}),
            (kind == OrgKind::Customer).then_some(org),
            json!({"roles": roles, "display_name": name.as_ref().map(|n| n.as_str())}),
            vec![org],
        );
        let patch = UserPatch { roles, display_name: name.map(|n| n.as_str().to_owned()), locale: None };
        Ok(self.store.update_user(org, id, patch, change).await?)
    }

    /// The caller's own choice of language, kept on the user so that it follows them to any
    /// browser (the portal's switch). Any user may set their own, even one holding a temporary
    /// password or awaiting TOTP enrolment; choosing the language already stored changes nothing.
    pub async fn set_language(&self, caller: &Caller, locale: Locale) -> ServiceResult<()> {
        let p = caller.principal()?;
        if p.user.locale == Some(locale) {
            return Ok(());
        }
        let (org, id) = (p.organization.id, p.user.id);
        let change = self.change(
            caller,
            "user.updated",
            json!({"type": "user", "id": id}),
            (p.organization.kind == OrgKind::Customer).then_some(org),
            json!({"locale": locale.as_str()}),
            vec![org],
        );
        let patch = UserPatch { locale: Some(locale), ..UserPatch::default() };
        self.store.update_user(org, id, patch, change).await?;
        Ok(())
    }

    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> ServiceResult<()> {
        let p = caller.require(Action::UsersManage)?;
        let org = p.organization.id;
        let target = self.store.user(org, id).await?;
        guard_global_admins(p, &target.roles, &[])?;
        let change = self.change(
            caller,
            "user.deleted",
            json!({"type": "user", "id": id}),
            (p.organization.kind == OrgKind::Customer).then_some(org),
            json!({}),
            vec![org],
        );
        Ok(self.store.delete_user(org, id, change).await?)
    }

    /// A temporary password for a user of one's own organization, shown once; every session
    /// of theirs ends and their next sign-in may only change it.
    pub async fn reset_user_password(&self, caller: &Caller, id: UserId) -> ServiceResult<String> {
        let p = caller.require(Action::UsersManage)?;
        let org = p.organization.id;
        let target = self.store.user(org, id).await?;
        guard_global_admins(p, &target.roles, &[])?;
        let password = temporary_password();
        let hash = self.config.password_hasher.hash(&Password::parse("password", &password)?).await?;
        let change = self.change(
            caller,
            "user.password_reset",
            json!({"type": "user", "id": id}),
            (p.organization.kind == OrgKind::Customer).then_some(org),
            json!({"email": target.email}),
            vec![org],
        );
        self.store.set_password(org, id, hash, true, None, change).await?;
        Ok(password)
    }

    /// Operator: the partner organizations, by name.
    pub async fn list_partners(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<Organization>> {
        if !matches!(caller, Caller::Operator) {
            return Err(ServiceError::Unauthenticated);
        }
        Ok(self.store.list_partners(&page).await?)
    }

    /// Operator: an active link between an indirect provider and an indirect reseller.
    pub async fn link_provider(&self, caller: &Caller, provider: OrganizationId, reseller: OrganizationId) -> ServiceResult<()> {
        if !matches!(caller, Caller::Operator) {
            return Err(ServiceError::Unauthenticated);
        }
        let link = NewProviderLink {
            id: ProviderLinkId::new(),
            provider_id: provider,
            reseller_id: reseller,
            active: true,
            created_at: self.now(),
        };
        let change = self.change(
            caller,
            "provider_link.created",
            json!({"type": "provider_link", "id": link.id}),
            None,
            json!({"provider_id": provider, "reseller_id": reseller, "state": "active"}),
            vec![provider, reseller],
        );
        Ok(self.store.create_provider_link(link, change).await?)
    }

    /// An indirect reseller asks an indirect provider, named by its partner id, to connect.
    pub async fn request_provider(&self, caller: &Caller, provider_partner_id: &str) -> ServiceResult<ProviderLinkView> {
        let p = caller.require(Action::ProviderLinksManage)?;
        if p.organization.partner_type != Some(PartnerType::IndirectReseller) {
            return Err(ServiceError::Forbidden);
        }
        let wanted = PartnerPublicId::parse("provider_partner_id", provider_partner_id)?;
        let provider = match self.store.partner_by_public_id(wanted.as_str()).await {
            Ok(o) if o.partner_type == Some(PartnerType::IndirectProvider) => o,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(ValidationErrors::one("provider_partner_id", "no indirect provider has that partner id").into());
            }
            Err(e) => return Err(e.into()),
        };
        let reseller = p.organization.id;
        let link = NewProviderLink {
            id: ProviderLinkId::new(),
            provider_id: provider.id,
            reseller_id: reseller,
            active: false,
            created_at: self.now(),
        };
        let change = self.change(
            caller,
            "provider_link.requested",
            json!({"type": "provider_link", "id": link.id}),
            None,
            json!({"provider_id": provider.id, "reseller_id": reseller, "state": "pending"}),
            vec![provider.id, reseller],
        );
        self.store.create_provider_link(link, change).await?;
        Ok(ProviderLinkView { partner: provider.partner_ref(), state: "pending".into() })
    }

    /// An indirect provider accepts a reseller's pending request.
    pub async fn accept_reseller(&self, caller: &Caller, reseller: OrganizationId) -> ServiceResult<ProviderLinkView> {
        let p = caller.require(Action::ProviderLinksManage)?;
        let provider = p.organization.id;
        let change = self.change(
            caller,
            "provider_link.accepted",
            json!({"type": "provider_link", "provider_id": provider, "reseller_id": reseller}),
            None,
            json!({"state": "active"}),
            vec![provider, reseller],
        );
        self.store.activate_provider_link(provider, reseller, self.now(), change).await?;
        let org = self.store.organization(reseller).await?;
        Ok(ProviderLinkView { partner: org.partner_ref(), state: "active".into() })
    }

    /// An indirect provider declines a reseller's pending request; the link stays as
    /// `declined`, and the reseller may ask again.
    pub async fn decline_reseller(&self, caller: &Caller, reseller: OrganizationId) -> ServiceResult<ProviderLinkView> {
        let p = caller.require(Action::ProviderLinksManage)?;
        let provider = p.organization.id;
        let change = self.change(
            caller,
            "provider_link.declined",
            json!({"type": "provider_link", "provider_id": provider, "reseller_id": reseller}),
            None,
            json!({"state": "declined"}),
            vec![provider, reseller],
        );
        self.store.decline_provider_link(provider, reseller, self.now(), change).await?;
        let org = self.store.organization(reseller).await?;
        Ok(ProviderLinkView { partner: org.partner_ref(), state: "declined".into() })
    }

    /// Ends the caller's live link with `other`: one of its resellers (the provider ends it)
    /// or one of its providers (the reseller leaves), as `side` says. A pending request ends
    /// too (the reseller withdraws it). Customers' relationships and grants stay as they are;
    /// what needs the link (an indirect provider ordering for that reseller, creating
    /// customers or inviting for it) is refused from now on.
    pub async fn end_provider_link(&self, caller: &Caller, side: LinkSide, other: OrganizationId) -> ServiceResult<()> {
        let p = caller.require(Action::ProviderLinksManage)?;
        let me = p.organization.id;
        let (provider, reseller, by) = match side {
            LinkSide::Resellers => (me, other, "provider"),
            LinkSide::Providers => (other, me, "reseller"),
        };
        let change = self.change(
            caller,
            "provider_link.ended",
            json!({"type": "provider_link", "provider_id": provider, "reseller_id": reseller}),
            None,
            json!({"state": "ended", "ended_by": by}),
            vec![provider, reseller],
        );
        Ok(self.store.end_provider_link(me, side, other, self.now(), change).await?)
    }

    /// A page of the caller's providers or resellers, by name.
    pub async fn provider_links(&self, caller: &Caller, side: LinkSide, page: PageQuery) -> ServiceResult<Page<ProviderLinkView>> {
        let p = caller.require(Action::ProviderLinksRead)?;
        Ok(self.store.provider_links(p.organization.id, side, &page).await?)
    }

    pub async fn me(&self, caller: &Caller) -> ServiceResult<Principal> {
        Ok(caller.principal()?.clone())
    }
}

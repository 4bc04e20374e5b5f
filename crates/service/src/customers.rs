//! Customers as partners see them (list, detail, creation, grants, removal), and partners
//! as customers see them (list, revoking grants, ending the relationship).

use crate::auth::temporary_password;
use crate::{Caller, Service, ServiceError, ServiceResult};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;
use time::Duration;

pub struct NewCustomerInput {
    pub name: String,
    pub domain: String,
    pub admin_email: String,
    pub admin_display_name: String,
    pub reseller_id: Option<OrganizationId>,
}

pub struct Preflight {
    pub blockers: Vec<RemovalBlocker>,
    pub grants_to_revoke: i64,
}

impl Service {
    pub async fn list_customers(&self, caller: &Caller, query: CustomerQuery) -> ServiceResult<Page<CustomerSummary>> {
        let p = caller.require(Action::CustomersList)?;
        Ok(self.store.list_customers(p.organization.id, &query, self.now()).await?)
    }

    pub async fn customer(&self, caller: &Caller, id: OrganizationId) -> ServiceResult<CustomerDetail> {
        let p = caller.require(Action::CustomersRead)?;
        Ok(self.store.customer(p.organization.id, id, self.now()).await?)
    }

    /// A new customer organization with its first global admin (a temporary password, shown
    /// once) and an active relationship with the caller (and with a reseller of the caller).
    pub async fn create_customer(&self, caller: &Caller, input: NewCustomerInput) -> ServiceResult<(CustomerDetail, User, String)> {
        let p = caller.require(Action::CustomersCreate)?;
        let partner = p.organization.id;
        let mut v = Validator::default();
        let name = v.check(DisplayName::parse("name", &input.name));
        let domain = v.check(DomainName::parse("domain", &input.domain));
        let email = v.check(Email::parse("admin.email", &input.admin_email));
        let admin_name = v.check(DisplayName::parse("admin.display_name", &input.admin_display_name));
        if let Some(r) = input.reseller_id {
            if p.organization.partner_type != Some(PartnerType::IndirectProvider) {
                v.push("reseller_id", "only an indirect provider creates customers for a reseller");
            } else if !self.store.active_provider_link(partner, r).await? {
                v.push("reseller_id", "is not one of your active resellers");
            }
        }
        v.finish()?;
        let (Some(name), Some(domain), Some(email), Some(admin_name)) = (name, domain, email, admin_name) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        let now = self.now();
        let org = NewOrganization {
            id: OrganizationId::new(),
            kind: OrgKind::Customer,
            name: name.as_str().to_owned(),
            domain: domain.as_str().to_owned(),
            partner_type: None,
            partner_id: None,
            created_at: now,
        };
        let password = temporary_password();
        let parsed = Password::parse("password", &password)?;
        let admin = NewUser {
            id: UserId::new(),
            organization_id: org.id,
            email: email.as_str().to_owned(),
            display_name: admin_name.as_str().to_owned(),
            password_hash: self.config.password_hasher.hash(&parsed).await?,
            roles: vec![Role::GlobalAdmin],
            // The partner saw this password: it is only good for setting a new one.
            password_change_required: true,
            created_at: now,
        };
        // The creator gets the relationship and the default grants; with `reseller_id`, the
        // reseller gets them too and the provider's relationship records it as reseller of record.
        let mut rels = vec![NewRelationship {
            id: RelationshipId::new(),
            partner_org_id: partner,
            customer_id: org.id,
            via: "created",
            invitation_id: None,
            indirect_reseller_id: input.reseller_id,
            created_at: now,
        }];
        if let Some(r) = input.reseller_id {
            rels.push(NewRelationship { id: RelationshipId::new(), partner_org_id: r, indirect_reseller_id: None, ..rels[0].clone() });
        }
        let terms = InvitationTerms::parse(None, None, None, None)?;
        let grants: Vec<NewGrant> = rels
            .iter()
            .flat_map(|rel| {
                terms.roles.iter().map(move |role| NewGrant {
                    id: GrantId::new(),
                    relationship_id: rel.id,
                    partner_org_id: rel.partner_org_id,
                    customer_id: org.id,
                    role: *role,
                    created_at: now,
                    expires_at: now + Duration::days(terms.duration_days),
                    auto_extend: false,
                })
            })
            .collect();
        let mut visible = vec![partner, org.id];
        visible.extend(input.reseller_id);
        // One change, several records: the organization (with its admin), then each
        // relationship and grant under its own action, all with the change's id.
        let mut change = self.change(
            caller,
            "organization.created",
            json!({"type": "organization", "id": org.id}),
            Some(org.id),
            json!({"name": org.name, "domain": org.domain, "kind": org.kind.as_str(), "created_by": "partner",
                   "admin_user_id": admin.id, "admin_email": admin.email,
                   "relationships": rels.iter().map(|r| json!({"id": r.id, "partner_id": r.partner_org_id})).collect::<Vec<_>>(),
                   "grants": grants.len()}),
            visible,
        );
        self.record_created(&mut change, org.id, &rels, &grants);
        let user = admin.user();
        let customer_id = org.id;
        self.store.create_customer(org, admin, rels, grants, change).await?;
        let detail = self.store.customer(partner, customer_id, now).await?;
        Ok((detail, user, password))
    }

    pub async fn removal_preflight(&self, caller: &Caller, customer: OrganizationId) -> ServiceResult<Preflight> {
        let p = caller.require(Action::RelationshipsRemove)?;
        let partner = p.organization.id;
        self.store.active_relationship(partner, customer).await?.ok_or(ServiceError::NotFound)?;
        let now = self.now();
        let blockers = self.store.removal_blockers(partner, customer).await?;
        let grants_to_revoke = self.store.grants(partner, customer).await?.iter().filter(|g| g.is_live(now)).count() as i64;
        Ok(Preflight { blockers, grants_to_revoke })
    }

    /// Flow 7: after the good-faith attestation, end the relationship and revoke every grant,
    /// in one transaction with its audit record and events.
    pub async fn remove_relationship(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        attest_good_faith: Option<bool>,
    ) -> ServiceResult<RemovalOutcome> {
        let p = caller.require(Action::RelationshipsRemove)?;
        let partner = p.organization.id;
        self.store.active_relationship(partner, customer).await?.ok_or(ServiceError::NotFound)?;
        if attest_good_faith != Some(true) {
            return Err(ServiceError::AttestationRequired);
        }
        let change = self.removal_change(
            caller,
            partner,
            customer,
            "partner",
            json!({"attested_good_faith": true, "statement": GOOD_FAITH_STATEMENT}),
        );
        Ok(self.store.remove_relationship(partner, customer, self.now(), change).await?)
    }

    fn removal_change(
        &self,
        caller: &Caller,
        partner: OrganizationId,
        customer: OrganizationId,
        by: &str,
        mut details: serde_json::Value,
    ) -> Change {
        details["removed_by"] = by.into();
        let mut change = self.change(
            caller,
            "relationship.removed",
            json!({"type": "relationship", "partner_id": partner}),
            Some(customer),
            details,
            vec![partner, customer],
        );
        // The store fills in the relationship id and how many grants went, inside the transaction.
        change.events.push(self.event(
            "relationship.removed",
            partner,
            json!({"partner_id": partner, "customer_id": customer, "removed_by": by}),
        ));
        change.events.push(self.event(
            "grant.revoked",
            partner,
            json!({"partner_id": partner, "customer_id": customer, "reason": "relationship_removed"}),
        ));
        change
    }

    /// A page of the grants the caller holds or held in one of its customers, oldest first.
    pub async fn customer_grants(&self, caller: &Caller, customer: OrganizationId, page: PageQuery) -> ServiceResult<Page<Grant>> {
        let p = caller.require(Action::GrantsRead)?;
        let partner = p.organization.id;
        self.store.active_relationship(partner, customer).await?.ok_or(ServiceError::NotFound)?;
        Ok(self.store.list_grants(partner, customer, &page).await?)
    }

    /// Customer side: a page of its partners, by name, with their relationships and grants.
    pub async fn partners_of_customer(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<PartnerOfCustomer>> {
        let p = caller.require(Action::PartnersRead)?;
        Ok(self.store.partners_of_customer(p.organization.id, &page).await?)
    }

    /// Customer side: revoke every live grant a partner holds; the relationship stays.
    pub async fn revoke_partner_grants(&self, caller: &Caller, partner: OrganizationId) -> ServiceResult<i64> {
        let p = caller.require(Action::PartnersManage)?;
        let customer = p.organization.id;
        let mut change = self.change(
            caller,
            "grant.revoked",
            json!({"type": "grants", "partner_id": partner}),
            Some(customer),
            json!({"revoked_by": "customer"}),
            vec![partner, customer],
        );
        change.events.push(self.event(
            "grant.revoked",
            partner,
            json!({"partner_id": partner, "customer_id": customer, "reason": "revoked_by_customer"}),
        ));
        Ok(self.store.revoke_grants(partner, customer, self.now(), change).await?)
    }

    /// Customer side: end the relationship with a partner, revoking its grants.
    pub async fn customer_remove_partner(&self, caller: &Caller, partner: OrganizationId) -> ServiceResult<RemovalOutcome> {
        let p = caller.require(Action::PartnersManage)?;
        let customer = p.organization.id;
        let change = self.removal_change(caller, partner, customer, "customer", json!({}));
        Ok(self.store.remove_relationship(partner, customer, self.now(), change).await?)
    }
}

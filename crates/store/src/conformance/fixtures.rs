//! What the cases of commerce and delegated administration build on: typed partners, provider
//! links, relationships with chosen grants, offers, orders, tenant users and access.

use super::*;

pub(super) fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

/// A page that holds everything a case makes.
pub(super) fn all_of() -> PageQuery {
    PageQuery { limit: 500, cursor: None }
}

/// A change by the operator (the offer catalog): no organization sees it, no event.
pub(super) fn operator_change(action: &'static str) -> Change {
    Change::new(AuditEntry {
        at: now(),
        actor: Actor::operator(),
        action,
        target: json!({"type": "offer"}),
        customer_id: None,
        details: json!({}),
        visible_to: vec![],
    })
}

/// How many records the audit chain holds, once it is checked whole.
pub(super) async fn audit_records(store: &dyn Store) -> i64 {
    match store.verify_audit_chain().await.unwrap() {
        AuditVerification::Whole { records } => records,
        broken => panic!("audit chain broken: {broken:?}"),
    }
}

pub(super) async fn assert_chain_whole(store: &dyn Store) {
    audit_records(store).await;
}

/// A partner of the given type with its global admin; `name` is its domain's first label.
pub(super) async fn partner(store: &dyn Store, name: &str, partner_type: PartnerType) -> (OrganizationId, UserId) {
    let mut org = new_org(OrgKind::Partner, name);
    org.partner_type = Some(partner_type);
    let admin = new_user(org.id, &format!("ga@{}", org.domain), vec![Role::GlobalAdmin]);
    let ids = (org.id, admin.id);
    store.create_organization(org, admin, change(ids.0, "organization.created")).await.unwrap();
    ids
}

pub(super) async fn link(store: &dyn Store, provider: OrganizationId, reseller: OrganizationId) {
    let link = NewProviderLink { id: ProviderLinkId::new(), provider_id: provider, reseller_id: reseller, active: true, created_at: now() };
    store.create_provider_link(link, change(provider, "provider_link.created")).await.unwrap();
}

/// An accepted invitation from `partner` to `customer` granting `roles`; the relationship
/// names `reseller` as the indirect reseller it came through.
pub(super) async fn relate(
    store: &dyn Store,
    partner: OrganizationId,
    user: UserId,
    customer: OrganizationId,
    roles: &[DelegatedRole],
    reseller: Option<OrganizationId>,
) -> RelationshipId {
    let mut inv = invitation(partner, user, Some(customer), &format!("token-{}", uuid::Uuid::now_v7()));
    inv.roles = roles.to_vec();
    let (mut rels, grants) = acceptance(&inv, customer);
    rels[0].indirect_reseller_id = reseller;
    let id = rels[0].id;
    store.create_invitation(inv.clone(), change(partner, "invitation.created")).await.unwrap();
    store.accept_invitation(inv.id, customer, now(), rels, grants, change(customer, "invitation.accepted")).await.unwrap();
    id
}

/// An indirect provider and its reseller, both connected with `customer` (the provider
/// through the reseller); answers the provider, its admin and the reseller.
pub(super) async fn provider_and_reseller(store: &dyn Store, customer: OrganizationId) -> (OrganizationId, UserId, OrganizationId) {
    let (pv, pvu) = partner(store, "provider", PartnerType::IndirectProvider).await;
    let (r, ru) = partner(store, "reseller", PartnerType::IndirectReseller).await;
    link(store, pv, r).await;
    relate(store, r, ru, customer, &DelegatedRole::DEFAULT, None).await;
    relate(store, pv, pvu, customer, &DelegatedRole::DEFAULT, Some(r)).await;
    (pv, pvu, r)
}

pub(super) async fn offer(store: &dyn Store, name: &str) -> OfferId {
    let offer = NewOffer { id: OfferId::new(), name: name.into(), unit_price_cents: 1250, currency: "EUR".into(), created_at: now() };
    store.create_offer(offer, operator_change("offer.created")).await.unwrap().id
}

pub(super) fn order(
    placed_by: OrganizationId,
    user: UserId,
    customer: OrganizationId,
    reseller: Option<OrganizationId>,
    items: &[(OfferId, i64)],
) -> NewOrder {
    NewOrder {
        id: OrderId::new(),
        customer_id: customer,
        placed_by,
        placed_by_user: user,
        reseller_of_record: reseller,
        created_at: now(),
        items: items
            .iter()
            .map(|(offer_id, quantity)| NewSubscription { id: SubscriptionId::new(), offer_id: *offer_id, quantity: *quantity })
            .collect(),
    }
}

/// A user of the customer `org`, `NAME@tenant.example`.
pub(super) async fn tenant_user(store: &dyn Store, org: OrganizationId, name: &str, roles: Vec<Role>) -> UserId {
    let user = new_user(org, &format!("{name}@tenant.example"), roles);
    let id = user.id;
    store.create_user(org, user, change(org, "user.created")).await.unwrap();
    id
}

pub(super) fn access(partner: OrganizationId, customer: OrganizationId, agent_roles: &[Role], action: TenantAction) -> TenantAccess {
    TenantAccess { partner, customer, agent_roles: agent_roles.to_vec(), action, now: now() }
}

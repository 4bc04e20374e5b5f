//! Conformance cases of provider links (declined, ended, made again) and of changes that
//! write several audit records under one id.

use super::*;

fn pending(provider: OrganizationId, reseller: OrganizationId) -> NewProviderLink {
    NewProviderLink { id: ProviderLinkId::new(), provider_id: provider, reseller_id: reseller, active: false, created_at: now() }
}

async fn live(store: &dyn Store, org: OrganizationId, side: LinkSide) -> Vec<(OrganizationId, String)> {
    let page = PageQuery { limit: 500, cursor: None };
    store.provider_links(org, side, &page).await.unwrap().items.into_iter().map(|l| (l.partner.id, l.state)).collect()
}

/// The body of the newest record of `action` that `org` may read.
async fn newest(store: &dyn Store, org: OrganizationId, action: &str) -> serde_json::Value {
    let page = store.list_audit(org, &AuditFilter { limit: 1, action: Some(action.into()), ..AuditFilter::default() }).await.unwrap();
    page.items.first().map(|r| r.body.clone()).unwrap_or_else(|| panic!("no {action} record for {org:?}"))
}

pub async fn provider_links_are_declined_ended_and_made_again(store: &dyn Store) {
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Linked Customer").await;
    let (pv, _, r) = provider_and_reseller(store, c).await;
    let (stranger, _) = partner(store, "stranger", PartnerType::IndirectProvider).await;
    let nf = |r: StoreResult<()>| assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // An active link is not declined: it is ended.
    assert_eq!(
        conflict(store.decline_provider_link(pv, r, now(), change(pv, "provider_link.declined")).await),
        constraint::PROVIDER_LINK_NOT_PENDING
    );
    // Nobody else ends it, from either side.
    nf(store.end_provider_link(stranger, LinkSide::Resellers, r, now(), change(stranger, "provider_link.ended")).await);
    nf(store.end_provider_link(r, LinkSide::Resellers, pv, now(), change(r, "provider_link.ended")).await);
    assert!(store.active_provider_link(pv, r).await.unwrap());

    // The reseller leaves: the link is history, the customers' relationships and grants stay.
    let before = (store.grants(pv, c).await.unwrap().len(), store.grants(r, c).await.unwrap().len());
    let records = audit_records(store).await;
    store.end_provider_link(r, LinkSide::Providers, pv, now(), change(r, "provider_link.ended")).await.unwrap();
    assert_eq!(audit_records(store).await, records + 1);
    assert!(!store.active_provider_link(pv, r).await.unwrap());
    assert!(live(store, pv, LinkSide::Resellers).await.is_empty());
    assert!(live(store, r, LinkSide::Providers).await.is_empty());
    assert!(store.active_relationship(pv, c).await.unwrap().is_some());
    assert!(store.active_relationship(r, c).await.unwrap().is_some());
    assert_eq!((store.grants(pv, c).await.unwrap().len(), store.grants(r, c).await.unwrap().len()), before);
    let ended = newest(store, r, "provider_link.ended").await;
    assert_eq!(ended["details"]["previous_state"], "active");
    assert!(ended["target"]["id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{ended}");
    nf(store.end_provider_link(r, LinkSide::Providers, pv, now(), change(r, "provider_link.ended")).await);

    // The same pair asks again; one live link at a time.
    store.create_provider_link(pending(pv, r), change(r, "provider_link.requested")).await.unwrap();
    assert_eq!(
        conflict(store.create_provider_link(pending(pv, r), change(r, "provider_link.requested")).await),
        constraint::PROVIDER_LINK_EXISTS
    );
    assert_eq!(live(store, pv, LinkSide::Resellers).await, vec![(r, "pending".to_owned())]);
    nf(store.decline_provider_link(stranger, r, now(), change(stranger, "provider_link.declined")).await);
    store.decline_provider_link(pv, r, now(), change(pv, "provider_link.declined")).await.unwrap();
    assert!(live(store, r, LinkSide::Providers).await.is_empty());
    nf(store.decline_provider_link(pv, r, now(), change(pv, "provider_link.declined")).await);
    nf(store.end_provider_link(pv, LinkSide::Resellers, r, now(), change(pv, "provider_link.ended")).await);
    nf(store.activate_provider_link(pv, r, now(), change(pv, "provider_link.accepted")).await);

    // Asked a third time, accepted, then ended by the provider; a pending request ends too.
    store.create_provider_link(pending(pv, r), change(r, "provider_link.requested")).await.unwrap();
    store.activate_provider_link(pv, r, now(), change(pv, "provider_link.accepted")).await.unwrap();
    store.end_provider_link(pv, LinkSide::Resellers, r, now(), change(pv, "provider_link.ended")).await.unwrap();
    store.create_provider_link(pending(pv, r), change(r, "provider_link.requested")).await.unwrap();
    store.end_provider_link(r, LinkSide::Providers, pv, now(), change(r, "provider_link.ended")).await.unwrap();
    assert_eq!(newest(store, r, "provider_link.ended").await["details"]["previous_state"], "pending");
    assert!(live(store, pv, LinkSide::Resellers).await.is_empty());
    assert!(store.active_relationship(pv, c).await.unwrap().is_some());
    assert_chain_whole(store).await;
}

pub async fn the_records_of_one_change_share_its_id(store: &dyn Store) {
    let (p, _) = org_with_admin(store, OrgKind::Partner, "Several Records").await;
    let before = audit_records(store).await;
    let mut ch = change(p, "user.created");
    ch.also("relationship.created", json!({"type": "relationship", "n": 1}), json!({"n": 1}));
    ch.also("grant.created", json!({"type": "grant", "n": 2}), json!({"n": 2}));
    let id = ch.id;
    let user = new_user(p, "several@records.example", vec![Role::AdminAgent]);
    store.create_user(p, user, ch).await.unwrap();
    assert_eq!(audit_records(store).await, before + 3);
    let page = store.list_audit(p, &AuditFilter { limit: 4, ..AuditFilter::default() }).await.unwrap();
    let actions: Vec<_> = page.items.iter().map(|r| r.body["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["grant.created", "relationship.created", "user.created", "organization.created"]);
    for r in &page.items[..3] {
        assert_eq!(r.body["change_id"], json!(id), "{}", r.body);
        assert_eq!(r.body["actor"], page.items[2].body["actor"]);
    }
    assert_eq!(page.items[0].body["details"], json!({"n": 2}));
    assert_ne!(page.items[3].body["change_id"], json!(id), "another change, another id");
    assert!(page.items[3].body["change_id"].as_str().is_some());
    assert_chain_whole(store).await;
}

//! Conformance cases of commerce: the offer catalog, orders and their checks, who sees and
//! changes a subscription, license seats, and the subscriptions that block a removal.

use super::*;

pub async fn offers_page_by_name_and_hide_disabled_ones(store: &dyn Store) {
    let mut ids = Vec::new();
    for name in ["standard", "basic", "premium", "business", "enterprise"] {
        ids.push(offer(store, name).await);
    }
    let created = store.offer(ids[0]).await.unwrap();
    assert_eq!((created.name.as_str(), created.unit_price_cents, created.currency.as_str()), ("standard", 1250, "EUR"));
    assert!(created.is_active());
    let names = |include| async move {
        let mut names = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_offers(include, &PageQuery { limit: 2, cursor: cursor.clone() }).await.unwrap();
            names.extend(page.items.iter().map(|o| o.name.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break (names, page.total),
            }
        }
    };
    assert_eq!(names(false).await, (strings(&["basic", "business", "enterprise", "premium", "standard"]), 5));
    let before = audit_records(store).await;
    let disabled = store.disable_offer(ids[2], now(), operator_change("offer.disabled")).await.unwrap();
    let at = disabled.disabled_at.unwrap();
    assert!(!disabled.is_active());
    let again = store.disable_offer(ids[2], now() + Duration::seconds(5), operator_change("offer.disabled")).await.unwrap();
    assert_eq!(again.disabled_at, Some(at), "disabling twice changes nothing");
    assert_eq!(audit_records(store).await, before + 1, "and writes no second record");
    assert_eq!(names(false).await, (strings(&["basic", "business", "enterprise", "standard"]), 4), "disabled offers are hidden");
    assert_eq!(names(true).await.1, 5, "unless asked for");
    assert!(matches!(store.list_offers(true, &PageQuery { limit: 2, cursor: Some("zz".into()) }).await, Err(StoreError::BadCursor)));
    assert!(matches!(store.offer(OfferId::new()).await, Err(StoreError::NotFound)));
    assert!(matches!(store.disable_offer(OfferId::new(), now(), operator_change("x")).await, Err(StoreError::NotFound)));
    assert_chain_whole(store).await;
}

pub async fn orders_check_relationships_reseller_links_and_offers(store: &dyn Store) {
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Ordering").await;
    let (d, du) = partner(store, "direct", PartnerType::Direct).await;
    let (pv, pvu) = partner(store, "provider", PartnerType::IndirectProvider).await;
    let (r, ru) = partner(store, "reseller", PartnerType::IndirectReseller).await;
    let (unlinked, unlinked_user) = partner(store, "unlinked", PartnerType::IndirectReseller).await;
    let (distant, _) = partner(store, "distant", PartnerType::IndirectReseller).await;
    link(store, pv, r).await;
    link(store, pv, distant).await;
    relate(store, d, du, c, &DelegatedRole::DEFAULT, None).await;
    let basic = offer(store, "basic").await;
    let retired = offer(store, "retired").await;
    store.disable_offer(retired, now(), operator_change("offer.disabled")).await.unwrap();

    let direct = store.place_order(order(d, du, c, None, &[(basic, 3), (basic, 1)]), change(d, "order.created")).await.unwrap();
    assert_eq!((direct.placed_by.id, direct.partner_of_record.id, direct.customer_id), (d, d, c));
    assert_eq!(direct.subscriptions.iter().map(|s| s.quantity).collect::<Vec<_>>(), [3, 1]);
    assert!(direct.subscriptions.iter().all(|s| s.status == SubscriptionStatus::Active && s.assigned == 0 && s.offer.name == "basic"));
    assert!(direct.subscriptions.iter().all(|s| s.order_id == direct.id && s.partner_of_record.id == d));

    let indirect = |reseller| order(pv, pvu, c, Some(reseller), &[(basic, 2)]);
    let nf = store.place_order(indirect(r), change(pv, "order.created")).await;
    assert!(matches!(nf, Err(StoreError::NotFound)), "the provider needs its own relationship: {nf:?}");
    relate(store, r, ru, c, &DelegatedRole::DEFAULT, None).await;
    relate(store, pv, pvu, c, &DelegatedRole::DEFAULT, Some(r)).await;
    relate(store, unlinked, unlinked_user, c, &DelegatedRole::DEFAULT, None).await;
    let placed = store.place_order(indirect(r), change(pv, "order.created")).await.unwrap();
    assert_eq!((placed.placed_by.id, placed.partner_of_record.id), (pv, r));
    assert_eq!(placed.subscriptions[0].partner_of_record.id, r);

    let before = (audit_records(store).await, store.tenant_subscriptions(c, &all_of()).await.unwrap().total);
    assert_eq!(conflict(store.place_order(indirect(unlinked), change(pv, "x")).await), constraint::NOT_AN_ACTIVE_RESELLER);
    assert_eq!(conflict(store.place_order(indirect(distant), change(pv, "x")).await), constraint::NO_RESELLER_RELATIONSHIP);
    let mixed = order(d, du, c, None, &[(basic, 1), (retired, 1)]);
    assert_eq!(conflict(store.place_order(mixed, change(d, "x")).await), constraint::OFFER_UNAVAILABLE);
    let unknown = order(d, du, c, None, &[(OfferId::new(), 1)]);
    assert_eq!(conflict(store.place_order(unknown, change(d, "x")).await), constraint::OFFER_UNAVAILABLE);
    let after = (audit_records(store).await, store.tenant_subscriptions(c, &all_of()).await.unwrap().total);
    assert_eq!(before, after, "a refused order writes nothing");
    assert_eq!(after.1, 3);
    assert_chain_whole(store).await;
}

pub async fn subscriptions_are_seen_by_their_partners_only(store: &dyn Store) {
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Watched").await;
    let (pv, pvu, r) = provider_and_reseller(store, c).await;
    let (bystander, bu) = partner(store, "bystander", PartnerType::Direct).await;
    relate(store, bystander, bu, c, &DelegatedRole::DEFAULT, None).await;
    let (stranger, _) = partner(store, "stranger", PartnerType::Direct).await;
    let basic = offer(store, "basic").await;
    let placed = store.place_order(order(pv, pvu, c, Some(r), &[(basic, 1), (basic, 2), (basic, 3)]), change(pv, "order.created")).await;
    let ids: Vec<_> = placed.unwrap().subscriptions.iter().map(|s| s.id).collect();

    for who in [pv, r] {
        let first = store.partner_subscriptions(who, c, &PageQuery { limit: 2, cursor: None }).await.unwrap();
        assert_eq!((first.total, first.items.len()), (3, 2));
        let rest = store.partner_subscriptions(who, c, &PageQuery { limit: 2, cursor: first.next_cursor }).await.unwrap();
        assert_eq!((rest.items.len(), rest.next_cursor), (1, None));
        let mut seen: Vec<_> = first.items.iter().chain(&rest.items).map(|s| s.id).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "by id");
        seen.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(seen, expected);
    }
    assert_eq!(store.partner_subscriptions(bystander, c, &all_of()).await.unwrap().total, 0, "another partner of the customer");
    assert!(matches!(store.partner_subscriptions(stranger, c, &all_of()).await, Err(StoreError::NotFound)));
    for who in [bystander, stranger] {
        let patch = SubscriptionPatch { quantity: Some(9), status: None };
        assert!(matches!(store.update_subscription(who, c, ids[0], patch, now(), change(who, "x")).await, Err(StoreError::NotFound)));
    }
    let tenant = store.tenant_subscriptions(c, &all_of()).await.unwrap();
    assert_eq!(tenant.total, 3);
    assert!(tenant.items.iter().all(|s| s.placed_by.id == pv && s.partner_of_record.id == r && s.customer_id == c));
    assert_eq!(store.tenant_subscriptions(bystander, &all_of()).await.unwrap().total, 0, "scoped by the customer");

    // The reseller of record leaves (once nothing of it is open): it sees nothing any more.
    for id in &ids {
        let cancel = SubscriptionPatch { quantity: None, status: Some(SubscriptionStatus::Cancelled) };
        store.update_subscription(pv, c, *id, cancel, now(), change(pv, "subscription.updated")).await.unwrap();
    }
    store.remove_relationship(r, c, now(), change(r, "relationship.removed")).await.unwrap();
    assert!(matches!(store.partner_subscriptions(r, c, &all_of()).await, Err(StoreError::NotFound)));
    assert_eq!(store.partner_subscriptions(pv, c, &all_of()).await.unwrap().total, 3);
    assert_chain_whole(store).await;
}

pub async fn subscription_changes_follow_the_state_machine(store: &dyn Store) {
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Changing").await;
    let (pv, pvu, r) = provider_and_reseller(store, c).await;
    let basic = offer(store, "basic").await;
    let placed = store.place_order(order(pv, pvu, c, Some(r), &[(basic, 3)]), change(pv, "order.created")).await.unwrap();
    let id = placed.subscriptions[0].id;
    let holders = [tenant_user(store, c, "one", vec![]).await, tenant_user(store, c, "two", vec![]).await];
    let agent = access(pv, c, &[Role::AdminAgent], TenantAction::ManageLicenses);
    for u in holders {
        store.assign_license(&agent, u, id, change(pv, "license.assigned")).await.unwrap();
    }
    let patch = |quantity: Option<i64>, status: Option<SubscriptionStatus>| SubscriptionPatch { quantity, status };
    let update = |who, p| store.update_subscription(who, c, id, p, now(), change(who, "subscription.updated"));

    assert!(matches!(update(r, patch(Some(5), None)).await, Err(StoreError::Forbidden)), "the partner of record only reads it");
    assert_eq!(conflict(update(pv, patch(Some(1), None)).await), constraint::QUANTITY_BELOW_ASSIGNED);
    assert_eq!(store.tenant_subscriptions(c, &all_of()).await.unwrap().items[0].quantity, 3, "the refused change left nothing");
    assert_eq!(update(pv, patch(Some(2), None)).await.unwrap().quantity, 2, "down to the seats given out");
    assert_eq!(update(pv, patch(Some(6), None)).await.unwrap().quantity, 6);
    let suspended = update(pv, patch(None, Some(SubscriptionStatus::Suspended))).await.unwrap();
    assert_eq!((suspended.status, suspended.assigned), (SubscriptionStatus::Suspended, 2), "suspending keeps the seats");
    assert_eq!(update(pv, patch(None, Some(SubscriptionStatus::Active))).await.unwrap().status, SubscriptionStatus::Active);

    let cancelled = update(pv, patch(None, Some(SubscriptionStatus::Cancelled))).await.unwrap();
    assert_eq!((cancelled.status, cancelled.assigned, cancelled.quantity), (SubscriptionStatus::Cancelled, 0, 6));
    assert!(cancelled.updated_at >= placed.created_at);
    for u in holders {
        assert!(store.user_licenses(c, u, &all_of()).await.unwrap().items.is_empty(), "cancelling releases every license");
    }
    let last = store.list_audit(pv, &AuditFilter { limit: 1, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(last.items[0].body["details"]["released_licenses"], 2);
    for p in [patch(None, Some(SubscriptionStatus::Active)), patch(Some(9), None), patch(None, Some(SubscriptionStatus::Cancelled))] {
        assert_eq!(conflict(update(pv, p).await), constraint::SUBSCRIPTION_CANCELLED, "cancelled is final");
    }
    assert_chain_whole(store).await;
}

pub async fn license_seats_never_pass_the_quantity(store: &dyn Store) {
    let (c, ga) = org_with_admin(store, OrgKind::Customer, "Seated").await;
    let (d, du) = partner(store, "seller", PartnerType::Direct).await;
    relate(store, d, du, c, &DelegatedRole::DEFAULT, None).await;
    let (other, other_admin) = org_with_admin(store, OrgKind::Customer, "Elsewhere").await;
    let basic = offer(store, "basic").await;
    let placed = store.place_order(order(d, du, c, None, &[(basic, 5), (basic, 1)]), change(d, "order.created")).await.unwrap();
    let (id, small) = (placed.subscriptions[0].id, placed.subscriptions[1].id);
    let mut users = Vec::new();
    for i in 0..32 {
        users.push(tenant_user(store, c, &format!("seat{i:02}"), vec![]).await);
    }
    let agent = access(d, c, &[Role::AdminAgent], TenantAction::ManageLicenses);
    let results =
        futures::future::join_all(users.iter().map(|u| store.assign_license(&agent, *u, id, change(d, "license.assigned")))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::Conflict { constraint: constraint::NO_SEATS }))));
    let sub = |all: Page<Subscription>| all.items.into_iter().find(|s| s.id == id).unwrap();
    assert_eq!(sub(store.tenant_subscriptions(c, &all_of()).await.unwrap()).assigned, 5);

    let holder = users[results.iter().position(|r| r.is_ok()).unwrap()];
    let held =
        store.tenant_user_licenses(&access(d, c, &[Role::AdminAgent], TenantAction::ReadUsers), holder, &all_of()).await.unwrap().items;
    assert_eq!((held.len(), held[0].subscription_id, held[0].offer.name.as_str(), held[0].customer_id), (1, id, "basic", c));
    assert_eq!(store.user_licenses(c, holder, &all_of()).await.unwrap().items, held);
    assert_eq!(conflict(store.assign_license(&agent, holder, id, change(d, "x")).await), constraint::LICENSE_EXISTS);
    store.release_license(&agent, holder, id, change(d, "license.released")).await.unwrap();
    assert!(matches!(store.release_license(&agent, holder, id, change(d, "x")).await, Err(StoreError::NotFound)));
    assert_eq!(sub(store.tenant_subscriptions(c, &all_of()).await.unwrap()).assigned, 4);
    // A license administrator gives seats to anyone of the tenant, its global admin too.
    let license = store.assign_license(&agent, ga, id, change(d, "license.assigned")).await.unwrap();
    assert_eq!((license.user_id, license.subscription_id), (ga, id));

    let suspend = SubscriptionPatch { quantity: None, status: Some(SubscriptionStatus::Suspended) };
    store.update_subscription(d, c, small, suspend, now(), change(d, "subscription.updated")).await.unwrap();
    assert_eq!(conflict(store.assign_license(&agent, holder, small, change(d, "x")).await), constraint::SUBSCRIPTION_NOT_ACTIVE);
    let nf = |r: StoreResult<License>| assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    nf(store.assign_license(&agent, holder, SubscriptionId::new(), change(d, "x")).await);
    nf(store.assign_license(&agent, other_admin, id, change(d, "x")).await);
    assert!(matches!(store.user_licenses(other, holder, &all_of()).await, Err(StoreError::NotFound)));
    let helpdesk = access(d, c, &[Role::HelpdeskAgent], TenantAction::ManageLicenses);
    assert!(matches!(store.assign_license(&helpdesk, holder, id, change(d, "x")).await, Err(StoreError::Forbidden)));
    assert_chain_whole(store).await;
}

pub async fn open_subscriptions_block_removal(store: &dyn Store) {
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Held").await;
    let (pv, pvu, r) = provider_and_reseller(store, c).await;
    let basic = offer(store, "basic").await;
    let placed = store.place_order(order(pv, pvu, c, Some(r), &[(basic, 1)]), change(pv, "order.created")).await.unwrap();
    let id = placed.subscriptions[0].id;
    let set = |status| SubscriptionPatch { quantity: None, status: Some(status) };
    for status in [SubscriptionStatus::Active, SubscriptionStatus::Suspended] {
        store.update_subscription(pv, c, id, set(status), now(), change(pv, "subscription.updated")).await.unwrap();
        for who in [r, pv] {
            let blockers = store.removal_blockers(who, c).await.unwrap();
            let expected = RemovalBlocker { kind: "active_subscription".into(), id: id.0, name: "basic".into() };
            assert_eq!(blockers, vec![expected.clone()], "{status:?}");
            match store.remove_relationship(who, c, now(), change(who, "x")).await {
                Err(StoreError::Blocked(b)) => assert_eq!(b, vec![expected]),
                other => panic!("expected blocked, got {other:?}"),
            }
        }
    }
    let counts = store.customer(r, c, now()).await.unwrap().subscriptions;
    assert_eq!(counts, SubscriptionCounts { active: 0, suspended: 1, cancelled: 0 }, "the partner of record counts it");
    store.update_subscription(pv, c, id, set(SubscriptionStatus::Cancelled), now(), change(pv, "subscription.updated")).await.unwrap();
    assert!(store.removal_blockers(r, c).await.unwrap().is_empty());
    store.remove_relationship(r, c, now(), change(r, "relationship.removed")).await.unwrap();
    // The reseller left: the provider stays, and stops naming it.
    let detail = store.customer(pv, c, now()).await.unwrap();
    assert!(detail.summary.relationship.active);
    assert_eq!((detail.summary.indirect_reseller, detail.summary.relationship.indirect_reseller_id), (None, None));
    assert!(detail.other_partners.iter().all(|p| p.id != r));
    assert_eq!(detail.subscriptions, SubscriptionCounts { active: 0, suspended: 0, cancelled: 1 });
    let q = CustomerQuery { limit: 50, cursor: None, q: None, sort: CustomerSort::Name };
    let listed = store.list_customers(pv, &q, now()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].indirect_reseller.is_none());
    store.remove_relationship(pv, c, now(), change(pv, "relationship.removed")).await.unwrap();
    assert_chain_whole(store).await;
}

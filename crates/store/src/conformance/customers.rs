//! Conformance of the partner's customer list: its kept total after every kind of change, and
//! its pages by keyset.

use super::*;

/// The list's total (kept by the store rather than counted on each read) is the number of the
/// partner's active relationships after every kind of change, concurrent ones included, and
/// matches the count of a search that every customer matches.
pub async fn the_customer_total_follows_every_change(store: &dyn Store) {
    async fn totals(store: &dyn Store, p: OrganizationId) -> (i64, i64) {
        let all = CustomerQuery { limit: 1, cursor: None, q: None, sort: CustomerSort::Name };
        let searched = CustomerQuery { q: Some("Counted".into()), ..all.clone() };
        (store.list_customers(p, &all, now()).await.unwrap().total, store.list_customers(p, &searched, now()).await.unwrap().total)
    }
    let (p, pu) = org_with_admin(store, OrgKind::Partner, "Counter").await;
    let (other, ou) = org_with_admin(store, OrgKind::Partner, "Bystanding Counter").await;
    assert_eq!(totals(store, p).await, (0, 0));
    let mut customers = Vec::new();
    for i in 0..3 {
        let (c, _) = org_with_admin(store, OrgKind::Customer, &format!("Counted {i}")).await;
        let inv = invitation(p, pu, None, &format!("count-{i}"));
        let (rels, grants) = acceptance(&inv, c);
        let id = inv.id;
        store.create_invitation(inv, change(p, "invitation.created")).await.unwrap();
        store.accept_invitation(id, c, now(), rels, grants, change(c, "invitation.accepted")).await.unwrap();
        customers.push(c);
    }
    assert_eq!(totals(store, p).await, (3, 3));
    // A renewal adds grants, not a customer; a refused second relationship adds nothing.
    let renewal = invitation(p, pu, Some(customers[0]), "count-renewal");
    let (_, mut renewed) = acceptance(&renewal, customers[0]);
    let rel = store.active_relationship(p, customers[0]).await.unwrap().unwrap().id;
    for g in &mut renewed {
        g.relationship_id = rel;
    }
    store.create_invitation(renewal.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(renewal.id, customers[0], now(), vec![], renewed, change(customers[0], "invitation.accepted")).await.unwrap();
    let again = invitation(p, pu, None, "count-again");
    let (rels, grants) = acceptance(&again, customers[1]);
    store.create_invitation(again.clone(), change(p, "invitation.created")).await.unwrap();
    assert_eq!(
        conflict(store.accept_invitation(again.id, customers[1], now(), rels, grants, change(customers[1], "x")).await),
        constraint::ACTIVE_RELATIONSHIP
    );
    assert_eq!(totals(store, p).await, (3, 3));
    // A customer the partner creates.
    let org = new_org(OrgKind::Customer, "Counted Created");
    let admin = new_user(org.id, "ga@counted-created.example", vec![Role::GlobalAdmin]);
    let rel = NewRelationship {
        id: RelationshipId::new(),
        partner_org_id: p,
        customer_id: org.id,
        via: "created",
        invitation_id: None,
        indirect_reseller_id: None,
        created_at: now(),
    };
    let created = org.id;
    store.create_customer(org, admin, vec![rel], vec![], change(p, "customer.created")).await.unwrap();
    assert_eq!(totals(store, p).await, (4, 4));
    // Removal, a removal refused, and a relationship made again after a removal.
    store.remove_relationship(p, customers[2], now(), change(p, "relationship.removed")).await.unwrap();
    assert!(matches!(store.remove_relationship(p, customers[2], now(), change(p, "x")).await, Err(StoreError::NotFound)));
    assert_eq!(totals(store, p).await, (3, 3));
    let back = invitation(p, pu, None, "count-back");
    let (rels, grants) = acceptance(&back, customers[2]);
    store.create_invitation(back.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(back.id, customers[2], now(), rels, grants, change(customers[2], "invitation.accepted")).await.unwrap();
    assert_eq!(totals(store, p).await, (4, 4));
    // Concurrent acceptances for the partner and another partner, then concurrent removals.
    let mut joins = Vec::new();
    for i in 0..8 {
        let (c, _) = org_with_admin(store, OrgKind::Customer, &format!("Counted Racer {i}")).await;
        let (partner, user) = if i % 2 == 0 { (p, pu) } else { (other, ou) };
        let inv = invitation(partner, user, None, &format!("count-race-{i}"));
        store.create_invitation(inv.clone(), change(partner, "invitation.created")).await.unwrap();
        joins.push((inv, c));
    }
    let accepted = futures::future::join_all(joins.iter().map(|(inv, c)| {
        let (rels, grants) = acceptance(inv, *c);
        store.accept_invitation(inv.id, *c, now(), rels, grants, change(*c, "invitation.accepted"))
    }))
    .await;
    assert!(accepted.iter().all(Result::is_ok), "{accepted:?}");
    assert_eq!(totals(store, p).await, (8, 8));
    assert_eq!(totals(store, other).await, (4, 4));
    let removed = futures::future::join_all(
        [customers[0], customers[1], created]
            .into_iter()
            .map(|c| store.remove_relationship(p, c, now(), change(p, "relationship.removed"))),
    )
    .await;
    assert!(removed.iter().all(Result::is_ok), "{removed:?}");
    assert_eq!(totals(store, p).await, (5, 5));
    assert_eq!(totals(store, other).await, (4, 4), "another partner's total is its own");
}

pub async fn customer_lists_page_by_keyset(store: &dyn Store) {
    let (p, pu) = org_with_admin(store, OrgKind::Partner, "Lister").await;
    for name in ["delta", "Alpha", "charlie", "Bravo", "echo"] {
        let (c, _) = org_with_admin(store, OrgKind::Customer, name).await;
        let inv = invitation(p, pu, None, &format!("t-{name}"));
        let (rels, grants) = acceptance(&inv, c);
        let id = inv.id;
        store.create_invitation(inv, change(p, "invitation.created")).await.unwrap();
        store.accept_invitation(id, c, now(), rels, grants, change(c, "invitation.accepted")).await.unwrap();
    }
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let q = CustomerQuery { limit: 2, cursor: cursor.clone(), q: None, sort: CustomerSort::Name };
        let page = store.list_customers(p, &q, now()).await.unwrap();
        assert_eq!(page.total, 5);
        names.extend(page.items.iter().map(|c| c.name.clone()));
        assert!(page.items.iter().all(|c| c.grants.len() == 3));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(names, ["Alpha", "Bravo", "charlie", "delta", "echo"], "case-insensitive name order");
    let q = CustomerQuery { limit: 50, cursor: None, q: Some("HARL".into()), sort: CustomerSort::Name };
    assert_eq!(store.list_customers(p, &q, now()).await.unwrap().items.len(), 1);
    let q = CustomerQuery { limit: 50, cursor: None, q: Some("%".into()), sort: CustomerSort::Name };
    assert_eq!(store.list_customers(p, &q, now()).await.unwrap().total, 0, "LIKE wildcards are escaped");
    let q = CustomerQuery { limit: 50, cursor: Some("not-a-cursor".into()), q: None, sort: CustomerSort::Name };
    assert!(matches!(store.list_customers(p, &q, now()).await, Err(StoreError::BadCursor)));
    let newest =
        store.list_customers(p, &CustomerQuery { limit: 1, cursor: None, q: None, sort: CustomerSort::NewestFirst }, now()).await.unwrap();
    let next = CustomerQuery { limit: 50, cursor: newest.next_cursor.clone(), q: None, sort: CustomerSort::NewestFirst };
    let rest = store.list_customers(p, &next, now()).await.unwrap();
    assert_eq!(rest.items.len(), 4);
    assert!(rest.items.iter().all(|c| c.id != newest.items[0].id && c.created_at <= newest.items[0].created_at));
}

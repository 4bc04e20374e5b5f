//! Conformance of the lists that page by keyset: walked two items at a time, each gives every
//! item of its organization once, in its order, with the whole list's total on every page, and
//! refuses a cursor it did not hand out.

use super::*;

/// Every page of a list, `limit` items at a time, following `next_cursor` to the end; checks
/// that each page holds `limit` items but the last, and names the whole list's `total`.
async fn walk<T: std::fmt::Debug>(
    what: &str,
    limit: i64,
    total: usize,
    mut fetch: impl AsyncFnMut(PageQuery) -> StoreResult<Page<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..=total {
        let page = fetch(PageQuery { limit, cursor: cursor.take() }).await.unwrap();
        assert_eq!(page.total, total as i64, "{what}: the total of the whole list on every page");
        let last = page.next_cursor.is_none();
        assert!(
            if last { page.items.len() as i64 <= limit } else { page.items.len() as i64 == limit },
            "{what}: a page of {} items, limit {limit}",
            page.items.len()
        );
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("{what}: more pages than items: {out:?}")
}

/// The list walked two at a time is the list in one page, with `n` items and no repeats.
async fn pages_the_same<T: std::fmt::Debug + PartialEq, K: Ord + std::fmt::Debug>(
    what: &str,
    n: usize,
    key: impl Fn(&T) -> K,
    mut fetch: impl AsyncFnMut(PageQuery) -> StoreResult<Page<T>>,
) -> Vec<T> {
    let whole = fetch(all_of()).await.unwrap();
    assert_eq!((whole.items.len(), whole.total, &whole.next_cursor), (n, n as i64, &None), "{what}: in one page");
    let walked = walk(what, 2, n, &mut fetch).await;
    assert_eq!(walked, whole.items, "{what}: the same items in the same order, none twice, none left out");
    let keys = walked.iter().map(&key).collect::<Vec<_>>();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{what}: strictly in its order: {keys:?}");
    let garbage = fetch(PageQuery { limit: 2, cursor: Some("not-a-cursor".into()) }).await;
    assert!(matches!(garbage, Err(StoreError::BadCursor)), "{what}: {garbage:?}");
    walked
}

pub async fn every_list_pages_by_keyset_within_its_organization(store: &dyn Store) {
    // Users: by e-mail byte by byte, then id; another organization's never.
    let (org, _) = org_with_admin(store, OrgKind::Partner, "Paged").await;
    for email in ["erin@paged.example", "Bob@paged.example", "alice@paged.example", "dave@paged.example"] {
        store.create_user(org, new_user(org, email, vec![Role::SalesAgent]), change(org, "user.created")).await.unwrap();
    }
    let (elsewhere, _) = org_with_admin(store, OrgKind::Partner, "Unpaged").await;
    let users = pages_the_same("users", 5, |u: &User| (u.email.clone(), u.id.0), async |q| store.list_users(org, &q).await).await;
    assert_eq!(users[0].email, "Bob@paged.example", "upper case sorts first, byte by byte");
    assert!(users.iter().all(|u| u.organization_id == org));

    // Provider links, both sides: by the other partner's name, then id.
    let (provider, _) = partner(store, "links-provider", PartnerType::IndirectProvider).await;
    let mut resellers = Vec::new();
    for name in ["r-echo", "r-alpha", "r-delta", "r-bravo", "r-charlie"] {
        let (r, _) = partner(store, name, PartnerType::IndirectReseller).await;
        link(store, provider, r).await;
        resellers.push(r);
    }
    let (other_provider, _) = partner(store, "other-provider", PartnerType::IndirectProvider).await;
    link(store, other_provider, resellers[0]).await;
    let key = |v: &ProviderLinkView| (v.partner.name.clone(), v.partner.id.0);
    let listed = pages_the_same("resellers", 5, key, async |q| store.provider_links(provider, LinkSide::Resellers, &q).await).await;
    assert_eq!(
        listed.iter().map(|v| v.partner.name.as_str()).collect::<Vec<_>>(),
        ["r-alpha", "r-bravo", "r-charlie", "r-delta", "r-echo"]
    );
    let providers = pages_the_same("providers", 2, key, async |q| store.provider_links(resellers[0], LinkSide::Providers, &q).await).await;
    assert!(providers.iter().any(|v| v.partner.id == other_provider) && providers.iter().any(|v| v.partner.id == provider));

    // A customer's partners (by name, then id), each with its grants; and one partner's grants
    // in the customer, revoked ones too (by creation time, role, then id).
    let (customer, _) = org_with_admin(store, OrgKind::Customer, "Many partners").await;
    let mut partners = Vec::new();
    for name in ["p-echo", "p-alpha", "p-delta", "p-bravo", "p-charlie"] {
        let (p, pu) = partner(store, name, PartnerType::Direct).await;
        relate(store, p, pu, customer, &DelegatedRole::DEFAULT, None).await;
        partners.push((p, pu));
    }
    let (lonely, _) = org_with_admin(store, OrgKind::Customer, "One partner").await;
    relate(store, partners[0].0, partners[0].1, lonely, &DelegatedRole::DEFAULT, None).await;
    let of_customer = pages_the_same(
        "partners of a customer",
        5,
        |p: &PartnerOfCustomer| (p.partner.name.clone(), p.partner.id.0),
        async |q| store.partners_of_customer(customer, &q).await,
    )
    .await;
    assert!(of_customer.iter().all(|p| p.relationship.customer_id == customer && p.grants.len() == DelegatedRole::DEFAULT.len()));
    // A renewal under the same relationship: new grants, one of them replacing a live one.
    let (p, pu) = partner(store, "granter", PartnerType::Direct).await;
    let rel = relate(store, p, pu, customer, &DelegatedRole::DEFAULT, None).await;
    let mut again = invitation(p, pu, Some(customer), "renewal");
    again.roles = vec![DelegatedRole::BillingAdmin, DelegatedRole::GlobalReader, DelegatedRole::UserAdmin];
    let (_, mut renewed) = acceptance(&again, customer);
    for g in &mut renewed {
        g.relationship_id = rel;
    }
    store.create_invitation(again.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(again.id, customer, now(), vec![], renewed, change(customer, "invitation.accepted")).await.unwrap();
    let n = store.grants(p, customer).await.unwrap().len();
    assert!(n > 5, "a renewal replaced some grants: {n}");
    let grants = pages_the_same(
        "grants",
        n,
        |g: &Grant| (g.created_at, g.role.as_str(), g.id.0),
        async |q| store.list_grants(p, customer, &q).await,
    )
    .await;
    assert_eq!(grants, store.grants(p, customer).await.unwrap(), "the whole list in the same order");
    assert!(grants.iter().all(|g| g.partner_org_id == p && g.customer_id == customer));

    // Sessions: newest first, ties by id, the expired ones left out.
    let (sorg, suser) = org_with_admin(store, OrgKind::Customer, "Sessions").await;
    let t0 = now();
    for (n, at) in [(1u8, t0), (2, t0), (3, t0 - Duration::minutes(1)), (4, t0 - Duration::minutes(2)), (5, t0 - Duration::minutes(2))] {
        let s = NewSession {
            id: SessionId::new(),
            token_hash: vec![n; 32],
            user_id: suser,
            organization_id: sorg,
            created_at: at,
            expires_at: at + Duration::hours(1),
        };
        store.create_session(s, change(sorg, "session.created")).await.unwrap();
    }
    let gone = NewSession {
        id: SessionId::new(),
        token_hash: vec![9; 32],
        user_id: suser,
        organization_id: sorg,
        created_at: t0 - Duration::hours(3),
        expires_at: t0 - Duration::hours(2),
    };
    store.create_session(gone, change(sorg, "session.created")).await.unwrap();
    let sessions = pages_the_same(
        "sessions",
        5,
        |s: &SessionInfo| std::cmp::Reverse((s.created_at, s.id.0)),
        async |q| store.list_sessions(suser, t0, &q).await,
    )
    .await;
    assert_eq!(sessions[0].created_at, t0);

    // Licenses of a user, by subscription id, through the grants and in the customer's own view.
    let (d, du) = partner(store, "licenser", PartnerType::Direct).await;
    relate(store, d, du, customer, &DelegatedRole::DEFAULT, None).await;
    let basic = offer(store, "basic").await;
    let items = [(basic, 1), (basic, 1), (basic, 1), (basic, 1), (basic, 1)];
    let placed = store.place_order(order(d, du, customer, None, &items), change(d, "order.created")).await.unwrap();
    let holder = tenant_user(store, customer, "holder", vec![]).await;
    let bystander = tenant_user(store, customer, "bystander", vec![]).await;
    let agent = access(d, customer, &[Role::AdminAgent], TenantAction::ManageLicenses);
    for (i, s) in placed.subscriptions.iter().enumerate() {
        let who = if i == 0 { bystander } else { holder };
        store.assign_license(&agent, who, s.id, change(d, "license.assigned")).await.unwrap();
    }
    let reader = access(d, customer, &[Role::AdminAgent], TenantAction::ReadUsers);
    let key = |l: &License| l.subscription_id.0;
    let held = pages_the_same("a user's licenses", 4, key, async |q| store.user_licenses(customer, holder, &q).await).await;
    assert!(held.iter().all(|l| l.user_id == holder));
    let seen = pages_the_same("a tenant user's licenses", 4, key, async |q| store.tenant_user_licenses(&reader, holder, &q).await).await;
    assert_eq!(seen, held);
    assert!(matches!(store.user_licenses(elsewhere, holder, &all_of()).await, Err(StoreError::NotFound)));
    assert_chain_whole(store).await;
}

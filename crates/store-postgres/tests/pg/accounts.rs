//! Accounts on PostgreSQL: users, sessions, sign-in attempts, provider links and the server secret.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sessions_attempts_links_and_the_secret() {
    let Some((store, _db)) = fresh().await else { return };
    let secret = store.server_secret(b"first").await.unwrap();
    assert_eq!(store.server_secret(b"second").await.unwrap(), secret);
    assert_eq!(secret, b"first");

    let p = partner(&store, "Usery").await;
    let other = partner(&store, "Elsewhere").await;
    let second = NewUser {
        id: UserId::new(),
        organization_id: p.org,
        email: "agent@usery.example".into(),
        display_name: "Agent".into(),
        password_hash: "h".into(),
        roles: vec![Role::AdminAgent],
        password_change_required: false,
        created_at: now(),
    };
    assert!(matches!(
        store.create_user(other.org, second.clone(), change("user.created", other.org, None, 0)).await,
        Err(StoreError::NotFound)
    ));
    store.create_user(p.org, second.clone(), change("user.created", p.org, None, 0)).await.unwrap();
    // The same user again: SQLite names the e-mail, not the primary key.
    assert_eq!(conflict(store.create_user(p.org, second.clone(), change("user.created", p.org, None, 0)).await), constraint::EMAIL_TAKEN);
    assert_eq!(
        store.list_users(p.org, &PageQuery::first(500)).await.unwrap().items.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["agent@usery.example", "ga@usery.example"]
    );
    // The last global admin stays.
    let demote = UserPatch { roles: Some(vec![Role::AdminAgent]), display_name: None, locale: None };
    assert_eq!(
        conflict(store.update_user(p.org, p.admin, demote.clone(), change("user.updated", p.org, None, 0)).await),
        constraint::LAST_GLOBAL_ADMIN
    );
    assert_eq!(store.user(p.org, p.admin).await.unwrap().roles, vec![Role::GlobalAdmin]);
    assert!(matches!(
        store.update_user(other.org, second.id, demote.clone(), change("user.updated", other.org, None, 0)).await,
        Err(StoreError::NotFound)
    ));
    let promote = UserPatch { roles: Some(vec![Role::GlobalAdmin]), display_name: Some("Boss".into()), locale: None };
    let u = store.update_user(p.org, second.id, promote, change("user.updated", p.org, None, 0)).await.unwrap();
    assert_eq!((u.roles.clone(), u.display_name.as_str()), (vec![Role::GlobalAdmin], "Boss"));
    // Two admins demoting each other at once: one of them stays.
    let (a, b) = tokio::join!(
        store.update_user(p.org, p.admin, demote.clone(), change("user.updated", p.org, None, 0)),
        store.update_user(p.org, second.id, demote.clone(), change("user.updated", p.org, None, 0)),
    );
    assert_eq!(a.is_ok() as i32 + b.is_ok() as i32, 1, "{a:?} {b:?}");
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE roles LIKE '%global_admin%' AND organization_id = $1")
        .bind(p.org.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(admins, 1);

    // Sessions live until expiry and go with their user.
    let t = now();
    let session = |user: UserId, token: &[u8], expires: OffsetDateTime| NewSession {
        id: SessionId::new(),
        token_hash: token.to_vec(),
        user_id: user,
        organization_id: p.org,
        created_at: t,
        expires_at: expires,
    };
    store.create_session(session(second.id, b"tok-1", t + Duration::hours(1)), change("session.created", p.org, None, 0)).await.unwrap();
    let who = store.principal(b"tok-1", t).await.unwrap().expect("principal");
    assert_eq!((who.user.id, who.organization.id), (second.id, p.org));
    assert!(store.principal(b"tok-1", t + Duration::hours(2)).await.unwrap().is_none());
    let stranger = store.delete_user(other.org, second.id, change("user.deleted", other.org, None, 0)).await;
    assert!(matches!(stranger, Err(StoreError::NotFound)));
    let admin_now = if a.is_ok() { second.id } else { p.admin };
    let deletable = if a.is_ok() { p.admin } else { second.id };
    store.create_session(session(deletable, b"tok-2", t + Duration::hours(1)), change("session.created", p.org, None, 0)).await.unwrap();
    assert_eq!(conflict(store.delete_user(p.org, admin_now, change("user.deleted", p.org, None, 0)).await), constraint::LAST_GLOBAL_ADMIN);
    store.delete_user(p.org, deletable, change("user.deleted", p.org, None, 0)).await.unwrap();
    assert!(store.principal(b"tok-2", t).await.unwrap().is_none());
    assert!(matches!(store.user(p.org, deletable).await, Err(StoreError::NotFound)));

    // Attempts in fixed windows.
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    assert_eq!(store.attempts("k", t0).await.unwrap(), (0, t0));
    assert_eq!(store.count_attempt("k", 60, t0).await.unwrap(), (1, t0 + Duration::seconds(60)));
    assert_eq!(store.count_attempt("k", 60, t0 + Duration::seconds(10)).await.unwrap(), (2, t0 + Duration::seconds(60)));
    assert_eq!(store.attempts("k", t0 + Duration::seconds(59)).await.unwrap(), (2, t0 + Duration::seconds(60)));
    assert_eq!(store.count_attempt("k", 60, t0 + Duration::seconds(60)).await.unwrap(), (1, t0 + Duration::seconds(120)));
    store.clear_attempts("k").await.unwrap();
    assert_eq!(store.attempts("k", t0).await.unwrap().0, 0);

    // Provider links.
    let provider = org(&store, OrgKind::Partner, Some(PartnerType::IndirectProvider), "Provider").await;
    let reseller = org(&store, OrgKind::Partner, Some(PartnerType::IndirectReseller), "Reseller").await;
    let link = |provider_id, reseller_id, active| NewProviderLink {
        id: ProviderLinkId::new(),
        provider_id,
        reseller_id,
        active,
        created_at: now(),
    };
    assert_eq!(
        conflict(store.create_provider_link(link(p.org, reseller.org, false), change("link.created", p.org, None, 0)).await),
        constraint::NOT_A_PROVIDER
    );
    store.create_provider_link(link(provider.org, reseller.org, false), change("link.created", provider.org, None, 0)).await.unwrap();
    assert_eq!(
        conflict(store.create_provider_link(link(provider.org, reseller.org, true), change("link.created", provider.org, None, 0)).await),
        constraint::PROVIDER_LINK_EXISTS
    );
    assert!(!store.active_provider_link(provider.org, reseller.org).await.unwrap());
    store.activate_provider_link(provider.org, reseller.org, now(), change("link.activated", provider.org, None, 0)).await.unwrap();
    assert!(store.active_provider_link(provider.org, reseller.org).await.unwrap());
    assert!(matches!(
        store.activate_provider_link(provider.org, reseller.org, now(), change("link.activated", provider.org, None, 0)).await,
        Err(StoreError::NotFound)
    ));
    let mine = store.provider_links(reseller.org, LinkSide::Providers, &PageQuery::first(500)).await.unwrap().items;
    assert_eq!((mine.len(), mine[0].partner.id, mine[0].state.as_str()), (1, provider.org, "active"));
    assert_eq!(
        store.provider_links(provider.org, LinkSide::Resellers, &PageQuery::first(500)).await.unwrap().items[0].partner.id,
        reseller.org
    );

    // A customer created by a partner, with its relationship and grants, in one go.
    let cid = OrganizationId::new();
    let t = now();
    let rel = NewRelationship {
        id: RelationshipId::new(),
        partner_org_id: reseller.org,
        customer_id: cid,
        via: "created",
        invitation_id: None,
        indirect_reseller_id: None,
        created_at: t,
    };
    let prov_rel = NewRelationship {
        id: RelationshipId::new(),
        partner_org_id: provider.org,
        indirect_reseller_id: Some(reseller.org),
        ..rel.clone()
    };
    let grant = NewGrant {
        id: GrantId::new(),
        relationship_id: rel.id,
        partner_org_id: reseller.org,
        customer_id: cid,
        role: DelegatedRole::GlobalAdmin,
        created_at: t,
        expires_at: t + Duration::days(730),
        auto_extend: false,
    };
    store
        .create_customer(
            NewOrganization {
                id: cid,
                kind: OrgKind::Customer,
                name: "Made".into(),
                domain: "made.example".into(),
                partner_type: None,
                partner_id: None,
                created_at: t,
            },
            NewUser {
                id: UserId::new(),
                organization_id: cid,
                email: "ga@made.example".into(),
                display_name: "M".into(),
                password_hash: "h".into(),
                roles: vec![Role::GlobalAdmin],
                password_change_required: false,
                created_at: t,
            },
            vec![rel.clone(), prov_rel],
            vec![grant],
            change("customer.created", reseller.org, Some(cid), 2),
        )
        .await
        .unwrap();
    let detail = store.customer(reseller.org, cid, now()).await.unwrap();
    assert_eq!(detail.summary.grants.len(), 1);
    assert_eq!(detail.other_partners.iter().map(|p| p.id).collect::<Vec<_>>(), vec![provider.org]);
    let seen_by_provider = store.customer(provider.org, cid, now()).await.unwrap();
    assert_eq!(seen_by_provider.summary.indirect_reseller.map(|r| r.id), Some(reseller.org));
    assert_eq!(store.partners_of_customer(cid, &PageQuery::first(500)).await.unwrap().total, 2);
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

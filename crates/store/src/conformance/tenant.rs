//! Conformance cases of delegated administration and accounts: a customer's users managed
//! through the grants, renewing grants (not under a relationship that ended), new passwords, and the operator's partner list.

use super::*;

pub async fn tenant_users_through_the_grants(store: &dyn Store) {
    let (c, ga) = org_with_admin(store, OrgKind::Customer, "Delegating").await;
    let plain = tenant_user(store, c, "plain", vec![]).await;
    let user_admin = tenant_user(store, c, "useradmin", vec![Role::UserAdmin]).await;
    let (p, pu) = partner(store, "helper", PartnerType::Direct).await;
    relate(store, p, pu, c, &DelegatedRole::DEFAULT, None).await;
    let (stranger, _) = partner(store, "stranger", PartnerType::Direct).await;
    let (bare, bu) = partner(store, "bare", PartnerType::Direct).await;
    relate(store, bare, bu, c, &[], None).await;
    let (revoked, ru) = partner(store, "revoked", PartnerType::Direct).await;
    relate(store, revoked, ru, c, &[DelegatedRole::UserAdmin], None).await;
    store.revoke_grants(revoked, c, now(), change(c, "grant.revoked")).await.unwrap();
    let (full, fu) = partner(store, "full", PartnerType::Direct).await;
    relate(store, full, fu, c, &[DelegatedRole::GlobalAdmin, DelegatedRole::UserAdmin], None).await;
    let admin_agent = [Role::AdminAgent];

    // No relationship: the tenant does not exist. A relationship without a live fitting grant: forbidden.
    let read = |who| access(who, c, &admin_agent, TenantAction::ReadUsers);
    assert!(matches!(store.tenant_users(&read(stranger), &all_of()).await, Err(StoreError::NotFound)));
    let reset_as = |who, roles: &[Role]| access(who, c, roles, TenantAction::ResetPassword);
    let reset = |a: TenantAccess, u| async move {
        store.reset_tenant_user_password(&a, u, "temp-hash".into(), change(a.partner, "user.password_reset")).await
    };
    assert!(matches!(reset(reset_as(stranger, &admin_agent), plain).await, Err(StoreError::NotFound)));
    for who in [bare, revoked] {
        assert!(matches!(store.tenant_users(&read(who), &all_of()).await, Err(StoreError::Forbidden)), "no live grant");
    }
    let mut late = read(p);
    late.now = now() + Duration::days(31);
    assert!(matches!(store.tenant_users(&late, &all_of()).await, Err(StoreError::Forbidden)), "an expired grant");
    let sales = access(p, c, &[Role::SalesAgent], TenantAction::ReadUsers);
    assert!(matches!(store.tenant_users(&sales, &all_of()).await, Err(StoreError::Forbidden)), "a sales agent uses no grant");
    let first = store.tenant_users(&read(p), &PageQuery { limit: 2, cursor: None }).await.unwrap();
    let rest = store.tenant_users(&read(p), &PageQuery { limit: 2, cursor: first.next_cursor.clone() }).await.unwrap();
    let emails: Vec<_> = first.items.iter().chain(&rest.items).map(|u| u.email.clone()).collect();
    assert_eq!((first.total, emails), (3, strings(&["ga@delegating.example", "plain@tenant.example", "useradmin@tenant.example"])));

    // A helpdesk agent resets an ordinary user's password, and nobody's with more rights.
    let (outside, outsider) = org_with_admin(store, OrgKind::Customer, "Outside").await;
    assert!(matches!(reset(reset_as(p, &[Role::HelpdeskAgent]), outsider).await, Err(StoreError::NotFound)), "another tenant's user");
    let token = vec![42; 32];
    let session = NewSession {
        id: SessionId::new(),
        token_hash: token.clone(),
        user_id: plain,
        organization_id: c,
        created_at: now(),
        expires_at: now() + Duration::hours(1),
    };
    store.create_session(session, change(c, "session.created")).await.unwrap();
    reset(reset_as(p, &[Role::HelpdeskAgent]), plain).await.unwrap();
    assert!(store.user(c, plain).await.unwrap().password_change_required);
    assert_eq!(store.credentials("plain@tenant.example").await.unwrap().unwrap().password_hash, "temp-hash");
    assert!(store.principal(&token, now()).await.unwrap().is_none(), "a reset ends the user's sessions");
    for target in [user_admin, ga] {
        assert!(matches!(reset(reset_as(p, &[Role::HelpdeskAgent]), target).await, Err(StoreError::Forbidden)));
    }
    let helpdesk_manage = access(p, c, &[Role::HelpdeskAgent], TenantAction::ManageUsers);
    let someone = new_user(c, "someone@tenant.example", vec![]);
    assert!(matches!(store.create_tenant_user(&helpdesk_manage, someone, change(p, "x")).await, Err(StoreError::Forbidden)));

    // The customer's global admin: only with a live global_admin grant.
    let manage = |who| access(who, c, &admin_agent, TenantAction::ManageUsers);
    let demote = || UserPatch { roles: Some(vec![Role::UserAdmin]), display_name: None, locale: None };
    let promote = || UserPatch { roles: Some(vec![Role::GlobalAdmin]), display_name: None, locale: None };
    let forbidden = |r: StoreResult<User>| assert!(matches!(r, Err(StoreError::Forbidden)), "{r:?}");
    assert!(matches!(reset(reset_as(p, &admin_agent), ga).await, Err(StoreError::Forbidden)));
    forbidden(store.update_tenant_user(&manage(p), ga, demote(), change(p, "x")).await);
    forbidden(store.update_tenant_user(&manage(p), plain, promote(), change(p, "x")).await);
    assert!(matches!(store.delete_tenant_user(&manage(p), ga, change(p, "x")).await, Err(StoreError::Forbidden)));
    forbidden(store.create_tenant_user(&manage(p), new_user(c, "boss@tenant.example", vec![Role::GlobalAdmin]), change(p, "x")).await);
    assert_eq!(store.user(c, ga).await.unwrap().roles, vec![Role::GlobalAdmin], "nothing changed");
    assert_eq!(conflict(store.update_tenant_user(&manage(full), ga, demote(), change(full, "x")).await), constraint::LAST_GLOBAL_ADMIN);
    assert_eq!(conflict(store.delete_tenant_user(&manage(full), ga, change(full, "x")).await), constraint::LAST_GLOBAL_ADMIN);
    reset(reset_as(full, &admin_agent), ga).await.unwrap();

    // Creating, with roles and with none; changing.
    let mut temp = new_user(c, "fresh@tenant.example", vec![Role::UserAdmin]);
    temp.password_change_required = true;
    let created = store.create_tenant_user(&manage(p), temp, change(p, "user.created")).await.unwrap();
    assert_eq!(
        (created.roles.as_slice(), created.password_change_required, created.organization_id),
        ([Role::UserAdmin].as_slice(), true, c)
    );
    let nobody =
        store.create_tenant_user(&manage(p), new_user(c, "nobody@tenant.example", vec![]), change(p, "user.created")).await.unwrap();
    assert!(nobody.roles.is_empty());
    let misplaced = new_user(outside, "misplaced@tenant.example", vec![]);
    assert!(matches!(store.create_tenant_user(&manage(p), misplaced, change(p, "x")).await, Err(StoreError::NotFound)));
    let renamed = UserPatch { roles: None, display_name: Some("Renamed".into()), locale: None };
    assert_eq!(store.update_tenant_user(&manage(p), plain, renamed, change(p, "user.updated")).await.unwrap().display_name, "Renamed");
    assert!(matches!(
        store.update_tenant_user(&manage(p), outsider, UserPatch::default(), change(p, "x")).await,
        Err(StoreError::NotFound)
    ));

    // Deleting a user releases their licenses.
    let basic = offer(store, "basic").await;
    let placed = store.place_order(order(p, pu, c, None, &[(basic, 2)]), change(p, "order.created")).await.unwrap();
    let id = placed.subscriptions[0].id;
    store
        .assign_license(&access(p, c, &admin_agent, TenantAction::ManageLicenses), nobody.id, id, change(p, "license.assigned"))
        .await
        .unwrap();
    store.delete_tenant_user(&manage(p), nobody.id, change(c, "user.deleted")).await.unwrap();
    assert!(matches!(store.user(c, nobody.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.tenant_subscriptions(c, &all_of()).await.unwrap().items[0].assigned, 0);
    let deleted =
        store.list_audit(c, &AuditFilter { limit: 1, action: Some("user.deleted".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(deleted.items[0].body["details"]["released_licenses"], 1);
    // And so does deleting one in one's own organization.
    store
        .assign_license(&access(p, c, &admin_agent, TenantAction::ManageLicenses), plain, id, change(p, "license.assigned"))
        .await
        .unwrap();
    store.delete_user(c, plain, change(c, "user.deleted")).await.unwrap();
    assert_eq!(store.tenant_subscriptions(c, &all_of()).await.unwrap().items[0].assigned, 0);
    assert_chain_whole(store).await;
}

pub async fn a_renewal_leaves_one_unrevoked_grant_per_role(store: &dyn Store) {
    let (p, pu) = partner(store, "renewer", PartnerType::Direct).await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Renewed").await;
    let mut first = invitation(p, pu, Some(c), "first");
    first.roles = vec![DelegatedRole::UserAdmin, DelegatedRole::LicenseAdmin];
    let (rels, mut grants) = acceptance(&first, c);
    // The old user_admin grant ran out without being revoked.
    grants[0].created_at = now() - Duration::days(10);
    grants[0].expires_at = now() - Duration::days(1);
    let (old_user_admin, old_license_admin, rel) = (grants[0].clone(), grants[1].id, rels[0].id);
    store.create_invitation(first.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(first.id, c, now(), rels, grants, change(c, "invitation.accepted")).await.unwrap();

    let mut second = invitation(p, pu, Some(c), "second");
    second.roles = vec![DelegatedRole::UserAdmin, DelegatedRole::LicenseAdmin, DelegatedRole::HelpdeskAdmin];
    let (_, mut renewed) = acceptance(&second, c);
    for g in &mut renewed {
        g.relationship_id = rel;
    }
    store.create_invitation(second.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(second.id, c, now(), vec![], renewed, change(c, "invitation.accepted")).await.unwrap();

    let all = store.grants(p, c).await.unwrap();
    assert_eq!(all.len(), 5);
    for role in second.roles {
        assert_eq!(all.iter().filter(|g| g.role == role && g.revoked_at.is_none()).count(), 1, "{role:?}");
        assert_eq!(all.iter().filter(|g| g.role == role && g.is_live(now())).count(), 1, "{role:?}");
    }
    let old = all.iter().find(|g| g.id == old_user_admin.id).unwrap();
    assert_eq!(old.revoked_at, Some(old_user_admin.expires_at), "ended at its own expiry");
    assert_eq!(old.state(now()), "expired");
    let old = all.iter().find(|g| g.id == old_license_admin).unwrap();
    assert!(old.revoked_at.is_some_and(|t| t <= now()));
    assert_eq!(old.state(now()), "revoked");
    assert_eq!(store.customer(p, c, now()).await.unwrap().summary.grants.len(), 3);
    let accepted =
        store.list_audit(c, &AuditFilter { limit: 5, action: Some("invitation.accepted".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(accepted.items[0].body["details"]["replaced_grants"], 2);
    assert!(accepted.items[1].body["details"].get("replaced_grants").is_none(), "nothing replaced the first time");
    assert_chain_whole(store).await;
}

pub async fn a_renewal_under_an_ended_relationship_is_refused(store: &dyn Store) {
    let (p, pu) = partner(store, "renewer", PartnerType::Direct).await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Left").await;
    let ended = relate(store, p, pu, c, &[DelegatedRole::UserAdmin], None).await;
    // The service read the relationship for the renewal; a removal committed before the acceptance.
    let renewal = invitation(p, pu, Some(c), "renewal");
    store.create_invitation(renewal.clone(), change(p, "invitation.created")).await.unwrap();
    let (_, mut stale) = acceptance(&renewal, c);
    for g in &mut stale {
        g.relationship_id = ended;
    }
    store.remove_relationship(p, c, now(), change(p, "relationship.removed")).await.unwrap();
    let unchanged = |records, grants| async move {
        assert_eq!(store.invitation(p, renewal.id).await.unwrap().state, InvitationState::Pending);
        assert_eq!(store.grants(p, c).await.unwrap(), grants, "no grant made or ended");
        assert_eq!(audit_records(store).await, records, "nothing recorded");
    };
    let before = (audit_records(store).await, store.grants(p, c).await.unwrap());
    let accept = |grants: Vec<NewGrant>| store.accept_invitation(renewal.id, c, now(), vec![], grants, change(c, "invitation.accepted"));
    assert_eq!(conflict(accept(stale.clone()).await), constraint::RELATIONSHIP_ENDED);
    unchanged(before.0, before.1).await;
    assert!(store.active_relationship(p, c).await.unwrap().is_none());

    // Connected again meanwhile: a new relationship does not revive the ended one, nor do its
    // live grants end.
    relate(store, p, pu, c, &[DelegatedRole::UserAdmin], None).await;
    let before = (audit_records(store).await, store.grants(p, c).await.unwrap());
    assert_eq!(conflict(accept(stale.clone()).await), constraint::RELATIONSHIP_ENDED);
    unchanged(before.0, before.1.clone()).await;
    assert_eq!(before.1.iter().filter(|g| g.is_live(now())).count(), 1);

    // Named after the current relationship (the service reads it again), the renewal goes through.
    let current = store.active_relationship(p, c).await.unwrap().unwrap().id;
    let mut renewed = stale.clone();
    for g in &mut renewed {
        g.id = GrantId::new();
        g.relationship_id = current;
    }
    store.accept_invitation(renewal.id, c, now(), vec![], renewed, change(c, "invitation.accepted")).await.unwrap();
    assert_eq!(store.grants(p, c).await.unwrap().iter().filter(|g| g.is_live(now())).count(), renewal.roles.len());
    // An answered invitation says so first, whatever its grants name.
    assert_eq!(conflict(accept(stale).await), constraint::INVITATION_NOT_PENDING);
    assert_chain_whole(store).await;
}

pub async fn a_new_password_ends_every_other_session(store: &dyn Store) {
    let (org, admin) = org_with_admin(store, OrgKind::Partner, "Rotating").await;
    let (other, _) = org_with_admin(store, OrgKind::Partner, "Bystanding").await;
    let mut ids = Vec::new();
    for n in 1..=3u8 {
        let s = NewSession {
            id: SessionId::new(),
            token_hash: vec![n; 32],
            user_id: admin,
            organization_id: org,
            created_at: now(),
            expires_at: now() + Duration::hours(1),
        };
        ids.push(s.id);
        store.create_session(s, change(org, "session.created")).await.unwrap();
    }
    store.set_password(org, admin, "new-hash".into(), true, Some(ids[0]), change(org, "user.password_changed")).await.unwrap();
    let kept = store.principal(&[1; 32], now()).await.unwrap().unwrap();
    assert_eq!((kept.session_id, kept.user.password_change_required), (ids[0], true));
    for n in [2u8, 3] {
        assert!(store.principal(&[n; 32], now()).await.unwrap().is_none(), "session {n} ended");
    }
    assert_eq!(store.credentials("ga@rotating.example").await.unwrap().unwrap().password_hash, "new-hash");
    store.set_password(org, admin, "newer-hash".into(), false, None, change(org, "user.password_changed")).await.unwrap();
    assert!(store.principal(&[1; 32], now()).await.unwrap().is_none(), "without a kept session every one ends");
    assert!(!store.user(org, admin).await.unwrap().password_change_required);
    let r = store.set_password(other, admin, "h".into(), false, None, change(other, "x")).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_chain_whole(store).await;
}

pub async fn partners_page_by_name(store: &dyn Store) {
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        partner(store, name, PartnerType::Direct).await;
    }
    org_with_admin(store, OrgKind::Customer, "customer").await;
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_partners(&PageQuery { limit: 2, cursor: cursor.clone() }).await.unwrap();
        assert_eq!(page.total, 5);
        assert!(page.items.iter().all(|o| o.kind == OrgKind::Partner));
        names.extend(page.items.iter().map(|o| o.name.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert!(matches!(store.list_partners(&PageQuery { limit: 2, cursor: Some("nope".into()) }).await, Err(StoreError::BadCursor)));
    assert_chain_whole(store).await;
}

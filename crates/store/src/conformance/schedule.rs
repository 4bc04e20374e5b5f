//! Scheduled changes and the e-mail outbox: each item changes once, however often or from
//! however many places it is asked; an e-mail is held by one claim and ended by its holder.

use super::*;

fn mail(org: OrganizationId, inv: InvitationId, to: &str) -> NewMail {
    NewMail {
        id: uuid::Uuid::now_v7(),
        organization_id: org,
        kind: MailKind::Invitation,
        invitation_id: Some(inv),
        to: to.into(),
        locale: Locale::En,
        from_name: "Partner".into(),
        subject: "s".into(),
        body: "b {invitation_url}".into(),
        created_at: now(),
    }
}

pub(super) async fn scheduled_changes_happen_once(store: &dyn Store) {
    let (p, u) = org_with_admin(store, OrgKind::Partner, "Sched Partner").await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Sched Customer").await;
    let inv = invitation(p, u, None, "sched-token");
    store.create_invitation(inv.clone(), change(p, "invitation.created")).await.unwrap();
    let later = now() + Duration::days(11);
    assert!(store.invitations_past_expiry(now(), 10).await.unwrap().is_empty());
    let due = store.invitations_past_expiry(later, 10).await.unwrap();
    assert_eq!(due.iter().map(|i| i.invitation.id).collect::<Vec<_>>(), vec![inv.id]);
    let before = audit_records(store).await;
    assert!(!store.expire_invitation(inv.id, now(), change(p, "invitation.expired")).await.unwrap(), "not past expiry yet");
    assert!(store.expire_invitation(inv.id, later, change(p, "invitation.expired")).await.unwrap());
    assert!(!store.expire_invitation(inv.id, later, change(p, "invitation.expired")).await.unwrap());
    assert_eq!(audit_records(store).await, before + 1, "one record, for the one change");
    assert_eq!(store.invitation(p, inv.id).await.unwrap().state, InvitationState::Expired);
    assert!(store.invitations_past_expiry(later, 10).await.unwrap().is_empty());

    // A grant: expired once; never extended without auto-extension; each warning once.
    relate(store, p, u, c, &[DelegatedRole::UserAdmin], None).await;
    let soon = store.grants_ending_soon(now() + Duration::days(25), 10).await.unwrap();
    assert_eq!(soon.len(), 1);
    let g = &soon[0];
    assert_eq!((g.duration_days, g.warned.clone(), g.customer_name.as_str()), (30, vec![], "Sched Customer"));
    store.warn_grants(vec![(g.grant.id, 30)], now(), vec![], change(p, "grant.expiring")).await.unwrap();
    let again = store.warn_grants(vec![(g.grant.id, 7), (g.grant.id, 30)], now(), vec![], change(p, "grant.expiring")).await;
    assert!(matches!(again, Err(StoreError::Conflict { constraint: constraint::GRANT_WARNED })), "{again:?}");
    assert_eq!(store.grants_ending_soon(now() + Duration::days(25), 10).await.unwrap()[0].warned, vec![30], "the refused one left nothing");
    let t5 = now() + Duration::days(5);
    assert!(store.grants_ending_soon(t5, 10).await.unwrap().is_empty(), "warned for 30 days, the 7-day warning not due: not read");
    let end = g.grant.expires_at;
    assert!(!store.extend_grant(g.grant.id, end, end + Duration::days(30), change(p, "grant.extended")).await.unwrap());
    let past = end + Duration::hours(1);
    assert_eq!(store.grants_past_expiry(past, 10).await.unwrap().len(), 1);
    assert!(store.expire_grant(g.grant.id, past, change(p, "grant.expired")).await.unwrap());
    assert!(!store.expire_grant(g.grant.id, past, change(p, "grant.expired")).await.unwrap());
    assert!(store.grants_past_expiry(past, 10).await.unwrap().is_empty());

    // An auto-extending grant: moved on once from where it ended.
    let (c2, _) = org_with_admin(store, OrgKind::Customer, "Sched Extended").await;
    let mut inv2 = invitation(p, u, Some(c2), "sched-token-2");
    inv2.auto_extend = true;
    inv2.roles = vec![DelegatedRole::LicenseAdmin];
    let (rels, mut grants) = acceptance(&inv2, c2);
    grants[0].auto_extend = true;
    store.create_invitation(inv2.clone(), change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(inv2.id, c2, now(), rels, grants, change(c2, "invitation.accepted")).await.unwrap();
    let due = store.grants_past_expiry(past, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let (id, from) = (due[0].grant.id, due[0].grant.expires_at);
    let to = from + Duration::days(30);
    assert!(store.extend_grant(id, from, to, change(p, "grant.extended")).await.unwrap());
    assert!(!store.extend_grant(id, from, to, change(p, "grant.extended")).await.unwrap(), "it no longer ends there");
    assert!(store.grants_past_expiry(past, 10).await.unwrap().is_empty());
    assert!(
        store.grants_ending_soon(now() + Duration::days(45), 10).await.unwrap().iter().all(|g| g.grant.id != id),
        "auto-extending grants are not warned"
    );

    // The lease: one holder at a time, taken over once it lapses.
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let t = now();
    assert!(store.take_lease("scheduler", a, t, t + Duration::minutes(5)).await.unwrap());
    assert!(!store.take_lease("scheduler", b, t, t + Duration::minutes(5)).await.unwrap());
    assert!(store.take_lease("scheduler", a, t, t + Duration::minutes(5)).await.unwrap(), "renewed by its holder");
    let lapsed = t + Duration::minutes(6);
    assert!(store.take_lease("scheduler", b, lapsed, lapsed + Duration::minutes(5)).await.unwrap());
    assert!(!store.take_lease("scheduler", a, lapsed, lapsed + Duration::minutes(5)).await.unwrap());
    assert_eq!(store.recipients(p, &[Role::GlobalAdmin]).await.unwrap().len(), 1);
    assert!(store.recipients(p, &[Role::HelpdeskAgent]).await.unwrap().is_empty());
    assert_chain_whole(store).await;
}

pub(super) async fn an_email_is_claimed_by_one_and_ended_by_its_holder(store: &dyn Store) {
    let (p, u) = org_with_admin(store, OrgKind::Partner, "Mail Partner").await;
    let (other, _) = org_with_admin(store, OrgKind::Partner, "Mail Other").await;
    let inv = invitation(p, u, None, "mail-token");
    store.create_invitation(inv.clone(), change(p, "invitation.created")).await.unwrap();
    let refused = store.queue_invitation_mail(other, mail(other, inv.id, "x@c.example"), now(), change(other, "email.queued")).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "another partner's invitation: {refused:?}");
    store.queue_invitation_mail(p, mail(p, inv.id, "ga@c.example"), now(), change(p, "email.queued")).await.unwrap();
    assert_eq!(store.invitation_mail(p, inv.id).await.unwrap().unwrap().state, "queued");
    assert!(store.invitation_mail(other, inv.id).await.unwrap().is_none());

    let t = now();
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (ca, cb) =
        futures::future::join(store.claim_mail(a, t, t + Duration::minutes(5), 10), store.claim_mail(b, t, t + Duration::minutes(5), 10))
            .await;
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(ca.len() + cb.len(), 1, "claimed by one");
    let (holder, loser) = if ca.is_empty() { (b, a) } else { (a, b) };
    let id = ca.iter().chain(&cb).next().unwrap().id;
    assert!(!store.finish_mail(id, loser, t, MailOutcome::Sent, None).await.unwrap(), "not the holder");
    let retry = MailOutcome::Retry { at: t + Duration::minutes(1), kind: MailErrorKind::Unreachable, error: "down".into() };
    assert!(store.finish_mail(id, holder, t, retry, None).await.unwrap());
    assert!(store.claim_mail(a, t, t + Duration::minutes(5), 10).await.unwrap().is_empty(), "not due yet");
    let s = store.invitation_mail(p, inv.id).await.unwrap().unwrap();
    assert_eq!((s.state.as_str(), s.attempts, s.last_error_kind), ("queued", 1, Some(MailErrorKind::Unreachable)));
    let t2 = t + Duration::minutes(2);
    let c = uuid::Uuid::now_v7();
    let claimed = store.claim_mail(c, t2, t2 + Duration::minutes(5), 10).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts, claimed[0].to.as_str()), (1, 1, "ga@c.example"));
    assert!(!store.finish_mail(id, holder, t2, MailOutcome::Sent, None).await.unwrap(), "an old claim ends nothing");
    assert!(store.finish_mail(id, c, t2, MailOutcome::Sent, Some(change(p, "email.sent"))).await.unwrap());
    assert!(!store.finish_mail(id, c, t2, MailOutcome::Sent, Some(change(p, "email.sent"))).await.unwrap(), "sent once");
    let s = store.invitation_mail(p, inv.id).await.unwrap().unwrap();
    assert_eq!((s.state.as_str(), s.attempts, s.sent_at), ("sent", 2, Some(t2)));
    assert_eq!(store.invitation(p, inv.id).await.unwrap().sent_at, Some(t2));
    let later = t2 + Duration::days(1);
    assert!(store.claim_mail(c, later, later + Duration::minutes(5), 10).await.unwrap().is_empty());
    // A claim that lapses is taken over.
    store.queue_invitation_mail(p, mail(p, inv.id, "again@c.example"), t2, change(p, "email.queued")).await.unwrap();
    assert_eq!(store.claim_mail(a, later, later + Duration::minutes(5), 10).await.unwrap().len(), 1);
    assert!(store.claim_mail(b, later, later + Duration::minutes(5), 10).await.unwrap().is_empty());
    let lapsed = later + Duration::minutes(6);
    let taken = store.claim_mail(b, lapsed, lapsed + Duration::minutes(5), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    let failed = MailOutcome::Failed { kind: MailErrorKind::Refused, error: "550".into() };
    assert!(!store.finish_mail(taken[0].id, a, lapsed, failed.clone(), None).await.unwrap());
    assert!(store.finish_mail(taken[0].id, b, lapsed, failed, Some(change(p, "email.failed"))).await.unwrap());
    let s = store.invitation_mail(p, inv.id).await.unwrap().unwrap();
    assert_eq!((s.state.as_str(), s.last_error_kind, s.next_attempt_at), ("failed", Some(MailErrorKind::Refused), None));
    assert_chain_whole(store).await;
}

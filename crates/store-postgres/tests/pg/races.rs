//! Commerce and delegated administration under real concurrency, which SQLite's single writer
//! never shows: seats taken at once, orders and renewals racing removals, tenant actions racing
//! revocations.

use super::*;
use std::time::Instant;
use tokio::sync::Barrier;

fn offer(name: &str) -> NewOffer {
    NewOffer { id: OfferId::new(), name: name.into(), unit_price_cents: 1000, currency: "EUR".into(), created_at: now() }
}

async fn new_offer(store: &PgStore, p: &Made) -> OfferId {
    let o = offer("Seats");
    let id = o.id;
    store.create_offer(o, change("offer.created", p.org, None, 0)).await.unwrap();
    id
}

fn order(placer: &Made, customer: OrganizationId, reseller: Option<OrganizationId>, offer: OfferId, quantity: i64) -> NewOrder {
    NewOrder {
        id: OrderId::new(),
        customer_id: customer,
        placed_by: placer.org,
        placed_by_user: placer.admin,
        reseller_of_record: reseller,
        created_at: now(),
        items: vec![NewSubscription { id: SubscriptionId::new(), offer_id: offer, quantity }],
    }
}

fn access(p: &Made, c: &Made, action: TenantAction) -> TenantAccess {
    TenantAccess { partner: p.org, customer: c.org, agent_roles: vec![Role::AdminAgent], action, now: now() }
}

fn tenant_user(c: &Made, email: String) -> NewUser {
    NewUser {
        id: UserId::new(),
        organization_id: c.org,
        email,
        display_name: "Someone".into(),
        password_hash: "$argon2id$fake".into(),
        roles: vec![],
        password_change_required: true,
        created_at: now(),
    }
}

/// Open subscriptions whose placing partner or partner of record has no active relationship
/// with the customer: what a removal racing an order must never leave.
async fn orphaned_subscriptions(store: &PgStore) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM subscriptions s WHERE s.status <> 'cancelled' AND EXISTS (
             SELECT 1 FROM unnest(ARRAY[s.placed_by, s.partner_of_record]) AS p(id) WHERE NOT EXISTS (
                 SELECT 1 FROM relationships r WHERE r.partner_org_id = p.id AND r.customer_id = s.customer_id AND r.state = 'active'))",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn thirty_two_concurrent_assignments_take_exactly_the_five_seats() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Seller").await;
    let c = customer(&store, "Seated").await;
    invite_and_accept(&store, &p, &c).await;
    let o = new_offer(&store, &p).await;
    let placed = store.place_order(order(&p, c.org, None, o, 5), change("order.created", p.org, Some(c.org), 1)).await.unwrap();
    let sub = placed.subscriptions[0].id;
    let mut users = Vec::new();
    for i in 0..32 {
        let u = tenant_user(&c, format!("user{i}@seated.example"));
        users.push(u.id);
        store.create_user(c.org, u, change("user.created", c.org, None, 0)).await.unwrap();
    }
    let start = Arc::new(Barrier::new(users.len()));
    let tasks: Vec<_> = users
        .iter()
        .map(|&u| {
            let (store, start, a) = (store.clone(), start.clone(), access(&p, &c, TenantAction::ManageLicenses));
            tokio::spawn(async move {
                start.wait().await;
                store.assign_license(&a, u, sub, change("license.assigned", a.partner, Some(a.customer), 1)).await
            })
        })
        .collect();
    let results: Vec<_> = futures_join(tasks).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 5, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::Conflict { constraint: constraint::NO_SEATS }))));
    let (assigned, rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT assigned FROM subscriptions WHERE id = $1), (SELECT count(*) FROM licenses WHERE subscription_id = $1)",
    )
    .bind(sub.0)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((assigned, rows), (5, 5));
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

async fn futures_join<T: Send + 'static>(tasks: impl IntoIterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// 50 rounds, direct and indirect in turn: an order and the removal of the relationship it
/// relies on, at once. One of them wins; never an open subscription without its partners.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_racing_a_removal_never_outlives_the_relationship() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let direct = partner(&store, "Direct Seller").await;
    let provider = org(&store, OrgKind::Partner, Some(PartnerType::IndirectProvider), "Provider").await;
    let reseller = org(&store, OrgKind::Partner, Some(PartnerType::IndirectReseller), "Reseller").await;
    let link = NewProviderLink {
        id: ProviderLinkId::new(),
        provider_id: provider.org,
        reseller_id: reseller.org,
        active: true,
        created_at: now(),
    };
    store.create_provider_link(link, change("provider_link.created", provider.org, None, 0)).await.unwrap();
    let o = new_offer(&store, &direct).await;
    let (mut orders_won, mut removals_won) = (0, 0);
    for round in 0..50 {
        let c = customer(&store, &format!("Raced {round}")).await;
        let indirect = round % 2 == 1;
        // Indirect: the provider orders for the reseller while the reseller leaves.
        let (placer, leaving, reseller_of_record) = if indirect {
            invite_and_accept(&store, &provider, &c).await;
            invite_and_accept(&store, &reseller, &c).await;
            (&provider, reseller.org, Some(reseller.org))
        } else {
            invite_and_accept(&store, &direct, &c).await;
            (&direct, direct.org, None)
        };
        let start = Arc::new(Barrier::new(2));
        let new_order = order(placer, c.org, reseller_of_record, o, 1);
        let (s1, b1, s2, b2) = (store.clone(), start.clone(), store.clone(), start.clone());
        let (placer_org, customer_id) = (placer.org, c.org);
        let placing = tokio::spawn(async move {
            b1.wait().await;
            s1.place_order(new_order, change("order.created", placer_org, Some(customer_id), 1)).await
        });
        let removing = tokio::spawn(async move {
            b2.wait().await;
            s2.remove_relationship(leaving, customer_id, now(), change("relationship.removed", leaving, Some(customer_id), 1)).await
        });
        let (placed, removed) = (placing.await.unwrap(), removing.await.unwrap());
        match (&placed, &removed) {
            (Ok(_), Err(StoreError::Blocked(b))) if b.len() == 1 => orders_won += 1,
            (Err(StoreError::NotFound), Ok(_)) if !indirect => removals_won += 1,
            (Err(StoreError::Conflict { constraint: constraint::NO_RESELLER_RELATIONSHIP }), Ok(_)) if indirect => removals_won += 1,
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(orphaned_subscriptions(&store).await, 0, "round {round}");
    }
    println!("orders first: {orders_won}, removals first: {removals_won}");
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

/// Tenant actions in a loop while the customer revokes the partner's grants: none that
/// started after the revocation committed succeeds, and every one that succeeded committed
/// before it (its audit record comes first in the chain, whose lock is held to commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_tenant_action_racing_a_revocation_never_succeeds_after_it() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Agent Seller").await;
    for round in 0..20 {
        let c = Arc::new(customer(&store, &format!("Revoking {round}")).await);
        invite_and_accept(&store, &p, &c).await;
        let revoked_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let mut workers = Vec::new();
        for w in 0..4 {
            let (store, c, revoked_at, p_org) = (store.clone(), c.clone(), revoked_at.clone(), p.org);
            workers.push(tokio::spawn(async move {
                let mut succeeded = 0;
                for i in 0.. {
                    let started = Instant::now();
                    let a = TenantAccess {
                        partner: p_org,
                        customer: c.org,
                        agent_roles: vec![Role::AdminAgent],
                        action: TenantAction::ManageUsers,
                        now: now(),
                    };
                    let u = tenant_user(&c, format!("w{w}-{i}@revoking-{round}.example"));
                    let result = if i % 3 == 2 {
                        let a = TenantAccess { action: TenantAction::ReadUsers, ..a };
                        store.tenant_users(&a, &PageQuery { limit: 1, cursor: None }).await.map(|_| false)
                    } else {
                        store.create_tenant_user(&a, u, change("user.created", p_org, Some(c.org), 1)).await.map(|_| true)
                    };
                    let after_revocation = revoked_at.lock().unwrap().is_some_and(|t| started > t);
                    match result {
                        Ok(wrote) => {
                            assert!(!after_revocation, "round {round}: a tenant action started after the revocation committed succeeded");
                            succeeded += i64::from(wrote);
                        }
                        Err(StoreError::Forbidden) => return succeeded,
                        Err(e) => panic!("round {round}: {e:?}"),
                    }
                }
                succeeded
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 + round * 2)).await;
        let revoked = store.revoke_grants(p.org, c.org, now(), change("grants.revoked", c.org, Some(c.org), 1)).await.unwrap();
        *revoked_at.lock().unwrap() = Some(Instant::now());
        assert_eq!(revoked, 2);
        let mut succeeded = 0;
        for w in workers {
            succeeded += w.await.unwrap();
        }
        // Every write that succeeded is in the chain before the revocation.
        let seqs: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, action FROM audit_records WHERE customer_id = $1 AND action IN ('user.created', 'grants.revoked') ORDER BY seq",
        )
        .bind(c.org.0)
        .fetch_all(store.pool())
        .await
        .unwrap();
        let actions = seqs.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>();
        assert_eq!(actions.last(), Some(&"grants.revoked"), "round {round}: {actions:?}");
        assert_eq!(actions.len() as i64, succeeded + 1, "round {round}");
    }
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

/// A bound invitation accepted for a customer already connected: new grants of the same roles.
async fn renewal(store: &PgStore, p: &Made, c: &Made) -> (InvitationId, Vec<NewGrant>) {
    let inv = new_invitation(p, Some(c.org), vec![DelegatedRole::UserAdmin, DelegatedRole::GlobalReader]);
    store.create_invitation(inv.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let rel = store.active_relationship(p.org, c.org).await.unwrap().unwrap();
    let (_, mut grants) = acceptance(&inv, c.org);
    for g in &mut grants {
        g.relationship_id = rel.id;
    }
    (inv.id, grants)
}

async fn live_roles(store: &PgStore, p: &Made, c: &Made) -> Vec<DelegatedRole> {
    let t = now();
    let mut roles: Vec<_> = store.grants(p.org, c.org).await.unwrap().into_iter().filter(|g| g.is_live(t)).map(|g| g.role).collect();
    roles.sort_by_key(|r| r.as_str());
    roles
}

/// Renewals racing each other and racing a revocation: each succeeds, one unrevoked grant per
/// role remains, and the last to commit (by the audit chain) decides what is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewals_racing_renewals_and_revocations_end_as_the_last_one_says() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Renewing").await;
    let both = vec![DelegatedRole::GlobalReader, DelegatedRole::UserAdmin];
    for round in 0..20 {
        let c = customer(&store, &format!("Renewed {round}")).await;
        invite_and_accept(&store, &p, &c).await;
        let (a, b) = (renewal(&store, &p, &c).await, renewal(&store, &p, &c).await);
        let start = Arc::new(Barrier::new(3));
        let accepting = [a, b].map(|(inv, grants)| {
            let (store, start, customer_id) = (store.clone(), start.clone(), c.org);
            tokio::spawn(async move {
                start.wait().await;
                let ch = change("invitation.accepted", customer_id, Some(customer_id), 1);
                store.accept_invitation(inv, customer_id, now(), vec![], grants, ch).await
            })
        });
        let revoking = {
            let (store, start, p_org, customer_id) = (store.clone(), start.clone(), p.org, c.org);
            tokio::spawn(async move {
                start.wait().await;
                store.revoke_grants(p_org, customer_id, now(), change("grants.revoked", customer_id, Some(customer_id), 1)).await
            })
        };
        for t in accepting {
            t.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        }
        revoking.await.unwrap().unwrap();
        let unrevoked: i64 = sqlx::query_scalar("SELECT count(*) FROM grants WHERE customer_id = $1 AND revoked_at IS NULL")
            .bind(c.org.0)
            .fetch_one(store.pool())
            .await
            .unwrap();
        let last: String = sqlx::query_scalar(
            "SELECT action FROM audit_records WHERE customer_id = $1 AND action IN ('invitation.accepted', 'grants.revoked') ORDER BY seq DESC LIMIT 1",
        )
        .bind(c.org.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
        let expected = if last == "grants.revoked" { vec![] } else { both.clone() };
        assert_eq!(live_roles(&store, &p, &c).await, expected, "round {round}: {last} last");
        assert_eq!(unrevoked, expected.len() as i64, "round {round}");
    }
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

/// Renewals racing the removal of the relationship they renew (read, as the service does,
/// before either starts): a renewal that commits first has its grants revoked by the removal,
/// one that comes after answers `RELATIONSHIP_ENDED` and writes nothing; never an unrevoked
/// grant under a removed relationship.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewals_racing_removals_leave_no_grant_under_an_ended_relationship() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Renewing").await;
    let (mut renewals_won, mut removals_won) = (0, 0);
    for round in 0..20 {
        let c = customer(&store, &format!("Leaving {round}")).await;
        invite_and_accept(&store, &p, &c).await;
        let (inv, grants) = renewal(&store, &p, &c).await;
        let start = Arc::new(Barrier::new(2));
        let (s1, b1, s2, b2, p_org, customer_id) = (store.clone(), start.clone(), store.clone(), start.clone(), p.org, c.org);
        let accepting = tokio::spawn(async move {
            b1.wait().await;
            s1.accept_invitation(inv, customer_id, now(), vec![], grants, change("invitation.accepted", customer_id, Some(customer_id), 1))
                .await
        });
        let removing = tokio::spawn(async move {
            b2.wait().await;
            s2.remove_relationship(p_org, customer_id, now(), change("relationship.removed", p_org, Some(customer_id), 1)).await
        });
        let (accepted, removed) = (accepting.await.unwrap(), removing.await.unwrap());
        match (&accepted, &removed) {
            (Ok(()), Ok(_)) => renewals_won += 1,
            (Err(StoreError::Conflict { constraint: constraint::RELATIONSHIP_ENDED }), Ok(_)) => removals_won += 1,
            other => panic!("round {round}: {other:?}"),
        }
        let unrevoked: i64 = sqlx::query_scalar("SELECT count(*) FROM grants WHERE customer_id = $1 AND revoked_at IS NULL")
            .bind(c.org.0)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(unrevoked, 0, "round {round}: {accepted:?}");
        let state = store.invitation(p.org, inv).await.unwrap().state;
        let expected = if accepted.is_ok() { InvitationState::Accepted } else { InvitationState::Pending };
        assert_eq!(state, expected, "round {round}");
    }
    println!("renewals first: {renewals_won}, removals first: {removals_won}");
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

fn in_round(mut c: Change, round: usize) -> Change {
    c.audit.target = json!({ "round": round });
    c
}

/// A customer admin deleting a user while a partner assigns them seats, and a password change
/// while they sign in: the deletion releases every seat given before it (none is left behind,
/// none fails the foreign key), and the password change ends every session made before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_and_password_changes_see_what_committed_before_them() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Assigning").await;
    let c = customer(&store, "Deleting").await;
    invite_and_accept(&store, &p, &c).await;
    let o = new_offer(&store, &p).await;
    let placed = store.place_order(order(&p, c.org, None, o, 100), change("order.created", p.org, Some(c.org), 1)).await.unwrap();
    let sub = placed.subscriptions[0].id;
    for round in 0..20 {
        let u = tenant_user(&c, format!("doomed{round}@deleting.example"));
        let id = u.id;
        store.create_user(c.org, u, change("user.created", c.org, None, 0)).await.unwrap();
        let start = Arc::new(Barrier::new(3));
        let assigning = {
            let (store, start, a) = (store.clone(), start.clone(), access(&p, &c, TenantAction::ManageLicenses));
            tokio::spawn(async move {
                start.wait().await;
                store.assign_license(&a, id, sub, change("license.assigned", a.partner, Some(a.customer), 1)).await
            })
        };
        let signing_in = {
            let (store, start, org) = (store.clone(), start.clone(), c.org);
            tokio::spawn(async move {
                start.wait().await;
                let s = NewSession {
                    id: SessionId::new(),
                    token_hash: Uuid::new_v4().as_bytes().to_vec(),
                    user_id: id,
                    organization_id: org,
                    created_at: now(),
                    expires_at: now() + Duration::hours(1),
                };
                store.create_session(s, in_round(change("session.created", org, Some(org), 0), round)).await
            })
        };
        start.wait().await;
        if round % 2 == 0 {
            let ch = in_round(change("user.password_changed", c.org, Some(c.org), 0), round);
            store.set_password(c.org, id, "$argon2id$new".into(), false, None, ch).await.unwrap();
        } else {
            store.delete_user(c.org, id, change("user.deleted", c.org, Some(c.org), 0)).await.unwrap();
        }
        match assigning.await.unwrap() {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => panic!("round {round}: {e:?}"),
        }
        match signing_in.await.unwrap() {
            Ok(()) => {}
            // The user went first: the session's foreign key fails, as on SQLite.
            Err(StoreError::Database(m)) if round % 2 == 1 && m.contains("foreign key") => {}
            Err(e) => panic!("round {round}: {e:?}"),
        }
        let (assigned, rows): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT assigned FROM subscriptions WHERE id = $1), (SELECT count(*) FROM licenses WHERE subscription_id = $1)",
        )
        .bind(sub.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(assigned, rows, "round {round}");
        // The session survives the password change only if it came after it, in the chain.
        if round % 2 == 0 {
            let order: Vec<String> = sqlx::query_scalar(
                "SELECT action FROM audit_records WHERE customer_id = $1 AND (body::jsonb -> 'target' ->> 'round')::int = $2 ORDER BY seq",
            )
            .bind(c.org.0)
            .bind(round as i32)
            .fetch_all(store.pool())
            .await
            .unwrap();
            let sessions: i64 =
                sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1").bind(id.0).fetch_one(store.pool()).await.unwrap();
            let session_last = order.last().map(String::as_str) == Some("session.created");
            assert_eq!(order.len(), 2, "round {round}");
            assert_eq!(sessions, i64::from(session_last), "round {round}: {order:?}");
        }
    }
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

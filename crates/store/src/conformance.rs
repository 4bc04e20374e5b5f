//! The conformance suite: one set of behaviours every `Store` must show, written once and run
//! against each backend (`tests/conformance.rs` of each store crate). Each case takes a freshly
//! migrated, empty store. The cases of commerce and of delegated administration are in
//! `conformance/commerce.rs` and `conformance/tenant.rs`, those of sessions and limits in
//! `conformance/sessions.rs`, their fixtures in `conformance/fixtures.rs`.

#![expect(clippy::panic, clippy::unwrap_used, reason = "a test suite fails by panicking")]

use crate::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};

mod commerce;
mod customers;
mod fixtures;
mod links;
mod mfa;
mod paging;
mod schedule;
mod sessions;
mod tenant;
mod versions;
mod webhooks;
use commerce::*;
use customers::*;
use fixtures::*;
use links::*;
use mfa::*;
use paging::*;
use schedule::*;
use sessions::*;
use tenant::*;
use versions::*;
use webhooks::*;

/// Every case, by name, for runners that iterate.
pub const CASES: &[&str] = &[
    "organizations_users_and_uniqueness",
    "sessions_live_until_expiry_and_go_with_their_user",
    "attempts_count_in_fixed_windows",
    "an_invitation_is_accepted_once",
    "concurrent_acceptances_have_one_winner",
    "removal_revokes_every_grant_of_the_pair",
    "customer_lists_page_by_keyset",
    "the_audit_chain_is_whole_and_scoped",
    "every_tenant_method_is_scoped",
    "refused_writes_among_concurrent_ones_change_nothing_else",
    "offers_page_by_name_and_hide_disabled_ones",
    "orders_check_relationships_reseller_links_and_offers",
    "subscriptions_are_seen_by_their_partners_only",
    "subscription_changes_follow_the_state_machine",
    "license_seats_never_pass_the_quantity",
    "open_subscriptions_block_removal",
    "tenant_users_through_the_grants",
    "a_renewal_leaves_one_unrevoked_grant_per_role",
    "a_renewal_under_an_ended_relationship_is_refused",
    "a_new_password_ends_every_other_session",
    "partners_page_by_name",
    "totp_steps_and_recovery_codes_are_used_once",
    "idempotency_keys_claim_replay_and_expire",
    "hits_count_first_and_lockouts_grow",
    "the_purge_removes_only_what_is_over",
    "a_user_holds_at_most_ten_sessions",
    "a_lost_role_ends_the_users_sessions",
    "provider_links_are_declined_ended_and_made_again",
    "the_records_of_one_change_share_its_id",
    "every_list_pages_by_keyset_within_its_organization",
    "the_customer_total_follows_every_change",
    "scheduled_changes_happen_once",
    "an_email_is_claimed_by_one_and_ended_by_its_holder",
    "webhook_claims_are_exclusive_and_follow_commit_order",
    "versions_move_with_every_change_their_organizations_read",
];

pub async fn run(name: &str, store: &dyn Store) {
    match name {
        "organizations_users_and_uniqueness" => organizations_users_and_uniqueness(store).await,
        "sessions_live_until_expiry_and_go_with_their_user" => sessions_live_until_expiry_and_go_with_their_user(store).await,
        "attempts_count_in_fixed_windows" => attempts_count_in_fixed_windows(store).await,
        "an_invitation_is_accepted_once" => an_invitation_is_accepted_once(store).await,
        "concurrent_acceptances_have_one_winner" => concurrent_acceptances_have_one_winner(store).await,
        "removal_revokes_every_grant_of_the_pair" => removal_revokes_every_grant_of_the_pair(store).await,
        "customer_lists_page_by_keyset" => customer_lists_page_by_keyset(store).await,
        "the_audit_chain_is_whole_and_scoped" => the_audit_chain_is_whole_and_scoped(store).await,
        "every_tenant_method_is_scoped" => every_tenant_method_is_scoped(store).await,
        "refused_writes_among_concurrent_ones_change_nothing_else" => refused_writes_among_concurrent_ones_change_nothing_else(store).await,
        "offers_page_by_name_and_hide_disabled_ones" => offers_page_by_name_and_hide_disabled_ones(store).await,
        "orders_check_relationships_reseller_links_and_offers" => orders_check_relationships_reseller_links_and_offers(store).await,
        "subscriptions_are_seen_by_their_partners_only" => subscriptions_are_seen_by_their_partners_only(store).await,
        "subscription_changes_follow_the_state_machine" => subscription_changes_follow_the_state_machine(store).await,
        "license_seats_never_pass_the_quantity" => license_seats_never_pass_the_quantity(store).await,
        "open_subscriptions_block_removal" => open_subscriptions_block_removal(store).await,
        "tenant_users_through_the_grants" => tenant_users_through_the_grants(store).await,
        "a_renewal_leaves_one_unrevoked_grant_per_role" => a_renewal_leaves_one_unrevoked_grant_per_role(store).await,
        "a_renewal_under_an_ended_relationship_is_refused" => a_renewal_under_an_ended_relationship_is_refused(store).await,
        "a_new_password_ends_every_other_session" => a_new_password_ends_every_other_session(store).await,
        "partners_page_by_name" => partners_page_by_name(store).await,
        "totp_steps_and_recovery_codes_are_used_once" => totp_steps_and_recovery_codes_are_used_once(store).await,
        "idempotency_keys_claim_replay_and_expire" => idempotency_keys_claim_replay_and_expire(store).await,
        "hits_count_first_and_lockouts_grow" => hits_count_first_and_lockouts_grow(store).await,
        "the_purge_removes_only_what_is_over" => the_purge_removes_only_what_is_over(store).await,
        "a_user_holds_at_most_ten_sessions" => a_user_holds_at_most_ten_sessions(store).await,
        "a_lost_role_ends_the_users_sessions" => a_lost_role_ends_the_users_sessions(store).await,
        "provider_links_are_declined_ended_and_made_again" => provider_links_are_declined_ended_and_made_again(store).await,
        "the_records_of_one_change_share_its_id" => the_records_of_one_change_share_its_id(store).await,
        "every_list_pages_by_keyset_within_its_organization" => every_list_pages_by_keyset_within_its_organization(store).await,
        "the_customer_total_follows_every_change" => the_customer_total_follows_every_change(store).await,
        "scheduled_changes_happen_once" => scheduled_changes_happen_once(store).await,
        "an_email_is_claimed_by_one_and_ended_by_its_holder" => an_email_is_claimed_by_one_and_ended_by_its_holder(store).await,
        "webhook_claims_are_exclusive_and_follow_commit_order" => webhook_claims_are_exclusive_and_follow_commit_order(store).await,
        "versions_move_with_every_change_their_organizations_read" => versions_move_with_every_change_their_organizations_read(store).await,
        other => panic!("no conformance case {other}"),
    }
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

fn change(org: OrganizationId, action: &'static str) -> Change {
    Change {
        events: vec![Event { id: uuid::Uuid::now_v7(), event_type: action, organization_id: org, occurred_at: now(), data: json!({}) }],
        ..Change::new(AuditEntry {
            at: now(),
            actor: Actor { user_id: None, email: Some("conformance@example".into()), roles: vec![], organization_id: Some(org) },
            action,
            target: json!({"type": "test"}),
            customer_id: None,
            details: json!({}),
            visible_to: vec![org],
        })
    }
}

fn new_org(kind: OrgKind, name: &str) -> NewOrganization {
    let partner = kind == OrgKind::Partner;
    NewOrganization {
        id: OrganizationId::new(),
        kind,
        name: name.into(),
        domain: format!("{}.example", name.to_lowercase().replace(' ', "-")),
        partner_type: partner.then_some(PartnerType::Direct),
        partner_id: partner.then(|| format!("P-{}", name.replace(' ', "-"))),
        created_at: now(),
    }
}

fn new_user(org: OrganizationId, email: &str, roles: Vec<Role>) -> NewUser {
    NewUser {
        id: UserId::new(),
        organization_id: org,
        email: email.into(),
        display_name: "Someone".into(),
        password_hash: "$argon2id$not-a-real-hash".into(),
        roles,
        password_change_required: false,
        created_at: now(),
    }
}

async fn org_with_admin(store: &dyn Store, kind: OrgKind, name: &str) -> (OrganizationId, UserId) {
    let org = new_org(kind, name);
    let admin = new_user(org.id, &format!("ga@{}", org.domain), vec![Role::GlobalAdmin]);
    let ids = (org.id, admin.id);
    store.create_organization(org, admin, change(ids.0, "organization.created")).await.unwrap();
    ids
}

fn invitation(partner: OrganizationId, user: UserId, customer: Option<OrganizationId>, token: &str) -> NewInvitation {
    NewInvitation {
        id: InvitationId::new(),
        partner_org_id: partner,
        customer_id: customer,
        indirect_provider_id: None,
        roles: DelegatedRole::DEFAULT.to_vec(),
        duration_days: 30,
        auto_extend: false,
        locale: Locale::En,
        token_hash: token.as_bytes().to_vec(),
        email_subject: "s".into(),
        email_body: "b {invitation_url}".into(),
        created_by: user,
        created_at: now(),
        expires_at: now() + Duration::days(10),
    }
}

fn acceptance(inv: &NewInvitation, customer: OrganizationId) -> (Vec<NewRelationship>, Vec<NewGrant>) {
    let rel = NewRelationship {
        id: RelationshipId::new(),
        partner_org_id: inv.partner_org_id,
        customer_id: customer,
        via: "invitation",
        invitation_id: Some(inv.id),
        indirect_reseller_id: None,
        created_at: now(),
    };
    let grants = inv
        .roles
        .iter()
        .map(|r| NewGrant {
            id: GrantId::new(),
            relationship_id: rel.id,
            partner_org_id: inv.partner_org_id,
            customer_id: customer,
            role: *r,
            created_at: now(),
            expires_at: now() + Duration::days(inv.duration_days),
            auto_extend: false,
        })
        .collect();
    (vec![rel], grants)
}

/// A partner, a customer, and an accepted invitation between them.
async fn connected(store: &dyn Store, tag: &str) -> (OrganizationId, UserId, OrganizationId) {
    let (p, pu) = org_with_admin(store, OrgKind::Partner, &format!("Partner {tag}")).await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, &format!("Customer {tag}")).await;
    let inv = invitation(p, pu, None, &format!("token-{tag}"));
    let (rels, grants) = acceptance(&inv, c);
    let id = inv.id;
    store.create_invitation(inv, change(p, "invitation.created")).await.unwrap();
    store.accept_invitation(id, c, now(), rels, grants, change(c, "invitation.accepted")).await.unwrap();
    (p, pu, c)
}

fn conflict(r: StoreResult<impl std::fmt::Debug>) -> &'static str {
    match r {
        Err(StoreError::Conflict { constraint }) => constraint,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn organizations_users_and_uniqueness(store: &dyn Store) {
    let (org, admin) = org_with_admin(store, OrgKind::Partner, "Fabrikam").await;
    let fetched = store.organization(org).await.unwrap();
    assert_eq!((fetched.kind, fetched.partner_type, fetched.name.as_str()), (OrgKind::Partner, Some(PartnerType::Direct), "Fabrikam"));
    assert_eq!(store.partner_by_public_id("P-Fabrikam").await.unwrap().id, org);
    let again = new_org(OrgKind::Customer, "Fabrikam");
    let dup_admin = new_user(again.id, "other@x.example", vec![Role::GlobalAdmin]);
    assert_eq!(conflict(store.create_organization(again, dup_admin, change(org, "x")).await), constraint::DOMAIN_TAKEN);
    let creds = store.credentials("ga@fabrikam.example").await.unwrap().unwrap();
    assert_eq!((creds.user_id, creds.organization_id), (admin, org));
    assert!(store.credentials("nobody@fabrikam.example").await.unwrap().is_none());
    let agent = new_user(org, "agent@fabrikam.example", vec![Role::AdminAgent]);
    let agent_id = agent.id;
    store.create_user(org, agent, change(org, "user.created")).await.unwrap();
    assert_eq!(
        conflict(store.create_user(org, new_user(org, "agent@fabrikam.example", vec![]), change(org, "x")).await),
        constraint::EMAIL_TAKEN
    );
    let users = store.list_users(org, &all_of()).await.unwrap().items;
    assert_eq!(users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), ["agent@fabrikam.example", "ga@fabrikam.example"]);
    let patch = UserPatch { roles: Some(vec![Role::SalesAgent]), display_name: Some("Sam".into()), locale: None };
    let updated = store.update_user(org, agent_id, patch, change(org, "user.updated")).await.unwrap();
    assert_eq!((updated.roles, updated.display_name.as_str()), (vec![Role::SalesAgent], "Sam"));
    let demote = UserPatch { roles: Some(vec![Role::AdminAgent]), display_name: None, locale: None };
    assert_eq!(conflict(store.update_user(org, admin, demote, change(org, "x")).await), constraint::LAST_GLOBAL_ADMIN);
    assert_eq!(store.user(org, admin).await.unwrap().roles, vec![Role::GlobalAdmin], "the refused change left nothing behind");
    assert_eq!(conflict(store.delete_user(org, admin, change(org, "x")).await), constraint::LAST_GLOBAL_ADMIN);
    store.delete_user(org, agent_id, change(org, "user.deleted")).await.unwrap();
    assert!(matches!(store.user(org, agent_id).await, Err(StoreError::NotFound)));
}

pub async fn sessions_live_until_expiry_and_go_with_their_user(store: &dyn Store) {
    let (org, _) = org_with_admin(store, OrgKind::Customer, "Tailspin").await;
    let user = new_user(org, "u@tailspin.example", vec![Role::UserAdmin]);
    let uid = user.id;
    store.create_user(org, user, change(org, "user.created")).await.unwrap();
    let t0 = now();
    let session = NewSession {
        id: SessionId::new(),
        token_hash: vec![7; 32],
        user_id: uid,
        organization_id: org,
        created_at: t0,
        expires_at: t0 + Duration::hours(1),
    };
    store.create_session(session, change(org, "session.created")).await.unwrap();
    let p = store.principal(&[7; 32], t0).await.unwrap().unwrap();
    assert_eq!((p.user.id, p.organization.id, p.organization.kind), (uid, org, OrgKind::Customer));
    assert!(store.principal(&[7; 32], t0 + Duration::hours(1)).await.unwrap().is_none(), "expired at expires_at");
    assert!(store.principal(&[8; 32], t0).await.unwrap().is_none());
    store.delete_user(org, uid, change(org, "user.deleted")).await.unwrap();
    assert!(store.principal(&[7; 32], t0).await.unwrap().is_none(), "deleting a user ends its sessions");
}

pub async fn attempts_count_in_fixed_windows(store: &dyn Store) {
    let t0 = now();
    assert_eq!(store.attempts("k", t0).await.unwrap().0, 0);
    for n in 1..=3 {
        assert_eq!(store.count_attempt("k", 60, t0).await.unwrap().0, n);
    }
    let (n, end) = store.attempts("k", t0 + Duration::seconds(30)).await.unwrap();
    assert_eq!((n, end), (3, t0 + Duration::seconds(60)));
    assert_eq!(store.attempts("k", t0 + Duration::seconds(60)).await.unwrap().0, 0, "the window ended");
    assert_eq!(store.count_attempt("k", 60, t0 + Duration::seconds(61)).await.unwrap().0, 1, "a new window starts at one");
    store.clear_attempts("k").await.unwrap();
    assert_eq!(store.attempts("k", t0 + Duration::seconds(62)).await.unwrap().0, 0);
}

pub async fn an_invitation_is_accepted_once(store: &dyn Store) {
    let (p, pu) = org_with_admin(store, OrgKind::Partner, "Contoso").await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Adventure Works").await;
    let (other, _) = org_with_admin(store, OrgKind::Customer, "Northwind Traders").await;
    let mut inv = invitation(p, pu, Some(c), "bound-token");
    // Nanoseconds the stores do not keep: creating must answer what they keep.
    inv.created_at += Duration::nanoseconds(789);
    inv.expires_at += Duration::nanoseconds(789);
    let id = inv.id;
    let created = store.create_invitation(inv.clone(), change(p, "invitation.created")).await.unwrap();
    // What creating answers is what reading answers, to the stored microsecond.
    assert_eq!(created, store.invitation(p, id).await.unwrap());
    let found = store.invitation_by_token(b"bound-token").await.unwrap();
    assert_eq!((found.invitation.id, found.partner.id, found.invitation.state), (id, p, InvitationState::Pending));
    assert_eq!(found.invitation.roles, DelegatedRole::DEFAULT.to_vec());
    // The conditional update refuses another customer, and refuses after expiry.
    let (rels, grants) = acceptance(&inv, other);
    assert_eq!(
        conflict(store.accept_invitation(id, other, now(), rels, grants, change(other, "x")).await),
        constraint::INVITATION_NOT_PENDING
    );
    let (rels, grants) = acceptance(&inv, c);
    assert_eq!(
        conflict(store.accept_invitation(id, c, inv.expires_at, rels, grants, change(c, "x")).await),
        constraint::INVITATION_NOT_PENDING
    );
    let (rels, grants) = acceptance(&inv, c);
    store.accept_invitation(id, c, now(), rels, grants, change(c, "invitation.accepted")).await.unwrap();
    let (rels, grants) = acceptance(&inv, c);
    assert_eq!(conflict(store.accept_invitation(id, c, now(), rels, grants, change(c, "x")).await), constraint::INVITATION_NOT_PENDING);
    assert!(matches!(store.decline_invitation(id, c, now(), change(c, "x")).await, Err(StoreError::Conflict { .. })));
    let after = store.invitation(p, id).await.unwrap();
    assert_eq!((after.state, after.accepted_by), (InvitationState::Accepted, Some(c)));
    let rel = store.active_relationship(p, c).await.unwrap().unwrap();
    assert_eq!((rel.via.as_str(), rel.active), ("invitation", true));
    assert_eq!(store.grants(p, c).await.unwrap().len(), 3);
    // One active relationship per pair, held by the schema.
    let inv2 = invitation(p, pu, None, "open-token");
    let id2 = inv2.id;
    store.create_invitation(inv2.clone(), change(p, "invitation.created")).await.unwrap();
    let (rels, grants) = acceptance(&inv2, c);
    assert_eq!(conflict(store.accept_invitation(id2, c, now(), rels, grants, change(c, "x")).await), constraint::ACTIVE_RELATIONSHIP);
    assert_eq!(store.invitation(p, id2).await.unwrap().state, InvitationState::Pending, "the failed acceptance left nothing behind");
    store.revoke_invitation(p, id2, now(), change(p, "invitation.revoked")).await.unwrap();
    assert_eq!(conflict(store.revoke_invitation(p, id2, now(), change(p, "x")).await), constraint::INVITATION_NOT_PENDING);
}

pub async fn concurrent_acceptances_have_one_winner(store: &dyn Store) {
    let (p, pu) = org_with_admin(store, OrgKind::Partner, "Racer").await;
    let mut customers = Vec::new();
    for i in 0..8 {
        customers.push(org_with_admin(store, OrgKind::Customer, &format!("Racing Customer {i}")).await.0);
    }
    let inv = invitation(p, pu, None, "raced");
    let id = inv.id;
    store.create_invitation(inv.clone(), change(p, "invitation.created")).await.unwrap();
    let attempts = customers.iter().map(|c| {
        let (rels, grants) = acceptance(&inv, *c);
        store.accept_invitation(id, *c, now(), rels, grants, change(*c, "invitation.accepted"))
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING })))
    );
    let q = CustomerQuery { limit: 50, cursor: None, q: None, sort: CustomerSort::Name };
    assert_eq!(store.list_customers(p, &q, now()).await.unwrap().total, 1);
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

pub async fn removal_revokes_every_grant_of_the_pair(store: &dyn Store) {
    let (p, _, c) = connected(store, "Removal").await;
    let (p2, _, c2) = connected(store, "Bystander").await;
    assert!(store.removal_blockers(p, c).await.unwrap().is_empty());
    let out = store.remove_relationship(p, c, now(), change(p, "relationship.removed")).await.unwrap();
    assert_eq!(out.revoked_grants, 3);
    assert!(store.active_relationship(p, c).await.unwrap().is_none());
    assert!(store.grants(p, c).await.unwrap().iter().all(|g| g.revoked_at.is_some() && !g.is_live(now())));
    assert!(matches!(store.remove_relationship(p, c, now(), change(p, "x")).await, Err(StoreError::NotFound)));
    assert!(store.grants(p2, c2).await.unwrap().iter().all(|g| g.is_live(now())), "another pair is untouched");
    assert_eq!(store.revoke_grants(p2, c2, now(), change(c2, "grant.revoked")).await.unwrap(), 3);
    assert!(store.active_relationship(p2, c2).await.unwrap().is_some(), "revoking grants keeps the relationship");
    assert!(store.partners_of_customer(c, &all_of()).await.unwrap().items.is_empty());
    assert_eq!(store.partners_of_customer(c2, &all_of()).await.unwrap().total, 1);
}

pub async fn the_audit_chain_is_whole_and_scoped(store: &dyn Store) {
    let (p, _, c) = connected(store, "Audited").await;
    let (q, _) = org_with_admin(store, OrgKind::Partner, "Elsewhere").await;
    let AuditVerification::Whole { records } = store.verify_audit_chain().await.unwrap() else { panic!("chain broken") };
    assert!(records >= 5);
    let everything = AuditFilter { limit: 500, ..AuditFilter::default() };
    let mine = store.list_audit(p, &everything).await.unwrap();
    assert!(mine.items.iter().all(|r| r.body["visible_to"].as_array().unwrap().iter().any(|v| v == &json!(p))));
    assert_eq!(mine.items.iter().map(|r| r.seq).collect::<Vec<_>>().windows(2).filter(|w| w[0] <= w[1]).count(), 0, "newest first");
    assert!(store.list_audit(q, &everything).await.unwrap().items.iter().all(|r| r.body["visible_to"] != json!([p])));
    let accepted = store
        .list_audit(c, &AuditFilter { limit: 10, action: Some("invitation.accepted".into()), ..AuditFilter::default() })
        .await
        .unwrap();
    assert_eq!(accepted.total, 1);
    assert_eq!(accepted.items[0].hash.len(), 64);
    let page = store.list_audit(p, &AuditFilter { limit: 1, ..AuditFilter::default() }).await.unwrap();
    let next = store.list_audit(p, &AuditFilter { limit: 1, cursor: page.next_cursor, ..AuditFilter::default() }).await.unwrap();
    assert!(next.items[0].seq < page.items[0].seq);
    let future =
        store.list_audit(p, &AuditFilter { limit: 10, since: Some(now() + Duration::days(1)), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(future.total, 0);
}

pub async fn every_tenant_method_is_scoped(store: &dyn Store) {
    let (p, pu, c) = connected(store, "Owner").await;
    let (stranger, _) = org_with_admin(store, OrgKind::Partner, "Stranger").await;
    let inv = invitation(p, pu, None, "scoped");
    let id = inv.id;
    store.create_invitation(inv, change(p, "invitation.created")).await.unwrap();
    let nf = |r: StoreResult<()>| assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(matches!(store.invitation(stranger, id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.revoke_invitation(stranger, id, now(), change(stranger, "x")).await, Err(StoreError::NotFound)));
    assert!(matches!(store.save_invitation_email(stranger, id, "s", "b", now()).await, Err(StoreError::NotFound)));
    nf(store.mark_invitation_sent(stranger, id, now(), change(stranger, "x")).await);
    assert!(matches!(store.customer(stranger, c, now()).await, Err(StoreError::NotFound)));
    assert!(store.active_relationship(stranger, c).await.unwrap().is_none());
    assert!(store.grants(stranger, c).await.unwrap().is_empty());
    assert!(matches!(store.remove_relationship(stranger, c, now(), change(stranger, "x")).await, Err(StoreError::NotFound)));
    assert!(matches!(store.user(stranger, pu).await, Err(StoreError::NotFound)));
    assert!(matches!(store.update_user(stranger, pu, UserPatch::default(), change(stranger, "x")).await, Err(StoreError::NotFound)));
    nf(store.delete_user(stranger, pu, change(stranger, "x")).await);
    assert_eq!(store.list_invitations(stranger, None, now(), 50, None).await.unwrap().total, 0);
    assert_eq!(store.list_invitations(p, None, now(), 50, None).await.unwrap().total, 2);
    assert!(store.active_relationship(p, c).await.unwrap().is_some(), "nothing of the owner's changed");
}

/// Concurrent writes may share a transaction (SQLite's batching writer) or race (PostgreSQL):
/// either way a refused write leaves no trace, and the others stand whole.
pub async fn refused_writes_among_concurrent_ones_change_nothing_else(store: &dyn Store) {
    let (_, _) = org_with_admin(store, OrgKind::Customer, "Crowd Taken").await;
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let mut org = new_org(OrgKind::Customer, &format!("Crowd {i}"));
            if i % 2 == 1 {
                org.domain = "crowd-taken.example".into();
            }
            let admin = new_user(org.id, &format!("admin{i}@crowd.example"), vec![Role::GlobalAdmin]);
            (org, admin)
        })
        .collect();
    let results = futures::future::join_all(attempts.iter().cloned().map(|(org, admin)| {
        let id = org.id;
        store.create_organization(org, admin, change(id, "organization.created"))
    }))
    .await;
    for (i, ((org, admin), result)) in attempts.iter().zip(&results).enumerate() {
        if i % 2 == 1 {
            assert!(matches!(result, Err(StoreError::Conflict { constraint: constraint::DOMAIN_TAKEN })), "{i}: {result:?}");
            assert!(matches!(store.organization(org.id).await, Err(StoreError::NotFound)), "{i}: no organization");
            assert!(store.credentials(&admin.email).await.unwrap().is_none(), "{i}: no half-written admin");
        } else {
            assert!(result.is_ok(), "{i}: {result:?}");
            assert_eq!(store.credentials(&admin.email).await.unwrap().unwrap().organization_id, org.id);
        }
    }
    let AuditVerification::Whole { records } = store.verify_audit_chain().await.unwrap() else { panic!("chain broken") };
    assert_eq!(records, 1 + 8, "one record per write that stood");
}

/// A key is claimed once, per caller; the same request is answered again once completed, and
/// is in flight until then; another request under the key is a mismatch; a stale claim (60 s)
/// may be claimed again by the same request, a released one at once; after 24 hours the key
/// is free and purged. Of concurrent claims, exactly one wins.
pub async fn idempotency_keys_claim_replay_and_expire(store: &dyn Store) {
    use IdempotencyClaim::*;
    let t0 = now();
    let (a, b) = (b"request a".as_slice(), b"request b".as_slice());
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, t0).await.unwrap(), Claimed);
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, t0).await.unwrap(), InFlight);
    assert_eq!(store.claim_idempotency_key("alice", "k1", b, t0).await.unwrap(), Mismatch);
    assert_eq!(store.claim_idempotency_key("bob", "k1", b, t0).await.unwrap(), Claimed, "keys are per caller");
    let answer = KeptResponse { status: 201, content_type: Some("application/json".into()), body: b"{\"id\":1}".to_vec() };
    store.complete_idempotency_key("alice", "k1", a, answer.clone()).await.unwrap();
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, t0 + Duration::seconds(5)).await.unwrap(), Replay(answer.clone()));
    assert_eq!(store.claim_idempotency_key("alice", "k1", b, t0 + Duration::seconds(5)).await.unwrap(), Mismatch);
    // A completed key is never re-claimed as stale, and a later completion does not overwrite it.
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, t0 + Duration::hours(1)).await.unwrap(), Replay(answer.clone()));
    store.complete_idempotency_key("alice", "k1", a, KeptResponse { status: 200, content_type: None, body: vec![] }).await.unwrap();
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, t0 + Duration::hours(1)).await.unwrap(), Replay(answer.clone()));

    // A stale claim: the same request may take it after 60 s, another request may not.
    assert_eq!(store.claim_idempotency_key("alice", "k2", a, t0).await.unwrap(), Claimed);
    assert_eq!(store.claim_idempotency_key("alice", "k2", a, t0 + Duration::seconds(59)).await.unwrap(), InFlight);
    assert_eq!(store.claim_idempotency_key("alice", "k2", b, t0 + Duration::seconds(61)).await.unwrap(), Mismatch);
    assert_eq!(store.claim_idempotency_key("alice", "k2", a, t0 + Duration::seconds(61)).await.unwrap(), Claimed);
    assert_eq!(store.claim_idempotency_key("alice", "k2", a, t0 + Duration::seconds(62)).await.unwrap(), InFlight);
    // A released claim (a 5xx) is free at once, for any request.
    store.release_idempotency_key("alice", "k2", a).await.unwrap();
    assert_eq!(store.claim_idempotency_key("alice", "k2", b, t0 + Duration::seconds(63)).await.unwrap(), Claimed);

    // After 24 hours the key is free for anything, and the purge takes what is older.
    let later = t0 + Duration::hours(24) + Duration::seconds(1);
    assert_eq!(store.claim_idempotency_key("alice", "k1", b, later).await.unwrap(), Claimed);
    let purge_at = t0 + Duration::hours(24) + Duration::seconds(70);
    assert_eq!(store.purge_idempotency_keys(purge_at).await.unwrap(), 2, "bob's k1 and alice's k2");
    assert_eq!(store.claim_idempotency_key("alice", "k1", a, purge_at).await.unwrap(), Mismatch, "the fresh claim stays");

    let claims = futures::future::join_all((0..16).map(|_| store.claim_idempotency_key("carol", "race", a, t0))).await;
    let won = claims.iter().filter(|c| matches!(c, Ok(Claimed))).count();
    assert_eq!(won, 1, "{claims:?}");
    assert!(claims.iter().all(|c| matches!(c, Ok(Claimed) | Ok(InFlight))), "{claims:?}");
}

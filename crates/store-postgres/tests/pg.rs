//! The PostgreSQL store against a real server: each test on a fresh database, dropped after.
//! `PARTNERHUB_TEST_POSTGRES_URL` names the server (any database on it).

#![expect(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "tests fail by panicking, helpers included")]

use partnerhub_domain::*;
use partnerhub_store::*;
use partnerhub_store_postgres::{BlockerQuery, PgStore};
use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

mod support;
use support::fresh;

#[path = "pg/races.rs"]
mod races;

#[path = "pg/chain.rs"]
mod chain;

#[path = "pg/accounts.rs"]
mod accounts;

/// Times with nanoseconds, as a clock gives them: the store keeps microseconds.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn actor(org: Option<OrganizationId>) -> Actor {
    Actor { user_id: None, email: Some("someone@example.test".into()), roles: vec![Role::GlobalAdmin], organization_id: org }
}

fn change(action: &'static str, org: OrganizationId, customer: Option<OrganizationId>, events: usize) -> Change {
    Change {
        events: (0..events)
            .map(|i| Event { id: Uuid::now_v7(), event_type: action, organization_id: org, occurred_at: now(), data: json!({ "i": i }) })
            .collect(),
        ..Change::new(AuditEntry {
            at: now(),
            actor: actor(Some(org)),
            action,
            target: json!({"type": "test", "id": Uuid::now_v7()}),
            customer_id: customer,
            details: json!({"note": "é \"quoted\" \u{1}"}),
            visible_to: [Some(org), customer].into_iter().flatten().collect(),
        })
    }
}

struct Made {
    org: OrganizationId,
    admin: UserId,
}

async fn org(store: &PgStore, kind: OrgKind, partner_type: Option<PartnerType>, name: &str) -> Made {
    let id = OrganizationId::new();
    let slug = name.to_lowercase().replace(' ', "-");
    let org = NewOrganization {
        id,
        kind,
        name: name.into(),
        domain: format!("{slug}.example"),
        partner_type,
        partner_id: partner_type.map(|_| format!("P{}", &Uuid::new_v4().simple().to_string()[..8])),
        created_at: now(),
    };
    let admin = NewUser {
        id: UserId::new(),
        organization_id: id,
        email: format!("ga@{slug}.example"),
        display_name: "Ada".into(),
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::GlobalAdmin],
        password_change_required: false,
        created_at: now(),
    };
    let admin_id = admin.id;
    store.create_organization(org, admin, change("organization.created", id, None, 1)).await.expect("create organization");
    Made { org: id, admin: admin_id }
}

async fn partner(store: &PgStore, name: &str) -> Made {
    org(store, OrgKind::Partner, Some(PartnerType::Direct), name).await
}

async fn customer(store: &PgStore, name: &str) -> Made {
    org(store, OrgKind::Customer, None, name).await
}

fn new_invitation(partner: &Made, customer_id: Option<OrganizationId>, roles: Vec<DelegatedRole>) -> NewInvitation {
    let t = now();
    NewInvitation {
        id: InvitationId::new(),
        partner_org_id: partner.org,
        customer_id,
        indirect_provider_id: None,
        roles,
        duration_days: 90,
        auto_extend: false,
        locale: Locale::En,
        token_hash: Uuid::new_v4().as_bytes().to_vec(),
        email_subject: "Invitation".into(),
        email_body: "Follow {invitation_url}".into(),
        created_by: partner.admin,
        created_at: t,
        expires_at: t + Duration::days(30),
    }
}

/// What the service hands to `accept_invitation` for a new relationship.
fn acceptance(inv: &NewInvitation, customer: OrganizationId) -> (Vec<NewRelationship>, Vec<NewGrant>) {
    let t = now();
    let rel = NewRelationship {
        id: RelationshipId::new(),
        partner_org_id: inv.partner_org_id,
        customer_id: customer,
        via: "invitation",
        invitation_id: Some(inv.id),
        indirect_reseller_id: None,
        created_at: t,
    };
    let grants = inv
        .roles
        .iter()
        .map(|role| NewGrant {
            id: GrantId::new(),
            relationship_id: rel.id,
            partner_org_id: inv.partner_org_id,
            customer_id: customer,
            role: *role,
            created_at: t,
            expires_at: t + Duration::days(inv.duration_days),
            auto_extend: inv.auto_extend,
        })
        .collect();
    (vec![rel], grants)
}

async fn invite_and_accept(store: &PgStore, p: &Made, c: &Made) -> NewInvitation {
    let inv = new_invitation(p, None, vec![DelegatedRole::UserAdmin, DelegatedRole::GlobalReader]);
    store.create_invitation(inv.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let (rels, grants) = acceptance(&inv, c.org);
    store.accept_invitation(inv.id, c.org, now(), rels, grants, change("invitation.accepted", c.org, Some(c.org), 3)).await.unwrap();
    inv
}

fn conflict(r: StoreResult<impl std::fmt::Debug>) -> &'static str {
    match r {
        Err(StoreError::Conflict { constraint }) => constraint,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organizations_invitations_acceptance_and_the_audit_chain() {
    let Some((store, _db)) = fresh().await else { return };
    store.ping().await.unwrap();

    // Organizations, credentials, uniqueness.
    let p = partner(&store, "Partner One").await;
    let creds = store.credentials("ga@partner-one.example").await.unwrap().expect("credentials");
    assert_eq!((creds.user_id, creds.organization_id, creds.password_hash.as_str()), (p.admin, p.org, "$argon2id$fake"));
    assert!(store.credentials("nobody@partner-one.example").await.unwrap().is_none());
    let o = store.organization(p.org).await.unwrap();
    assert_eq!((o.kind, o.name.as_str(), o.partner_type), (OrgKind::Partner, "Partner One", Some(PartnerType::Direct)));
    assert_eq!(store.partner_by_public_id(o.partner_id.as_deref().unwrap()).await.unwrap().id, p.org);
    assert!(matches!(store.organization(OrganizationId::new()).await, Err(StoreError::NotFound)));
    let dup = NewOrganization {
        id: OrganizationId::new(),
        kind: OrgKind::Customer,
        name: "Copycat".into(),
        domain: "partner-one.example".into(),
        partner_type: None,
        partner_id: None,
        created_at: now(),
    };
    let dup_admin = NewUser {
        id: UserId::new(),
        organization_id: dup.id,
        email: "ga@copycat.example".into(),
        display_name: "C".into(),
        password_hash: "x".into(),
        roles: vec![Role::GlobalAdmin],
        password_change_required: false,
        created_at: now(),
    };
    let dup_id = dup.id;
    assert_eq!(
        conflict(store.create_organization(dup.clone(), dup_admin.clone(), change("organization.created", dup_id, None, 0)).await),
        constraint::DOMAIN_TAKEN
    );
    // Nothing of the refused organization remains.
    assert!(matches!(store.organization(dup_id).await, Err(StoreError::NotFound)));
    // Both the domain and the public id taken: SQLite names the public id.
    let both = NewOrganization {
        kind: OrgKind::Partner,
        partner_type: Some(PartnerType::Direct),
        partner_id: o.partner_id.clone(),
        ..dup.clone()
    };
    assert_eq!(
        conflict(store.create_organization(both, dup_admin.clone(), change("organization.created", dup_id, None, 0)).await),
        constraint::PARTNER_ID_TAKEN
    );
    let taken_email = NewUser { email: "ga@partner-one.example".into(), ..dup_admin };
    let fresh_domain = NewOrganization { domain: "copycat.example".into(), ..dup };
    assert_eq!(
        conflict(store.create_organization(fresh_domain, taken_email, change("organization.created", dup_id, None, 0)).await),
        constraint::EMAIL_TAKEN
    );

    // An invitation accepted once, with its relationship and grants.
    let c = customer(&store, "Customer One").await;
    let inv = new_invitation(&p, None, vec![DelegatedRole::UserAdmin, DelegatedRole::GlobalReader]);
    store.create_invitation(inv.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let found = store.invitation_by_token(&inv.token_hash).await.unwrap();
    assert_eq!((found.invitation.id, found.partner.id, found.provider.is_none()), (inv.id, p.org, true));
    assert_eq!(found.invitation.state, InvitationState::Pending);
    assert_eq!(found.invitation.created_at.unix_timestamp_nanos() / 1000, inv.created_at.unix_timestamp_nanos() / 1000);
    let (rels, grants) = acceptance(&inv, c.org);
    let rel_id = rels[0].id;
    store
        .accept_invitation(inv.id, c.org, now(), rels.clone(), grants.clone(), change("invitation.accepted", c.org, Some(c.org), 3))
        .await
        .unwrap();
    let rel = store.active_relationship(p.org, c.org).await.unwrap().expect("relationship");
    assert_eq!((rel.id, rel.active, rel.via.as_str()), (rel_id, true, "invitation"));
    let g = store.grants(p.org, c.org).await.unwrap();
    assert_eq!(g.iter().map(|g| g.role).collect::<Vec<_>>(), vec![DelegatedRole::GlobalReader, DelegatedRole::UserAdmin]);
    let inv_now = store.invitation(p.org, inv.id).await.unwrap();
    assert_eq!((inv_now.state, inv_now.accepted_by), (InvitationState::Accepted, Some(c.org)));
    // A second acceptance finds the invitation taken, and changes nothing.
    let (rels2, grants2) = acceptance(&inv, c.org);
    assert_eq!(
        conflict(store.accept_invitation(inv.id, c.org, now(), rels2, grants2, change("invitation.accepted", c.org, Some(c.org), 1)).await),
        constraint::INVITATION_NOT_PENDING
    );
    assert_eq!(store.grants(p.org, c.org).await.unwrap().len(), 2);
    // Another open invitation from the same partner: the active relationship is unique.
    let inv2 = new_invitation(&p, None, vec![DelegatedRole::GlobalReader]);
    store.create_invitation(inv2.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let (rels3, grants3) = acceptance(&inv2, c.org);
    assert_eq!(
        conflict(
            store.accept_invitation(inv2.id, c.org, now(), rels3, grants3, change("invitation.accepted", c.org, Some(c.org), 1)).await
        ),
        constraint::ACTIVE_RELATIONSHIP
    );
    assert_eq!(store.invitation(p.org, inv2.id).await.unwrap().state, InvitationState::Pending);
    store.decline_invitation(inv2.id, c.org, now(), change("invitation.declined", c.org, Some(c.org), 1)).await.unwrap();
    assert_eq!(
        conflict(store.decline_invitation(inv2.id, c.org, now(), change("invitation.declined", c.org, Some(c.org), 1)).await),
        constraint::INVITATION_NOT_PENDING
    );
    // Revocation: pending only; NotFound for another partner's invitation.
    let inv3 = new_invitation(&p, None, vec![DelegatedRole::GlobalReader]);
    store.create_invitation(inv3.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let other = partner(&store, "Partner Two").await;
    assert!(matches!(
        store.revoke_invitation(other.org, inv3.id, now(), change("invitation.revoked", other.org, None, 1)).await,
        Err(StoreError::NotFound)
    ));
    let revoked = store.revoke_invitation(p.org, inv3.id, now(), change("invitation.revoked", p.org, None, 1)).await.unwrap();
    assert_eq!(revoked.state, InvitationState::Revoked);
    assert_eq!(
        conflict(store.revoke_invitation(p.org, inv3.id, now(), change("invitation.revoked", p.org, None, 1)).await),
        constraint::INVITATION_NOT_PENDING
    );
    assert_eq!(conflict(store.save_invitation_email(p.org, inv3.id, "s", "b", now()).await), constraint::INVITATION_NOT_PENDING);
    store.mark_invitation_sent(p.org, inv.id, now(), change("invitation.sent", p.org, None, 0)).await.unwrap();
    assert!(store.invitation(p.org, inv.id).await.unwrap().sent_at.is_some());

    // Invitation lists page by id, newest first, with the total of the filter.
    let page = store.list_invitations(p.org, None, now(), 2, None).await.unwrap();
    assert_eq!((page.items.len(), page.total), (2, 3));
    assert_eq!(page.items[0].id, inv3.id);
    let rest = store.list_invitations(p.org, None, now(), 2, page.next_cursor.as_deref()).await.unwrap();
    assert_eq!((rest.items.iter().map(|i| i.id).collect::<Vec<_>>(), rest.next_cursor, rest.total), (vec![inv.id], None, 3));
    let accepted = store.list_invitations(p.org, Some(InvitationState::Accepted), now(), 10, None).await.unwrap();
    assert_eq!((accepted.items.len(), accepted.total), (1, 1));
    let none = store.list_invitations(p.org, Some(InvitationState::Pending), now(), 10, None).await.unwrap();
    assert_eq!((none.items.len(), none.total, none.next_cursor), (0, 0, None));
    assert!(matches!(store.list_invitations(p.org, None, now(), 2, Some("zz")).await, Err(StoreError::BadCursor)));

    // The audit chain: whole, scoped, paged.
    let whole = store.verify_audit_chain().await.unwrap();
    assert!(matches!(whole, AuditVerification::Whole { records } if records > 5));
    // Walked in batches of 2 and of 3 records per statement: the same chain, seen whole.
    assert_eq!(store.verify_audit_chain_in_batches(2).await.unwrap(), whole);
    assert_eq!(store.verify_audit_chain_in_batches(3).await.unwrap(), whole);
    let audit = store.list_audit(c.org, &AuditFilter { limit: 2, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(audit.items.len(), 2);
    assert_eq!(audit.items[0].body["action"], "invitation.declined");
    let next =
        store.list_audit(c.org, &AuditFilter { limit: 50, cursor: audit.next_cursor.clone(), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(next.total, audit.total);
    assert_eq!(next.items.len() as i64 + 2, audit.total);
    assert!(next.items.iter().all(|a| a.seq < audit.items[1].seq));
    let accepted_only = store
        .list_audit(c.org, &AuditFilter { limit: 50, action: Some("invitation.accepted".into()), ..AuditFilter::default() })
        .await
        .unwrap();
    assert_eq!(accepted_only.total, 1);
    assert!(matches!(
        store.list_audit(c.org, &AuditFilter { limit: 5, cursor: Some("x".into()), ..AuditFilter::default() }).await,
        Err(StoreError::BadCursor)
    ));

    // Records are append-only, even to SQL.
    assert!(sqlx::query("UPDATE audit_records SET action = 'x' WHERE seq = 1").execute(store.pool()).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_records WHERE seq = 1").execute(store.pool()).await.is_err());
    assert!(sqlx::query("TRUNCATE audit_records CASCADE").execute(store.pool()).await.is_err());
    // Tampering under the trigger shows in the chain.
    sqlx::query("ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_update").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE audit_records SET body = replace(body, '\"seq\":3', '\"seq\":3 ') WHERE seq = 3")
        .execute(store.pool())
        .await
        .unwrap();
    let broken = AuditVerification::Broken { seq: 3, reason: "hash does not match the record".into() };
    assert_eq!(store.verify_audit_chain().await.unwrap(), broken);
    // Found in a later batch as in the first, and a record missing across a batch's edge too.
    assert_eq!(store.verify_audit_chain_in_batches(2).await.unwrap(), broken);
    sqlx::query("UPDATE audit_records SET body = replace(body, '\"seq\":3 ', '\"seq\":3') WHERE seq = 3")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.verify_audit_chain_in_batches(2).await.unwrap(), whole);
    sqlx::query("ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_delete").execute(store.pool()).await.unwrap();
    sqlx::query("DELETE FROM audit_visibility WHERE seq = 5").execute(store.pool()).await.unwrap();
    sqlx::query("DELETE FROM audit_records WHERE seq = 5").execute(store.pool()).await.unwrap();
    assert_eq!(
        store.verify_audit_chain_in_batches(2).await.unwrap(),
        AuditVerification::Broken { seq: 5, reason: "record missing (next is 6)".into() }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_acceptances_have_one_winner() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Racer").await;
    let c = customer(&store, "Raced").await;
    let inv = new_invitation(&p, None, vec![DelegatedRole::UserAdmin, DelegatedRole::GlobalReader, DelegatedRole::HelpdeskAdmin]);
    store.create_invitation(inv.clone(), change("invitation.created", p.org, None, 1)).await.unwrap();
    let tasks = (0..16)
        .map(|_| {
            let (store, inv) = (store.clone(), inv.clone());
            let customer = c.org;
            tokio::spawn(async move {
                let (rels, grants) = acceptance(&inv, customer);
                store
                    .accept_invitation(inv.id, customer, now(), rels, grants, change("invitation.accepted", customer, Some(customer), 5))
                    .await
            })
        })
        .collect::<Vec<_>>();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM relationships), (SELECT count(*) FROM grants), (SELECT count(*) FROM audit_records WHERE action = 'invitation.accepted')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(counts, (1, 3, 1));

    // Many writers at once, on every kind of change: the audit chain stays one chain.
    let tasks = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let c = customer(&store, &format!("Busy {i}")).await;
                let p = partner(&store, &format!("Busy Partner {i}")).await;
                invite_and_accept(&store, &p, &c).await;
                store.revoke_grants(p.org, c.org, now(), change("grants.revoked", p.org, Some(c.org), 1)).await.unwrap();
            })
        })
        .collect::<Vec<_>>();
    for t in tasks {
        t.await.unwrap();
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_records").fetch_one(store.pool()).await.unwrap();
    assert_eq!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { records: n });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removal_revokes_every_grant_of_the_pair() {
    let Some((store, _db)) = fresh().await else { return };
    let p = partner(&store, "Remover").await;
    let c = customer(&store, "Removed").await;
    invite_and_accept(&store, &p, &c).await;
    // A bound invitation renews the grants of the existing relationship.
    let rel = store.active_relationship(p.org, c.org).await.unwrap().unwrap();
    let bound = new_invitation(&p, Some(c.org), vec![DelegatedRole::LicenseAdmin]);
    store.create_invitation(bound.clone(), change("invitation.created", p.org, Some(c.org), 1)).await.unwrap();
    let other = customer(&store, "Not Invited").await;
    assert_eq!(
        conflict(
            store.accept_invitation(bound.id, other.org, now(), vec![], vec![], change("invitation.accepted", other.org, None, 0)).await
        ),
        constraint::INVITATION_NOT_PENDING
    );
    let (_, mut grants) = acceptance(&bound, c.org);
    grants[0].relationship_id = rel.id;
    store.accept_invitation(bound.id, c.org, now(), vec![], grants, change("invitation.accepted", c.org, Some(c.org), 1)).await.unwrap();
    assert_eq!(store.grants(p.org, c.org).await.unwrap().len(), 3);
    let detail = store.customer(p.org, c.org, now()).await.unwrap();
    assert_eq!((detail.summary.name.as_str(), detail.summary.grants.len()), ("Removed", 3));
    let mine = store.partners_of_customer(c.org, &PageQuery::first(500)).await.unwrap().items;
    assert_eq!((mine.len(), mine[0].partner.id, mine[0].grants.len()), (1, p.org, 3));

    let mut ch = change("relationship.removed", p.org, Some(c.org), 2);
    ch.audit.details = json!({"attested": true});
    let out = store.remove_relationship(p.org, c.org, now(), ch).await.unwrap();
    assert_eq!((out.relationship_id, out.revoked_grants), (rel.id, 3));
    assert!(store.grants(p.org, c.org).await.unwrap().iter().all(|g| g.revoked_at.is_some()));
    assert!(store.active_relationship(p.org, c.org).await.unwrap().is_none());
    assert!(matches!(store.customer(p.org, c.org, now()).await, Err(StoreError::NotFound)));
    assert!(store.partners_of_customer(c.org, &PageQuery::first(500)).await.unwrap().items.is_empty());
    assert!(matches!(
        store.remove_relationship(p.org, c.org, now(), change("relationship.removed", p.org, Some(c.org), 0)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_grants(p.org, c.org, now(), change("grants.revoked", p.org, Some(c.org), 0)).await,
        Err(StoreError::NotFound)
    ));
    // The store filled in the details and the event data, as SQLite does.
    let audit = store.list_audit(p.org, &AuditFilter { limit: 1, ..AuditFilter::default() }).await.unwrap();
    let body = &audit.items[0].body;
    assert_eq!(body["details"], json!({"attested": true, "revoked_grants": 3}));
    assert_eq!(body["target"]["relationship_id"], rel.id.to_string());
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM outbox_events WHERE event_type = 'relationship.removed'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(payloads.len(), 2);
    for p in payloads {
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            (v["data"]["revoked_grants"].as_i64(), v["data"]["relationship_id"].as_str()),
            (Some(3), Some(rel.id.to_string().as_str()))
        );
    }

    // A blocker keeps the relationship.
    let c2 = customer(&store, "Blocked").await;
    invite_and_accept(&store, &p, &c2).await;
    sqlx::query("CREATE TABLE holds (partner_org_id uuid, customer_id uuid, id uuid, name text)").execute(store.pool()).await.unwrap();
    let hold = Uuid::now_v7();
    sqlx::query("INSERT INTO holds VALUES ($1, $2, $3, 'Mail Basic x 10')")
        .bind(p.org.0)
        .bind(c2.org.0)
        .bind(hold)
        .execute(store.pool())
        .await
        .unwrap();
    let store = store.with_blocker(BlockerQuery {
        kind: "active_subscription",
        sql: "SELECT id, name FROM holds WHERE partner_org_id = $1 AND customer_id = $2".into(),
    });
    let blockers = store.removal_blockers(p.org, c2.org).await.unwrap();
    assert_eq!(blockers, vec![RemovalBlocker { kind: "active_subscription".into(), id: hold, name: "Mail Basic x 10".into() }]);
    match store.remove_relationship(p.org, c2.org, now(), change("relationship.removed", p.org, Some(c2.org), 0)).await {
        Err(StoreError::Blocked(b)) => assert_eq!(b, blockers),
        other => panic!("{other:?}"),
    }
    assert!(store.active_relationship(p.org, c2.org).await.unwrap().is_some());
    assert_eq!(store.revoke_grants(p.org, c2.org, now(), change("grants.revoked", p.org, Some(c2.org), 1)).await.unwrap(), 2);
    assert_eq!(store.revoke_grants(p.org, c2.org, now(), change("grants.revoked", p.org, Some(c2.org), 1)).await.unwrap(), 0);
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_lists_page_by_keyset_in_both_orders() {
    let Some((store, _db)) = fresh().await else { return };
    let p = partner(&store, "Lister").await;
    // Names that differ only by case sort together, ties by id.
    let names = ["beta", "Alpha", "ALPHA two", "gamma", "Delta", "alpha", "Epsilon_x", "Zeta%"];
    let mut made = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let c = customer(&store, &format!("{n} {i}")).await;
        invite_and_accept(&store, &p, &c).await;
        made.push(c.org);
    }
    let query = |sort, cursor: Option<String>, q: Option<&str>| CustomerQuery { limit: 3, cursor, q: q.map(str::to_owned), sort };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_customers(p.org, &query(CustomerSort::Name, cursor, None), now()).await.unwrap();
        assert_eq!(page.total, names.len() as i64);
        assert!(page.items.iter().all(|c| c.grants.len() == 2));
        seen.extend(page.items.iter().map(|c| c.name.clone()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["Alpha 1", "alpha 5", "ALPHA two 2", "beta 0", "Delta 4", "Epsilon_x 6", "gamma 3", "Zeta% 7"]);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_customers(p.org, &query(CustomerSort::NewestFirst, cursor, None), now()).await.unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, made.iter().rev().copied().collect::<Vec<_>>());
    // Search: case-insensitive, `%` and `_` literal, over the name and the domain.
    let found = store.list_customers(p.org, &query(CustomerSort::Name, None, Some("ALPHA")), now()).await.unwrap();
    assert_eq!(found.total, 3);
    let found = store.list_customers(p.org, &query(CustomerSort::Name, None, Some("A%")), now()).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Zeta% 7"]);
    let found = store.list_customers(p.org, &query(CustomerSort::Name, None, Some("N_X")), now()).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Epsilon_x 6"]);
    let found = store.list_customers(p.org, &query(CustomerSort::Name, None, Some("GAMMA-3.EXAMPLE")), now()).await.unwrap();
    assert_eq!(found.total, 1);
    let empty = store.list_customers(p.org, &query(CustomerSort::Name, None, Some("zzz")), now()).await.unwrap();
    assert_eq!((empty.items.len(), empty.total, empty.next_cursor), (0, 0, None));
    assert!(matches!(
        store.list_customers(p.org, &query(CustomerSort::NewestFirst, Some("00".into()), None), now()).await,
        Err(StoreError::BadCursor)
    ));
    // Another partner sees none of them.
    let other = partner(&store, "Other Lister").await;
    assert_eq!(store.list_customers(other.org, &query(CustomerSort::Name, None, None), now()).await.unwrap().total, 0);
}

/// Writers that touch the same rows from different sides: none may fail for want of a lock
/// order (a deadlock), and the chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_writers_never_deadlock() {
    let Some((store, _db)) = fresh().await else { return };
    let store = Arc::new(store);
    let p = partner(&store, "Crossing").await;
    let t = now();
    let mut users = Vec::new();
    for i in 0..12 {
        let u = NewUser {
            id: UserId::new(),
            organization_id: p.org,
            email: format!("u{i}@crossing.example"),
            display_name: "U".into(),
            password_hash: "h".into(),
            roles: vec![Role::GlobalAdmin],
            password_change_required: false,
            created_at: t,
        };
        store.create_user(p.org, u.clone(), change("user.created", p.org, None, 0)).await.unwrap();
        // An expired session, which the next sign-in deletes.
        let old = NewSession {
            id: SessionId::new(),
            token_hash: Uuid::new_v4().as_bytes().to_vec(),
            user_id: u.id,
            organization_id: p.org,
            created_at: t - Duration::hours(2),
            expires_at: t - Duration::hours(1),
        };
        store.create_session(old, change("session.created", p.org, None, 0)).await.unwrap();
        users.push(u.id);
    }
    let mut tasks = Vec::new();
    for (i, u) in users.iter().copied().enumerate() {
        let (a, b) = (store.clone(), store.clone());
        let org = p.org;
        tasks.push(tokio::spawn(async move {
            let s = NewSession {
                id: SessionId::new(),
                token_hash: Uuid::new_v4().as_bytes().to_vec(),
                user_id: u,
                organization_id: org,
                created_at: now(),
                expires_at: now() + Duration::hours(1),
            };
            a.create_session(s, change("session.created", org, None, 0)).await.map(|_| ())
        }));
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                b.delete_user(org, u, change("user.deleted", org, None, 0)).await
            } else {
                let patch = UserPatch { roles: Some(vec![Role::AdminAgent]), display_name: None, locale: None };
                b.update_user(org, u, patch, change("user.updated", org, None, 0)).await.map(|_| ())
            }
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) | Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) => {}
            // The user went first: the new session's foreign key fails, as on SQLite.
            Err(StoreError::Database(m)) if m.contains("foreign key") => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(matches!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { .. }));
}

#[tokio::test]
async fn every_connection_commits_durably_and_times_out_statements() {
    let Some((store, _db)) = fresh().await else { return };
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(store.pool()).await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(store.pool()).await.unwrap();
    assert_eq!((sync.as_str(), timeout.as_str()), ("on", "5s"));
    let slow = sqlx::query("SELECT pg_sleep(6)").execute(store.pool()).await;
    assert!(slow.is_err_and(|e| e.to_string().contains("statement timeout")));
}

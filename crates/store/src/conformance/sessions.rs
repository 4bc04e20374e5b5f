//! Conformance cases of sessions and sign-in limits: attempts counted first with lockouts that
//! grow, the purge of what is over, the bound of sessions per user, and sessions ending with a
//! lost role.

use super::*;
use futures::future::join_all;

fn session(user: UserId, org: OrganizationId, token: u8, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> NewSession {
    NewSession { id: SessionId::new(), token_hash: vec![token; 32], user_id: user, organization_id: org, created_at, expires_at }
}

async fn sign_in(store: &dyn Store, user: UserId, org: OrganizationId, token: u8) {
    let at = now();
    store.create_session(session(user, org, token, at, at + Duration::hours(1)), change(org, "session.created")).await.unwrap();
}

async fn live(store: &dyn Store, token: u8) -> bool {
    store.principal(&[token; 32], now()).await.unwrap().is_some()
}

/// `n` hits on `key` at `at`; answers the last.
async fn hits(store: &dyn Store, key: &str, limit: &Limit, at: OffsetDateTime, n: usize) -> (i64, OffsetDateTime) {
    let mut last = None;
    for _ in 0..n {
        last = Some(store.hit(key, limit, at).await.unwrap());
    }
    last.unwrap()
}

pub async fn hits_count_first_and_lockouts_grow(store: &dyn Store) {
    let t0 = now();
    let secs = Duration::seconds;
    let pair = Limit { limit: 5, window_secs: 900, max_lock_secs: 3600 };
    // Counted first, atomically: concurrent attempts each see a count of their own.
    let mut counts: Vec<i64> = join_all((0..20).map(|_| store.hit("race", &pair, t0))).await.into_iter().map(|r| r.unwrap().0).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<_>>());
    assert_eq!(store.attempts("race", t0).await.unwrap().0, 20);

    // The first lockout lasts the window; each further one of the same key twice as long as
    // the one before, up to the longest; past the limit the count goes on (the caller refuses).
    assert_eq!(hits(store, "pair", &pair, t0, 4).await, (4, t0 + secs(900)));
    assert_eq!(hits(store, "pair", &pair, t0, 1).await, (5, t0 + secs(900)), "the 5th attempt may go on");
    assert_eq!(hits(store, "pair", &pair, t0 + secs(10), 1).await, (6, t0 + secs(900)));
    let t1 = t0 + secs(900);
    assert_eq!(hits(store, "pair", &pair, t1, 1).await, (1, t1 + secs(900)), "a new window starts at one");
    assert_eq!(hits(store, "pair", &pair, t1, 4).await, (5, t1 + secs(1800)), "the second lockout lasts twice as long");
    let t2 = t1 + secs(1800);
    assert_eq!(hits(store, "pair", &pair, t2, 5).await, (5, t2 + secs(3600)), "the third, four times, reaches the longest");
    let t3 = t2 + secs(3600);
    assert_eq!(hits(store, "pair", &pair, t3, 5).await, (5, t3 + secs(3600)), "and stays there");
    // Remembered for the longest lockout after the window, then forgotten: a plain window again.
    let t4 = t3 + secs(3600 + 3600);
    assert_eq!(hits(store, "pair", &pair, t4, 5).await, (5, t4 + secs(900)));
    assert_eq!(store.attempts("race", t0).await.unwrap().0, 20, "keys count apart");

    // A limit whose longest lockout is its window never grows; an attempt taken back counts no more.
    let client = Limit { limit: 3, window_secs: 60, max_lock_secs: 60 };
    assert_eq!(hits(store, "client", &client, t0, 3).await, (3, t0 + secs(60)));
    let t5 = t0 + secs(60);
    assert_eq!(hits(store, "client", &client, t5, 3).await, (3, t5 + secs(60)));
    store.uncount("client", t5).await.unwrap();
    assert_eq!(hits(store, "client", &client, t5, 1).await.0, 3);
}

pub async fn the_purge_removes_only_what_is_over(store: &dyn Store) {
    let (org, admin) = org_with_admin(store, OrgKind::Customer, "Purging").await;
    let (other, other_admin) = org_with_admin(store, OrgKind::Customer, "Also Purging").await;
    let t0 = now();
    let mins = Duration::minutes;
    for (user, org, token, hours) in [(admin, org, 1, 1), (admin, org, 2, 3), (other_admin, other, 3, 1)] {
        store.create_session(session(user, org, token, t0, t0 + Duration::hours(hours)), change(org, "session.created")).await.unwrap();
    }
    store.count_attempt("plain", 60, t0).await.unwrap();
    store.count_attempt("long", 7200, t0).await.unwrap();
    store.hit("forgotten at once", &Limit { limit: 5, window_secs: 60, max_lock_secs: 60 }, t0).await.unwrap();
    store.hit("remembered", &Limit { limit: 5, window_secs: 60, max_lock_secs: 3600 }, t0).await.unwrap();
    // Whether a row is still there: asked at t0, when everything was live.
    let kept = |key: &'static str| async move { store.attempts(key, t0).await.unwrap().0 == 1 };
    let session_kept = |token: u8| async move { store.principal(&[token; 32], t0).await.unwrap().is_some() };

    assert_eq!(store.purge_expired(t0).await.unwrap(), 0, "nothing is over yet");
    // Two minutes on, the short windows are over; a lockout length is still remembered.
    assert_eq!(store.purge_expired(t0 + mins(2)).await.unwrap(), 2);
    assert_eq!(store.purge_expired(t0 + mins(2)).await.unwrap(), 0, "a purge is idempotent");
    assert!(!kept("plain").await && !kept("forgotten at once").await);
    assert!(kept("long").await && kept("remembered").await);
    assert!(session_kept(1).await && session_kept(2).await && session_kept(3).await);
    // Ninety minutes on, the hour-long sessions (of either user) and the remembered lockout
    // go; purges running at once remove each row once.
    let at = t0 + mins(90);
    let purged: u64 = join_all([store.purge_expired(at), store.purge_expired(at)]).await.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(purged, 3);
    assert_eq!(store.purge_expired(at).await.unwrap(), 0);
    assert!(!session_kept(1).await && !session_kept(3).await);
    assert!(session_kept(2).await && store.principal(&[2; 32], at).await.unwrap().is_some(), "a live session stays");
    assert!(!kept("remembered").await);
    assert_eq!(store.attempts("long", at).await.unwrap(), (1, t0 + Duration::seconds(7200)), "a live window stays");
    assert_chain_whole(store).await;
}

pub async fn a_user_holds_at_most_ten_sessions(store: &dyn Store) {
    let (org, user) = org_with_admin(store, OrgKind::Partner, "Bounded").await;
    let (other, other_user) = org_with_admin(store, OrgKind::Partner, "Bystander").await;
    let t0 = now();
    let expired = session(user, org, 200, t0 - Duration::hours(2), t0 - Duration::hours(1));
    store.create_session(expired, change(org, "session.created")).await.unwrap();
    sign_in(store, other_user, other, 201).await;
    let mut ids = Vec::new();
    for n in 0..12u8 {
        let at = t0 + Duration::seconds(n.into());
        let s = session(user, org, n, at, at + Duration::hours(1));
        ids.push(s.id);
        store.create_session(s, change(org, "session.created")).await.unwrap();
    }
    // The 11th and 12th sign-ins ended the two oldest; the first ended the expired one.
    let listed: Vec<_> = store.list_sessions(user, t0, &all_of()).await.unwrap().items.into_iter().map(|s| s.id).collect();
    assert_eq!(listed, ids[2..].iter().rev().copied().collect::<Vec<_>>(), "the ten newest, newest first");
    assert_eq!(MAX_SESSIONS_PER_USER, 10);
    assert!(!live(store, 0).await && !live(store, 1).await && live(store, 2).await && live(store, 11).await);
    assert!(store.principal(&[200; 32], t0 - Duration::hours(2)).await.unwrap().is_none(), "the expired session is gone");
    assert!(live(store, 201).await, "another user's sessions do not count");
    // Sign-ins at once keep the bound too.
    let racing = (100..115u8).map(|n| {
        let at = now();
        store.create_session(session(other_user, other, n, at, at + Duration::hours(1)), change(other, "session.created"))
    });
    for r in join_all(racing).await {
        r.unwrap();
    }
    assert_eq!(store.list_sessions(other_user, now(), &all_of()).await.unwrap().total, 10);
    assert_eq!(store.list_sessions(user, now(), &all_of()).await.unwrap().total, 10);
    assert_chain_whole(store).await;
}

pub async fn a_lost_role_ends_the_users_sessions(store: &dyn Store) {
    let (org, admin) = org_with_admin(store, OrgKind::Partner, "Demoting").await;
    let agent = new_user(org, "agent@demoting.example", vec![Role::SalesAgent, Role::HelpdeskAgent]);
    let agent_id = agent.id;
    store.create_user(org, agent, change(org, "user.created")).await.unwrap();
    sign_in(store, agent_id, org, 1).await;
    sign_in(store, agent_id, org, 2).await;
    sign_in(store, admin, org, 3).await;
    let roles = |r: &[Role]| UserPatch { roles: Some(r.to_vec()), display_name: None, locale: None };
    let kept = [
        UserPatch { roles: None, display_name: Some("Renamed".into()), locale: None },
        roles(&[Role::HelpdeskAgent, Role::SalesAgent]),
        roles(&[Role::SalesAgent, Role::HelpdeskAgent, Role::AdminAgent]),
        UserPatch { locale: Some(Locale::Fr), ..UserPatch::default() },
    ];
    for patch in kept {
        store.update_user(org, agent_id, patch, change(org, "user.updated")).await.unwrap();
        assert!(live(store, 1).await && live(store, 2).await, "no role lost, no session ended");
    }
    // The chosen language is kept by later patches and read with the session.
    assert_eq!(store.user(org, agent_id).await.unwrap().locale, Some(Locale::Fr));
    let held = store.principal(&[1; 32], now()).await.unwrap().unwrap();
    assert_eq!((held.user.display_name.as_str(), held.user.locale), ("Renamed", Some(Locale::Fr)));
    assert_eq!(store.user(org, admin).await.unwrap().locale, None, "nobody chose for the admin");
    let u = store.update_user(org, agent_id, roles(&[Role::SalesAgent, Role::AdminAgent]), change(org, "user.updated")).await.unwrap();
    assert_eq!(u.roles, [Role::SalesAgent, Role::AdminAgent]);
    assert!(!live(store, 1).await && !live(store, 2).await, "a lost role ends every session of the user");
    assert!(live(store, 3).await, "and nobody else's");
    // A refused change ends nothing: the sessions go in its transaction.
    assert_eq!(conflict(store.update_user(org, admin, roles(&[Role::AdminAgent]), change(org, "x")).await), constraint::LAST_GLOBAL_ADMIN);
    assert!(live(store, 3).await, "the refused demotion left the session");

    // Through grants, the same.
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Demoted Tenant").await;
    let tenant = tenant_user(store, c, "billing", vec![Role::BillingAdmin, Role::UserAdmin]).await;
    let (p, pu) = partner(store, "demoter", PartnerType::Direct).await;
    relate(store, p, pu, c, &DelegatedRole::DEFAULT, None).await;
    sign_in(store, tenant, c, 4).await;
    let manage = || access(p, c, &[Role::AdminAgent], TenantAction::ManageUsers);
    store.update_tenant_user(&manage(), tenant, roles(&[Role::UserAdmin, Role::BillingAdmin]), change(p, "user.updated")).await.unwrap();
    assert!(live(store, 4).await, "the same roles keep the session");
    store.update_tenant_user(&manage(), tenant, roles(&[Role::BillingAdmin]), change(p, "user.updated")).await.unwrap();
    assert!(!live(store, 4).await, "a lost role ends the session");
    assert_chain_whole(store).await;
}

//! Conformance cases of organization versions (`Versions`): read with the session by the one
//! statement that checks it, and moved by every change, in its own transaction, once for each
//! organization that reads one of its records, and for the providers a leaving reseller stops
//! being named by.

use super::*;

async fn sign_in(store: &dyn Store, user: UserId, org: OrganizationId, token: u8, ttl: Duration) {
    let at = now();
    let s = NewSession {
        id: SessionId::new(),
        token_hash: vec![token; 32],
        user_id: user,
        organization_id: org,
        created_at: at,
        expires_at: at + ttl,
    };
    store.create_session(s, change(org, "session.created")).await.unwrap();
}

async fn versions(store: &dyn Store, token: u8, watch: Option<OrganizationId>) -> Versions {
    store.principal_versions(&[token; 32], now(), watch).await.unwrap().unwrap().1
}

pub async fn versions_move_with_every_change_their_organizations_read(store: &dyn Store) {
    let (p, pu) = partner(store, "versioned", PartnerType::Direct).await;
    let (c, _) = org_with_admin(store, OrgKind::Customer, "Versioned Customer").await;
    let (other, ou) = partner(store, "bystander", PartnerType::Direct).await;
    sign_in(store, pu, p, 7, Duration::hours(1)).await;
    // Its creation and the sign-in, each visible to the partner.
    let v0 = versions(store, 7, Some(c)).await;
    assert_eq!(v0, Versions { caller: 2, watched: 1, epoch: 0 });
    assert_eq!(versions(store, 7, None).await, Versions { caller: 2, watched: 0, epoch: 0 });
    assert_eq!(versions(store, 7, Some(OrganizationId::new())).await.watched, 0, "no row: version 0");
    let principal = store.principal(&[7; 32], now()).await.unwrap().unwrap();
    assert_eq!((principal.user.id, principal.organization.id), (pu, p));

    // A change the partner alone reads moves its version by one, nobody else's.
    store.create_invitation(invitation(p, pu, None, "v-1"), change(p, "invitation.created")).await.unwrap();
    let v1 = versions(store, 7, Some(c)).await;
    assert_eq!(v1, Versions { caller: v0.caller + 1, ..v0 });
    // One change of several records read by both (one of them named twice): one step each.
    let mut both = change(p, "invitation.created");
    both.audit.visible_to = vec![p, c, p];
    both.also("invitation.noted", json!({"type": "test"}), json!({}));
    store.create_invitation(invitation(p, pu, Some(c), "v-2"), both).await.unwrap();
    let v2 = versions(store, 7, Some(c)).await;
    assert_eq!(v2, Versions { caller: v1.caller + 1, watched: v1.watched + 1, ..v1 });
    // A refused change moves nothing.
    let mut refused = change(p, "organization.created");
    refused.audit.visible_to = vec![p, c];
    let taken = new_org(OrgKind::Customer, "Versioned Customer");
    let admin = new_user(taken.id, "ga@versioned-again.example", vec![Role::GlobalAdmin]);
    assert_eq!(conflict(store.create_organization(taken, admin, refused).await), constraint::DOMAIN_TAKEN);
    assert_eq!(versions(store, 7, Some(c)).await, v2);

    // A reseller leaving a customer: its records are the reseller's and the customer's, yet the
    // provider's relationship stops naming it, so the provider's version moves too.
    let (c2, _) = org_with_admin(store, OrgKind::Customer, "Versioned Second").await;
    let (pv, pvu, r) = provider_and_reseller(store, c2).await;
    sign_in(store, pvu, pv, 8, Duration::hours(1)).await;
    let before = versions(store, 8, Some(c2)).await;
    let mut removal = change(r, "relationship.removed");
    removal.audit.visible_to = vec![r, c2];
    store.remove_relationship(r, c2, now(), removal).await.unwrap();
    assert_eq!(versions(store, 8, Some(c2)).await, Versions { caller: before.caller + 1, watched: before.watched + 1, ..before });
    assert_eq!(versions(store, 7, Some(c)).await, v2, "the first partner read none of it");

    // Many look-ups at once (PostgreSQL answers those waiting together in one statement): each
    // gets its own session's user and versions, or none.
    let asks = [7u8, 8, 42, 8, 7, 7, 42, 8].repeat(8);
    let hashes: Vec<[u8; 32]> = asks.iter().map(|t| [*t; 32]).collect();
    let answers = futures::future::join_all(hashes.iter().map(|h| store.principal_versions(h, now(), Some(c2)))).await;
    for (token, answer) in asks.iter().zip(answers) {
        let got = answer.unwrap().map(|(p, v)| (p.user.id, p.organization.id, v.caller));
        let want = match token {
            7 => Some((pu, p, v2.caller)),
            8 => Some((pvu, pv, before.caller + 1)),
            _ => None,
        };
        assert_eq!(got, want, "token {token}");
    }

    // The bystander: its creation and its sign-in, nothing else.
    sign_in(store, ou, other, 9, Duration::seconds(1)).await;
    assert_eq!(versions(store, 9, None).await.caller, 2);
    // A session that is over answers nothing, versions or not.
    assert!(store.principal_versions(&[9; 32], now() + Duration::seconds(2), Some(c)).await.unwrap().is_none());
    assert_chain_whole(store).await;
}

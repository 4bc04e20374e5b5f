//! TOTP: an enrolment is pending until confirmed once, a step or a recovery code is used once
//! (also among concurrent uses), refused writes leave no audit record, and the rows go with
//! their user.

use super::*;

fn sealed(tag: u8) -> Vec<u8> {
    vec![tag; 48]
}

fn confirmation(secret: Vec<u8>, step: i64, codes: &[&str]) -> TotpConfirmation {
    TotpConfirmation {
        sealed_secret: secret,
        step,
        recovery_code_hashes: codes.iter().map(|c| c.as_bytes().to_vec()).collect(),
        now: now(),
    }
}

pub async fn totp_steps_and_recovery_codes_are_used_once(store: &dyn Store) {
    let (org, user) = org_with_admin(store, OrgKind::Partner, "Totp").await;
    let (other, _) = org_with_admin(store, OrgKind::Customer, "Elsewhere").await;
    assert_eq!(store.totp(user).await.unwrap(), None);
    assert!(matches!(store.start_totp(other, user, sealed(1), now(), change(other, "x")).await, Err(StoreError::NotFound)));

    // Pending, replaced by a second enrolment; a pending one takes no codes.
    store.start_totp(org, user, sealed(1), now(), change(org, "user.mfa_enrolment_started")).await.unwrap();
    store.start_totp(org, user, sealed(2), now(), change(org, "user.mfa_enrolment_started")).await.unwrap();
    let pending = store.totp(user).await.unwrap().unwrap();
    assert_eq!((pending.sealed_secret.clone(), pending.active(), pending.last_used_step), (sealed(2), false, None));
    assert!(!store.use_totp_step(user, 100).await.unwrap());

    // Confirmed once, and only the enrolment that was checked.
    let before = audit_records(store).await;
    let c = conflict(store.confirm_totp(org, user, confirmation(sealed(1), 100, &["a", "b"]), change(org, "x")).await);
    assert_eq!(c, constraint::TOTP_NOT_PENDING, "a replaced secret");
    let elsewhere = store.confirm_totp(other, user, confirmation(sealed(2), 100, &["a", "b"]), change(other, "x")).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound)), "another organization: {elsewhere:?}");
    store.confirm_totp(org, user, confirmation(sealed(2), 100, &["a", "b", "c"]), change(org, "user.mfa_enabled")).await.unwrap();
    let c = conflict(store.confirm_totp(org, user, confirmation(sealed(2), 101, &["d"]), change(org, "x")).await);
    assert_eq!(c, constraint::TOTP_NOT_PENDING, "confirmed already");
    let c = conflict(store.start_totp(org, user, sealed(3), now(), change(org, "x")).await);
    assert_eq!(c, constraint::TOTP_ACTIVE);
    let active = store.totp(user).await.unwrap().unwrap();
    assert_eq!((active.sealed_secret.clone(), active.active(), active.last_used_step), (sealed(2), true, Some(100)));
    assert_eq!(audit_records(store).await, before + 1, "refused writes leave no record");

    // Steps: only later than the last used, and one winner among concurrent uses.
    assert!(!store.use_totp_step(user, 100).await.unwrap(), "the confirming step");
    assert!(!store.use_totp_step(user, 99).await.unwrap());
    assert!(store.use_totp_step(user, 101).await.unwrap());
    assert!(!store.use_totp_step(user, 101).await.unwrap(), "a replay");
    let uses = futures::future::join_all((0..8).map(|_| store.use_totp_step(user, 105))).await;
    assert_eq!(uses.into_iter().map(Result::unwrap).filter(|ok| *ok).count(), 1);
    assert_eq!(store.totp(user).await.unwrap().unwrap().last_used_step, Some(105));

    // Recovery codes: each once, of this user's organization only.
    let before = audit_records(store).await;
    assert!(!store.use_recovery_code(org, user, b"zzz", change(org, "x")).await.unwrap());
    assert!(matches!(store.use_recovery_code(other, user, b"a", change(other, "x")).await, Err(StoreError::NotFound)));
    assert!(store.use_recovery_code(org, user, b"a", change(org, "user.mfa_recovery_code_used")).await.unwrap());
    assert!(!store.use_recovery_code(org, user, b"a", change(org, "x")).await.unwrap());
    let uses =
        futures::future::join_all((0..6).map(|_| store.use_recovery_code(org, user, b"b", change(org, "user.mfa_recovery_code_used"))))
            .await;
    assert_eq!(uses.into_iter().map(Result::unwrap).filter(|ok| *ok).count(), 1);
    assert_eq!(audit_records(store).await, before + 2, "one record per code used");

    // Removal takes the recovery codes too; a new enrolment starts afresh.
    assert!(matches!(store.remove_totp(other, user, change(other, "x")).await, Err(StoreError::NotFound)));
    store.remove_totp(org, user, change(org, "user.mfa_disabled")).await.unwrap();
    assert_eq!(store.totp(user).await.unwrap(), None);
    assert!(matches!(store.remove_totp(org, user, change(org, "x")).await, Err(StoreError::NotFound)));
    store.start_totp(org, user, sealed(4), now(), change(org, "user.mfa_enrolment_started")).await.unwrap();
    store.confirm_totp(org, user, confirmation(sealed(4), 7, &["e"]), change(org, "user.mfa_enabled")).await.unwrap();
    assert!(!store.use_recovery_code(org, user, b"c", change(org, "x")).await.unwrap(), "codes of the removed TOTP");
    assert!(store.use_totp_step(user, 8).await.unwrap(), "the last used step starts afresh");

    // The rows go with their user.
    let second = new_user(org, "second@totp.example", vec![Role::GlobalAdmin]);
    let second_id = second.id;
    store.create_user(org, second, change(org, "user.created")).await.unwrap();
    store.start_totp(org, second_id, sealed(5), now(), change(org, "user.mfa_enrolment_started")).await.unwrap();
    store.confirm_totp(org, second_id, confirmation(sealed(5), 1, &["f"]), change(org, "user.mfa_enabled")).await.unwrap();
    store.delete_user(org, second_id, change(org, "user.deleted")).await.unwrap();
    assert_eq!(store.totp(second_id).await.unwrap(), None);
    assert_chain_whole(store).await;
}

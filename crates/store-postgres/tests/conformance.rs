//! The store conformance suite (written once, in `partnerhub_store::conformance`) against the
//! PostgreSQL store, each case on a fresh database (see `support`); skipped loudly where no
//! PostgreSQL answers, outside CI.

#![expect(clippy::panic, clippy::expect_used, reason = "a test fails loudly")]

use partnerhub_store::conformance;

mod support;

async fn run(case: &str) {
    let Some((store, _db)) = support::fresh().await else {
        return;
    };
    conformance::run(case, &store).await;
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                run(stringify!($case)).await;
            }
        )*

        #[test]
        fn every_case_of_the_suite_runs_here() {
            let here = [$(stringify!($case)),*];
            assert_eq!(here.as_slice(), conformance::CASES);
        }
    };
}

cases!(
    organizations_users_and_uniqueness,
    sessions_live_until_expiry_and_go_with_their_user,
    attempts_count_in_fixed_windows,
    an_invitation_is_accepted_once,
    concurrent_acceptances_have_one_winner,
    removal_revokes_every_grant_of_the_pair,
    customer_lists_page_by_keyset,
    the_audit_chain_is_whole_and_scoped,
    every_tenant_method_is_scoped,
    refused_writes_among_concurrent_ones_change_nothing_else,
    offers_page_by_name_and_hide_disabled_ones,
    orders_check_relationships_reseller_links_and_offers,
    subscriptions_are_seen_by_their_partners_only,
    subscription_changes_follow_the_state_machine,
    license_seats_never_pass_the_quantity,
    open_subscriptions_block_removal,
    tenant_users_through_the_grants,
    a_renewal_leaves_one_unrevoked_grant_per_role,
    a_renewal_under_an_ended_relationship_is_refused,
    a_new_password_ends_every_other_session,
    partners_page_by_name,
    totp_steps_and_recovery_codes_are_used_once,
    idempotency_keys_claim_replay_and_expire,
    hits_count_first_and_lockouts_grow,
    the_purge_removes_only_what_is_over,
    a_user_holds_at_most_ten_sessions,
    a_lost_role_ends_the_users_sessions,
    provider_links_are_declined_ended_and_made_again,
    the_records_of_one_change_share_its_id,
    every_list_pages_by_keyset_within_its_organization,
    the_customer_total_follows_every_change,
    scheduled_changes_happen_once,
    an_email_is_claimed_by_one_and_ended_by_its_holder,
    webhook_claims_are_exclusive_and_follow_commit_order,
    versions_move_with_every_change_their_organizations_read,
);

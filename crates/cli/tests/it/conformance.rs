//! The store conformance suite (written once, in `partnerhub_store::conformance`) against
//! both backends, each case on a fresh database.

use crate::support::*;
use partnerhub_store::conformance;

async fn run(case: &str, backend: Backend) {
    if backend == Backend::Postgres && postgres_server().await.is_none() {
        return;
    }
    let db = TestDb::fresh(backend).await;
    let (store, _) = open_store(&db, None).await;
    conformance::run(case, store.as_ref()).await;
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(stringify!($case), Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(stringify!($case), Backend::Postgres).await;
            }
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
);

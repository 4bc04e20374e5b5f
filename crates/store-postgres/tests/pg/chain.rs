//! The audit chain linked after commit (issue 9): changes commit with no global lock, a chainer
//! per process links them. What is checked: a change's records are in the chain and its events in
//! the outbox when the store answers; two processes writing at once keep one chain whose outbox
//! order is its order; a change whose process lost its chainer after the commit is linked by the
//! next run, and nothing is lost or linked twice.

use super::*;
use partnerhub_store_postgres::PgOptions;

/// The chain lock's key (`audit::LOCK`).
const CHAIN_LOCK: i64 = 8099831086649537585;

async fn pending(store: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_pending").fetch_one(store.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_keep_one_chain_in_outbox_order() {
    let Some((a, db)) = fresh().await else { return };
    let b = PgStore::open(db.url(), PgOptions { max_connections: 8, ..PgOptions::default() }).await.unwrap();
    let tasks = (0..24)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let p = partner(&store, &format!("Chain Partner {i}")).await;
                let c = customer(&store, &format!("Chain Customer {i}")).await;
                invite_and_accept(&store, &p, &c).await;
                // Answered: the acceptance is in the chain already, whichever process linked it.
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM audit_records a JOIN audit_visibility v ON v.seq = a.seq WHERE v.organization_id = $1 AND a.action = 'invitation.accepted'")
                        .bind(c.org.0)
                        .fetch_one(store.pool())
                        .await
                        .unwrap();
                assert_eq!(n, 1, "the acceptance is linked when the store answers");
            })
        })
        .collect::<Vec<_>>();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(pending(&a).await, 0);
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_records").fetch_one(a.pool()).await.unwrap();
    assert_eq!(a.verify_audit_chain().await.unwrap(), AuditVerification::Whole { records });
    // The outbox's order (positions) follows the chain's: each change's events come after those
    // of every change linked before it.
    let order: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT e.position, (SELECT min(seq) FROM audit_records a WHERE a.change_id = e.change_id) FROM outbox_events e ORDER BY e.position",
    )
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert!(order.len() >= 24 * 5, "{} events", order.len());
    assert!(order.windows(2).all(|w| w[0].1 <= w[1].1), "outbox order differs from chain order: {order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_committed_but_not_linked_is_linked_by_the_next_run() {
    let Some((store, _db)) = fresh().await else { return };
    let p = partner(&store, "Crash Partner").await;
    // The partner's admin reads through the response cache: the versions its entries are kept at.
    let t = now();
    let s = NewSession {
        id: SessionId::new(),
        token_hash: b"crash-partner-session".to_vec(),
        user_id: p.admin,
        organization_id: p.org,
        created_at: t,
        expires_at: t + Duration::hours(1),
    };
    store.create_session(s, change("session.created", p.org, None, 0)).await.unwrap();
    let versions = || async { store.principal_versions(b"crash-partner-session", now(), None).await.unwrap().unwrap().1 };
    let cached_at = versions().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_records").fetch_one(store.pool()).await.unwrap();
    // Another session holds the chain lock: the change commits, then waits for its link.
    let mut holder = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CHAIN_LOCK).execute(&mut *holder).await.unwrap();
    let inv = new_invitation(&p, None, vec![DelegatedRole::UserAdmin]);
    let task = {
        let (store, inv) = (store.clone(), inv.clone());
        tokio::spawn(async move { store.create_invitation(inv, change("invitation.created", p.org, None, 1)).await })
    };
    // Committed and pending; the chainer waits for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pending(&store).await == 0 {
        assert!(std::time::Instant::now() < deadline, "the change never committed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The chainer's connection dies as a crashed process's would, in the middle of its run.
    // (pg_locks is the whole server's: other tests run beside this one, on other databases.)
    let here = "locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let waiting = format!("SELECT count(*) FROM pg_locks WHERE {here}");
    while sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(waiting.clone())).fetch_one(&mut *holder).await.unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "the chainer never asked for the lock");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let killed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE {here} AND pid <> pg_backend_pid()"
    )))
    .fetch_one(&mut *holder)
    .await
    .unwrap();
    assert_eq!(killed, 1, "the chainer waited for the lock");
    // The change is durable: it was committed, so the store answers success.
    task.await.unwrap().unwrap();
    assert_eq!(pending(&store).await, 1, "still pending while the lock is held");
    // Its own version bumps wait for the link; every organization's moved instead, so no cached
    // answer is served past a change the store has answered.
    let answered = versions().await;
    assert_eq!(answered.caller, cached_at.caller, "the partner's own bump waits for the link");
    assert_eq!(answered.epoch, cached_at.epoch + 1, "every organization's version moved");
    holder.rollback().await.unwrap();
    // The next run (the chainer's tick, on a new connection) links it, once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pending(&store).await > 0 {
        assert!(std::time::Instant::now() < deadline, "the pending change was never linked");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_records").fetch_one(store.pool()).await.unwrap();
    assert_eq!(after, before + 1);
    let linked = versions().await;
    assert_eq!(linked.caller, cached_at.caller + 1, "the link bumps the partner's version");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox_events e JOIN audit_records a ON a.change_id = e.change_id WHERE a.action = 'invitation.created'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(events, 1);
    assert_eq!(store.verify_audit_chain().await.unwrap(), AuditVerification::Whole { records: after });
    // The store goes on: the next change is linked as it answers.
    store
        .create_invitation(new_invitation(&p, None, vec![DelegatedRole::GlobalReader]), change("invitation.created", p.org, None, 1))
        .await
        .unwrap();
    assert_eq!(pending(&store).await, 0);
}

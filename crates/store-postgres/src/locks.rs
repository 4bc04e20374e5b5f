//! The order in which transactions lock, and the relationship gate.
//!
//! Every transaction takes its locks in this order, so that none waits for another that waits
//! for it: relationship gates (by key), relationships (by id), grants (by id), the
//! organization, users, subscriptions (by id), licenses. (The audit chain's lock is taken by the
//! chainer in transactions of its own, and by a webhook's creation last: see `audit`.) An
//! UPDATE alone locks its rows in whatever order its plan scans them, so a change of several
//! grants or relationships locks them by id first, in a CTE it reads.
//!
//! The gate: what acts in a customer's tenant by virtue of a relationship (a tenant change, an
//! order, a subscription change) locks the relationship and the grants it relies on FOR SHARE,
//! so that a removal or a revocation waits for it, or it sees the result. But PostgreSQL lets a
//! row be share-locked by a newcomer while an update already waits for it: under a steady stream
//! of such actions, a revocation would starve until its statement times out. So both sides
//! first take a transaction-scoped advisory lock on the (partner, customer) pair, the gate:
//! shared by the actions, exclusive by what ends grants or relationships. PostgreSQL queues
//! those fairly: once a revocation waits, newcomers wait behind it. The two-key form of
//! advisory locks never meets the one-key chain lock.

use crate::db;
use partnerhub_domain::OrganizationId;
use partnerhub_store::StoreResult;
use sqlx::PgConnection;

/// Takes the gates of the (partner, customer) `pairs`, by key, shared or `exclusive`, in a
/// statement of its own: the next statement's snapshot is taken after the wait, so it sees
/// what those it waited for committed (a grant a renewal made, for instance).
pub(crate) async fn take(conn: &mut PgConnection, exclusive: bool, pairs: &[(OrganizationId, OrganizationId)]) -> StoreResult<()> {
    let sql = format!("WITH {} SELECT n FROM gate", gate_cte(exclusive, "SELECT p, c FROM unnest($1::uuid[], $2::uuid[]) AS t(p, c)"));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pairs.iter().map(|(p, _)| p.0).collect::<Vec<_>>())
        .bind(pairs.iter().map(|(_, c)| c.0).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// A CTE `gate` (column `n`) that takes the gates of the (partner, customer) pairs that `pairs`
/// (a SELECT of uuid columns `p` and `c`) answers, by key, shared or `exclusive`. The CTEs
/// that must run under the gates read `(SELECT n FROM gate)`. Taken inside a statement, a gate
/// is waited for after the statement's snapshot was taken: what follows it must lock what it
/// relies on (a locking read sees the latest committed row), or run in a later statement.
pub(crate) fn gate_cte(exclusive: bool, pairs: &str) -> String {
    let take = if exclusive { "pg_advisory_xact_lock" } else { "pg_advisory_xact_lock_shared" };
    format!(
        "gate AS MATERIALIZED (
             SELECT count({take}(k1, k2)) AS n
             FROM (SELECT DISTINCT hashtext(p::text) AS k1, hashtext(c::text) AS k2 FROM ({pairs}) AS pairs ORDER BY k1, k2) AS keys)"
    )
}

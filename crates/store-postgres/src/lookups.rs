//! Session look-ups in batches: every request reads its session and its organization versions
//! from the database (see `SessionStore::principal_versions`), one round trip each. Under load
//! most of that cost is the round trip, not the statement, so the look-ups waiting at one
//! instant go together in ONE statement, as the SQLite writer groups its commits. Each is
//! still fresh: a look-up joins a batch whose statement starts after the look-up was asked,
//! so it sees every change committed before the request came (on this node or any other).

use crate::db;
use crate::rows::*;
use partnerhub_domain::{OrganizationId, SessionId};
use partnerhub_store::*;
use sqlx::PgPool;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Look-ups one statement takes at most.
const MAX_BATCH: usize = 64;

type Answer = StoreResult<Option<(Principal, Versions)>>;

struct Lookup {
    token_hash: Vec<u8>,
    now: OffsetDateTime,
    watch: Option<Uuid>,
    answer: oneshot::Sender<Answer>,
}

/// The queue of look-ups, drained by tasks (two in `PgStore::open`), each running one batch
/// statement at a time.
#[derive(Debug)]
pub(crate) struct Lookups {
    queue: mpsc::UnboundedSender<Lookup>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup").finish_non_exhaustive()
    }
}

impl Lookups {
    /// Starts `tasks` draining tasks over `pool`; they end when the store (every clone) is gone.
    pub(crate) fn start(pool: PgPool, tasks: usize) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..tasks.max(1) {
            tokio::spawn(drain(pool.clone(), rx.clone()));
        }
        Self { queue }
    }

    pub(crate) async fn principal(&self, token_hash: &[u8], now: OffsetDateTime, watch: Option<OrganizationId>) -> Answer {
        let (answer, answered) = oneshot::channel();
        let lookup = Lookup { token_hash: token_hash.to_vec(), now, watch: watch.map(|w| w.0), answer };
        self.queue.send(lookup).map_err(|_| StoreError::Database("the session look-ups have stopped".into()))?;
        answered.await.map_err(|_| StoreError::Database("a session look-up was dropped".into()))?
    }
}

async fn drain(pool: PgPool, rx: Arc<Mutex<mpsc::UnboundedReceiver<Lookup>>>) {
    loop {
        let mut batch = Vec::new();
        {
            // One task takes what waits now; the others wait for the next ones meanwhile.
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(l) => batch.push(l),
                    Err(_) => break,
                }
            }
        }
        match run(&pool, &batch).await {
            Ok(mut found) => {
                for (i, l) in batch.into_iter().enumerate() {
                    let _ = l.answer.send(Ok(found[i].take()));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for l in batch {
                    let _ = l.answer.send(Err(StoreError::Database(message.clone())));
                }
            }
        }
    }
}

/// One statement for the whole batch: each look-up's live session (by an index probe, through
/// LATERAL), its user and organization, and the versions; answers them in the batch's order.
async fn run(pool: &PgPool, batch: &[Lookup]) -> StoreResult<Vec<Option<(Principal, Versions)>>> {
    let rows = sqlx::query(
        "SELECT t.n, p.* FROM unnest($1::bytea[], $2::timestamptz[], $3::uuid[]) WITH ORDINALITY AS t(token_hash, at, watch, n)
         CROSS JOIN LATERAL (
             SELECT u.id, u.organization_id, u.email, u.display_name, u.roles, u.password_change_required, u.locale, u.created_at,
                    s.id AS session_id, o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.domain AS o_domain,
                    o.partner_type AS o_partner_type, o.partner_id AS o_partner_id, o.created_at AS o_created_at,
                    coalesce((SELECT version FROM org_versions WHERE organization_id = u.organization_id), 0) AS caller_version,
                    coalesce((SELECT version FROM org_versions WHERE organization_id = t.watch), 0) AS watched_version,
                    coalesce((SELECT version FROM org_versions WHERE organization_id = $4), 0) AS epoch
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
             JOIN organizations o ON o.id = u.organization_id
             WHERE s.token_hash = t.token_hash AND s.expires_at > t.at
         ) AS p",
    )
    .bind(batch.iter().map(|l| l.token_hash.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|l| pt(l.now)).collect::<Vec<_>>())
    .bind(batch.iter().map(|l| l.watch).collect::<Vec<_>>())
    .bind(crate::EPOCH_ORG)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut found: Vec<Option<(Principal, Versions)>> = (0..batch.len()).map(|_| None).collect();
    for r in rows {
        let n: i64 = get(&r, "n")?;
        let principal =
            Principal { session_id: SessionId(get(&r, "session_id")?), user: user_from(&r)?, organization: org_from(&r, "o_")? };
        let versions = Versions { caller: get(&r, "caller_version")?, watched: get(&r, "watched_version")?, epoch: get(&r, "epoch")? };
        if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| found.get_mut(i)) {
            *slot = Some((principal, versions));
        }
    }
    Ok(found)
}

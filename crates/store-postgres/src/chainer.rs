//! Links committed changes into the audit chain (see `audit::chain`), many per transaction.
//!
//! A request that made a change asks, after its commit, for a chain run and waits for it. One
//! thread of each process runs them: it takes every request queued, runs once (the run starts
//! after each of those commits, so it sees their pending rows) and answers them all, as the
//! SQLite writer batches its commits; requests that come meanwhile wait for the next run. It
//! has a runtime and a connection of its own, so a run waits neither for the request threads
//! nor for the pool. Runs of other processes take the chain lock in turn with it, and link
//! whatever is pending, whoever wrote it. Every second without requests, a run links what a
//! process that crashed between its commit and its run left pending.

use crate::audit;
use partnerhub_store::{StoreError, StoreResult};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the chainer waits for a request before it links what nobody waits for.
const TICK: Duration = Duration::from_secs(1);

type Waiter = oneshot::Sender<StoreResult<()>>;

#[derive(Debug)]
pub(crate) struct Chainer {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl Chainer {
    /// Starts the chainer's thread; it ends when the chainer is dropped.
    pub(crate) fn start(connect: PgConnectOptions) -> StoreResult<Self> {
        let (queue, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("cannot start the chainer's runtime: {e}")))?;
        std::thread::Builder::new()
            .name("ph-pg-chainer".into())
            .spawn(move || runtime.block_on(run(connect, rx)))
            .map_err(|e| StoreError::Database(format!("cannot start the chainer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Returns once every change committed before the call is linked into the chain.
    pub(crate) async fn settle(&self) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(tx).map_err(|_| StoreError::Database("the chainer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Database("the chainer dropped a request".into()))?
    }
}

async fn run(connect: PgConnectOptions, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut conn: Option<PgConnection> = None;
    loop {
        let mut waiters = Vec::new();
        match tokio::time::timeout(TICK, rx.recv()).await {
            Ok(Some(w)) => waiters.push(w),
            Ok(None) => break,
            Err(_) => {} // the tick: nobody waits
        }
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let outcome = link(&connect, &mut conn).await;
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, waiting = waiters.len(), "linking pending audit records failed; the next run tries again");
        }
        for w in waiters {
            let _ = w.send(outcome.as_ref().map(|_| ()).map_err(|e| StoreError::Database(e.to_string())));
        }
    }
}

async fn link(connect: &PgConnectOptions, conn: &mut Option<PgConnection>) -> StoreResult<()> {
    let c = match conn.as_mut() {
        Some(c) => c,
        None => conn.insert(PgConnection::connect_with(connect).await.map_err(crate::db)?),
    };
    let linked = audit::chain_all(c).await;
    if linked.is_err() {
        // The connection may be broken: the next run opens another.
        *conn = None;
    }
    linked
}

//! Connections: a few readers used inline (a read takes microseconds; handing it to another
//! thread would cost more than the read), and one writer thread that groups the writes
//! waiting for it into one transaction, a savepoint each, and a syncer thread that answers each
//! only once the WAL holding its commit is synced to disk, so one flush makes whole batches durable.
//!
//! Durability: the writer commits at `synchronous=NORMAL`, which SQLite keeps consistent across
//! a power cut but which may lose the last commits; the syncer then `fsync`s the WAL file itself
//! and only then answers the batches it covered. So an answered write is as durable as at
//! `synchronous=FULL`, and the writer does not wait for the disk: it runs the next batch while
//! the last one is being synced (at FULL it waited, and spent about half its time so). A commit
//! is visible to readers from its COMMIT, before the flush that makes it durable; what leaves
//! the process on its own (webhook events) is read only up to what is durable
//! (`Db::durable_position`).

use partnerhub_store::{StoreError, StoreResult, constraint};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many writes one transaction takes at most.
const MAX_BATCH: usize = 128;

/// WAL frames (pages) past which the checkpointer makes the next writer start the log from its
/// beginning (a RESTART checkpoint, which waits for the writer and the readers of old frames);
/// below it, the checkpointer copies pages back without blocking anyone (PASSIVE).
const WAL_RESTART_FRAMES: i64 = 4096;

/// The WAL file is cut back to this size when the log restarts.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The checkpointer waits this long after a commit before copying, to take many commits at once.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(20);

/// A write: runs inside the batch transaction, and gives back what to do once the
/// transaction's fate is known (`true`: committed).
type Job = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(bool) + Send> + Send>;

/// Makes the WAL's written frames durable (`fsync` of the WAL file).
pub(crate) type SyncWal = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// A batch handed from the writer to the syncer: whether it committed, the last outbox
/// position it holds, and its answers.
struct Committed {
    committed: bool,
    outbox_position: i64,
    finishers: Vec<Box<dyn FnOnce(bool) + Send>>,
}

pub(crate) struct Db {
    readers: Vec<Mutex<Connection>>,
    next: std::sync::atomic::AtomicUsize,
    writer: Mutex<mpsc::Sender<Job>>,
    /// The highest outbox position whose commit is on disk (see the module's comment).
    durable_position: Arc<AtomicI64>,
}

/// Page cache per connection, in KiB (SQLite's negative `cache_size`). The writer keeps the most:
/// it rewrites the same index pages batch after batch. A reader's hot reads are mostly answered
/// by the response cache above the store, and what misses reads the operating system's page
/// cache; the checkpointer copies pages without caching them. Together (a writer, `cores + 2`
/// readers, a checkpointer) they stay well inside the server's 100 MiB under load: with 16 MiB
/// each, the issue-9 run peaked at 95 MiB.
const WRITER_CACHE_KIB: i64 = 16_000;
const READER_CACHE_KIB: i64 = 4_000;
const CHECKPOINTER_CACHE_KIB: i64 = 500;

fn configure(c: &Connection, cache_kib: i64) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "temp_store", "MEMORY")?;
    c.pragma_update(None, "cache_size", -cache_kib)?;
    c.set_prepared_statement_cache_capacity(256);
    // Query-planner stability: with STAT4 (compiled in) SQLite re-prepares a cached statement
    // whenever a parameter compared with an indexed column is bound anew, on every execution
    // of the hot reads; with this, the plan is made once, from the schema alone.
    c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

impl Db {
    /// Opens `path` (already migrated, in WAL mode).
    pub(crate) fn open(path: &str, readers: usize) -> StoreResult<Arc<Self>> {
        Self::open_with(path, readers, None)
    }

    /// Opens `path`, syncing the WAL with `sync` instead of `fsync` (tests hold it back).
    pub(crate) fn open_with(path: &str, readers: usize, sync: Option<SyncWal>) -> StoreResult<Arc<Self>> {
        let writer = Connection::open(path).map_err(err)?;
        configure(&writer, WRITER_CACHE_KIB).map_err(err)?;
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!("journal_mode is {mode}, not wal")));
        }
        // The checkpointer's RESTART holds the write lock while it copies and syncs: poll finely
        // rather than with SQLite's default back-off, whose sleeps averaged 8 ms (perf sched).
        writer.busy_handler(Some(writer_wait)).map_err(err)?;
        // The syncer makes commits durable before they are answered (see the module's comment).
        writer.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        let mut sync = match sync {
            Some(sync) => sync,
            None => {
                // Reading opens the WAL file (SQLite creates it with the first connection in WAL mode).
                writer.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())).map_err(err)?;
                let wal = std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("{path}-wal"))
                    .map_err(|e| StoreError::Database(format!("cannot open the WAL file of {path}: {e}")))?;
                Box::new(move || wal.sync_data())
            }
        };
        // What an earlier process committed is made durable before anything is read as durable.
        sync().map_err(|e| StoreError::Database(format!("cannot sync the WAL file of {path}: {e}")))?;
        let durable_position = Arc::new(AtomicI64::new(outbox_position(&writer).map_err(err)?));
        // Checkpoints run on their own connection and thread, not inside the writer's COMMIT.
        // Durability is unchanged: a commit is durable once its WAL frames are synced.
        writer.pragma_update(None, "wal_autocheckpoint", 0).map_err(err)?;
        writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).map_err(err)?;
        let checkpointer = Connection::open(path).map_err(err)?;
        configure(&checkpointer, CHECKPOINTER_CACHE_KIB).map_err(err)?;
        // A RESTART holds the writer lock while it waits for readers of old frames, which take
        // microseconds: poll finely, not with SQLite's default back-off (up to 100 ms a sleep).
        checkpointer.busy_handler(Some(short_wait)).map_err(err)?;
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("partnerhub-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpointer, nudged))
            .map_err(|e| StoreError::Database(format!("cannot start the checkpointer thread: {e}")))?;
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(err)?;
            configure(&r, READER_CACHE_KIB).map_err(err)?;
            pool.push(Mutex::new(r));
        }
        let (to_sync, synced) = mpsc::channel::<Committed>();
        let durable = Arc::clone(&durable_position);
        std::thread::Builder::new()
            .name("partnerhub-sqlite-syncer".into())
            .spawn(move || sync_loop(sync, synced, durable))
            .map_err(|e| StoreError::Database(format!("cannot start the syncer thread: {e}")))?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("partnerhub-sqlite-writer".into())
            .spawn(move || write_loop(writer, rx, nudge, to_sync))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(Arc::new(Self { readers: pool, next: Default::default(), writer: Mutex::new(tx), durable_position }))
    }

    /// The highest outbox position whose commit is durable. Readers see a commit a few
    /// milliseconds before it is: what leaves the process (webhook events) reads up to here only.
    pub(crate) fn durable_position(&self) -> i64 {
        self.durable_position.load(Ordering::Acquire)
    }

    /// Runs a read on a free reader connection, on the calling thread.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        for r in &self.readers {
            if let Ok(c) = r.try_lock() {
                return f(&c);
            }
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.readers.len();
        let c = self.readers[i].lock().map_err(|_| StoreError::Database("a reader connection was poisoned".into()))?;
        f(&c)
    }

    /// Runs a write on the writer thread, inside a savepoint of the current batch; answers once
    /// the batch is committed and synced (durable), or has failed.
    pub(crate) async fn write<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |c: &Connection| {
            let outcome = savepoint(c, f);
            Box::new(move |committed: bool| {
                let answer = match outcome {
                    Ok(v) if committed => Ok(v),
                    Ok(_) => Err(StoreError::Database("the transaction did not commit, or could not be synced to disk".into())),
                    // A refused write changed nothing, whatever happened to the batch.
                    Err(e) => Err(e),
                };
                let _ = tx.send(answer);
            })
        });
        self.writer
            .lock()
            .map_err(|_| StoreError::Database("the writer channel was poisoned".into()))?
            .send(job)
            .map_err(|_| StoreError::Database("the writer thread has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Database("the writer thread dropped a write".into()))?
    }
}

fn savepoint<T>(c: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    c.execute_batch("SAVEPOINT w").map_err(err)?;
    match f(c) {
        Ok(v) => {
            c.execute_batch("RELEASE w").map_err(err)?;
            Ok(v)
        }
        Err(e) => {
            // Undo this write only; the others of the batch stand.
            if !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK TO w; RELEASE w");
            }
            Err(e)
        }
    }
}

/// Copies committed WAL frames back into the database file after commits, so that the WAL
/// stays bounded although the writer never checkpoints. Ends when the writer does.
fn checkpoint_loop(conn: Connection, nudged: mpsc::Receiver<()>) {
    while nudged.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_PAUSE);
        let _ = nudged.try_recv();
        match checkpoint(&conn, "PASSIVE") {
            Ok(frames) if frames > WAL_RESTART_FRAMES => {
                if let Err(e) = checkpoint(&conn, "RESTART") {
                    tracing::warn!(error = %e, "a WAL restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed"),
        }
    }
}

/// Busy handler of the writer: waits 50 µs a time, for at least the 10 s of the other
/// connections' `busy_timeout`.
fn writer_wait(tries: i32) -> bool {
    std::thread::sleep(Duration::from_micros(50));
    tries < 200_000
}

/// Busy handler of the checkpointer: waits 50 µs a time, for at most about a second.
fn short_wait(tries: i32) -> bool {
    std::thread::sleep(Duration::from_micros(50));
    tries < 20_000
}

/// Runs `PRAGMA wal_checkpoint(mode)`; answers the frames in the WAL.
fn checkpoint(c: &Connection, mode: &str) -> rusqlite::Result<i64> {
    c.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get::<_, i64>(1))
}

/// The last outbox position written (positions are the outbox's rowids, in commit order).
fn outbox_position(c: &Connection) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT coalesce(max(rowid), 0) FROM outbox_events")?.query_row([], |r| r.get(0))
}

/// Answers the batches the writer committed once the WAL holding them is synced: as many
/// batches at a time as have committed meanwhile, with one `fsync`. Ends when the writer does.
fn sync_loop(mut sync: SyncWal, batches: mpsc::Receiver<Committed>, durable: Arc<AtomicI64>) {
    while let Ok(first) = batches.recv() {
        let mut ready = vec![first];
        ready.extend(batches.try_iter());
        let synced = if ready.iter().any(|b| b.committed) { sync() } else { Ok(()) };
        match &synced {
            Ok(()) => {
                let position = ready.iter().filter(|b| b.committed).map(|b| b.outbox_position).max();
                if let Some(p) = position {
                    durable.fetch_max(p, Ordering::AcqRel);
                }
            }
            // As PostgreSQL does, no retry: after a failed fsync the kernel may have dropped the
            // pages, and a later fsync would report success for data that is not on disk.
            Err(e) => tracing::error!(error = %e, "cannot sync the WAL to disk: writes are answered with errors; restart the server"),
        }
        for batch in ready {
            let ok = batch.committed && synced.is_ok();
            for finish in batch.finishers {
                finish(ok);
            }
        }
    }
}

fn write_loop(conn: Connection, rx: mpsc::Receiver<Job>, nudge: mpsc::SyncSender<()>, to_sync: mpsc::Sender<Committed>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in batch {
                // Run nothing: answer every job with failure.
                drop(job);
            }
            continue;
        }
        let mut finishers = Vec::with_capacity(batch.len());
        let mut broken = false;
        for job in batch {
            if broken {
                // The transaction is gone (SQLite rolled it back on an I/O or memory error);
                // the rest of the batch is not run and is answered with failure.
                drop(job);
                continue;
            }
            finishers.push(job(&conn));
            broken = conn.is_autocommit();
        }
        // Read inside the transaction: the last position this batch wrote, or an earlier one.
        let outbox_position = if broken { Ok(0) } else { outbox_position(&conn) };
        let committed = !broken && outbox_position.is_ok() && conn.execute_batch("COMMIT").is_ok();
        if !committed && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if !committed {
            tracing::error!("a write batch failed to commit; its writes were answered with errors");
        }
        // Answered by the syncer once durable; the writer goes on with the next batch meanwhile.
        let batch = Committed { committed, outbox_position: outbox_position.unwrap_or(0), finishers };
        if let Err(mpsc::SendError(batch)) = to_sync.send(batch) {
            for finish in batch.finishers {
                finish(false);
            }
        }
        if committed {
            // Wakes the checkpointer if it sleeps; if a nudge is already waiting, that one will do.
            let _ = nudge.try_send(());
        }
    }
}

/// Maps driver errors to store errors, naming the uniqueness rule that refused a write.
pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(m)) = &e
        && f.code == ErrorCode::ConstraintViolation
        && (m.starts_with("UNIQUE constraint failed") || m.starts_with("PRIMARY KEY"))
    {
        let constraint = if m.contains("organizations.domain") {
            constraint::DOMAIN_TAKEN
        } else if m.contains("organizations.partner_id") {
            constraint::PARTNER_ID_TAKEN
        } else if m.contains("users.email") {
            constraint::EMAIL_TAKEN
        } else if m.contains("relationships.partner_org_id") {
            constraint::ACTIVE_RELATIONSHIP
        } else if m.contains("provider_links.provider_id") {
            constraint::PROVIDER_LINK_EXISTS
        } else if m.contains("grant_warnings.grant_id") {
            constraint::GRANT_WARNED
        } else if m.contains("licenses.subscription_id") {
            constraint::LICENSE_EXISTS
        } else {
            return StoreError::Database(e.to_string());
        };
        return StoreError::Conflict { constraint };
    }
    match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        other => StoreError::Database(other.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::SyncWal;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    /// A database path `name` in a new temporary directory, which lives as long as the guard.
    pub(crate) fn temp_db(name: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(name).to_str().expect("a UTF-8 path").to_owned();
        (dir, path)
    }

    /// A WAL sync held back until the test sends its outcome on the sender (the sync at open is
    /// already let through), with the count of syncs begun.
    pub(crate) fn gated_sync() -> (mpsc::Sender<std::io::Result<()>>, SyncWal, Arc<AtomicUsize>) {
        let (release, gate) = mpsc::channel::<std::io::Result<()>>();
        let begun = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&begun);
        let sync: SyncWal = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            gate.recv().unwrap_or(Ok(()))
        });
        release.send(Ok(())).expect("the sync at open");
        (release, sync, begun)
    }

    /// Polls `done` every 10 ms for up to 5 s; panics with `what` if it never holds.
    pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{eventually, gated_sync, temp_db};
    use super::*;

    /// The writer never checkpoints (`wal_autocheckpoint=0`): without the checkpointer the WAL
    /// would hold every page written, here about 60 MiB. With it, the WAL stays bounded while
    /// readers keep reading, and every write is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_sustained_writes() {
        let (_dir, path) = temp_db("wal.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL); CREATE TABLE outbox_events (id INTEGER PRIMARY KEY)",
            )
            .expect("schema");
        }
        let db = Db::open(&path, 2).expect("open the store");
        let (tasks, per_task, row) = (32, 500, 4000usize);
        let mut handles = Vec::new();
        for t in 0..tasks {
            let db = Arc::clone(&db);
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    db.write(move |c| {
                        c.execute("INSERT INTO t (id, v) VALUES (?, zeroblob(?))", rusqlite::params![t * per_task + i, row as i64])
                            .map_err(err)?;
                        Ok(())
                    })
                    .await
                    .expect("a write");
                    // A reader in flight now and then, as the API's reads are.
                    if i % 50 == 0 {
                        db.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).map_err(err)).expect("a read");
                    }
                }
            }));
        }
        let mut largest = 0;
        let wal = format!("{path}-wal");
        while !handles.iter().all(|h| h.is_finished()) {
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for h in handles {
            h.await.expect("a writer task");
        }
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        let written = (tasks * per_task) as u64 * row as u64;
        assert!(largest < 40 * 1024 * 1024, "the WAL reached {largest} bytes for {written} written");
        let n = db.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).map_err(err)).expect("count");
        assert_eq!(n, (tasks * per_task) as i64);
    }

    /// A write is answered only once the WAL holding it is synced. Held back at the sync, the
    /// write is already visible to readers but not answered, and the outbox position it wrote is
    /// not yet durable; once the sync runs, both follow. A failed sync answers with an error and
    /// leaves the durable position where it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_are_answered_only_after_the_wal_is_synced() {
        let (_dir, path) = temp_db("sync.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE outbox_events (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                .expect("schema");
            c.execute("INSERT INTO outbox_events (v) VALUES ('before')", []).expect("an earlier event");
        }
        let (release, sync, syncs) = gated_sync();
        let db = Db::open_with(&path, 2, Some(sync)).expect("open the store");
        assert_eq!(db.durable_position(), 1, "what was on disk at open is durable");
        let insert = |v: &'static str| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO outbox_events (v) VALUES (?)", [v]).map_err(err)?;
                    Ok(())
                })
                .await
            })
        };
        let count =
            || db.read(|c| c.query_row("SELECT count(*) FROM outbox_events", [], |r| r.get::<_, i64>(0)).map_err(err)).expect("a read");

        let first = insert("first");
        eventually("the write never became visible", || count() == 2).await;
        eventually("the write's sync never began", || syncs.load(Ordering::SeqCst) == 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "a write was answered before its sync");
        assert_eq!(db.durable_position(), 1, "an unsynced position counted as durable");
        release.send(Ok(())).expect("release the sync");
        first.await.expect("the task").expect("the write, once synced");
        assert_eq!(db.durable_position(), 2);

        let second = insert("second");
        eventually("the write never became visible", || count() == 3).await;
        release.send(Err(std::io::Error::other("the disk is gone"))).expect("fail the sync");
        let answer = second.await.expect("the task");
        assert!(answer.is_err(), "a write whose sync failed was answered as done: {answer:?}");
        assert_eq!(db.durable_position(), 2, "a position whose sync failed counted as durable");
    }
}

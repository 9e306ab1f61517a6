//! The single writer thread and its group commit.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;

use super::db::Conn;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// What a queued write does once its batch has committed (or failed to).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A queued write: runs inside the batch's transaction, returns its completion.
type Job = Box<dyn FnOnce(&Conn) -> Completion + Send>;

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    /// Woken after every committed batch that appended events (the webhook dispatcher
    /// waits on it).
    pub committed: std::sync::Arc<tokio::sync::Notify>,
}

const QUEUE_DEPTH: usize = 16 * 1024;

impl Writer {
    /// Starts the writer thread on `conn`. `wal` is the database's `-wal` file, watched to
    /// keep it from growing without bound under a constant write load.
    pub fn start(conn: Connection, max_batch: usize, wal: Option<PathBuf>) -> Result<Self> {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let committed = std::sync::Arc::new(tokio::sync::Notify::new());
        let notify = committed.clone();
        std::thread::Builder::new()
            .name("idgate-writer".into())
            .spawn(move || run(conn, rx, max_batch, wal, &notify))
            .map_err(Error::internal)?;
        Ok(Self { queue, committed })
    }

    pub async fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn| {
            let outcome = span.in_scope(|| in_savepoint(conn, f));
            Box::new(move |commit| {
                let reply = match commit {
                    Ok(()) => outcome,
                    // The savepoint's work is gone with the failed batch.
                    Err(cause) => outcome.and(Err(Error::Internal(cause))),
                };
                let _ = tx.send(reply);
            })
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| Error::internal("the writer thread has stopped"))?;
        rx.await
            .map_err(|_| Error::internal("the writer thread dropped a request"))?
    }

    /// Queues `f` without waiting for it; false when the queue is full and it was dropped.
    pub fn submit_detached<F>(&self, f: F) -> bool
    where
        F: FnOnce(&Conn) -> Result<()> + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            if let Err(e) = in_savepoint(conn, f) {
                tracing::warn!(error = %e, "background write failed");
            }
            Box::new(|_| {})
        });
        let queued = self.queue.try_send(job).is_ok();
        if !queued {
            tracing::warn!("write queue full: a background write was dropped");
        }
        queued
    }
}

/// Runs `f` in a SAVEPOINT: its changes are undone if it fails (or panics), kept otherwise.
/// A panic is turned into an internal error so that the writer thread, which every write
/// depends on, never dies.
fn in_savepoint<T>(conn: &Conn, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let outcome = unpanicked(|| f(conn));
    match outcome {
        Ok(v) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Err(e)
        }
    }
}

/// Runs a write, turning a panic into an internal error (the thread that runs writes, and
/// the connection it holds, must outlive any one of them).
pub(super) fn unpanicked<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Internal(format!("a write panicked: {what}")))
    })
}

/// WAL file size past which the writer restarts the WAL between two batches. After the
/// restart, the next commit truncates the file to `journal_size_limit` (64 MiB, see
/// `init_connection`), so the file size measures what was written since.
const WAL_RESTART_BYTES: u64 = 256 * 1024 * 1024;

/// Under a constant write load, PASSIVE checkpoints (see `start_checkpointer`) copy the WAL
/// into the database but the WAL never starts over, so it grows. Between two batches, when
/// it is large, the writer finishes the checkpoint and restarts the WAL, waiting for readers
/// 100 ms at most. The threshold is high because a restart pauses writes: measured, a
/// 32 MiB threshold cost a quarter of PATCH throughput; at 256 MiB it is rare. Between
/// Entra's cycles the WAL resets by itself.
fn restart_wal_if_large(conn: &Connection, wal: Option<&PathBuf>) {
    let Some(path) = wal else { return };
    let large = std::fs::metadata(path).is_ok_and(|m| m.len() > WAL_RESTART_BYTES);
    if !large {
        return;
    }
    let _ = conn.busy_timeout(Duration::from_millis(100));
    match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => tracing::debug!("WAL restarted"),
        Ok(_) => tracing::debug!("WAL restart postponed: readers busy"),
        Err(e) => tracing::warn!(error = %e, "WAL restart failed"),
    }
    let _ = conn.busy_timeout(Duration::from_secs(10));
}

/// The newest event's seq (the rowid B-tree's last entry: a few page reads).
fn events_head(conn: &Connection) -> i64 {
    // Not `COALESCE(MAX(seq), 0)`: wrapped, MAX loses SQLite's min/max optimization and
    // scans the whole log (a first version did, and SCIM lost a third of its throughput).
    conn.prepare_cached("SELECT seq FROM events ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .unwrap_or(0)
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    wal: Option<PathBuf>,
    committed: &tokio::sync::Notify,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut done: Vec<Completion> = Vec::with_capacity(max_batch);
    let mut last_event = events_head(&conn);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                let c = Conn::Sqlite(&conn);
                done.extend(batch.drain(..).map(|job| job(&c)));
                conn.execute_batch("COMMIT").map_err(|e| {
                    let _ = conn.execute_batch("ROLLBACK");
                    format!("commit failed: {e}")
                })
            }
            Err(e) => {
                // Nothing ran. Dropping the jobs drops their reply channels, so every
                // waiting caller gets an internal error.
                batch.clear();
                Err(format!("begin failed: {e}"))
            }
        };
        match &outcome {
            Err(cause) => tracing::error!(%cause, "write batch failed"),
            Ok(()) => {
                // Only a batch that appended events wakes the webhook dispatcher: the
                // batches without events (request log, lane cursors, sign-ins) have nothing
                // for it, and each wake is a read of every lane.
                let head = events_head(&conn);
                if head != last_event {
                    last_event = head;
                    committed.notify_waiters();
                }
            }
        }
        for complete in done.drain(..) {
            complete(outcome.clone());
        }
        restart_wal_if_large(&conn, wal.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        (Writer::start(conn, 64, None).unwrap(), dir)
    }

    fn insert(v: i64) -> impl FnOnce(&Conn) -> Result<usize> + Send + 'static {
        move |c| Ok(c.execute("INSERT INTO t (v) VALUES (?1)", [v])?)
    }

    fn count(w: &Writer) -> impl std::future::Future<Output = Result<i64>> + '_ {
        w.submit(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_or_panicking_write_does_not_undo_its_batch() {
        let (w, _dir) = writer();
        // Submitted together, so they share batches.
        let (a, b, c, d) = tokio::join!(
            w.submit(insert(1)),
            w.submit(insert(1)), // unique violation: fails alone
            w.submit(|_c| -> Result<()> { panic!("boom") }),
            w.submit(insert(2)),
        );
        assert!(a.is_ok());
        assert!(b.is_err());
        assert!(c.unwrap_err().to_string().contains("boom"));
        assert!(d.is_ok());
        // The writer survived the panic and both good writes committed.
        assert_eq!(count(&w).await.unwrap(), 2);
    }
}

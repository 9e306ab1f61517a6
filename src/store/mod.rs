//! The identity store: the only place that speaks SQL. Two engines behind one API
//! (`db::Conn`): SQLite under `data_dir` (the default) and PostgreSQL (`store_url`), which
//! several instances share.
//!
//! Reads run on a pool of connections in parallel (on tokio's blocking threads). On SQLite,
//! writes go to one writer thread that drains a queue and commits many requests in one
//! transaction (group commit): each request runs inside its own SAVEPOINT, so a failing
//! request rolls back alone, and every caller is answered only after the batch's COMMIT
//! reached the disk (`synchronous=FULL`). On PostgreSQL each write is its own transaction
//! on a pooled connection: the server merges concurrent commits' WAL flushes itself.

use std::cell::Cell;
use std::future::Future;

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod auth_failures;
mod cursors;
pub mod db;
pub mod dialect;
pub mod events;
pub mod filter_sql;
pub mod leases;
pub mod log_pages;
pub mod metadata_url;
mod migrate;
pub mod oidc;
pub mod orgs;
pub mod pages;
mod pg;
pub mod requests;
pub mod resources;
pub mod saml;
pub mod saml_attributes;
pub mod saml_slo;
pub mod server;
pub mod sessions;
pub mod signin;
pub mod sp_keys;
pub mod webhooks;
mod writer;

use std::path::Path;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::error::{Error, Result};

pub use migrate::{LATEST_VERSION, migrate, migrate_pg};

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// SCIM request-log rows waiting for the writer (see `log_request`).
    log_rows: std::sync::Arc<std::sync::Mutex<Vec<requests::RequestLog>>>,
    /// Where the next page of a sequential listing starts.
    pub cursors: std::sync::Arc<cursors::PageCursors>,
    /// Reads (and on PostgreSQL writes) in flight at once: no more blocking threads than
    /// connections.
    readers: std::sync::Arc<tokio::sync::Semaphore>,
}

#[derive(Clone)]
enum Backend {
    Sqlite {
        pool: Pool<SqliteConnectionManager>,
        /// The database file and a number no other store of this process has, for the
        /// connections threads keep (`read_inline`).
        path: std::sync::Arc<std::path::PathBuf>,
        id: u64,
        writer: writer::Writer,
        /// Dropping the last clone stops the checkpointer.
        _checkpointer: std::sync::Arc<std::sync::mpsc::Sender<()>>,
    },
    Pg(Box<pg::PgStore>),
}

fn init_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    filter_sql::register_functions(conn)?;
    Ok(())
}

/// Opens one connection with the store's settings (for the writer, migrations, backups).
pub fn open_connection(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    init_connection(&mut conn)?;
    Ok(conn)
}

impl Store {
    /// Opens the store `config` names: PostgreSQL when `store_url` is set, else SQLite
    /// under `data_dir`.
    pub fn open_config(config: &crate::config::Config, read_pool_size: u32) -> Result<Self> {
        match &config.store_url {
            Some(url) => Self::open_pg(url, read_pool_size),
            None => Self::open(&config.database_path(), read_pool_size, config.max_batch),
        }
    }

    /// Connects to PostgreSQL at `url`, migrates it (once across instances starting
    /// together) and starts listening for other instances' changes.
    pub fn open_pg(url: &str, pool_size: u32) -> Result<Self> {
        let backend = pg::off_runtime(|| pg::PgStore::open(url, pool_size))?;
        Ok(Self {
            backend: Backend::Pg(Box::new(backend)),
            cursors: std::sync::Arc::new(cursors::PageCursors::off()),
            log_rows: std::sync::Arc::default(),
            readers: std::sync::Arc::new(tokio::sync::Semaphore::new(pool_size as usize)),
        })
    }

    /// What other instances revoked (`session:ID`, `user:ID`; empty: anything may have
    /// changed while the listener was away). None on SQLite, where one process does it all.
    pub fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        match &self.backend {
            Backend::Sqlite { .. } => None,
            Backend::Pg(pg) => Some(pg.changes.subscribe()),
        }
    }

    /// Which engine this store runs on.
    pub fn dialect(&self) -> db::Dialect {
        match &self.backend {
            Backend::Sqlite { .. } => db::Dialect::Sqlite,
            Backend::Pg(_) => db::Dialect::Postgres,
        }
    }

    /// Opens (creating if needed) the database at `path`, applies pending migrations and
    /// starts the writer thread.
    pub fn open(path: &Path, read_pool_size: u32, max_batch: usize) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Invalid(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        // The writer never checkpoints in its commit path: a background thread does.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let manager = SqliteConnectionManager::file(path).with_init(init_connection);
        let pool = Pool::builder()
            .max_size(read_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        let wal = path.with_file_name(format!(
            "{}-wal",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("idgate.db")
        ));
        let writer = writer::Writer::start(conn, max_batch, Some(wal))?;
        let checkpointer = start_checkpointer(open_connection(path)?)?;
        Ok(Self {
            backend: Backend::Sqlite {
                pool,
                path: std::sync::Arc::new(path.to_path_buf()),
                id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                writer,
                _checkpointer: std::sync::Arc::new(checkpointer),
            },
            cursors: std::sync::Arc::default(),
            log_rows: std::sync::Arc::default(),
            readers: std::sync::Arc::new(tokio::sync::Semaphore::new(read_pool_size as usize)),
        })
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&db::Conn) -> Result<T> + Send + 'static,
    {
        noting_outage(self.read_inner(f).await)
    }

    async fn read_inner<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&db::Conn) -> Result<T> + Send + 'static,
    {
        // Waiting here, not on a blocking thread, keeps the number of threads (and their
        // memory) at the number of connections.
        let _permit = self.readers.acquire().await.map_err(Error::internal)?;
        let backend = self.backend.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            backend.read_now(f)
        })
        .await
        .map_err(Error::internal)?
    }

    /// Runs a short read (a lookup on an index) on the calling thread instead of handing it
    /// to a blocking thread and waiting to be woken: on SQLite over a connection the thread
    /// keeps for this store (each HTTP worker opens one), so a SCIM request's token lookup
    /// costs no thread hand-off; on PostgreSQL, where a read is a network round trip that
    /// must not stall a worker, it is `read`.
    pub async fn read_inline<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&db::Conn) -> Result<T> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { path, id, .. } => noting_outage(read_on_this_thread(*id, path, f)),
            Backend::Pg(_) => self.read(f).await,
        }
    }

    /// Runs `f` inside the writer's next batch; returns once the batch is durable.
    /// If `f` fails, its changes are rolled back and the others in the batch still commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&db::Conn) -> Result<T> + Send + 'static,
    {
        let outcome = match &self.backend {
            Backend::Sqlite { writer, .. } => writer.submit(f).await,
            Backend::Pg(pg) => {
                // Reads and writes share the pool on PostgreSQL: wait here, not on a
                // blocking thread, for a connection to be free.
                let _permit = self.readers.acquire().await.map_err(Error::internal)?;
                pg.write(f).await
            }
        };
        noting_outage(outcome)
    }

    /// Woken after every committed write that appended events (on PostgreSQL: of any
    /// instance).
    pub fn committed(&self) -> std::sync::Arc<tokio::sync::Notify> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => writer.committed.clone(),
            Backend::Pg(pg) => pg.committed.clone(),
        }
    }

    /// Queues `f` without waiting for it (request-log rows, last-used times): losing it in
    /// a crash loses no acknowledged client write. False when the queue was full and `f`
    /// was dropped.
    pub fn write_detached<F>(&self, f: F) -> bool
    where
        F: FnOnce(&db::Conn) -> Result<()> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { writer, .. } => writer.submit_detached(f),
            Backend::Pg(pg) => pg.write_detached(f),
        }
    }

    /// Queues a SCIM request-log row. Rows are written in bulk: the first row queued into an
    /// empty buffer schedules one background write that takes every row queued by the time
    /// it runs, so a busy server writes one job per batch, not one per request.
    pub fn log_request(&self, row: requests::RequestLog) {
        let first = match self.log_rows.lock() {
            Ok(mut rows) => {
                rows.push(row);
                rows.len() == 1
            }
            Err(_) => return,
        };
        if first {
            let rows = self.log_rows.clone();
            let queued = self.write_detached(move |c| {
                let taken = rows
                    .lock()
                    .map(|mut r| std::mem::take(&mut *r))
                    .unwrap_or_default();
                taken.iter().try_for_each(|r| requests::insert(c, r))
            });
            // No write will take these rows: drop them rather than let the buffer grow
            // without a write ever being scheduled again.
            if !queued && let Ok(mut rows) = self.log_rows.lock() {
                rows.clear();
            }
        }
    }

    /// Runs `f` synchronously in its own IMMEDIATE transaction on a pooled connection. For
    /// the command line and start-up, outside the async runtime.
    pub fn write_now<T: Send>(&self, f: impl FnOnce(&db::Conn) -> Result<T> + Send) -> Result<T> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let mut conn = pool.get()?;
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&db::Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Pg(pg) => pg::off_runtime(|| pg.transaction(f)),
        }
    }

    /// Runs `f` synchronously on a pooled connection (command line, tests).
    pub fn read_now<T: Send>(&self, f: impl FnOnce(&db::Conn) -> Result<T> + Send) -> Result<T> {
        match &self.backend {
            Backend::Pg(pg) => pg::off_runtime(|| pg.read_now(f)),
            sqlite => sqlite.read_now(f),
        }
    }

    /// A consistent copy of the database at `dest`: `VACUUM INTO` on SQLite, `pg_dump`'s
    /// custom format on PostgreSQL (restore with `pg_restore`).
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(Error::Invalid(format!(
                "{} already exists; choose a new file",
                dest.display()
            )));
        }
        let pool = match &self.backend {
            Backend::Sqlite { pool, .. } => pool,
            Backend::Pg(pg) => return pg.backup(dest),
        };
        let conn = pool.get()?;
        let dest = dest
            .to_str()
            .ok_or_else(|| Error::Invalid("backup path must be valid UTF-8".into()))?;
        conn.execute("VACUUM INTO ?1", [dest])?;
        Ok(())
    }

    /// True when the store answers a query (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.read(|c| {
            let sql = match c.dialect() {
                db::Dialect::Sqlite => "PRAGMA user_version",
                db::Dialect::Postgres => "SELECT MAX(version) FROM idgate_schema",
            };
            let v: i64 = c.query_row(sql, [], |r| r.get(0))?;
            Ok(v == LATEST_VERSION)
        })
        .await
        .unwrap_or(false)
    }
}

impl Backend {
    fn read_now<T>(&self, f: impl FnOnce(&db::Conn) -> Result<T>) -> Result<T> {
        match self {
            Backend::Sqlite { pool, .. } => {
                let conn = pool.get()?;
                f(&db::Conn::Sqlite(&conn))
            }
            Backend::Pg(pg) => pg.read_now(f),
        }
    }
}

/// Copies the WAL into the database file from its own connection, so that neither the
/// writer's commits nor the readers wait for it (PASSIVE never blocks them). Stops when
/// the returned sender is dropped.
fn start_checkpointer(conn: Connection) -> Result<std::sync::mpsc::Sender<()>> {
    use std::sync::mpsc::RecvTimeoutError;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("idgate-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(200))
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
            // A last full copy on the way out keeps the WAL short for the next start.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(Error::internal)?;
    Ok(stop)
}

/// Maps a unique-constraint violation to `Conflict(message)`, everything else to Internal.
pub(crate) fn conflict_on_unique(e: db::Error, message: impl Into<String>) -> Error {
    match &e {
        db::Error::Unique(_) => Error::Conflict(message.into()),
        _ => Error::from(e),
    }
}

static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// This thread's connection for `read_inline`, and the store it belongs to.
    static THREAD_CONN: std::cell::RefCell<Option<(u64, Connection)>> =
        const { std::cell::RefCell::new(None) };
}

fn read_on_this_thread<T>(
    store: u64,
    path: &Path,
    f: impl FnOnce(&db::Conn) -> Result<T>,
) -> Result<T> {
    THREAD_CONN.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_none_or(|(id, _)| *id != store) {
            *slot = Some((store, open_connection(path)?));
        }
        let (_, conn) = slot.as_ref().expect("just opened");
        f(&db::Conn::Sqlite(conn))
    })
}

tokio::task_local! {
    /// Set when a store call of the request found the store unreachable.
    static OUTAGE: Cell<bool>;
}

/// Runs `request` and says whether any of its store calls found the store unreachable, so
/// that the surface can answer 503 ("try again") rather than 500 whatever the handler made
/// of the error.
pub async fn watching_outage<F: Future>(request: F) -> (F::Output, bool) {
    OUTAGE
        .scope(Cell::new(false), async {
            let output = request.await;
            (output, OUTAGE.with(Cell::get))
        })
        .await
}

fn noting_outage<T>(outcome: Result<T>) -> Result<T> {
    if matches!(outcome, Err(Error::Unavailable(_))) {
        let _ = OUTAGE.try_with(|o| o.set(true));
    }
    outcome
}

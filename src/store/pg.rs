//! The PostgreSQL backend of `Store`: a pool of connections (each with its prepared
//! statements), each write its own transaction, and one listening connection per instance
//! that hears what the other instances commit (`LISTEN`/`NOTIFY`).
//!
//! Crates: `postgres` (blocking, over tokio-postgres) fits the store's model of blocking
//! calls on tokio's blocking threads, as rusqlite does; `r2d2` pools it as it pools SQLite
//! (`r2d2_postgres` is not used: its connection type has no room for the statement cache);
//! `postgres-openssl` gives TLS with the OpenSSL the rest of idgate already links.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2::Pool;

use super::db::{self, Conn, PgSession};
use crate::error::{Error, Result};

/// Notified in the transaction that appends events: every instance's dispatcher wakes.
pub const EVENTS_CHANNEL: &str = "idgate_events";
/// Notified when a session is revoked or a user loses access (payload: what changed), so
/// that every instance drops what it cached.
pub const CHANGES_CHANNEL: &str = "idgate_changes";

#[derive(Clone)]
pub struct PgStore {
    pool: Pool<Manager>,
    config: postgres::Config,
    /// Woken when any instance commits events.
    pub committed: Arc<tokio::sync::Notify>,
    /// Payloads of `CHANGES_CHANNEL`, for whoever caches.
    pub changes: tokio::sync::broadcast::Sender<String>,
    /// Background writes in flight (request-log rows, last-used times): bounded like the
    /// SQLite writer's queue.
    detached: Arc<tokio::sync::Semaphore>,
}

/// Most background writes waiting at once before new ones are dropped.
const DETACHED_DEPTH: usize = 1024;

impl PgStore {
    pub fn open(url: &str, pool_size: u32) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Invalid(format!("store_url: {e}")))?;
        // An unreachable host must not hang a connection attempt (the URL may set its own).
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(4));
        }
        let mut client = connect(&config).map_err(|e| {
            let cause = db::Error::from(e).to_string();
            let hint = if cause.contains("certificate") {
                " (idgate checks the server's TLS certificate against the system's CAs: add \
                 its CA there, or on a trusted local link add ?sslmode=disable to store_url)"
            } else {
                ""
            };
            Error::Invalid(format!(
                "cannot connect to the PostgreSQL store: {cause}{hint}"
            ))
        })?;
        super::migrate::migrate_pg(&mut client)?;
        drop(client);
        let pool = Pool::builder()
            .max_size(pool_size.max(2))
            .min_idle(Some(1))
            // Requests wait for a free connection on the store's semaphore, so the pool only
            // waits here while the database is unreachable or a new connection is slow to
            // open (a loaded machine took more than 1.5 s in CI).
            .connection_timeout(Duration::from_secs(4))
            .build(Manager {
                config: config.clone(),
            })?;
        let committed = Arc::new(tokio::sync::Notify::new());
        let (changes, _) = tokio::sync::broadcast::channel(1024);
        let store = Self {
            pool,
            config,
            committed,
            changes,
            detached: Arc::new(tokio::sync::Semaphore::new(DETACHED_DEPTH)),
        };
        store.start_listener()?;
        Ok(store)
    }

    /// The connection settings the store was opened with (timeouts filled in).
    pub(super) fn config(&self) -> &postgres::Config {
        &self.config
    }

    pub fn read_now<T>(&self, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
        let conn = self.pool.get().map_err(unavailable)?;
        let c = Conn::Pg(&conn);
        let outcome = f(&c);
        if super::events::discard(&c) {
            return Err(Error::internal("an event was appended outside a write"));
        }
        outcome
    }

    /// Runs `f` in its own transaction on a pooled connection; a failure (or panic) rolls
    /// it back.
    pub fn transaction<T>(&self, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
        let conn = self.pool.get().map_err(unavailable)?;
        run_transaction(&conn, f)
    }

    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let conn = pool.get().map_err(unavailable)?;
            run_transaction(&conn, f)
        })
        .await
        .map_err(Error::internal)?
    }

    pub fn write_detached<F>(&self, f: F) -> bool
    where
        F: FnOnce(&Conn) -> Result<()> + Send + 'static,
    {
        let Ok(permit) = self.detached.clone().try_acquire_owned() else {
            tracing::warn!("write queue full: a background write was dropped");
            return false;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside the server (command line): write now.
            drop(permit);
            if let Err(e) = self.transaction(f) {
                tracing::warn!(error = %e, "background write failed");
            }
            return true;
        };
        let pool = self.pool.clone();
        runtime.spawn_blocking(move || {
            let _permit = permit;
            let outcome = pool
                .get()
                .map_err(unavailable)
                .and_then(|conn| transaction_from(&conn, BEGIN_DETACHED, f));
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "background write failed");
            }
        });
        true
    }

    /// `pg_dump --format=custom` of the database into `dest`. The connection settings go
    /// to pg_dump through the environment, so the password is not on its command line.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        let mut cmd = std::process::Command::new(pg_tool("pg_dump"));
        cmd.arg("--format=custom").arg("--file").arg(dest);
        for (k, v) in libpq_env(&self.config) {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .map_err(|e| Error::Invalid(format!("cannot run pg_dump: {e}")))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(dest);
            return Err(Error::Invalid(format!(
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// One thread per instance holding a connection that LISTENs on both channels; it
    /// reconnects by itself (and then wakes everyone once: it may have missed something).
    fn start_listener(&self) -> Result<()> {
        let config = self.config.clone();
        let committed = self.committed.clone();
        let changes = self.changes.clone();
        std::thread::Builder::new()
            .name("idgate-pg-listen".into())
            .spawn(move || listen_forever(&config, &committed, &changes))
            .map_err(Error::internal)?;
        Ok(())
    }
}

fn listen_forever(
    config: &postgres::Config,
    committed: &tokio::sync::Notify,
    changes: &tokio::sync::broadcast::Sender<String>,
) {
    use postgres::fallible_iterator::FallibleIterator;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut client = match connect(config) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %db::Error::from(e), "PostgreSQL listener cannot connect");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!(
            "LISTEN {EVENTS_CHANNEL}; LISTEN {CHANGES_CHANNEL};"
        )) {
            tracing::warn!(error = %db::Error::from(e), "PostgreSQL LISTEN failed");
            std::thread::sleep(backoff);
            continue;
        }
        backoff = Duration::from_millis(100);
        committed.notify_waiters();
        let _ = changes.send(String::new());
        let mut notifications = client.notifications();
        let mut iter = notifications.timeout_iter(Duration::from_secs(30));
        loop {
            match iter.next() {
                Ok(Some(n)) if n.channel() == EVENTS_CHANNEL => committed.notify_waiters(),
                Ok(Some(n)) => {
                    let _ = changes.send(n.payload().to_string());
                }
                // Quiet for a while: check that the connection is still there.
                Ok(None) => {
                    drop(iter);
                    drop(notifications);
                    if client.is_valid(Duration::from_secs(5)).is_err() {
                        break;
                    }
                    notifications = client.notifications();
                    iter = notifications.timeout_iter(Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::warn!(error = %db::Error::from(e), "PostgreSQL listener lost its connection");
                    break;
                }
            }
        }
    }
}

/// Runs `f` where the blocking client may block: the `postgres` crate drives its own
/// runtime, which must not start inside an async task (start-up, the command line's and
/// tests' synchronous calls from async code): inside a runtime, `f` runs on a thread of
/// its own. Plain threads run it directly.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// BEGIN, `f`, COMMIT; ROLLBACK when `f` fails or panics (a panic becomes an internal
/// error and the connection goes back to the pool clean).
fn run_transaction<T>(conn: &RefCell<PgSession>, f: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
    transaction_from(conn, "BEGIN", f)
}

/// A background write's transaction (`write_detached`) commits without waiting for its WAL
/// to reach the disk (`synchronous_commit` off for it alone): losing it in a crash loses no
/// acknowledged client write, and the request log then costs no flush of its own. Begun in
/// the same round trip as BEGIN.
const BEGIN_DETACHED: &str = "BEGIN; SET LOCAL synchronous_commit TO off";

fn transaction_from<T>(
    conn: &RefCell<PgSession>,
    begin: &str,
    f: impl FnOnce(&Conn) -> Result<T>,
) -> Result<T> {
    let c = Conn::Pg(conn);
    if let Err(e) = c.execute_batch(begin) {
        let _ = c.execute_batch("ROLLBACK");
        return Err(db_unavailable(e));
    }
    // The events go in last, just before COMMIT (see `events::append`).
    let outcome = super::writer::unpanicked(|| {
        let v = f(&c)?;
        super::events::flush(&c)?;
        Ok(v)
    });
    match outcome {
        Ok(v) => {
            c.execute_batch("COMMIT").map_err(db_unavailable)?;
            Ok(v)
        }
        Err(e) => {
            super::events::discard(&c);
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

pub(super) fn connect(
    config: &postgres::Config,
) -> std::result::Result<postgres::Client, postgres::Error> {
    match tls() {
        Some(tls) => config.connect(tls),
        None => config.connect(postgres::NoTls),
    }
}

/// TLS as the URL's `sslmode` asks (`prefer` by default: TLS when the server offers it).
fn tls() -> Option<postgres_openssl::MakeTlsConnector> {
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).ok()?;
    builder.set_verify(openssl::ssl::SslVerifyMode::PEER);
    Some(postgres_openssl::MakeTlsConnector::new(builder.build()))
}

/// The pool could not hand out a connection: the database is unreachable.
fn unavailable(e: r2d2::Error) -> Error {
    Error::Unavailable(format!("the PostgreSQL store is unreachable: {e}"))
}

fn db_unavailable(e: db::Error) -> Error {
    Error::from(e)
}

/// The libpq environment for pg_dump / pg_restore.
fn libpq_env(c: &postgres::Config) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(h) = c.get_hosts().first() {
        match h {
            postgres::config::Host::Tcp(h) => env.push(("PGHOST", h.clone())),
            postgres::config::Host::Unix(p) => env.push(("PGHOST", p.display().to_string())),
        }
    }
    if let Some(p) = c.get_ports().first() {
        env.push(("PGPORT", p.to_string()));
    }
    if let Some(u) = c.get_user() {
        env.push(("PGUSER", u.to_string()));
    }
    if let Some(p) = c.get_password() {
        env.push(("PGPASSWORD", String::from_utf8_lossy(p).into_owned()));
    }
    if let Some(d) = c.get_dbname() {
        env.push(("PGDATABASE", d.to_string()));
    }
    env
}

/// A PostgreSQL client program: on PATH, else the newest under /usr/lib/postgresql.
fn pg_tool(name: &str) -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        dirs.sort();
        dirs.pop().unwrap_or_else(|| name.into())
    })
}

struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = RefCell<PgSession>;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Self::Connection, Self::Error> {
        Ok(RefCell::new(PgSession::new(connect(&self.config)?)))
    }

    fn is_valid(&self, conn: &mut Self::Connection) -> std::result::Result<(), Self::Error> {
        conn.get_mut().client().simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.get_mut().client().is_closed()
    }
}

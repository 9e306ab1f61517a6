//! Webhook lane leases: which instance delivers a lane (endpoint, org). On PostgreSQL an
//! instance delivers a lane only while it holds the lane's session-level advisory lock, on
//! one connection of its own that nothing else uses. If the instance dies or that connection
//! drops, PostgreSQL releases its locks and another instance takes the lane over from the
//! saved cursor: never two requests of a lane in flight, order kept, at least once. On
//! SQLite one process delivers everything and every lane is granted.
//!
//! The connection is a blocking `postgres::Client`, so it lives on a thread of its own that
//! answers the dispatcher's requests over a channel; the thread ends (and the connection
//! closes, releasing every lock) when the last `LaneLeases` handle is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Backend, Store};
use crate::error::{Error, Result};

/// A lane: (endpoint id, org id).
pub type LaneKey = (i64, i64);

/// How long a lost connection is left alone before the next attempt.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How long the liveness check before a delivery may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// This instance's lane leases; cheap to clone.
#[derive(Clone)]
pub struct LaneLeases {
    /// `None`: SQLite, every lane is this process's.
    pg: Option<Arc<Holder>>,
}

struct Holder {
    commands: mpsc::Sender<Command>,
    /// The lanes whose lock the connection holds now (kept by the thread).
    held: Arc<Mutex<HashSet<LaneKey>>>,
}

enum Command {
    Settle {
        want: Vec<LaneKey>,
        keep: Vec<LaneKey>,
        reply: tokio::sync::oneshot::Sender<Vec<LaneKey>>,
    },
    Holds {
        lane: LaneKey,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
}

impl Store {
    /// The lane leases of this instance. On PostgreSQL they take a connection of their own
    /// with the store's own settings, opened on first use.
    pub fn lanes(&self) -> Result<LaneLeases> {
        match &self.backend {
            Backend::Sqlite { .. } => Ok(LaneLeases { pg: None }),
            Backend::Pg(pg) => {
                let mut config = pg.config().clone();
                if config.get_application_name().is_none() {
                    config.application_name("idgate webhook lanes");
                }
                let (tx, rx) = mpsc::channel();
                let held: Arc<Mutex<HashSet<LaneKey>>> = Arc::default();
                let mine = held.clone();
                std::thread::Builder::new()
                    .name("idgate-pg-lanes".into())
                    .spawn(move || serve(&config, &rx, &mine))
                    .map_err(Error::internal)?;
                Ok(LaneLeases {
                    pg: Some(Arc::new(Holder { commands: tx, held })),
                })
            }
        }
    }
}

impl LaneLeases {
    /// Takes what it can of `want` (lanes with events due), keeps `keep` (lanes being
    /// delivered) and lets go of every other lane it holds, so that idle lanes are free for
    /// any instance. Returns the lanes of `want` this instance now holds: only those may
    /// be delivered here.
    pub async fn settle(&self, want: &[LaneKey], keep: &[LaneKey]) -> Vec<LaneKey> {
        let Some(h) = &self.pg else {
            return want.to_vec();
        };
        let nothing_to_release = h
            .held
            .lock()
            .map(|held| held.iter().all(|l| want.contains(l) || keep.contains(l)))
            .unwrap_or(false);
        if want.is_empty() && nothing_to_release {
            return Vec::new();
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        h.send(Command::Settle {
            want: want.to_vec(),
            keep: keep.to_vec(),
            reply,
        });
        answer.await.unwrap_or_default()
    }

    /// True while this instance holds `lane` on a connection that still answers. Asked
    /// before each delivery: a dropped connection has lost its locks, and another instance
    /// may already be delivering the lane.
    pub async fn holds(&self, lane: LaneKey) -> bool {
        let Some(h) = &self.pg else {
            return true;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        h.send(Command::Holds { lane, reply });
        answer.await.unwrap_or(false)
    }
}

impl Holder {
    fn send(&self, c: Command) {
        // A thread that ended drops the reply sender: the caller reads "not held".
        let _ = self.commands.send(c);
    }
}

/// The advisory-lock key of a lane: the first 8 bytes of SHA-256 over a fixed label and
/// the two ids, the same in every instance and version.
pub fn lock_key((endpoint, org): LaneKey) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("idgate webhook lane {endpoint} {org}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The lease thread: one connection, the locks it holds, commands until every handle is
/// gone.
fn serve(
    config: &postgres::Config,
    commands: &mpsc::Receiver<Command>,
    held: &Mutex<HashSet<LaneKey>>,
) {
    let mut conn = Connection {
        config,
        client: None,
        failed_at: None,
        held,
    };
    while let Ok(command) = commands.recv() {
        match command {
            Command::Settle { want, keep, reply } => {
                let granted = conn.settle(&want, &keep);
                let _ = reply.send(granted);
            }
            Command::Holds { lane, reply } => {
                let _ = reply.send(conn.holds(lane));
            }
        }
    }
    // Dropping the client closes the connection: PostgreSQL releases every lock.
}

struct Connection<'a> {
    config: &'a postgres::Config,
    client: Option<postgres::Client>,
    failed_at: Option<Instant>,
    held: &'a Mutex<HashSet<LaneKey>>,
}

impl Connection<'_> {
    fn held(&self) -> HashSet<LaneKey> {
        self.held.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn set_held(&self, lanes: HashSet<LaneKey>) {
        if let Ok(mut h) = self.held.lock() {
            *h = lanes;
        }
    }

    /// The connection, opened if needed (not again within `RECONNECT_AFTER` of a failure).
    fn client(&mut self) -> Option<&mut postgres::Client> {
        if self.client.is_none() {
            if self
                .failed_at
                .is_some_and(|t| t.elapsed() < RECONNECT_AFTER)
            {
                return None;
            }
            match super::pg::connect(self.config) {
                Ok(c) => {
                    self.client = Some(c);
                    self.failed_at = None;
                }
                Err(e) => {
                    tracing::warn!(error = %super::db::Error::from(e),
                        "webhook lane leases: cannot connect to PostgreSQL");
                    self.failed_at = Some(Instant::now());
                }
            }
        }
        self.client.as_mut()
    }

    /// The connection failed: its locks are gone (or go with it now that it is closed).
    fn lost(&mut self, e: postgres::Error) {
        tracing::warn!(error = %super::db::Error::from(e),
            "webhook lane leases: lost the connection; its lanes are free for other instances");
        self.client = None;
        self.failed_at = Some(Instant::now());
        self.set_held(HashSet::new());
    }

    fn settle(&mut self, want: &[LaneKey], keep: &[LaneKey]) -> Vec<LaneKey> {
        let mut held = self.held();
        let release: Vec<LaneKey> = held
            .iter()
            .filter(|l| !want.contains(l) && !keep.contains(l))
            .copied()
            .collect();
        let take: Vec<LaneKey> = want.iter().filter(|l| !held.contains(l)).copied().collect();
        if release.is_empty() && take.is_empty() {
            return want.to_vec();
        }
        let Some(client) = self.client() else {
            return Vec::new();
        };
        let outcome: std::result::Result<Vec<LaneKey>, postgres::Error> = (|| {
            if !release.is_empty() {
                let keys: Vec<i64> = release.iter().copied().map(lock_key).collect();
                client.execute(
                    "SELECT pg_advisory_unlock(k) FROM unnest($1::BIGINT[]) AS t(k)",
                    &[&keys],
                )?;
            }
            if take.is_empty() {
                return Ok(Vec::new());
            }
            let by_key: HashMap<i64, LaneKey> = take.iter().map(|l| (lock_key(*l), *l)).collect();
            let keys: Vec<i64> = by_key.keys().copied().collect();
            let rows = client.query(
                "SELECT k FROM unnest($1::BIGINT[]) AS t(k) WHERE pg_try_advisory_lock(k)",
                &[&keys],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    r.try_get::<_, i64>(0)
                        .ok()
                        .and_then(|k| by_key.get(&k).copied())
                })
                .collect::<Vec<_>>())
        })();
        match outcome {
            Ok(taken) => {
                for l in &release {
                    held.remove(l);
                }
                held.extend(taken);
                self.set_held(held.clone());
                want.iter().filter(|l| held.contains(l)).copied().collect()
            }
            Err(e) => {
                self.lost(e);
                Vec::new()
            }
        }
    }

    fn holds(&mut self, lane: LaneKey) -> bool {
        if !self.held().contains(&lane) {
            return false;
        }
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        match client.is_valid(CHECK_TIMEOUT) {
            Ok(()) => true,
            Err(e) => {
                self.lost(e);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_keys_are_stable_and_distinct() {
        // Instances of any version must agree on a lane's key: never change it.
        assert_eq!(lock_key((1, 1)), 7_470_914_406_517_871_322);
        assert_ne!(lock_key((1, 2)), lock_key((2, 1)));
        assert_ne!(lock_key((12, 3)), lock_key((1, 23)));
        let keys: HashSet<i64> = (1..50)
            .flat_map(|e| (1..50).map(move |o| lock_key((e, o))))
            .collect();
        assert_eq!(keys.len(), 49 * 49);
    }

    #[test]
    fn sqlite_grants_every_lane() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("idgate.db"), 2, 64).unwrap();
        let leases = store.lanes().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                leases.settle(&[(1, 1), (2, 1)], &[]).await,
                [(1, 1), (2, 1)]
            );
            assert!(leases.holds((3, 3)).await);
        });
    }
}

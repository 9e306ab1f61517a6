//! The event log's rows (`events`): appended inside the write that makes the change.

use crate::store::db::{Conn, Dialect, params};

use crate::error::Result;

/// One appended event.
#[derive(Debug, Clone)]
pub struct Appending {
    pub id: String,
    pub org_id: i64,
    pub type_: &'static str,
    pub created: String,
    pub request_id: Option<String>,
    /// The envelope without its `seq`: a JSON object with at least one member. The stored
    /// envelope is this object with `"seq":N` as its first member.
    pub body: String,
}

/// The envelope of event `seq`: `body` with `"seq":N` put first.
fn envelope(seq: i64, body: &str) -> String {
    debug_assert!(body.starts_with('{') && body.len() > 2, "{body}");
    format!("{{\"seq\":{seq},{}", &body[1..])
}

/// The advisory lock that serializes event appends on PostgreSQL (any fixed number that no
/// other lock uses: "idgate" "ev" in ASCII).
const APPEND_LOCK: i64 = 0x6964_6761_7465_6576;

/// Appends an event inside the caller's write, so that it commits (or not) with the change.
///
/// `seq` must grow in commit order: a reader that saw `seq` n never learns of a smaller one
/// later (the feed, webhook lanes and directory snapshots continue after a `seq`). On SQLite
/// the writer's transaction holds the database's write lock, so the next number read here is
/// the one AUTOINCREMENT would give, and the event is inserted at once.
///
/// On PostgreSQL many transactions (and instances) write at once and a sequence hands out
/// numbers in the order they are asked for, not in commit order. So the event waits in the
/// connection until the transaction is about to commit (`flush`): there each event takes its
/// number under a transaction-level advisory lock held until COMMIT, in the one statement
/// that inserts it. Every appender waits for the previous appender's commit, which is then
/// visible, before it takes the next number; and since nothing but the event inserts and
/// COMMIT run under the lock, a writer holding it never waits for a row another writer holds
/// (no deadlock between the lock and row locks), and the lock is held for as short a time
/// as it can be.
pub fn append(conn: &Conn, e: Appending) -> Result<()> {
    match conn {
        Conn::Sqlite(_) => {
            let seq = head(conn)? + 1;
            conn.prepare_cached(
                "INSERT INTO events (seq, id, org_id, type, created, request_id, envelope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                seq,
                e.id,
                e.org_id,
                e.type_,
                e.created,
                e.request_id,
                envelope(seq, &e.body)
            ])?;
        }
        Conn::Pg(session) => session.borrow_mut().pending_events.push(e),
    }
    Ok(())
}

/// Inserts the events this PostgreSQL transaction appended (see `append`); the caller
/// commits right after. One statement per event: the order lock, the number, the wake-up of
/// every instance's webhook dispatcher (`NOTIFY`, sent at commit) and the row. The lock and
/// the NOTIFY are arguments of the cast `nextval` takes, so they are done before the number
/// is drawn whatever the planner does.
pub fn flush(conn: &Conn) -> Result<()> {
    let Conn::Pg(session) = conn else {
        return Ok(());
    };
    let pending = std::mem::take(&mut session.borrow_mut().pending_events);
    for e in pending {
        conn.prepare_cached(
            "INSERT INTO events (seq, id, org_id, type, created, request_id, envelope)
             SELECT next.seq, CAST(?2 AS TEXT), CAST(?3 AS BIGINT), CAST(?4 AS TEXT),
                    CAST(?5 AS TEXT), CAST(?6 AS TEXT),
                    '{\"seq\":' || next.seq || ',' || substr(CAST(?7 AS TEXT), 2)
             FROM (SELECT nextval(CAST(pg_advisory_xact_lock(?1)::TEXT
                                       || pg_notify('idgate_events', '')::TEXT
                                       || pg_get_serial_sequence('events', 'seq')
                                       AS regclass)) AS seq) AS next",
        )?
        .execute(params![
            APPEND_LOCK,
            e.id,
            e.org_id,
            e.type_,
            e.created,
            e.request_id,
            e.body
        ])?;
    }
    Ok(())
}

/// Forgets the events of a PostgreSQL transaction that rolled back; true when there were
/// any.
pub fn discard(conn: &Conn) -> bool {
    match conn {
        Conn::Sqlite(_) => false,
        Conn::Pg(session) => {
            let mut s = session.borrow_mut();
            let had = !s.pending_events.is_empty();
            s.pending_events.clear();
            had
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub seq: i64,
    pub org_id: i64,
    pub type_: String,
    pub request_id: Option<String>,
    pub envelope: String,
}

/// Which events to read: after a `seq`, of some orgs (`None`: all), of some types (exact
/// names, or prefixes ending in `.*`; empty: all), at most `limit`.
pub struct Query<'a> {
    pub after: i64,
    pub org_ids: Option<&'a [i64]>,
    pub types: &'a [String],
    pub limit: u32,
}

/// Events after `after` in `seq` order, of one org or of all, at most `limit`.
pub fn after(conn: &Conn, after: i64, org_id: Option<i64>, limit: u32) -> Result<Vec<EventRow>> {
    let ids: Vec<i64> = org_id.into_iter().collect();
    let q = Query {
        after,
        org_ids: org_id.map(|_| ids.as_slice()),
        types: &[],
        limit,
    };
    select(conn, &q)
}

pub fn select(conn: &Conn, q: &Query<'_>) -> Result<Vec<EventRow>> {
    let mut sql =
        String::from("SELECT seq, org_id, type, request_id, envelope FROM events WHERE seq > ?1");
    let mut values: Vec<crate::store::db::Value> = vec![q.after.into()];
    if let Some(ids) = q.org_ids {
        let marks: Vec<String> = ids
            .iter()
            .map(|id| {
                values.push((*id).into());
                format!("?{}", values.len())
            })
            .collect();
        sql.push_str(&format!(" AND org_id IN ({})", marks.join(",")));
    }
    if !q.types.is_empty() {
        let terms: Vec<String> = q
            .types
            .iter()
            .map(|t| match t.strip_suffix('*') {
                Some(prefix) => {
                    values.push(format!("{}%", prefix.replace(['%', '_'], "")).into());
                    format!("type LIKE ?{}", values.len())
                }
                None => {
                    values.push(t.clone().into());
                    format!("type = ?{}", values.len())
                }
            })
            .collect();
        sql.push_str(&format!(" AND ({})", terms.join(" OR ")));
    }
    values.push(i64::from(q.limit).into());
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", values.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(crate::store::db::params_from_iter(values.iter()), |r| {
        Ok(EventRow {
            seq: r.get(0)?,
            org_id: r.get(1)?,
            type_: r.get(2)?,
            request_id: r.get(3)?,
            envelope: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The oldest `seq` still kept, if any.
pub fn oldest(conn: &Conn) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT MIN(seq) FROM events")?
        .query_row([], |r| r.get(0))?)
}

/// The highest `seq` ever given (0 before the first event), also after pruning: every event
/// up to it is visible to this connection's snapshot.
///
/// SQLite keeps it in `sqlite_sequence`. PostgreSQL's sequence is no answer: it counts
/// numbers taken by transactions that have not committed, which a directory snapshot that
/// says "continue the feed after the head" would then miss. There it is the newest kept
/// event, or the newest one pruned (recorded by `prune` in `server_settings`) when pruning
/// removed them all.
pub fn head(conn: &Conn) -> Result<i64> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
        }
        Dialect::Postgres => {
            "SELECT GREATEST(
                 COALESCE((SELECT MAX(seq) FROM events), 0),
                 COALESCE((SELECT CAST(value AS BIGINT) FROM server_settings
                           WHERE key = 'events.pruned_head'), 0))"
        }
    };
    Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
}

/// Removes events created before `cutoff`; returns how many. Events are created in `seq`
/// order, so this walks from the oldest and stops at the first one to keep (no index on
/// `created` for every write to maintain).
/// Events after `keep_after` (a webhook lane's cursor) are kept whatever their age: a lane
/// that waits never loses an event.
pub fn prune(conn: &Conn, cutoff: &str, keep_after: Option<i64>) -> Result<usize> {
    const DELETE: &str = "DELETE FROM events WHERE seq <= COALESCE(?2, seq) AND seq < COALESCE(
                 (SELECT seq FROM events WHERE created >= ?1 ORDER BY seq LIMIT 1),
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))";
    let params = crate::store::db::params![cutoff, keep_after];
    match conn.dialect() {
        Dialect::Sqlite => Ok(conn.prepare_cached(DELETE)?.execute(params)?),
        Dialect::Postgres => {
            // The newest removed `seq` is kept for `head`, under `events.pruned_head` (in the
            // same statement, so in the same snapshot as the removal).
            let sql = format!(
                "WITH gone AS ({DELETE} RETURNING seq, created),
                 noted AS (
                     INSERT INTO server_settings (key, value, updated)
                     SELECT 'events.pruned_head', CAST(MAX(seq) AS TEXT), MAX(created) FROM gone
                     HAVING COUNT(*) > 0
                     ON CONFLICT (key) DO UPDATE SET
                         value = CAST(GREATEST(CAST(server_settings.value AS BIGINT),
                                               CAST(excluded.value AS BIGINT)) AS TEXT),
                         updated = excluded.updated)
                 SELECT COUNT(*) FROM gone"
            );
            let n: i64 = conn.prepare_cached(&sql)?.query_row(params, |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        }
    }
}

/// What was appended after `after`: per org and type, the newest `seq` and how many.
pub fn appended_since(conn: &Conn, after: i64) -> Result<Vec<(i64, String, i64, i64)>> {
    let mut stmt = conn.prepare_cached(&appended_since_sql(conn.dialect()))?;
    let rows = stmt.query_map([after], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// `appended_since`'s query. The webhook dispatcher runs it after every batch that appended
/// events, so it must read only the new rows. Left to itself, SQLite's planner picks the
/// (org, seq) index to group by and walks the whole log every time (found in a profile:
/// a fifth of the server's CPU under SCIM load at 40,000 events, growing with the log);
/// `NOT INDEXED` leaves it the `seq` range of the rowid B-tree.
fn appended_since_sql(dialect: Dialect) -> String {
    let table = match dialect {
        Dialect::Sqlite => "events NOT INDEXED",
        Dialect::Postgres => "events",
    };
    format!(
        "SELECT org_id, type, MAX(seq), COUNT(*) FROM {table} WHERE seq > ?1
         GROUP BY org_id, type"
    )
}

/// The newest `seq` of every org that has events.
pub fn org_heads(conn: &Conn) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT org_id, MAX(seq) FROM events GROUP BY org_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The event with this `seq` or id, if it is still kept.
pub fn find(conn: &Conn, seq: Option<i64>, id: Option<&str>) -> Result<Option<EventRow>> {
    use crate::store::db::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT seq, org_id, type, request_id, envelope FROM events
             WHERE (CAST(?1 AS BIGINT) IS NOT NULL AND seq = ?1)
                OR (CAST(?1 AS BIGINT) IS NULL AND id = ?2) LIMIT 1",
        )?
        .query_row(crate::store::db::params![seq, id], |r| {
            Ok(EventRow {
                seq: r.get(0)?,
                org_id: r.get(1)?,
                type_: r.get(2)?,
                request_id: r.get(3)?,
                envelope: r.get(4)?,
            })
        })
        .optional()?)
}

/// A `seq` to replay after so that the replay starts with the first event created at or
/// after `time`: below it there is no event that recent. A binary search (`seq_from_time`),
/// not a walk from the oldest event: a first version read every event older than `time`,
/// a month of them for "replay from an hour ago".
pub fn before_time(conn: &Conn, time: &str) -> Result<i64> {
    Ok(seq_from_time(conn, time)? - 1)
}

/// One page of an org's events, newest first: those before `before` (keyset on `seq`; `None`:
/// from the newest), of types starting with `type_prefix` (empty: all), at most `limit`.
pub fn org_page(
    conn: &Conn,
    org_id: i64,
    before: Option<i64>,
    type_prefix: &str,
    limit: u32,
) -> Result<Vec<EventRow>> {
    // A plain `seq < ?2` (never NULL) keeps the walk on the (org_id, seq) index.
    let mut stmt = conn.prepare_cached(
        "SELECT seq, org_id, type, request_id, envelope FROM events
         WHERE org_id = ?1 AND seq < ?2 AND substr(type, 1, length(?3)) = ?3
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![org_id, before.unwrap_or(i64::MAX), type_prefix, limit],
        event_row,
    )?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

fn event_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<EventRow> {
    Ok(EventRow {
        seq: r.get(0)?,
        org_id: r.get(1)?,
        type_: r.get(2)?,
        request_id: r.get(3)?,
        envelope: r.get(4)?,
    })
}

/// The lowest `seq` bound from which every kept event was created at or after `time`: a
/// binary search over `seq` (events are created in `seq` order), each step one seek on the
/// primary key, so no index on `created` is needed. The head + 1 when no event is that recent.
pub fn seq_from_time(conn: &Conn, time: &str) -> Result<i64> {
    use crate::store::db::OptionalExtension;
    let mut stmt = conn
        .prepare_cached("SELECT created >= ?2 FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    let (mut lo, mut hi) = (oldest(conn)?.unwrap_or(1), head(conn)? + 1);
    // The smallest p in [lo, hi] whose first event at or after it is recent enough (or
    // that has no event at or after it).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let recent: Option<bool> = stmt
            .query_row(params![mid, time], |r| r.get(0))
            .optional()?;
        if recent.unwrap_or(true) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// The events of `org_id` that the request `request_id` caused, in `seq` order, looked for
/// among the events created between `from` and `to` (the request's time, with some slack:
/// the event log has no index on `request_id`, which every SCIM write would pay for).
pub fn by_request(
    conn: &Conn,
    org_id: i64,
    request_id: &str,
    from: &str,
    to: &str,
    limit: u32,
) -> Result<Vec<EventRow>> {
    let (lo, hi) = (seq_from_time(conn, from)?, seq_from_time(conn, to)?);
    let mut stmt = conn.prepare_cached(
        "SELECT seq, org_id, type, request_id, envelope FROM events
         WHERE org_id = ?1 AND seq >= ?2 AND seq < ?3 AND request_id = ?4
         ORDER BY seq LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![org_id, lo, hi, request_id, limit], event_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&mut c).unwrap();
        c
    }

    fn add(c: &Conn, org: i64, type_: &'static str, created: &str, request: Option<&str>) -> i64 {
        let e = Appending {
            id: format!("evt_{created}_{type_}"),
            org_id: org,
            type_,
            created: created.into(),
            request_id: request.map(str::to_string),
            body: format!(r#"{{"type":"{type_}"}}"#),
        };
        append(c, e).unwrap();
        // PgDb's connection commits each statement by itself: the events go in at once.
        flush(c).unwrap();
        head(c).unwrap()
    }

    #[test]
    fn what_was_appended_since_a_seq_is_read_from_that_seq_on() {
        let raw = conn();
        let c = Conn::Sqlite(&raw);
        for s in 0..6 {
            add(&c, 1 + i64::from(s % 2), "user.created", &t(s), None);
        }
        add(&c, 1, "user.updated", &t(7), None);
        assert_eq!(
            appended_since(&c, 4).unwrap(),
            [
                (1, "user.created".into(), 5, 1),
                (1, "user.updated".into(), 7, 1),
                (2, "user.created".into(), 6, 1)
            ]
        );
        assert_eq!(appended_since(&c, 7).unwrap(), []);
        // A range of the rowid B-tree, not a walk of the whole log.
        let sql = appended_since_sql(Dialect::Sqlite);
        let plan: Vec<String> = raw
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([4], |r| r.get(3))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let plan = plan.join(" | ");
        assert!(
            plan.contains("SEARCH events USING INTEGER PRIMARY KEY (rowid>?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "{plan}");
    }

    fn t(s: u32) -> String {
        format!("2026-01-01T00:{:02}:{:02}.000Z", s / 60, s % 60)
    }

    /// Two events at one time need two types: the test ids are made of both.
    fn alternate_type(i: u32) -> &'static str {
        if i.is_multiple_of(2) {
            "user.created"
        } else {
            "user.updated"
        }
    }

    /// "Replay from a time" reads a few events (a binary search on `seq`), not every event
    /// older than the time: counted in SQLite's virtual-machine instructions, which a walk
    /// of the log runs a few for each event it passes.
    #[test]
    fn replay_from_a_time_reads_a_few_events_not_the_log() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let raw = conn();
        let c = Conn::Sqlite(&raw);
        for i in 0..3000u32 {
            add(&c, 1, alternate_type(i), &t(i / 30), None);
        }
        let ticks = std::sync::Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        raw.progress_handler(
            100,
            Some(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }),
        )
        .unwrap();
        let before = before_time(&c, &t(99)).unwrap();
        raw.progress_handler(100, None::<fn() -> bool>).unwrap();
        assert_eq!(before, 2970);
        let ticks = ticks.load(Ordering::Relaxed);
        assert!(ticks < 30, "{ticks} hundred instructions for 3,000 events");
    }

    /// Replaying from a time starts at the first event that recent, whatever the gaps in
    /// `seq` (pruned events, numbers of rolled-back writes) and however many events share a
    /// time: checked against a walk of every event.
    #[test]
    fn before_time_finds_the_first_event_that_recent() {
        let raw = conn();
        let c = Conn::Sqlite(&raw);
        assert_eq!(before_time(&c, &t(0)).unwrap(), 0, "no events");
        // Two events a time (0, 0, 3, 3, 6, 6 …), and every third `seq` deleted below.
        let mut kept = Vec::new();
        for i in 0..60u32 {
            let seq = add(&c, 1, alternate_type(i), &t(i / 2 * 3), None);
            kept.push((seq, t(i / 2 * 3)));
        }
        raw.execute("DELETE FROM events WHERE seq % 3 = 0", [])
            .unwrap();
        kept.retain(|(seq, _)| seq % 3 != 0);
        for s in 0..100 {
            let time = t(s);
            let walk = kept
                .iter()
                .find(|(_, created)| *created >= time)
                .map(|(seq, _)| seq - 1);
            let got = before_time(&c, &time).unwrap();
            match walk {
                // Replaying after `got` starts exactly at that event: nothing kept between.
                Some(before) => assert!(
                    got <= before && !kept.iter().any(|(q, _)| *q > got && *q <= before),
                    "time {time}: {got}, the walk says {before}"
                ),
                None => assert!(kept.iter().all(|(q, _)| *q <= got), "time {time}: {got}"),
            }
        }
    }

    /// The same tests on PostgreSQL, and its head: never back, also when pruning removed
    /// every event.
    #[test]
    fn postgres_appends_searches_and_keeps_the_head() {
        use crate::store::dialect::tests::PgDb;
        if let Some(db) = PgDb::create("events time search") {
            time_search(&db.conn());
        }
        if let Some(db) = PgDb::create("events by request") {
            by_request_and_pages(&db.conn());
        }
        let Some(db) = PgDb::create("events head") else {
            return;
        };
        let c = db.conn();
        assert_eq!(head(&c).unwrap(), 0);
        for s in 0..5 {
            add(&c, 1, "user.created", &t(s), None);
        }
        assert_eq!(head(&c).unwrap(), 5);
        assert_eq!(prune(&c, &t(3), None).unwrap(), 3);
        assert_eq!((head(&c).unwrap(), oldest(&c).unwrap()), (5, Some(4)));
        assert_eq!(prune(&c, &t(99), None).unwrap(), 2);
        assert_eq!((head(&c).unwrap(), oldest(&c).unwrap()), (5, None));
        assert_eq!(prune(&c, &t(99), None).unwrap(), 0);
        assert_eq!(head(&c).unwrap(), 5);
        assert_eq!(add(&c, 2, "group.created", &t(100), None), 6);
        assert_eq!(head(&c).unwrap(), 6);
        let found = find(&c, Some(6), None).unwrap().unwrap();
        assert_eq!((found.org_id, found.type_.as_str()), (2, "group.created"));
        assert_eq!(find(&c, None, Some("evt_nope")).unwrap(), None);
        assert_eq!(
            appended_since(&c, 0).unwrap(),
            [(2, "group.created".into(), 6, 1)]
        );
        assert_eq!(org_heads(&c).unwrap(), [(2, 6)]);
        assert_eq!(before_time(&c, &t(100)).unwrap(), 5);
        let types = ["group.*".to_string()];
        let q = Query {
            after: 0,
            org_ids: Some(&[1, 2]),
            types: &types,
            limit: 10,
        };
        assert_eq!(select(&c, &q).unwrap().len(), 1);
    }

    fn event(name: &str) -> Appending {
        Appending {
            id: format!("evt_{name}"),
            org_id: 1,
            type_: "user.updated",
            created: t(1),
            request_id: None,
            body: format!(r#"{{"id":"evt_{name}"}}"#),
        }
    }

    /// A PostgreSQL store of its own (migrated by the store, as at start-up) with empty
    /// `server_settings` rows under `keys`, for tests of concurrent writes; None without
    /// TEST_PG_URL. The database lives as long as the returned `PgDb`.
    fn pg_store_with_settings(
        test: &str,
        keys: &[&str],
    ) -> Option<(
        crate::store::dialect::tests::PgDb,
        crate::store::pg::PgStore,
    )> {
        let db = crate::store::dialect::tests::PgDb::empty(test)?;
        let store = crate::store::pg::PgStore::open(&db.url(), 4).unwrap();
        for key in keys {
            store
                .transaction(|c| {
                    c.execute(
                        "INSERT INTO server_settings (key, value, updated) VALUES (?1, '', 't')",
                        [key],
                    )?;
                    Ok(())
                })
                .unwrap();
        }
        Some((db, store))
    }

    /// Two PostgreSQL writes append an event and update the same row, in opposite orders, so
    /// interleaved that had the event-order lock been taken where the event was appended
    /// each would hold what the other waits for (PostgreSQL then aborted one of them after
    /// its deadlock timeout). The events go in just before COMMIT, so both commit, and the
    /// numbers follow the commits.
    #[test]
    fn postgres_event_appends_cannot_deadlock_with_row_locks() {
        use std::sync::{Arc, Barrier};
        let Some((_db, store)) = pg_store_with_settings("event lock and row locks", &["k"]) else {
            return;
        };
        const UPDATE: &str = "UPDATE server_settings SET value = value || ?1 WHERE key = 'k'";
        let barrier = Arc::new(Barrier::new(2));
        let first = {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                store.transaction(|c| {
                    append(c, event("first"))?;
                    barrier.wait();
                    c.execute(UPDATE, ["first"])?; // waits for the second to commit
                    Ok(())
                })
            })
        };
        let second = store.transaction(|c| {
            c.execute(UPDATE, ["second"])?;
            barrier.wait();
            append(c, event("second"))?;
            Ok(())
        });
        second.unwrap();
        first.join().unwrap().unwrap();
        let rows = store
            .read_now(|c| after(c, 0, None, 10))
            .unwrap()
            .into_iter()
            .map(|r| (r.seq, r.envelope))
            .collect::<Vec<_>>();
        assert_eq!(
            rows,
            [
                (1, r#"{"seq":1,"id":"evt_second"}"#.to_string()),
                (2, r#"{"seq":2,"id":"evt_first"}"#.to_string())
            ]
        );
        let value: String = store
            .read_now(|c| {
                Ok(c.query_row(
                    "SELECT value FROM server_settings WHERE key = 'k'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(value, "secondfirst");

        // A write that fails keeps none of its events, and the connection carries none over
        // into the next write; an event appended outside a write is refused.
        for _ in 0..4 {
            let failed = store.transaction(|c| -> Result<()> {
                append(c, event("undone"))?;
                Err(crate::error::Error::Invalid("no".into()))
            });
            assert!(failed.is_err());
            store.transaction(|_| Ok(())).unwrap();
        }
        assert!(store.read_now(|c| append(c, event("outside"))).is_err());
        store.transaction(|_| Ok(())).unwrap();
        assert_eq!(store.read_now(head).unwrap(), 2);
    }

    /// Two writes that lock the same two rows in opposite orders: PostgreSQL breaks the
    /// deadlock by rolling one back. That one is "try again" (`Unavailable`: 503 with
    /// Retry-After on every surface), not a 500, and it wrote nothing.
    #[test]
    fn postgres_deadlock_victims_are_told_to_try_again() {
        use std::sync::{Arc, Barrier};
        let Some((_db, store)) = pg_store_with_settings("deadlock victim", &["a", "b"]) else {
            return;
        };
        const UPDATE: &str = "UPDATE server_settings SET value = value || ?1 WHERE key = ?2";
        let barrier = Arc::new(Barrier::new(2));
        let write = |first: &'static str, second: &'static str| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                store.transaction(|c| {
                    c.execute(UPDATE, [first, first])?;
                    append(c, event(first))?;
                    barrier.wait();
                    c.execute(UPDATE, [first, second])?;
                    Ok(())
                })
            })
        };
        let (one, two) = (write("a", "b"), write("b", "a"));
        let outcomes = [one.join().unwrap(), two.join().unwrap()];
        let victims: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Err(crate::error::Error::Unavailable(m)) => Some(m.clone()),
                Err(e) => panic!("a deadlock victim must be Unavailable, not {e:?}"),
                Ok(()) => None,
            })
            .collect();
        assert_eq!(victims.len(), 1, "{outcomes:?}");
        assert!(victims[0].contains("deadlock"), "{}", victims[0]);
        // The survivor's event and changes only: it wrote its name into both rows.
        assert_eq!(store.read_now(head).unwrap(), 1);
        let values: Vec<String> = store
            .read_now(|c| {
                let mut stmt = c.prepare(
                    "SELECT value FROM server_settings WHERE key IN ('a', 'b') ORDER BY key",
                )?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<crate::store::db::Result<Vec<String>>>()?)
            })
            .unwrap();
        assert!(values == ["a", "a"] || values == ["b", "b"], "{values:?}");
    }

    #[test]
    fn the_time_search_finds_the_first_recent_event_also_after_pruning() {
        let raw = conn();
        time_search(&Conn::Sqlite(&raw));
    }

    fn time_search(c: &Conn) {
        assert_eq!(seq_from_time(c, &t(0)).unwrap(), 1, "no events");
        for s in 0..100 {
            add(c, 1 + i64::from(s % 2), "user.created", &t(s * 10), None);
        }
        assert_eq!(seq_from_time(c, &t(0)).unwrap(), 1);
        assert_eq!(seq_from_time(c, &t(10)).unwrap(), 2);
        assert_eq!(seq_from_time(c, &t(15)).unwrap(), 3);
        assert_eq!(seq_from_time(c, &t(990)).unwrap(), 100);
        assert_eq!(
            seq_from_time(c, &t(991)).unwrap(),
            101,
            "nothing that recent"
        );
        prune(c, &t(300), None).unwrap();
        assert_eq!(seq_from_time(c, &t(0)).unwrap(), 31, "the oldest kept");
        assert_eq!(seq_from_time(c, &t(500)).unwrap(), 51);
    }

    #[test]
    fn a_request_finds_its_events_in_its_window_only() {
        let raw = conn();
        by_request_and_pages(&Conn::Sqlite(&raw));
    }

    fn by_request_and_pages(c: &Conn) {
        add(c, 1, "user.created", &t(1), Some("r1"));
        add(c, 2, "user.created", &t(2), Some("r2"));
        add(c, 1, "group.created", &t(3), Some("r2"));
        add(c, 1, "group.member_added", &t(3), Some("r2"));
        add(c, 1, "user.updated", &t(40), None);
        let seqs = |rows: Vec<EventRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
        let found = by_request(c, 1, "r2", &t(0), &t(10), 100).unwrap();
        assert_eq!(seqs(found), [3, 4], "org 1's events of r2");
        assert!(
            by_request(c, 1, "r2", &t(4), &t(10), 100)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            seqs(by_request(c, 2, "r2", &t(0), &t(60), 100).unwrap()),
            [2]
        );
        // An org's page: newest first, before a seq, by type prefix.
        assert_eq!(seqs(org_page(c, 1, None, "", 10).unwrap()), [5, 4, 3, 1]);
        assert_eq!(seqs(org_page(c, 1, Some(4), "", 10).unwrap()), [3, 1]);
        assert_eq!(seqs(org_page(c, 1, None, "group.", 10).unwrap()), [4, 3]);
        assert_eq!(seqs(org_page(c, 1, None, "user.", 1).unwrap()), [5]);
        assert!(org_page(c, 1, None, "%", 10).unwrap().is_empty());
    }
}

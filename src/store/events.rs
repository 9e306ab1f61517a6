//! The event log's rows (`events`): appended inside the write that makes the change.

use crate::store::db::{Conn, params};

use crate::error::Result;

/// One appended event, before its envelope is built.
pub struct Appending<'a> {
    pub id: &'a str,
    pub org_id: i64,
    pub type_: &'a str,
    pub created: &'a str,
    pub request_id: Option<&'a str>,
}

/// Appends an event: takes the next `seq`, then stores the envelope `build(seq)` makes, in
/// one INSERT. Runs inside the caller's write transaction, which holds SQLite's write lock, so
/// the next number read here is the one AUTOINCREMENT would give, and the event commits (or
/// not) with the change.
pub fn append(conn: &Conn, e: &Appending<'_>, build: impl FnOnce(i64) -> String) -> Result<i64> {
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
        build(seq)
    ])?;
    Ok(seq)
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

/// The highest `seq` ever given (0 before the first event), also after pruning.
pub fn head(conn: &Conn) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Removes events created before `cutoff`; returns how many. Events are created in `seq`
/// order, so this walks from the oldest and stops at the first one to keep (no index on
/// `created` for every write to maintain).
/// Events after `keep_after` (a webhook lane's cursor) are kept whatever their age: a lane
/// that waits never loses an event.
pub fn prune(conn: &Conn, cutoff: &str, keep_after: Option<i64>) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM events WHERE seq <= COALESCE(?2, seq) AND seq < COALESCE(
                 (SELECT seq FROM events WHERE created >= ?1 ORDER BY seq LIMIT 1),
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))",
        )?
        .execute(crate::store::db::params![cutoff, keep_after])?)
}

/// What was appended after `after`: per org and type, the newest `seq` and how many.
pub fn appended_since(conn: &Conn, after: i64) -> Result<Vec<(i64, String, i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT org_id, type, MAX(seq), COUNT(*) FROM events WHERE seq > ?1
         GROUP BY org_id, type",
    )?;
    let rows = stmt.query_map([after], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
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
             WHERE (?1 IS NOT NULL AND seq = ?1) OR (?1 IS NULL AND id = ?2) LIMIT 1",
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

/// The `seq` just before the first event created at or after `time` (to replay from a time).
pub fn before_time(conn: &Conn, time: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT seq FROM events WHERE created >= ?1 ORDER BY seq LIMIT 1),
                             (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)) - 1",
        )?
        .query_row([time], |r| r.get(0))?)
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
/// rowid, so no index on `created` is needed. The head + 1 when no event is that recent.
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

    fn add(c: &Conn, org: i64, type_: &str, created: &str, request: Option<&str>) -> i64 {
        let e = Appending {
            id: &format!("evt_{created}_{type_}"),
            org_id: org,
            type_,
            created,
            request_id: request,
        };
        append(c, &e, |_| "{}".into()).unwrap()
    }

    fn t(s: u32) -> String {
        format!("2026-01-01T00:{:02}:{:02}.000Z", s / 60, s % 60)
    }

    #[test]
    fn the_time_search_finds_the_first_recent_event_also_after_pruning() {
        let raw = conn();
        let c = Conn::Sqlite(&raw);
        assert_eq!(seq_from_time(&c, &t(0)).unwrap(), 1, "no events");
        for s in 0..100 {
            add(&c, 1 + i64::from(s % 2), "user.created", &t(s * 10), None);
        }
        assert_eq!(seq_from_time(&c, &t(0)).unwrap(), 1);
        assert_eq!(seq_from_time(&c, &t(10)).unwrap(), 2);
        assert_eq!(seq_from_time(&c, &t(15)).unwrap(), 3);
        assert_eq!(seq_from_time(&c, &t(990)).unwrap(), 100);
        assert_eq!(
            seq_from_time(&c, &t(991)).unwrap(),
            101,
            "nothing that recent"
        );
        prune(&c, &t(300), None).unwrap();
        assert_eq!(seq_from_time(&c, &t(0)).unwrap(), 31, "the oldest kept");
        assert_eq!(seq_from_time(&c, &t(500)).unwrap(), 51);
    }

    #[test]
    fn a_request_finds_its_events_in_its_window_only() {
        let raw = conn();
        let c = Conn::Sqlite(&raw);
        add(&c, 1, "user.created", &t(1), Some("r1"));
        add(&c, 2, "user.created", &t(2), Some("r2"));
        add(&c, 1, "group.created", &t(3), Some("r2"));
        add(&c, 1, "group.member_added", &t(3), Some("r2"));
        add(&c, 1, "user.updated", &t(40), None);
        let seqs = |rows: Vec<EventRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
        let found = by_request(&c, 1, "r2", &t(0), &t(10), 100).unwrap();
        assert_eq!(seqs(found), [3, 4], "org 1's events of r2");
        assert!(
            by_request(&c, 1, "r2", &t(4), &t(10), 100)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            seqs(by_request(&c, 2, "r2", &t(0), &t(60), 100).unwrap()),
            [2]
        );
        // An org's page: newest first, before a seq, by type prefix.
        assert_eq!(seqs(org_page(&c, 1, None, "", 10).unwrap()), [5, 4, 3, 1]);
        assert_eq!(seqs(org_page(&c, 1, Some(4), "", 10).unwrap()), [3, 1]);
        assert_eq!(seqs(org_page(&c, 1, None, "group.", 10).unwrap()), [4, 3]);
        assert_eq!(seqs(org_page(&c, 1, None, "user.", 1).unwrap()), [5]);
        assert!(org_page(&c, 1, None, "%", 10).unwrap().is_empty());
    }
}

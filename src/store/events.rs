//! The event log's rows (`events`): appended inside the write that makes the change.

use rusqlite::{Connection, params};

use crate::error::Result;

/// One appended event, before its envelope is built.
pub struct Appending<'a> {
    pub id: &'a str,
    pub org_id: i64,
    pub type_: &'a str,
    pub created: &'a str,
    pub request_id: Option<&'a str>,
}

/// Appends an event: takes the next `seq`, then stores the envelope `build(seq)` makes. Runs
/// inside the caller's write, so the event commits (or not) with the change.
pub fn append(
    conn: &Connection,
    e: &Appending<'_>,
    build: impl FnOnce(i64) -> String,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO events (id, org_id, type, created, request_id, envelope)
         VALUES (?1, ?2, ?3, ?4, ?5, '')",
    )?
    .execute(params![e.id, e.org_id, e.type_, e.created, e.request_id])?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached("UPDATE events SET envelope = ?2 WHERE seq = ?1")?
        .execute(params![seq, build(seq)])?;
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

/// Events after `after` in `seq` order, of one org or of all, at most `limit`.
pub fn after(
    conn: &Connection,
    after: i64,
    org_id: Option<i64>,
    limit: u32,
) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, org_id, type, request_id, envelope FROM events
         WHERE seq > ?1 AND (?2 IS NULL OR org_id = ?2) ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![after, org_id, limit], |r| {
        Ok(EventRow {
            seq: r.get(0)?,
            org_id: r.get(1)?,
            type_: r.get(2)?,
            request_id: r.get(3)?,
            envelope: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The highest `seq` ever given (0 before the first event), also after pruning.
pub fn head(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Removes events created before `cutoff`; returns how many.
pub fn prune(conn: &Connection, cutoff: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM events WHERE created < ?1")?
        .execute([cutoff])?)
}

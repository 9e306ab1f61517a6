//! Webhook endpoints, their delivery lanes and the attempts log (`webhook_*`).

use crate::store::db::{Conn, OptionalExtension, Row, params};
use crate::store::dialect::min2;

use crate::error::Result;

/// An endpoint as stored; `secret` and `old_secret` are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: i64,
    pub public_id: String,
    pub url: String,
    pub description: String,
    /// Type names or `x.*` patterns; empty: every type.
    pub types: Vec<String>,
    /// `None`: every org.
    pub org_ids: Option<Vec<i64>>,
    pub secret: Vec<u8>,
    pub old_secret: Option<Vec<u8>>,
    pub old_secret_until: Option<String>,
    /// `enabled`, `paused` or `disabled`.
    pub state: String,
    pub state_reason: Option<String>,
    pub start_after: i64,
    pub created: String,
    pub updated: String,
}

const COLUMNS: &str = "id, public_id, url, description, types, org_ids, secret, old_secret, \
                       old_secret_until, state, state_reason, start_after, created, updated";

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

pub fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

fn from_row(r: &Row<'_>) -> crate::store::db::Result<Endpoint> {
    let types: String = r.get(4)?;
    let orgs: Option<String> = r.get(5)?;
    Ok(Endpoint {
        id: r.get(0)?,
        public_id: r.get(1)?,
        url: r.get(2)?,
        description: r.get(3)?,
        types: split(&types).map(str::to_string).collect(),
        org_ids: orgs.map(|o| split(&o).filter_map(|i| i.parse().ok()).collect()),
        secret: r.get(6)?,
        old_secret: r.get(7)?,
        old_secret_until: r.get(8)?,
        state: r.get(9)?,
        state_reason: r.get(10)?,
        start_after: r.get(11)?,
        created: r.get(12)?,
        updated: r.get(13)?,
    })
}

pub struct NewEndpoint<'a> {
    pub public_id: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub types: &'a [String],
    pub org_ids: Option<&'a [i64]>,
    pub secret: &'a [u8],
    pub start_after: i64,
    pub now: &'a str,
}

pub fn create(conn: &Conn, e: &NewEndpoint<'_>) -> Result<Endpoint> {
    conn.execute(
        "INSERT INTO webhook_endpoints (public_id, url, description, types, org_ids, secret,
                                        start_after, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            e.public_id,
            e.url,
            e.description,
            e.types.join(","),
            e.org_ids.map(join_ids),
            e.secret,
            e.start_after,
            e.now
        ],
    )?;
    by_public_id(conn, e.public_id)?
        .ok_or_else(|| crate::error::Error::internal("the new endpoint is missing"))
}

pub fn list(conn: &Conn) -> Result<Vec<Endpoint>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn by_public_id(conn: &Conn, public_id: &str) -> Result<Option<Endpoint>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE public_id = ?1"
        ))?
        .query_row([public_id], from_row)
        .optional()?)
}

/// The editable settings of an endpoint.
pub struct Settings<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub types: &'a [String],
    pub org_ids: Option<&'a [i64]>,
}

pub fn update(conn: &Conn, id: i64, s: &Settings<'_>, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE webhook_endpoints SET url = ?2, description = ?3, types = ?4, org_ids = ?5,
                updated = ?6 WHERE id = ?1",
        params![
            id,
            s.url,
            s.description,
            s.types.join(","),
            s.org_ids.map(join_ids),
            now
        ],
    )?;
    Ok(())
}

/// Sets `enabled`, `paused` or `disabled` (with why). Enabling re-arms stalled lanes.
pub fn set_state(conn: &Conn, id: i64, state: &str, reason: Option<&str>, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE webhook_endpoints SET state = ?2, state_reason = ?3, updated = ?4 WHERE id = ?1",
        params![id, state, reason, now],
    )?;
    if state == "enabled" {
        rearm(conn, id)?;
    }
    Ok(())
}

/// A new secret; the previous one keeps signing until `until`.
pub fn rotate(conn: &Conn, id: i64, secret: &[u8], until: &str, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = ?3, secret = ?2,
                updated = ?4 WHERE id = ?1",
        params![id, secret, until, now],
    )?;
    Ok(())
}

pub fn delete(conn: &Conn, id: i64) -> Result<bool> {
    conn.execute("DELETE FROM webhook_lanes WHERE endpoint_id = ?1", [id])?;
    conn.execute("DELETE FROM webhook_attempts WHERE endpoint_id = ?1", [id])?;
    Ok(conn.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [id])? > 0)
}

/// A lane's saved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub endpoint_id: i64,
    pub org_id: i64,
    pub delivered: i64,
    pub attempts: i64,
    pub next_at: Option<String>,
    pub stalled: Option<String>,
    pub last_error: Option<String>,
}

pub fn lanes(conn: &Conn) -> Result<Vec<Lane>> {
    let mut stmt = conn.prepare_cached(
        "SELECT endpoint_id, org_id, delivered, attempts, next_at, stalled, last_error
         FROM webhook_lanes ORDER BY endpoint_id, org_id",
    )?;
    let rows = stmt.query_map([], lane_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn lane(conn: &Conn, endpoint_id: i64, org_id: i64) -> Result<Option<Lane>> {
    Ok(conn
        .prepare_cached(
            "SELECT endpoint_id, org_id, delivered, attempts, next_at, stalled, last_error
             FROM webhook_lanes WHERE endpoint_id = ?1 AND org_id = ?2",
        )?
        .query_row(params![endpoint_id, org_id], lane_row)
        .optional()?)
}

fn lane_row(r: &Row<'_>) -> crate::store::db::Result<Lane> {
    Ok(Lane {
        endpoint_id: r.get(0)?,
        org_id: r.get(1)?,
        delivered: r.get(2)?,
        attempts: r.get(3)?,
        next_at: r.get(4)?,
        stalled: r.get(5)?,
        last_error: r.get(6)?,
    })
}

/// Creates the lane (endpoint, org) at `delivered` unless it exists.
pub fn ensure_lane(conn: &Conn, endpoint_id: i64, org_id: i64, delivered: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_lanes (endpoint_id, org_id, delivered) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![endpoint_id, org_id, delivered])?;
    Ok(())
}

/// Moves a lane's cursor from `from` to `to` and clears its failures. False when the lane
/// is no longer at `from` (an admin skipped or replayed meanwhile): nothing changes.
pub fn advance(conn: &Conn, endpoint_id: i64, org_id: i64, from: i64, to: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_lanes SET delivered = ?4, attempts = 0, next_at = NULL,
                    stalled = NULL, last_error = NULL
             WHERE endpoint_id = ?1 AND org_id = ?2 AND delivered = ?3",
        )?
        .execute(params![endpoint_id, org_id, from, to])?
        > 0)
}

/// A failed attempt of the lane's next event (the lane still at `at`).
pub struct Failure<'a> {
    pub attempts: i64,
    pub next_at: Option<&'a str>,
    pub stalled: Option<&'a str>,
    pub error: &'a str,
}

pub fn fail(conn: &Conn, endpoint_id: i64, org_id: i64, at: i64, f: &Failure<'_>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE webhook_lanes SET attempts = ?4, next_at = ?5, stalled = ?6, last_error = ?7
         WHERE endpoint_id = ?1 AND org_id = ?2 AND delivered = ?3",
    )?
    .execute(params![
        endpoint_id,
        org_id,
        at,
        f.attempts,
        f.next_at,
        f.stalled,
        f.error
    ])?;
    Ok(())
}

/// Re-arms the endpoint's stalled and waiting lanes: their next event is tried at once,
/// with a fresh retry schedule. Returns how many lanes.
pub fn rearm(conn: &Conn, endpoint_id: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_lanes SET attempts = 0, next_at = NULL, stalled = NULL
             WHERE endpoint_id = ?1 AND (stalled IS NOT NULL OR attempts > 0)",
        )?
        .execute([endpoint_id])?)
}

/// Marks the lane's next event, `seq`, done without sending it. False when the lane is not
/// waiting on exactly that event.
pub fn skip(conn: &Conn, endpoint_id: i64, org_id: i64, from: i64, seq: i64) -> Result<bool> {
    advance(conn, endpoint_id, org_id, from, seq)
}

/// Sends again every event after `after`: every lane of the endpoint moves back to it (none
/// moves forward), and lanes created later start there too.
pub fn replay(conn: &Conn, endpoint_id: i64, after: i64, now: &str) -> Result<usize> {
    conn.execute(
        &format!(
            "UPDATE webhook_endpoints SET start_after = {}, updated = ?3 WHERE id = ?1",
            min2("start_after", "?2")
        ),
        params![endpoint_id, after, now],
    )?;
    Ok(conn.execute(
        &format!(
            "UPDATE webhook_lanes SET delivered = {}, attempts = 0, next_at = NULL,
                    stalled = NULL, last_error = NULL
             WHERE endpoint_id = ?1",
            min2("delivered", "?2")
        ),
        params![endpoint_id, after],
    )?)
}

/// The lowest lane cursor that still has events to deliver, over endpoints that are not
/// disabled: events after it must be kept however old they are.
pub fn undelivered_floor(conn: &Conn) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(l.delivered) FROM webhook_lanes l
             JOIN webhook_endpoints e ON e.id = l.endpoint_id
             WHERE e.state != 'disabled'
               AND EXISTS (SELECT 1 FROM events v WHERE v.org_id = l.org_id
                           AND v.seq > l.delivered)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// How many events of `org_id` come after `after` (of any type), and the oldest one's time.
pub fn backlog(conn: &Conn, org_id: i64, after: i64) -> Result<(i64, Option<String>)> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*), MIN(created) FROM events WHERE org_id = ?1 AND seq > ?2")?
        .query_row(params![org_id, after], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// One delivery attempt, test event or resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub endpoint_id: i64,
    pub org_id: Option<i64>,
    pub seq: Option<i64>,
    pub event_id: String,
    pub event_type: String,
    pub at: String,
    /// `delivery`, `resend` or `test`.
    pub trigger: String,
    pub attempt: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub ok: bool,
    pub error: Option<String>,
    pub response: Option<String>,
}

pub fn record_attempt(conn: &Conn, a: &Attempt) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_attempts (endpoint_id, org_id, seq, event_id, event_type, at,
                                       trigger, attempt, status, latency_ms, ok, error, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        a.endpoint_id,
        a.org_id,
        a.seq,
        a.event_id,
        a.event_type,
        a.at,
        a.trigger,
        a.attempt,
        a.status,
        a.latency_ms,
        a.ok,
        a.error,
        a.response
    ])?;
    Ok(())
}

/// Which attempts to list: newest first, before the id `before`.
#[derive(Debug, Default)]
pub struct AttemptQuery {
    pub endpoint_id: Option<i64>,
    pub ok: Option<bool>,
    pub event_id: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

pub fn attempts(conn: &Conn, q: &AttemptQuery) -> Result<Vec<Attempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, endpoint_id, org_id, seq, event_id, event_type, at, trigger, attempt,
                status, latency_ms, ok, error, response
         FROM webhook_attempts
         WHERE (CAST(?1 AS BIGINT) IS NULL OR endpoint_id = ?1)
           AND (CAST(?2 AS BIGINT) IS NULL OR ok = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR event_id = ?3)
           AND (CAST(?4 AS BIGINT) IS NULL OR id < ?4)
         ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![q.endpoint_id, q.ok, q.event_id, q.before, q.limit],
        |r| {
            Ok(Attempt {
                id: r.get(0)?,
                endpoint_id: r.get(1)?,
                org_id: r.get(2)?,
                seq: r.get(3)?,
                event_id: r.get(4)?,
                event_type: r.get(5)?,
                at: r.get(6)?,
                trigger: r.get(7)?,
                attempt: r.get(8)?,
                status: r.get(9)?,
                latency_ms: r.get(10)?,
                ok: r.get(11)?,
                error: r.get(12)?,
                response: r.get(13)?,
            })
        },
    )?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Removes attempts logged before `cutoff`; returns how many.
pub fn prune_attempts(conn: &Conn, cutoff: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM webhook_attempts WHERE id < COALESCE(
                 (SELECT id FROM webhook_attempts WHERE at >= ?1 ORDER BY id LIMIT 1),
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM webhook_attempts))",
        )?
        .execute([cutoff])?)
}

//! Keyset pages of the provisioning log (SCIM requests) and the sign-in log, searched by
//! user and by status. A page continues before (older) or after (newer) a row id, so a page
//! costs the same at any depth and rows logged between two pages neither repeat nor shift
//! anything. Each search is driven by one index (migration 0013) per thing it looks for,
//! newest first; a search for several things (a user by id, name or externalId; failures
//! as 4xx or 5xx) runs one bounded query per index and merges them.

use crate::store::db::Value as SqlValue;
use crate::store::db::{Conn, Dialect, params_from_iter};
use crate::store::dialect;

use super::requests::{self, RequestLog};
use super::signin::{self, SigninLog};
use crate::error::Result;

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The newest rows.
    Newest,
    /// The rows just older than this row id.
    Before(i64),
    /// The rows just newer than this row id.
    After(i64),
}

/// Which request statuses a provisioning search wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Any,
    /// 2xx and 3xx.
    Success,
    /// 4xx and 5xx.
    Failure,
    /// One class: 2 for 2xx …
    Class(u16),
    /// One status.
    Exact(u16),
}

/// A provisioning-log search.
#[derive(Debug, Clone, Default)]
pub struct RequestSearch {
    /// An idgate id, a userName or displayName (any case), or an externalId.
    pub user: Option<String>,
    pub status: StatusFilter,
    /// Only rows at or after this stored timestamp.
    pub since: Option<String>,
}

/// A sign-in-log search.
#[derive(Debug, Clone, Default)]
pub struct SigninSearch {
    /// A user id, an email (any case), or a userName / externalId of a user of the org.
    pub user: Option<String>,
    pub success: Option<bool>,
    /// One reason code.
    pub reason: Option<String>,
    pub since: Option<String>,
}

/// One bounded query: `WHERE org_id = ?1 AND {cond}` with its values.
struct Part {
    cond: String,
    values: Vec<SqlValue>,
}

impl Part {
    fn new(cond: &str, values: Vec<SqlValue>) -> Self {
        Self {
            cond: cond.to_string(),
            values,
        }
    }
}

/// The SQL (and values) of one bounded query per driver, each with the shared `filters`,
/// newest first (oldest first after an `After` cursor), `limit` rows each.
fn queries(
    table: &str,
    columns: &str,
    org_id: i64,
    drivers: &[Part],
    filters: &[Part],
    cursor: Cursor,
    limit: u32,
) -> Vec<(String, Vec<SqlValue>)> {
    let (bound, order, at) = match cursor {
        Cursor::Newest => ("id < ?", "DESC", i64::MAX),
        Cursor::Before(id) => ("id < ?", "DESC", id),
        Cursor::After(id) => ("id > ?", "ASC", id),
    };
    drivers
        .iter()
        .map(|driver| {
            let mut values: Vec<SqlValue> = vec![org_id.into()];
            let mut conds = Vec::new();
            for part in std::iter::once(driver).chain(filters) {
                conds.push(numbered(&part.cond, &part.values, &mut values));
            }
            conds.push(numbered(bound, &[at.into()], &mut values));
            let last = numbered("?", &[i64::from(limit).into()], &mut values);
            let sql = format!(
                "SELECT {columns} FROM {table} WHERE org_id = ?1 AND {} ORDER BY id {order} \
                 LIMIT {last}",
                conds.join(" AND ")
            );
            (sql, values)
        })
        .collect()
}

/// Runs `queries` and merges their rows without repeats: at most `limit` rows in the
/// cursor's direction of travel (newest first, or oldest first after an `After` cursor).
#[allow(clippy::too_many_arguments)]
fn keyset<T>(
    conn: &Conn,
    table: &str,
    columns: &str,
    org_id: i64,
    (drivers, filters): (Vec<Part>, Vec<Part>),
    cursor: Cursor,
    limit: u32,
    map: impl Fn(&crate::store::db::Row<'_>) -> crate::store::db::Result<(i64, T)>,
) -> Result<Vec<(i64, T)>> {
    let mut rows: Vec<(i64, T)> = Vec::new();
    for (sql, values) in queries(table, columns, org_id, &drivers, &filters, cursor, limit) {
        let mut stmt = conn.prepare_cached(&sql)?;
        for row in stmt.query_map(params_from_iter(values.iter()), &map)? {
            let row = row?;
            if !rows.iter().any(|(id, _)| *id == row.0) {
                rows.push(row);
            }
        }
    }
    match cursor {
        Cursor::After(_) => rows.sort_by_key(|(id, _)| *id),
        _ => rows.sort_by_key(|(id, _)| std::cmp::Reverse(*id)),
    }
    rows.truncate(limit as usize);
    Ok(rows)
}

/// `cond` with each `?` numbered as its value's place in `values` (where they are added).
fn numbered(cond: &str, part: &[SqlValue], values: &mut Vec<SqlValue>) -> String {
    let mut out = String::with_capacity(cond.len() + 8);
    let mut next = part.iter();
    for ch in cond.chars() {
        if ch == '?' {
            values.extend(next.next().cloned());
            out.push_str(&format!("?{}", values.len()));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The driver that walks every row of the org.
fn all_rows() -> Part {
    Part::new("1 = 1", vec![])
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

/// A condition on `col` that must not drive the query (`col {rest}`), with its values.
fn unindexed(d: Dialect, col: &str, rest: &str, values: Vec<SqlValue>) -> Part {
    Part::new(&format!("{} {rest}", dialect::unindexed(d, col)), values)
}

/// `col` equals `value` ignoring ASCII case (on the NOCASE / `lower()` indexes).
fn nocase(d: Dialect, col: &str, value: &str) -> Part {
    let (cond, value) = dialect::nocase_eq(d, col, value);
    Part::new(&cond, vec![text(&value)])
}

/// The drivers (as indexed conditions) or filter (as an unindexed one) of a status search.
/// Only failures are indexed by status class (migration 0016: a success, nearly every row,
/// writes no entry); successes are the org's rows filtered, which they nearly all are.
fn status_parts(d: Dialect, status: StatusFilter) -> (Vec<Part>, Option<Part>) {
    let class = |c: u16| {
        Part::new(
            "status >= 400 AND status / 100 = ?",
            vec![i64::from(c).into()],
        )
    };
    let range = |lo: u16, hi: u16| {
        unindexed(
            d,
            "status",
            "BETWEEN ? AND ?",
            vec![i64::from(lo).into(), i64::from(hi).into()],
        )
    };
    match status {
        StatusFilter::Any => (vec![], None),
        StatusFilter::Success => (vec![all_rows()], Some(range(200, 399))),
        StatusFilter::Failure => (vec![class(4), class(5)], Some(range(400, 599))),
        StatusFilter::Class(c) if c >= 4 => (vec![class(c)], Some(range(c * 100, c * 100 + 99))),
        StatusFilter::Class(c) => (vec![all_rows()], Some(range(c * 100, c * 100 + 99))),
        StatusFilter::Exact(s) if s >= 400 => (
            vec![Part::new(
                "status >= 400 AND status / 100 = ? AND status = ?",
                vec![i64::from(s / 100).into(), i64::from(s).into()],
            )],
            Some(range(s, s)),
        ),
        StatusFilter::Exact(s) => (vec![all_rows()], Some(range(s, s))),
    }
}

/// The drivers and filters of a provisioning search; `named`: the target ids whose requests
/// named the searched user by name or externalId (`requests::target_ids`).
fn request_parts(d: Dialect, search: &RequestSearch, named: &[String]) -> (Vec<Part>, Vec<Part>) {
    let mut filters = Vec::new();
    if let Some(since) = &search.since {
        filters.push(unindexed(d, "at", ">= ?", vec![text(since)]));
    }
    let (status_drivers, status_filter) = status_parts(d, search.status);
    // The status as a filter too: it is what narrows the org's rows (successes) and a
    // user's; on a status class's index it only repeats what the index found.
    filters.extend(status_filter);
    let drivers = match &search.user {
        Some(user) => {
            let ids = std::iter::once(user.as_str()).chain(named.iter().map(String::as_str));
            target_drivers(d, ids, Some(user), Some(user))
        }
        None if status_drivers.is_empty() => vec![all_rows()],
        None => status_drivers,
    };
    (drivers, filters)
}

/// A page of an org's provisioning log (see `keyset` for the order).
pub fn requests(
    conn: &Conn,
    org_id: i64,
    search: &RequestSearch,
    cursor: Cursor,
    limit: u32,
) -> Result<Vec<(i64, RequestLog)>> {
    let named = match &search.user {
        Some(user) => requests::target_ids(conn, org_id, Some(user), Some(user))?,
        None => Vec::new(),
    };
    keyset(
        conn,
        "scim_requests",
        requests::COLUMNS,
        org_id,
        request_parts(conn.dialect(), search, &named),
        cursor,
        limit,
        requests::from_row,
    )
}

/// A provisioning search for targets: the rows of each of `ids` (once each), and the rows
/// without an id (Entra's lookups, a refused create) that named `name` (any case) or
/// `external`. The rows with an id are indexed by it alone (migration 0016): a search by
/// name or externalId first finds the ids that had it.
fn target_drivers<'a>(
    d: Dialect,
    ids: impl IntoIterator<Item = &'a str>,
    name: Option<&str>,
    external: Option<&str>,
) -> Vec<Part> {
    let mut seen: Vec<&str> = Vec::new();
    let mut drivers = Vec::new();
    for id in ids {
        if !seen.contains(&id) {
            seen.push(id);
            drivers.push(Part::new("target_id = ?", vec![text(id)]));
        }
    }
    if let Some(name) = name {
        let by_name = nocase(d, "target_name", name);
        drivers.push(Part::new(
            &format!("target_id IS NULL AND {}", by_name.cond),
            by_name.values,
        ));
    }
    if let Some(external) = external {
        drivers.push(Part::new(
            "target_id IS NULL AND target_external = ?",
            vec![text(external)],
        ));
    }
    drivers
}

/// A user's provisioning history, newest first: the requests that named its id, and those
/// that named its userName or its externalId (a refused create has no id yet; another
/// user may have had the name before).
pub fn user_requests(
    conn: &Conn,
    org_id: i64,
    user_id: &str,
    user_name: &str,
    external_id: Option<&str>,
    limit: u32,
) -> Result<Vec<(i64, RequestLog)>> {
    let named = requests::target_ids(conn, org_id, Some(user_name), external_id)?;
    let ids = std::iter::once(user_id).chain(named.iter().map(String::as_str));
    let drivers = target_drivers(conn.dialect(), ids, Some(user_name), external_id);
    keyset(
        conn,
        "scim_requests",
        requests::COLUMNS,
        org_id,
        (drivers, vec![]),
        Cursor::Newest,
        limit,
        requests::from_row,
    )
}

/// The drivers and filters of a sign-in search; `named`: the ids of the users the search
/// names by userName or externalId.
fn signin_parts(d: Dialect, search: &SigninSearch, named: &[String]) -> (Vec<Part>, Vec<Part>) {
    let mut filters = Vec::new();
    if let Some(since) = &search.since {
        filters.push(unindexed(d, "at", ">= ?", vec![text(since)]));
    }
    let outcome = search
        .success
        .map(|s| text(if s { "success" } else { "failure" }));
    let drivers = if let Some(user) = &search.user {
        if let Some(o) = outcome {
            filters.push(unindexed(d, "outcome", "= ?", vec![o]));
        }
        if let Some(r) = &search.reason {
            filters.push(unindexed(d, "reason", "= ?", vec![text(r)]));
        }
        let mut drivers = vec![
            Part::new("user_id = ?", vec![text(user)]),
            nocase(d, "email", user),
        ];
        drivers.extend(
            named
                .iter()
                .filter(|id| *id != user)
                .map(|id| Part::new("user_id = ?", vec![text(id)])),
        );
        drivers
    } else if let Some(r) = &search.reason {
        if let Some(o) = outcome {
            filters.push(unindexed(d, "outcome", "= ?", vec![o]));
        }
        vec![Part::new("reason = ?", vec![text(r)])]
    } else if let Some(o) = outcome {
        vec![Part::new("outcome = ?", vec![o])]
    } else {
        vec![all_rows()]
    };
    (drivers, filters)
}

/// A page of an org's sign-in log (see `keyset` for the order).
pub fn signins(
    conn: &Conn,
    org_id: i64,
    search: &SigninSearch,
    cursor: Cursor,
    limit: u32,
) -> Result<Vec<(i64, SigninLog)>> {
    let named = match &search.user {
        Some(user) => users_named(conn, org_id, user)?,
        None => vec![],
    };
    keyset(
        conn,
        "signin_log",
        &signin_columns(),
        org_id,
        signin_parts(conn.dialect(), search, &named),
        cursor,
        limit,
        |r| Ok((r.get(14)?, signin::log_from_row(r)?)),
    )
}

/// The sign-in log's columns, then its row id (column 14).
fn signin_columns() -> String {
    format!("{}, id", signin::LOG_COLUMNS)
}

/// The ids of the org's users whose userName (any case) or externalId is `name`.
fn users_named(conn: &Conn, org_id: i64, name: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2
         UNION SELECT id FROM users WHERE org_id = ?1 AND external_id = ?3 LIMIT 10",
    )?;
    let ids = stmt
        .query_map(
            crate::store::db::params![org_id, crate::directory::fold(name), name],
            |r| r.get(0),
        )?
        .collect::<crate::store::db::Result<_>>()?;
    Ok(ids)
}

#[cfg(test)]
#[path = "log_pages_tests.rs"]
mod tests;

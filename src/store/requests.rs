//! The SCIM request log shown to admins as the provisioning log.

use crate::store::db::{Conn, params};

use crate::error::Result;

/// One SCIM request as logged.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RequestLog {
    pub org_id: Option<i64>,
    pub at: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub duration_us: i64,
    pub token_name: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// What the request did, as Entra's provisioning log names it ("Create user" …).
    pub action: Option<String>,
    /// Whom: the idgate id, the userName or displayName, the externalId, when known.
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub target_external: Option<String>,
}

/// The columns of a row, in the order `from_row` reads them (after the row id).
pub(crate) const COLUMNS: &str = "id, org_id, at, request_id, method, path, status, scim_type, \
     detail, duration_us, token_name, request_body, response_body, action, target_id, \
     target_name, target_external";

/// (row id, row) from a `SELECT {COLUMNS}`.
pub(crate) fn from_row(
    r: &crate::store::db::Row<'_>,
) -> crate::store::db::Result<(i64, RequestLog)> {
    Ok((
        r.get(0)?,
        RequestLog {
            org_id: r.get(1)?,
            at: r.get(2)?,
            request_id: r.get(3)?,
            method: r.get(4)?,
            path: r.get(5)?,
            status: r.get(6)?,
            scim_type: r.get(7)?,
            detail: r.get(8)?,
            duration_us: r.get(9)?,
            token_name: r.get(10)?,
            request_body: r.get(11)?,
            response_body: r.get(12)?,
            action: r.get(13)?,
            target_id: r.get(14)?,
            target_name: r.get(15)?,
            target_external: r.get(16)?,
        },
    ))
}

/// One row of an org by its row id.
pub fn entry(conn: &Conn, org_id: i64, id: i64) -> Result<Option<RequestLog>> {
    use crate::store::db::OptionalExtension;
    let sql = format!("SELECT {COLUMNS} FROM scim_requests WHERE org_id = ?1 AND id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![org_id, id], from_row)
        .optional()?
        .map(|(_, r)| r))
}

pub fn insert(conn: &Conn, r: &RequestLog) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO scim_requests (org_id, at, request_id, method, path, status, scim_type,
             detail, duration_us, token_name, request_body, response_body, action, target_id,
             target_name, target_external)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        r.org_id,
        r.at,
        r.request_id,
        r.method,
        r.path,
        r.status,
        r.scim_type,
        r.detail,
        r.duration_us,
        r.token_name,
        r.request_body,
        r.response_body,
        r.action,
        r.target_id,
        r.target_name,
        r.target_external,
    ])?;
    note_target(conn, r)
}

/// Remembers the name and externalId `r` shows for its target id (see migration 0016):
/// a lookup that changes nothing, except on a create or a rename.
fn note_target(conn: &Conn, r: &RequestLog) -> Result<()> {
    let (Some(org_id), Some(id)) = (r.org_id, &r.target_id) else {
        return Ok(());
    };
    if r.target_name.is_none() && r.target_external.is_none() {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO scim_targets (org_id, target_id, name, external) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        org_id,
        id,
        r.target_name.as_deref().unwrap_or_default(),
        r.target_external.as_deref().unwrap_or_default(),
    ])?;
    Ok(())
}

/// The target ids of `org_id` whose logged requests named them `name` (any ASCII case) or
/// `external` (their externalId).
pub fn target_ids(
    conn: &Conn,
    org_id: i64,
    name: Option<&str>,
    external: Option<&str>,
) -> Result<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    let mut collect = |sql: &str, value: String| -> Result<()> {
        let mut stmt = conn.prepare_cached(sql)?;
        for id in stmt.query_map(params![org_id, value], |r| r.get::<_, String>(0))? {
            let id = id?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(())
    };
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        let (cond, value) = crate::store::dialect::nocase_eq(conn.dialect(), "name", name);
        let cond = cond.replace('?', "?2"); // its one placeholder, numbered
        collect(
            &format!("SELECT DISTINCT target_id FROM scim_targets WHERE org_id = ?1 AND {cond}"),
            value,
        )?;
    }
    if let Some(external) = external.filter(|e| !e.is_empty()) {
        collect(
            "SELECT DISTINCT target_id FROM scim_targets WHERE org_id = ?1 AND external = ?2",
            external.to_string(),
        )?;
    }
    Ok(ids)
}

/// The newest `limit` rows of an org, newest first; optionally only one status class
/// (`2` for 2xx, `4` for 4xx …).
pub fn recent(
    conn: &Conn,
    org_id: i64,
    limit: u32,
    status_class: Option<u16>,
) -> Result<Vec<RequestLog>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM scim_requests
         WHERE org_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR status / 100 = ?2) ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![org_id, status_class, limit], |r| {
        from_row(r).map(|(_, row)| row)
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Deletes rows older than `cutoff` (a stored timestamp), and the names remembered for the
/// targets that no row names any more. Returns how many rows. Walks each org's rows (and
/// those of no org) on the (org, time) index: the log has no index on time alone, which
/// every row would write.
pub fn prune(conn: &Conn, cutoff: &str) -> Result<usize> {
    let orgs: Vec<Option<i64>> = {
        let mut stmt = conn.prepare("SELECT id FROM orgs")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        std::iter::once(Ok(None))
            .chain(ids.map(|id| id.map(Some)))
            .collect::<crate::store::db::Result<_>>()?
    };
    let mut n = 0;
    for org_id in orgs {
        n += prune_org(conn, org_id, cutoff)?;
    }
    Ok(n)
}

fn prune_org(conn: &Conn, org_id: Option<i64>, cutoff: &str) -> Result<usize> {
    let Some(org_id) = org_id else {
        let sql = "DELETE FROM scim_requests WHERE org_id IS NULL AND at < ?1";
        return Ok(conn.prepare_cached(sql)?.execute(params![cutoff])?);
    };
    let old = "org_id = ?1 AND at < ?2";
    let targets: Vec<String> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT DISTINCT target_id FROM scim_requests WHERE {old} AND target_id IS NOT NULL"
        ))?;
        stmt.query_map(params![org_id, cutoff], |r| r.get(0))?
            .collect::<crate::store::db::Result<_>>()?
    };
    let n = conn
        .prepare_cached(&format!("DELETE FROM scim_requests WHERE {old}"))?
        .execute(params![org_id, cutoff])?;
    let mut forget = conn.prepare_cached(
        "DELETE FROM scim_targets WHERE org_id = ?1 AND target_id = ?2
           AND NOT EXISTS (SELECT 1 FROM scim_requests WHERE org_id = ?1 AND target_id = ?2)",
    )?;
    for id in &targets {
        forget.execute(params![org_id, id])?;
    }
    Ok(n)
}

/// The provisioning-log row ids of the requests `request_ids` of `org_id` logged between
/// `from` and `to` (request ids are not indexed: the (org, time) index bounds the search).
/// Returns (request id, row id) pairs; a request no longer (or not yet) logged is missing.
pub fn ids_by_request(
    conn: &Conn,
    org_id: i64,
    from: &str,
    to: &str,
    request_ids: &[String],
) -> Result<Vec<(String, i64)>> {
    if request_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..request_ids.len())
        .map(|i| format!("?{}", i + 4))
        .collect();
    let sql = format!(
        "SELECT request_id, id FROM scim_requests
         WHERE org_id = ?1 AND at >= ?2 AND at <= ?3 AND request_id IN ({})",
        marks.join(",")
    );
    let mut values: Vec<crate::store::db::Value> = vec![
        org_id.into(),
        from.to_string().into(),
        to.to_string().into(),
    ];
    values.extend(request_ids.iter().map(|r| r.clone().into()));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(crate::store::db::params_from_iter(values.iter()), |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

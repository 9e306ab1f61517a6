//! The SCIM request log shown to admins as the provisioning log.

use rusqlite::{Connection, params};

use crate::error::Result;

/// One SCIM request as logged.
#[derive(Debug, Clone, serde::Serialize)]
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
}

pub fn insert(conn: &Connection, r: &RequestLog) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO scim_requests (org_id, at, request_id, method, path, status, scim_type,
             detail, duration_us, token_name, request_body, response_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
    ])?;
    Ok(())
}

/// The newest `limit` rows of an org, newest first; optionally only one status class
/// (`2` for 2xx, `4` for 4xx …).
pub fn recent(
    conn: &Connection,
    org_id: i64,
    limit: u32,
    status_class: Option<u16>,
) -> Result<Vec<RequestLog>> {
    let mut stmt = conn.prepare_cached(
        "SELECT org_id, at, request_id, method, path, status, scim_type, detail, duration_us,
                token_name, request_body, response_body
         FROM scim_requests WHERE org_id = ?1 AND (?2 IS NULL OR status / 100 = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_id, status_class, limit], |r| {
        Ok(RequestLog {
            org_id: r.get(0)?,
            at: r.get(1)?,
            request_id: r.get(2)?,
            method: r.get(3)?,
            path: r.get(4)?,
            status: r.get(5)?,
            scim_type: r.get(6)?,
            detail: r.get(7)?,
            duration_us: r.get(8)?,
            token_name: r.get(9)?,
            request_body: r.get(10)?,
            response_body: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes rows older than `cutoff` (a stored timestamp). Returns how many.
pub fn prune(conn: &Connection, cutoff: &str) -> Result<usize> {
    Ok(conn.execute("DELETE FROM scim_requests WHERE at < ?1", [cutoff])?)
}

/// The provisioning-log row ids of the requests `request_ids` of `org_id` logged between
/// `from` and `to` (request ids are not indexed: the (org, time) index bounds the search).
/// Returns (request id, row id) pairs; a request no longer (or not yet) logged is missing.
pub fn ids_by_request(
    conn: &Connection,
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
    let mut values: Vec<rusqlite::types::Value> = vec![
        org_id.into(),
        from.to_string().into(),
        to.to_string().into(),
    ];
    values.extend(request_ids.iter().map(|r| r.clone().into()));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

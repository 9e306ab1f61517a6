//! Sign-in state: SAML requests in flight, the assertion replay cache, the users a sign-in
//! links to, and the sign-in log.

use crate::store::db::{Conn, OptionalExtension, params};
use serde_json::Value;

use crate::directory::fold;
use crate::error::{Error, Result};

/// A pending SP-initiated sign-in.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub id: String,
    pub org_id: i64,
    pub relay_state: String,
    pub return_to: String,
    /// `session`, `admin` or `test` (see `signin::Purpose`).
    pub purpose: String,
    pub created: String,
    pub expires: String,
}

pub fn insert_request(conn: &Conn, r: &PendingRequest) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO saml_requests (id, org_id, relay_state, return_to, purpose, created, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        r.id,
        r.org_id,
        r.relay_state,
        r.return_to,
        r.purpose,
        r.created,
        r.expires
    ])?;
    Ok(())
}

/// The live request of `org_id` that `relay_state` names: (request ID, return_to, purpose).
pub fn request_by_relay_state(
    conn: &Conn,
    org_id: i64,
    relay_state: &str,
    now: &str,
) -> Result<Option<(String, String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, return_to, purpose FROM saml_requests
             WHERE relay_state = ?1 AND org_id = ?2 AND expires > ?3",
        )?
        .query_row(params![relay_state, org_id, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

/// Uses up a pending request: true if it was live (and is now gone), false if it was
/// unknown, expired or already used.
pub fn consume_request(conn: &Conn, org_id: i64, id: &str, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM saml_requests WHERE id = ?1 AND org_id = ?2 AND expires > ?3")?
        .execute(params![id, org_id, now])?
        > 0)
}

/// Records an accepted assertion ID; false if it was seen before (a replay).
pub fn remember_assertion(
    conn: &Conn,
    org_id: i64,
    assertion_id: &str,
    expires: &str,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO saml_assertions (assertion_id, org_id, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![assertion_id, org_id, expires])?
        > 0)
}

/// Drops requests and remembered assertions past their time; returns how many rows went.
pub fn prune(conn: &Conn, now: &str, signin_log_before: &str) -> Result<usize> {
    let mut n = conn.execute("DELETE FROM saml_requests WHERE expires <= ?1", [now])?;
    n += conn.execute("DELETE FROM saml_assertions WHERE expires <= ?1", [now])?;
    n += conn.execute("DELETE FROM signin_log WHERE at < ?1", [signin_log_before])?;
    Ok(n)
}

/// A user as sign-in sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninUser {
    pub id: String,
    pub org_id: i64,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub role: Option<String>,
    pub role_raw: Option<String>,
    pub name: Option<String>,
    pub source: String,
    /// Display names of the groups the user is a direct member of.
    pub groups: Vec<String>,
}

/// How a sign-in identity matched the users of an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(SigninUser),
    NotFound,
    /// The email matches several users and nothing else decides.
    Ambiguous(usize),
}

/// The display name of a SCIM user document: displayName, else name.formatted, else
/// givenName + familyName.
fn display_name(doc: &Value) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let name = doc.get("name");
    text(doc.get("displayName"))
        .or_else(|| text(name.and_then(|n| n.get("formatted"))))
        .or_else(|| {
            let parts: Vec<String> = ["givenName", "familyName"]
                .iter()
                .filter_map(|k| text(name.and_then(|n| n.get(*k))))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
}

/// One user of the org by id, with its groups.
pub fn user(conn: &Conn, org_id: i64, id: &str) -> Result<Option<SigninUser>> {
    let row = conn
        .prepare_cached(
            "SELECT id, user_name, external_id, active, role, role_raw, data, source
             FROM users WHERE id = ?1 AND org_id = ?2",
        )?
        .query_row(params![id, org_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .optional()?;
    let Some((id, user_name, external_id, active, role, role_raw, data, source)) = row else {
        return Ok(None);
    };
    let doc: Value = serde_json::from_str(&data).map_err(Error::internal)?;
    let mut stmt = conn.prepare_cached(
        "SELECT g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.member_id = ?1 ORDER BY g.display_name_key",
    )?;
    let groups = stmt
        .query_map([&id], |r| r.get(0))?
        .collect::<crate::store::db::Result<Vec<String>>>()?;
    Ok(Some(SigninUser {
        id,
        org_id,
        user_name,
        external_id,
        active,
        role,
        role_raw,
        name: display_name(&doc),
        source,
        groups,
    }))
}

/// Finds the user a sign-in names, in this org only: by externalId = `object_id` when
/// given, else by userName, else by email value — all case-insensitive but externalId
/// (caseExact, as SCIM says).
pub fn find_user(conn: &Conn, org_id: i64, object_id: Option<&str>, email: &str) -> Result<Lookup> {
    if let Some(oid) = object_id.filter(|s| !s.is_empty()) {
        let id: Option<String> = conn
            .prepare_cached("SELECT id FROM users WHERE org_id = ?1 AND external_id = ?2")?
            .query_row(params![org_id, oid], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            return found(conn, org_id, &id);
        }
    }
    let key = fold(email);
    let id: Option<String> = conn
        .prepare_cached("SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2")?
        .query_row(params![org_id, key], |r| r.get(0))
        .optional()?;
    if let Some(id) = id {
        return found(conn, org_id, &id);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT u.id FROM user_emails e JOIN users u ON u.id = e.user_id
         WHERE e.value_key = ?1 AND u.org_id = ?2 LIMIT 3",
    )?;
    let ids = stmt
        .query_map(params![key, org_id], |r| r.get(0))?
        .collect::<crate::store::db::Result<Vec<String>>>()?;
    match ids.as_slice() {
        [] => Ok(Lookup::NotFound),
        [one] => found(conn, org_id, one),
        many => Ok(Lookup::Ambiguous(many.len())),
    }
}

fn found(conn: &Conn, org_id: i64, id: &str) -> Result<Lookup> {
    Ok(user(conn, org_id, id)?.map_or(Lookup::NotFound, Lookup::Found))
}

/// Sets where a user came from ('jit', 'local').
pub fn set_source(conn: &Conn, user_id: &str, source: &str) -> Result<()> {
    conn.execute(
        "UPDATE users SET source = ?2 WHERE id = ?1",
        params![user_id, source],
    )?;
    Ok(())
}

/// Stores the role a SAML role claim gave a user that SCIM gave none.
pub fn set_role(conn: &Conn, user_id: &str, raw: &str, role: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE users SET role_raw = ?2, role = ?3 WHERE id = ?1",
        params![user_id, raw, role],
    )?;
    Ok(())
}

/// One sign-in attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigninLog {
    pub org_id: Option<i64>,
    pub at: String,
    pub reference: String,
    pub method: &'static str,
    pub success: bool,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub expected: Option<String>,
    pub received: Option<String>,
    pub email: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// An OIDC sign-in's checks and decoded claims (JSON), shown for a Test sign-in.
    pub report: Option<String>,
}

pub fn log_signin(conn: &Conn, row: &SigninLog) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO signin_log (org_id, at, reference, method, outcome, reason, detail,
                                 expected, received, email, user_id, ip, user_agent, report)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        row.org_id,
        row.at,
        row.reference,
        row.method,
        if row.success { "success" } else { "failure" },
        row.reason,
        row.detail,
        row.expected,
        row.received,
        row.email,
        row.user_id,
        row.ip,
        row.user_agent,
        row.report,
    ])?;
    Ok(())
}

pub(crate) const LOG_COLUMNS: &str = "org_id, at, reference, method, outcome, reason, detail, expected, \
                           received, email, user_id, ip, user_agent, report";

/// The sign-in log rows with `reference` (normally one).
pub fn signin_by_reference(conn: &Conn, reference: &str) -> Result<Vec<SigninLog>> {
    let sql = format!("SELECT {LOG_COLUMNS} FROM signin_log WHERE reference = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([reference], log_from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// An org's newest sign-in log rows, newest first.
pub fn recent_signins(conn: &Conn, org_id: i64, limit: usize) -> Result<Vec<SigninLog>> {
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM signin_log WHERE org_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![org_id, limit as i64], log_from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// An org's sign-in log rows, newest first: optionally only successes (`Some(true)`) or
/// failures, and only those at or after `since`.
pub fn signin_log(
    conn: &Conn,
    org_id: i64,
    success: Option<bool>,
    since: Option<&str>,
    limit: u32,
) -> Result<Vec<SigninLog>> {
    let outcome = success.map(|s| if s { "success" } else { "failure" });
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM signin_log
         WHERE org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR outcome = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR at >= ?3)
         ORDER BY at DESC, id DESC LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![org_id, outcome, since, limit], log_from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// A user's sign-in history, newest first: the rows linked to the user, and the refused
/// attempts with its email that were never linked to anyone (wrong password, rate limit).
pub fn user_signins(
    conn: &Conn,
    org_id: i64,
    user_id: &str,
    email: &str,
    limit: u32,
) -> Result<Vec<SigninLog>> {
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM signin_log
         WHERE org_id = ?1 AND (user_id = ?2 OR (user_id IS NULL AND email = ?3))
         ORDER BY at DESC, id DESC LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![org_id, user_id, email.to_lowercase(), limit],
        log_from_row,
    )?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub(crate) fn log_from_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<SigninLog> {
    let method: String = r.get(3)?;
    Ok(SigninLog {
        org_id: r.get(0)?,
        at: r.get(1)?,
        reference: r.get(2)?,
        method: match method.as_str() {
            "saml" => "saml",
            "oidc" => "oidc",
            _ => "password",
        },
        success: r.get::<_, String>(4)? == "success",
        reason: r.get(5)?,
        detail: r.get(6)?,
        expected: r.get(7)?,
        received: r.get(8)?,
        email: r.get(9)?,
        user_id: r.get(10)?,
        ip: r.get(11)?,
        user_agent: r.get(12)?,
        report: r.get(13)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_names() {
        assert_eq!(
            display_name(&json!({"displayName": " Ann "})).as_deref(),
            Some("Ann")
        );
        assert_eq!(
            display_name(&json!({"name": {"givenName": "Ann", "familyName": "Lee"}})).as_deref(),
            Some("Ann Lee")
        );
        assert_eq!(
            display_name(&json!({"displayName": "", "name": {"formatted": "A L"}})).as_deref(),
            Some("A L")
        );
        assert_eq!(display_name(&json!({})), None);
    }
}

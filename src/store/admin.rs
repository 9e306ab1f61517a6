//! What the admin UI reads and writes beyond the other aggregates: operator admins, admin
//! sessions, the audit log with its origin, and the searches behind its pages.

use crate::store::db::{Conn, Dialect, OptionalExtension, params};

use super::conflict_on_unique;
use super::requests::RequestLog;
use crate::directory::fold;
use crate::error::Result;

// ---- operator admins ----

pub fn create_admin(conn: &Conn, email: &str, hash: &str, now: &str) -> Result<i64> {
    conn.query_row(
        "INSERT INTO admins (email, hash, created) VALUES (?1, ?2, ?3) RETURNING id",
        params![email, hash, now],
        |r| r.get(0),
    )
    .map_err(|e| conflict_on_unique(e, format!("an admin {email} already exists")))
}

pub fn set_admin_password(conn: &Conn, email: &str, hash: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE admins SET hash = ?2 WHERE email = ?1",
        params![email, hash],
    )? > 0)
}

/// (id, password hash) of an operator admin.
pub fn admin_by_email(conn: &Conn, email: &str) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, hash FROM admins WHERE email = ?1",
            [email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub fn list_admins(conn: &Conn) -> Result<Vec<(String, String, Option<String>)>> {
    let mut stmt = conn.prepare("SELECT email, created, last_login FROM admins ORDER BY email")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn touch_admin(conn: &Conn, id: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE admins SET last_login = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

// ---- admin sessions ----

/// An admin UI session: an operator admin, or an org admin of one org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub token_hash: Vec<u8>,
    pub admin_id: Option<i64>,
    pub org_id: Option<i64>,
    pub user_id: Option<String>,
    pub email: String,
    pub csrf: String,
    pub created: String,
    pub expires: String,
    pub ip: Option<String>,
}

pub fn insert_session(conn: &Conn, s: &AdminSession) -> Result<()> {
    conn.execute(
        "INSERT INTO admin_sessions (token_hash, admin_id, org_id, user_id, email, csrf, created,
                                     expires, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            s.token_hash,
            s.admin_id,
            s.org_id,
            s.user_id,
            s.email,
            s.csrf,
            s.created,
            s.expires,
            s.ip
        ],
    )?;
    Ok(())
}

/// The live session with this token hash. An org admin's session also needs its user to
/// be active and still an admin of the org (`role` compared case-insensitively).
pub fn session(conn: &Conn, token_hash: &[u8], now: &str) -> Result<Option<AdminSession>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.token_hash, s.admin_id, s.org_id, s.user_id, s.email, s.csrf, s.created,
                    s.expires, s.ip
             FROM admin_sessions s LEFT JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires > ?2
               AND (s.admin_id IS NOT NULL
                    OR (u.active = 1 AND lower(u.role) = 'admin' AND u.org_id = s.org_id))",
        )?
        .query_row(params![token_hash, now], |r| {
            Ok(AdminSession {
                token_hash: r.get(0)?,
                admin_id: r.get(1)?,
                org_id: r.get(2)?,
                user_id: r.get(3)?,
                email: r.get(4)?,
                csrf: r.get(5)?,
                created: r.get(6)?,
                expires: r.get(7)?,
                ip: r.get(8)?,
            })
        })
        .optional()?)
}

pub fn delete_session(conn: &Conn, token_hash: &[u8]) -> Result<()> {
    conn.execute(
        "DELETE FROM admin_sessions WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(())
}

pub fn prune_sessions(conn: &Conn, now: &str) -> Result<usize> {
    Ok(conn.execute("DELETE FROM admin_sessions WHERE expires <= ?1", [now])?)
}

// ---- audit ----

/// One audited change: who, what, on what, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub org_id: Option<i64>,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

pub fn audit(conn: &Conn, e: &AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (org_id, at, actor, action, target, detail, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.org_id, e.at, e.actor, e.action, e.target, e.detail, e.ip],
    )?;
    Ok(())
}

/// The newest audit rows, of one org or (None) of all; with the org's slug.
pub fn audit_log(
    conn: &Conn,
    org_id: Option<i64>,
    limit: u32,
) -> Result<Vec<(AuditEntry, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.org_id, a.at, a.actor, a.action, a.target, a.detail, a.ip, o.slug
         FROM audit_log a LEFT JOIN orgs o ON o.id = a.org_id
         WHERE CAST(?1 AS BIGINT) IS NULL OR a.org_id = ?1 ORDER BY a.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![org_id, limit], |r| {
        Ok((
            AuditEntry {
                org_id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
                ip: r.get(6)?,
            },
            r.get(7)?,
        ))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

// ---- orgs ----

/// (users, groups) of an org, from the trigger-kept counters.
pub fn counts(conn: &Conn, org_id: i64) -> Result<(i64, i64)> {
    Ok(
        conn.query_row(super::dialect::org_counts(conn.dialect()), [org_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
    )
}

/// Deletes an org and everything in it (users, groups, tokens, logs, IdP, sessions).
pub fn delete_org(conn: &Conn, org_id: i64) -> Result<bool> {
    // Memberships reference groups (cascade) and users by id without a foreign key.
    conn.execute(
        "DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE org_id = ?1)",
        [org_id],
    )?;
    conn.execute("DELETE FROM sessions WHERE org_id = ?1", [org_id])?;
    Ok(conn.execute("DELETE FROM orgs WHERE id = ?1", [org_id])? > 0)
}

// ---- users and groups pages ----

/// A user row of the admin's users page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub role_raw: Option<String>,
    pub role: Option<String>,
    pub source: String,
    pub last_signin: Option<String>,
}

/// The columns `user_row` reads, of `users u`.
fn user_row_columns(d: Dialect) -> String {
    format!(
        "u.id, u.user_name, {}, u.active, u.role_raw, u.role, u.source, \
         (SELECT max(l.at) FROM signin_log l WHERE l.user_id = u.id AND l.outcome = 'success')",
        super::dialect::json_text(d, "u.data", "$.displayName")
    )
}

fn user_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        user_name: r.get(1)?,
        display_name: r.get(2)?,
        active: r.get(3)?,
        role_raw: r.get(4)?,
        role: r.get(5)?,
        source: r.get(6)?,
        last_signin: r.get(7)?,
    })
}

/// An org's users whose userName or displayName contains `q` (case-insensitively),
/// optionally only active or deactivated ones, in userName order.
pub fn search_users(
    conn: &Conn,
    org_id: i64,
    q: &str,
    active: Option<bool>,
    limit: u32,
    offset: u32,
) -> Result<Vec<UserRow>> {
    // The keys are folded, and so is the pattern: SQLite's LIKE (which ignores ASCII case)
    // and PostgreSQL's (which does not) agree.
    let pattern = format!("%{}%", escape_like(&fold(q)));
    let sql = format!(
        "SELECT {}
         FROM users u
         WHERE u.org_id = ?1
           AND (u.user_name_key LIKE ?2 ESCAPE '\\' OR coalesce(u.display_name_key, '') LIKE ?2 ESCAPE '\\')
           AND (CAST(?3 AS BIGINT) IS NULL OR u.active = ?3)
         ORDER BY u.user_name_key LIMIT ?4 OFFSET ?5",
        user_row_columns(conn.dialect())
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![org_id, pattern, active, limit, offset], user_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// One user of the org as the users page shows it.
pub fn user_summary(conn: &Conn, org_id: i64, id: &str) -> Result<Option<UserRow>> {
    let sql = format!(
        "SELECT {} FROM users u WHERE u.org_id = ?1 AND u.id = ?2",
        user_row_columns(conn.dialect())
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![org_id, id], user_row)
        .optional()?)
}

/// (id, displayName) of the org's groups that the user is a direct member of.
pub fn user_groups(conn: &Conn, org_id: i64, user_id: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.member_id = ?1 AND g.org_id = ?2 ORDER BY g.display_name_key",
    )?;
    let rows = stmt.query_map(params![user_id, org_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// A group row of the admin's groups page: id, displayName, member count.
pub fn search_groups(
    conn: &Conn,
    org_id: i64,
    q: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<(String, String, i64)>> {
    let pattern = format!("%{}%", escape_like(&fold(q)));
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.display_name,
                (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)
         FROM groups g WHERE g.org_id = ?1 AND g.display_name_key LIKE ?2 ESCAPE '\\'
         ORDER BY g.display_name_key LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt.query_map(params![org_id, pattern, limit, offset], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

// ---- logs ----

/// Provisioning-log rows (with their row ids) of an org, newest first, filtered by status
/// class (2, 4, 5) and start time.
pub fn provisioning_log(
    conn: &Conn,
    org_id: i64,
    status_class: Option<u16>,
    since: Option<&str>,
    limit: u32,
) -> Result<Vec<(i64, RequestLog)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM scim_requests
         WHERE org_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR status / 100 = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR at >= ?3)
         ORDER BY id DESC LIMIT ?4",
        super::requests::COLUMNS
    ))?;
    let rows = stmt.query_map(
        params![org_id, status_class, since, limit],
        super::requests::from_row,
    )?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn provisioning_entry(conn: &Conn, org_id: i64, id: i64) -> Result<Option<RequestLog>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM scim_requests WHERE org_id = ?1 AND id = ?2",
                super::requests::COLUMNS
            ),
            params![org_id, id],
            super::requests::from_row,
        )
        .optional()?
        .map(|(_, r)| r))
}

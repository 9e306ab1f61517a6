//! OIDC connections, pending authorization requests and the (org, tid, oid) link table.

use crate::store::db::{Conn, OptionalExtension, params};

use super::signin::{SigninUser, user};
use crate::directory::fold;
use crate::error::Result;

/// An org's OIDC connection as stored (secrets still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConnection {
    pub org_id: i64,
    /// `customer` or `idgate_app`.
    pub mode: String,
    pub active: bool,
    /// The tenant GUID; `None` for an idgate-app connection not joined yet.
    pub tenant_id: Option<String>,
    /// `None` in idgate-app mode (the app's id is in the configuration).
    pub client_id: Option<String>,
    /// `secret`, `certificate` or `app`.
    pub credential: String,
    pub secret: Option<Vec<u8>>,
    /// `YYYY-MM-DD`, as the admin typed it from Entra.
    pub secret_expires: Option<String>,
    pub private_key: Option<Vec<u8>>,
    pub certificate: Option<String>,
    pub created: String,
    pub updated: String,
}

const COLUMNS: &str = "org_id, mode, active, tenant_id, client_id, credential, secret, \
                       secret_expires, private_key, certificate, created, updated";

fn from_row(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<OidcConnection> {
    Ok(OidcConnection {
        org_id: r.get(0)?,
        mode: r.get(1)?,
        active: r.get(2)?,
        tenant_id: r.get(3)?,
        client_id: r.get(4)?,
        credential: r.get(5)?,
        secret: r.get(6)?,
        secret_expires: r.get(7)?,
        private_key: r.get(8)?,
        certificate: r.get(9)?,
        created: r.get(10)?,
        updated: r.get(11)?,
    })
}

pub fn connection(conn: &Conn, org_id: i64) -> Result<Option<OidcConnection>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM oidc_connections WHERE org_id = ?1"
        ))?
        .query_row([org_id], from_row)
        .optional()?)
}

/// Whether the org signs in through OIDC (an active connection).
pub fn is_active(conn: &Conn, org_id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT active FROM oidc_connections WHERE org_id = ?1")?
        .query_row([org_id], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Creates or replaces an org's connection (and makes it the active one when `c.active`).
/// `Ok(false)`: the tenant is already joined to another org through the idgate app.
pub fn save(conn: &Conn, c: &OidcConnection) -> Result<bool> {
    if c.mode == "idgate_app"
        && let Some(t) = &c.tenant_id
        && tenant_owner(conn, t)?.is_some_and(|o| o != c.org_id)
    {
        return Ok(false);
    }
    conn.execute(
        &format!(
            "INSERT INTO oidc_connections ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (org_id) DO UPDATE SET mode = excluded.mode, active = excluded.active,
               tenant_id = excluded.tenant_id, client_id = excluded.client_id,
               credential = excluded.credential, secret = excluded.secret,
               secret_expires = excluded.secret_expires, private_key = excluded.private_key,
               certificate = excluded.certificate, updated = excluded.updated"
        ),
        params![
            c.org_id,
            c.mode,
            c.active,
            c.tenant_id,
            c.client_id,
            c.credential,
            c.secret,
            c.secret_expires,
            c.private_key,
            c.certificate,
            c.created,
            c.updated
        ],
    )?;
    Ok(true)
}

/// The org an idgate-app tenant is joined to.
pub fn tenant_owner(conn: &Conn, tenant_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT org_id FROM oidc_connections WHERE mode = 'idgate_app' AND tenant_id = ?1",
        )?
        .query_row([tenant_id], |r| r.get(0))
        .optional()?)
}

/// Binds an idgate-app connection to the tenant of a verified ID token. `Ok(false)`: the
/// tenant belongs to another org already.
pub fn bind_tenant(conn: &Conn, org_id: i64, tenant_id: &str, now: &str) -> Result<bool> {
    if tenant_owner(conn, tenant_id)?.is_some_and(|o| o != org_id) {
        return Ok(false);
    }
    Ok(conn.execute(
        "UPDATE oidc_connections SET tenant_id = ?2, updated = ?3
         WHERE org_id = ?1 AND mode = 'idgate_app'",
        params![org_id, tenant_id, now],
    )? == 1)
}

/// Switches an org between SAML (`false`) and OIDC (`true`). `Ok(false)`: OIDC asked for
/// but the org has no OIDC connection.
pub fn set_active(conn: &Conn, org_id: i64, active: bool, now: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE oidc_connections SET active = ?2, updated = ?3 WHERE org_id = ?1",
        params![org_id, active, now],
    )?;
    Ok(n == 1 || !active)
}

/// An authorization request in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub org_id: i64,
    /// `signin` or `consent`.
    pub kind: String,
    /// SHA-256 of the browser-binding cookie.
    pub browser: Vec<u8>,
    pub nonce: String,
    pub verifier: String,
    pub tenant_id: Option<String>,
    pub return_to: String,
    pub purpose: String,
    pub created: String,
    pub expires: String,
    pub used: Option<String>,
}

pub fn insert_pending(conn: &Conn, p: &Pending) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO oidc_pending (state, org_id, kind, browser, nonce, verifier, tenant_id,
           return_to, purpose, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        p.state,
        p.org_id,
        p.kind,
        p.browser,
        p.nonce,
        p.verifier,
        p.tenant_id,
        p.return_to,
        p.purpose,
        p.created,
        p.expires
    ])?;
    Ok(())
}

pub fn pending(conn: &Conn, state: &str) -> Result<Option<Pending>> {
    Ok(conn
        .prepare_cached(
            "SELECT state, org_id, kind, browser, nonce, verifier, tenant_id, return_to, purpose,
                    created, expires, used FROM oidc_pending WHERE state = ?1",
        )?
        .query_row([state], |r| {
            Ok(Pending {
                state: r.get(0)?,
                org_id: r.get(1)?,
                kind: r.get(2)?,
                browser: r.get(3)?,
                nonce: r.get(4)?,
                verifier: r.get(5)?,
                tenant_id: r.get(6)?,
                return_to: r.get(7)?,
                purpose: r.get(8)?,
                created: r.get(9)?,
                expires: r.get(10)?,
                used: r.get(11)?,
            })
        })
        .optional()?)
}

/// Uses up a pending request: `true` for exactly one caller, while it is unexpired.
pub fn consume_pending(conn: &Conn, state: &str, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE oidc_pending SET used = ?2 WHERE state = ?1 AND used IS NULL AND expires > ?2",
        )?
        .execute(params![state, now])?
        == 1)
}

/// Drops requests that expired before `before`.
pub fn prune(conn: &Conn, before: &str) -> Result<usize> {
    Ok(conn.execute("DELETE FROM oidc_pending WHERE expires < ?1", [before])?)
}

/// What an ID token says for matching a person to a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub tenant_id: String,
    pub object_id: String,
    /// The `upn` of a member (never a guest's).
    pub member_upn: Option<String>,
    /// The email, only when Entra says its domain is verified (`xms_edov`), trimmed and
    /// lowercased, inside one of the org's domains.
    pub verified_email: Option<String>,
}

/// How the user was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// A user, and the rule that found it (`link`, `external_id`, `upn`, `verified_email`).
    Found(SigninUser, &'static str),
    /// The user the rules found is linked to another Entra object already.
    LinkedElsewhere(SigninUser, String),
    /// Several users share the verified email.
    Ambiguous(usize),
    NotFound,
}

/// Finds the user of a verified ID token: the link, else `externalId == oid`, else
/// `userName == upn` (members only), else the verified email (userName or emails). Never an
/// unverified email.
pub fn find_user(conn: &Conn, org_id: i64, c: &Claims) -> Result<Match> {
    let linked: Option<String> = conn
        .prepare_cached(
            "SELECT user_id FROM oidc_links WHERE org_id = ?1 AND tenant_id = ?2 AND object_id = ?3",
        )?
        .query_row(params![org_id, c.tenant_id, c.object_id], |r| r.get(0))
        .optional()?;
    if let Some(id) = linked
        && let Some(u) = user(conn, org_id, &id)?
    {
        return Ok(Match::Found(u, "link"));
    }
    let by = |sql: &str, key: &str| -> Result<Vec<String>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let ids = stmt
            .query_map(params![org_id, key], |r| r.get(0))?
            .collect::<crate::store::db::Result<Vec<String>>>()?;
        Ok(ids)
    };
    let mut candidates: Vec<(Vec<String>, &'static str)> = vec![(
        by(
            "SELECT id FROM users WHERE org_id = ?1 AND external_id = ?2 LIMIT 3",
            &c.object_id,
        )?,
        "external_id",
    )];
    if let Some(upn) = &c.member_upn {
        candidates.push((
            by(
                "SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2",
                &fold(upn),
            )?,
            "upn",
        ));
    }
    if let Some(email) = &c.verified_email {
        let mut ids = by(
            "SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2",
            &fold(email),
        )?;
        if ids.is_empty() {
            ids = by(
                "SELECT DISTINCT u.id FROM user_emails e JOIN users u ON u.id = e.user_id
                 WHERE u.org_id = ?1 AND e.value_key = ?2 LIMIT 3",
                &fold(email),
            )?;
        }
        candidates.push((ids, "verified_email"));
    }
    for (ids, rule) in candidates {
        match ids.as_slice() {
            [] => continue,
            [one] => {
                let Some(u) = user(conn, org_id, one)? else {
                    continue;
                };
                return Ok(match linked_object(conn, &u.id)? {
                    Some(other) if other != (c.tenant_id.clone(), c.object_id.clone()) => {
                        Match::LinkedElsewhere(u, format!("{}/{}", other.0, other.1))
                    }
                    _ => Match::Found(u, rule),
                });
            }
            many => return Ok(Match::Ambiguous(many.len())),
        }
    }
    Ok(Match::NotFound)
}

/// The (tid, oid) a user is linked to.
fn linked_object(conn: &Conn, user_id: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT tenant_id, object_id FROM oidc_links WHERE user_id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Links (org, tid, oid) to a user; nothing when the link exists.
pub fn link(
    conn: &Conn,
    org_id: i64,
    c: &Claims,
    user_id: &str,
    rule: &str,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO oidc_links (org_id, tenant_id, object_id, user_id, rule, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        org_id,
        c.tenant_id,
        c.object_id,
        user_id,
        rule,
        now
    ])?;
    Ok(())
}

/// How many users of an org are linked, for the SSO page.
pub fn link_count(conn: &Conn, org_id: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM oidc_links WHERE org_id = ?1")?
        .query_row([org_id], |r| r.get(0))?)
}

/// Every org's OIDC credential expiry date (`YYYY-MM-DD`), by slug.
pub fn expiries(conn: &Conn) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.slug, c.secret_expires FROM oidc_connections c JOIN orgs o ON o.id = c.org_id
         WHERE c.secret_expires IS NOT NULL AND c.mode = 'customer' ORDER BY o.slug",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::db::Result<Vec<(String, String)>>>()?;
    Ok(rows)
}

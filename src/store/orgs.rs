//! Organizations, their domains and settings, role mappings and SCIM tokens.

use crate::store::db::{Conn, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::conflict_on_unique;
use crate::error::{Error, Result};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Org {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub scim_enabled: bool,
    pub group_sync: bool,
    pub strict_attributes: bool,
    pub role_attribute: String,
    pub default_role: Option<String>,
    pub required_attrs: Vec<String>,
    pub created: String,
    /// Accept IdP-initiated (unsolicited) SAML responses.
    pub idp_initiated: bool,
    /// Create users on first SAML sign-in when SCIM has not provisioned them.
    pub jit: bool,
    /// Allowed clock difference for SAML time checks, seconds.
    pub clock_skew_secs: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Domain {
    pub domain: String,
    pub sso_only: bool,
}

/// A change to an org's settings; `None` leaves a setting as it is.
#[derive(Debug, Default, Clone)]
pub struct SettingsChange {
    pub name: Option<String>,
    pub scim_enabled: Option<bool>,
    pub group_sync: Option<bool>,
    pub strict_attributes: Option<bool>,
    pub role_attribute: Option<String>,
    /// `Some(None)` clears the default role.
    pub default_role: Option<Option<String>>,
    pub required_attrs: Option<Vec<String>>,
    pub idp_initiated: Option<bool>,
    pub jit: Option<bool>,
    pub clock_skew_secs: Option<i64>,
}

const ORG_COLUMNS: &str = "id, slug, name, scim_enabled, group_sync, strict_attributes, \
                           role_attribute, default_role, required_attrs, created, \
                           idp_initiated, jit, clock_skew_secs";

fn org_from_row(r: &Row<'_>) -> crate::store::db::Result<Org> {
    org_at(r, 0)
}

/// An org from the row's columns `at..at+13`, in `ORG_COLUMNS` order.
fn org_at(r: &Row<'_>, at: usize) -> crate::store::db::Result<Org> {
    let required: String = r.get(at + 8)?;
    Ok(Org {
        id: r.get(at)?,
        slug: r.get(at + 1)?,
        name: r.get(at + 2)?,
        scim_enabled: r.get(at + 3)?,
        group_sync: r.get(at + 4)?,
        strict_attributes: r.get(at + 5)?,
        role_attribute: r.get(at + 6)?,
        default_role: r.get(at + 7)?,
        required_attrs: serde_json::from_str(&required).unwrap_or_default(),
        created: r.get(at + 9)?,
        idp_initiated: r.get(at + 10)?,
        jit: r.get(at + 11)?,
        clock_skew_secs: r.get(at + 12)?,
    })
}

pub fn create_org(
    conn: &Conn,
    slug: &str,
    name: &str,
    domains: &[String],
    now: &str,
) -> Result<Org> {
    let org_id: i64 = conn
        .query_row(
            "INSERT INTO orgs (slug, name, created) VALUES (?1, ?2, ?3) RETURNING id",
            params![slug, name, now],
            |r| r.get(0),
        )
        .map_err(|e| conflict_on_unique(e, format!("an org with slug {slug:?} already exists")))?;
    for d in domains {
        add_domain(conn, org_id, d)?;
    }
    org_by_id(conn, org_id)?.ok_or_else(|| Error::internal("org vanished after insert"))
}

pub fn add_domain(conn: &Conn, org_id: i64, domain: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO org_domains (domain, org_id) VALUES (?1, ?2)",
        params![domain, org_id],
    )
    .map_err(|e| {
        conflict_on_unique(
            e,
            format!("the domain {domain} already belongs to an org (a domain belongs to one org)"),
        )
    })?;
    Ok(())
}

pub fn org_by_id(conn: &Conn, id: i64) -> Result<Option<Org>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], org_from_row).optional()?)
}

pub fn org_by_slug(conn: &Conn, slug: &str) -> Result<Option<Org>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE slug = ?1");
    Ok(conn.query_row(&sql, [slug], org_from_row).optional()?)
}

/// The org, or a `NotFound` naming the slug.
pub fn require_org(conn: &Conn, slug: &str) -> Result<Org> {
    org_by_slug(conn, slug)?.ok_or_else(|| Error::NotFound(format!("no org with slug {slug:?}")))
}

pub fn list_orgs(conn: &Conn) -> Result<Vec<Org>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY slug");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], org_from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn domains(conn: &Conn, org_id: i64) -> Result<Vec<Domain>> {
    let mut stmt = conn.prepare_cached(
        "SELECT domain, sso_only FROM org_domains WHERE org_id = ?1 ORDER BY domain",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok(Domain {
            domain: r.get(0)?,
            sso_only: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn update_settings(conn: &Conn, org_id: i64, c: &SettingsChange) -> Result<()> {
    let required = c
        .required_attrs
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_else(|_| "[]".into()));
    conn.execute(
        "UPDATE orgs SET
            name = COALESCE(?2, name),
            scim_enabled = COALESCE(?3, scim_enabled),
            group_sync = COALESCE(?4, group_sync),
            strict_attributes = COALESCE(?5, strict_attributes),
            role_attribute = COALESCE(?6, role_attribute),
            default_role = CASE WHEN ?7 THEN ?8 ELSE default_role END,
            required_attrs = COALESCE(?9, required_attrs),
            idp_initiated = COALESCE(?10, idp_initiated),
            jit = COALESCE(?11, jit),
            clock_skew_secs = COALESCE(?12, clock_skew_secs)
         WHERE id = ?1",
        params![
            org_id,
            c.name,
            c.scim_enabled,
            c.group_sync,
            c.strict_attributes,
            c.role_attribute,
            c.default_role.is_some(),
            c.default_role.clone().flatten(),
            required,
            c.idp_initiated,
            c.jit,
            c.clock_skew_secs,
        ],
    )?;
    Ok(())
}

/// Removes a domain from an org; false when the org did not have it.
pub fn remove_domain(conn: &Conn, org_id: i64, domain: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM org_domains WHERE org_id = ?1 AND domain = ?2",
        params![org_id, domain],
    )? > 0)
}

/// Marks a domain of the org SSO-only (or not); false when the org does not have it.
pub fn set_sso_only(conn: &Conn, org_id: i64, domain: &str, on: bool) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE org_domains SET sso_only = ?3 WHERE org_id = ?1 AND domain = ?2",
        params![org_id, domain, on],
    )? > 0)
}

/// The org that owns `domain` (lowercased), with the domain's SSO-only flag.
pub fn org_by_domain(conn: &Conn, domain: &str) -> Result<Option<(Org, bool)>> {
    let found: Option<(i64, bool)> = conn
        .prepare_cached("SELECT org_id, sso_only FROM org_domains WHERE domain = ?1")?
        .query_row([domain], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((org_id, sso_only)) = found else {
        return Ok(None);
    };
    Ok(org_by_id(conn, org_id)?.map(|o| (o, sso_only)))
}

pub fn role_mappings(conn: &Conn, org_id: i64) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT idp_value, role FROM role_mappings WHERE org_id = ?1 ORDER BY idp_value",
    )?;
    let rows = stmt.query_map([org_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn set_role_mapping(conn: &Conn, org_id: i64, idp_value: &str, role: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO role_mappings (org_id, idp_value, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (org_id, idp_value) DO UPDATE SET role = excluded.role",
        params![org_id, idp_value, role],
    )?;
    Ok(())
}

pub fn remove_role_mapping(conn: &Conn, org_id: i64, idp_value: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM role_mappings WHERE org_id = ?1 AND idp_value = ?2",
        params![org_id, idp_value],
    )? > 0)
}

/// Recomputes the resolved role of every user of the org after a mapping or default change.
/// A user whose role a re-resolution changed, with its old values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChange {
    pub user_id: String,
    pub old_raw: Option<String>,
    pub old_role: Option<String>,
}

/// Re-resolves every user's role after the org's role settings or mapping changed; returns
/// the users whose raw or resolved role changed (only those are written).
pub fn reresolve_roles(conn: &Conn, org_id: i64) -> Result<Vec<RoleChange>> {
    let org = org_by_id(conn, org_id)?.ok_or_else(|| Error::internal("org vanished"))?;
    let maps = role_mappings(conn, org_id)?;
    let mut stmt = conn.prepare("SELECT id, data, role_raw, role FROM users WHERE org_id = ?1")?;
    type Row = (String, String, Option<String>, Option<String>);
    let users: Vec<Row> = stmt
        .query_map([org_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<crate::store::db::Result<_>>()?;
    let mut update = conn.prepare("UPDATE users SET role_raw = ?2, role = ?3 WHERE id = ?1")?;
    let mut changed = Vec::new();
    for (id, data, old_raw, old_role) in users {
        let doc: serde_json::Value = serde_json::from_str(&data).map_err(Error::internal)?;
        let raw = crate::identity::raw_role(&doc, &org.role_attribute);
        let role =
            crate::identity::resolve_role(raw.as_deref(), &maps, org.default_role.as_deref());
        if (&raw, &role) != (&old_raw, &old_role) {
            update.execute(params![id, raw, role])?;
            changed.push(RoleChange {
                user_id: id,
                old_raw,
                old_role,
            });
        }
    }
    Ok(changed)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
}

/// A token that authenticated a request.
#[derive(Debug, Clone)]
pub struct TokenMatch {
    pub token_id: i64,
    pub token_name: String,
    pub last_used: Option<String>,
    /// When it was revoked: such a token authenticates nothing, but its refusal belongs in
    /// its org's provisioning log.
    pub revoked: Option<String>,
    pub org: Org,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn create_token(conn: &Conn, org_id: i64, name: &str, token: &str, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO scim_tokens (org_id, name, hash, created) VALUES (?1, ?2, ?3, ?4)",
        params![org_id, name, hash_token(token).as_slice(), now],
    )
    .map_err(|e| {
        conflict_on_unique(
            e,
            format!("a token named {name:?} already exists in this org"),
        )
    })?;
    Ok(())
}

pub fn list_tokens(conn: &Conn, org_id: i64) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare(
        "SELECT name, created, last_used, revoked FROM scim_tokens WHERE org_id = ?1 ORDER BY created, name",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok(TokenInfo {
            name: r.get(0)?,
            created: r.get(1)?,
            last_used: r.get(2)?,
            revoked: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Revokes the live token named `name`; false when there is none.
pub fn revoke_token(conn: &Conn, org_id: i64, name: &str, now: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE scim_tokens SET revoked = ?3 WHERE org_id = ?1 AND name = ?2 AND revoked IS NULL",
        params![org_id, name, now],
    )? > 0)
}

/// Finds the token whose SHA-256 matches (live or revoked), with its org, in one query; the
/// stored hash is compared in constant time.
pub fn find_token(conn: &Conn, token: &str) -> Result<Option<TokenMatch>> {
    let hash = hash_token(token);
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.name, t.last_used, t.hash, t.revoked, o.id, o.slug, o.name,
                o.scim_enabled, o.group_sync, o.strict_attributes, o.role_attribute,
                o.default_role, o.required_attrs, o.created, o.idp_initiated, o.jit,
                o.clock_skew_secs
         FROM scim_tokens t JOIN orgs o ON o.id = t.org_id
         WHERE t.hash = ?1",
    )?;
    let found = stmt
        .query_row([hash.as_slice()], |r| {
            Ok((
                TokenMatch {
                    token_id: r.get(0)?,
                    token_name: r.get(1)?,
                    last_used: r.get(2)?,
                    revoked: r.get(4)?,
                    org: org_at(r, 5)?,
                },
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    Ok(found
        .and_then(|(m, stored)| bool::from(stored.as_slice().ct_eq(hash.as_slice())).then_some(m)))
}

pub fn touch_token(conn: &Conn, token_id: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE scim_tokens SET last_used = ?2 WHERE id = ?1",
        params![token_id, now],
    )?;
    Ok(())
}

/// An audit row without an origin (the command line, SCIM, SAML); the admin UI writes its
/// rows with `admin::audit`, which records the address too.
pub fn audit(
    conn: &Conn,
    org_id: Option<i64>,
    now: &str,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    super::admin::audit(
        conn,
        &super::admin::AuditEntry {
            org_id,
            at: now.to_string(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.map(str::to_string),
            detail: detail.map(str::to_string),
            ip: None,
        },
    )
}

//! Product API keys (`api_keys`): SHA-256 at rest, looked up by hash.

use crate::store::db::{Conn, OptionalExtension, Row, params};

use super::conflict_on_unique;
use super::orgs::hash_token;
use crate::error::Result;

/// A key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    /// The orgs the key may see; `None`: every org.
    pub org_ids: Option<Vec<i64>>,
    pub created: String,
    pub expires: Option<String>,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
}

fn from_row(r: &Row<'_>) -> crate::store::db::Result<ApiKey> {
    let scopes: String = r.get(2)?;
    let orgs: Option<String> = r.get(3)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        org_ids: orgs.map(|o| o.split(',').filter_map(|i| i.parse().ok()).collect()),
        created: r.get(4)?,
        expires: r.get(5)?,
        last_used: r.get(6)?,
        revoked: r.get(7)?,
    })
}

const COLUMNS: &str = "id, name, scopes, org_ids, created, expires, last_used, revoked";

pub struct NewKey<'a> {
    pub name: &'a str,
    pub key: &'a str,
    pub scopes: &'a [String],
    pub org_ids: Option<&'a [i64]>,
    pub created: &'a str,
    pub expires: Option<&'a str>,
}

pub fn create(conn: &Conn, k: &NewKey<'_>) -> Result<()> {
    let orgs = k
        .org_ids
        .map(|ids| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    conn.execute(
        "INSERT INTO api_keys (name, key_hash, scopes, org_ids, created, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            k.name,
            hash_token(k.key).as_slice(),
            k.scopes.join(","),
            orgs,
            k.created,
            k.expires
        ],
    )
    .map_err(|e| conflict_on_unique(e, format!("an API key named {:?} already exists", k.name)))?;
    Ok(())
}

/// The key with this secret, live or not (the caller checks revocation and expiry).
pub fn find(conn: &Conn, key: &str) -> Result<Option<ApiKey>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1"
        ))?
        .query_row([hash_token(key).as_slice()], from_row)
        .optional()?)
}

pub fn list(conn: &Conn) -> Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Revokes a live key by name; false when there is none.
pub fn revoke(conn: &Conn, name: &str, now: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL",
        params![name, now],
    )? > 0)
}

pub fn touch(conn: &Conn, id: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE api_keys SET last_used = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

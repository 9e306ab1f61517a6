//! Credentials that are not SCIM tokens: local passwords and OAuth clients.

use crate::store::db::{Conn, OptionalExtension, params};
use subtle::ConstantTimeEq;

use super::conflict_on_unique;
use super::orgs::{self, Org};
use crate::error::Result;

pub fn set_password(conn: &Conn, user_id: &str, hash: &str, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO local_passwords (user_id, hash, updated) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated = excluded.updated",
        params![user_id, hash, now],
    )?;
    Ok(())
}

pub fn password_hash(conn: &Conn, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT hash FROM local_passwords WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// An OAuth client as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
}

pub fn create_client(
    conn: &Conn,
    org_id: i64,
    name: &str,
    client_id: &str,
    secret: &str,
    now: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_clients (client_id, org_id, name, secret_hash, created)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            client_id,
            org_id,
            name,
            orgs::hash_token(secret).as_slice(),
            now
        ],
    )
    .map_err(|e| {
        conflict_on_unique(
            e,
            format!("an OAuth client named {name:?} already exists in this org"),
        )
    })?;
    Ok(())
}

pub fn list_clients(conn: &Conn, org_id: i64) -> Result<Vec<ClientInfo>> {
    let mut stmt = conn.prepare(
        "SELECT client_id, name, created, last_used, revoked FROM oauth_clients
         WHERE org_id = ?1 ORDER BY created, name",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok(ClientInfo {
            client_id: r.get(0)?,
            name: r.get(1)?,
            created: r.get(2)?,
            last_used: r.get(3)?,
            revoked: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Revokes the live client named `name`; false when there is none.
pub fn revoke_client(conn: &Conn, org_id: i64, name: &str, now: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE oauth_clients SET revoked = ?3 WHERE org_id = ?1 AND name = ?2 AND revoked IS NULL",
        params![org_id, name, now],
    )? > 0)
}

/// The live client whose id and secret match (secret hash compared in constant time),
/// with its org and name.
pub fn authenticate_client(
    conn: &Conn,
    client_id: &str,
    secret: &str,
) -> Result<Option<(Org, String)>> {
    let row: Option<(i64, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT org_id, name, secret_hash FROM oauth_clients
             WHERE client_id = ?1 AND revoked IS NULL",
        )?
        .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let hash = orgs::hash_token(secret);
    let Some((org_id, name, stored)) = row else {
        return Ok(None);
    };
    if !bool::from(stored.as_slice().ct_eq(hash.as_slice())) {
        return Ok(None);
    }
    Ok(orgs::org_by_id(conn, org_id)?.map(|o| (o, name)))
}

/// The org and name of a live client (for access tokens it issued), or None if revoked.
pub fn live_client(conn: &Conn, client_id: &str) -> Result<Option<(Org, String)>> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT org_id, name FROM oauth_clients WHERE client_id = ?1 AND revoked IS NULL",
        )?
        .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((org_id, name)) => Ok(orgs::org_by_id(conn, org_id)?.map(|o| (o, name))),
        None => Ok(None),
    }
}

pub fn touch_client(conn: &Conn, client_id: &str, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE oauth_clients SET last_used = ?2 WHERE client_id = ?1",
        params![client_id, now],
    )?;
    Ok(())
}

//! Session signing keys and server-side sessions.

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// A session signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub private_pem: String,
    pub created: String,
    pub retired: Option<String>,
}

/// Every key, newest first.
/// Makes instances starting together on one PostgreSQL store create the first signing key
/// one after the other (the second then finds it): an advisory lock held to the end of the
/// transaction. SQLite's write transactions are serialized already.
pub fn lock_key_creation(conn: &Conn) -> Result<()> {
    if conn.is_pg() {
        conn.query_row(
            "SELECT pg_advisory_xact_lock(?1)::TEXT",
            [super::migrate::MIGRATION_LOCK],
            |_| Ok(()),
        )?;
    }
    Ok(())
}

pub fn keys(conn: &Conn) -> Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kid, private_pem, created, retired FROM signing_keys ORDER BY created DESC, kid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(KeyRow {
            kid: r.get(0)?,
            private_pem: r.get(1)?,
            created: r.get(2)?,
            retired: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Adds a key that signs from now on, retiring the others (they keep verifying).
pub fn rotate(conn: &Conn, key: &KeyRow) -> Result<()> {
    conn.execute(
        "UPDATE signing_keys SET retired = ?1 WHERE retired IS NULL",
        [&key.created],
    )?;
    conn.execute(
        "INSERT INTO signing_keys (kid, private_pem, created) VALUES (?1, ?2, ?3)",
        params![key.kid, key.private_pem, key.created],
    )?;
    Ok(())
}

/// Drops keys retired before `before` (every token they signed has expired).
pub fn drop_retired(conn: &Conn, before: &str) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?1",
        [before],
    )?)
}

/// A server-side session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub org_id: i64,
    pub user_id: String,
    pub created: String,
    pub expires: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn insert(conn: &Conn, s: &SessionRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, org_id, user_id, created, expires, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        s.id,
        s.org_id,
        s.user_id,
        s.created,
        s.expires,
        s.ip,
        s.user_agent
    ])?;
    Ok(())
}

/// Whether session `id` of `user_id` may still be used at `now`: not revoked, not expired,
/// and its user still exists and is active.
pub fn is_live(conn: &Conn, id: &str, user_id: &str, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.user_id = ?2 AND s.revoked IS NULL AND s.expires > ?3
               AND u.active = 1",
        )?
        .query_row(params![id, user_id, now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Ends one session; the user it belonged to, if it was live.
pub fn revoke(conn: &Conn, id: &str, now: &str) -> Result<Option<String>> {
    announce(conn, &format!("session:{id}"))?;
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL RETURNING user_id",
        )?
        .query_row(params![id, now], |r| r.get(0))
        .optional()?)
}

/// On PostgreSQL, tells every instance (when this transaction commits) to drop what it
/// remembers of a session (`session:ID`) or of a user's sessions (`user:ID`): a revocation
/// through one instance is refused by all of them at once, not after their caches expire.
/// One process on SQLite forgets by itself.
fn announce(conn: &Conn, what: &str) -> Result<()> {
    if conn.is_pg() {
        conn.query_row(
            "SELECT pg_notify(?1, ?2)::TEXT",
            params![super::pg::CHANGES_CHANNEL, what],
            |_| Ok(()),
        )?;
    }
    Ok(())
}

/// Ends every live session of a user; how many.
pub fn revoke_user(conn: &Conn, user_id: &str, now: &str) -> Result<usize> {
    announce(conn, &format!("user:{user_id}"))?;
    Ok(conn
        .prepare_cached("UPDATE sessions SET revoked = ?2 WHERE user_id = ?1 AND revoked IS NULL")?
        .execute(params![user_id, now])?)
}

/// Drops sessions that expired before `before`.
pub fn prune(conn: &Conn, before: &str) -> Result<usize> {
    Ok(conn.execute("DELETE FROM sessions WHERE expires < ?1", [before])?)
}

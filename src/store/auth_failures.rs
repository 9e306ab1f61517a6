//! Failed password attempts, shared by every instance of a PostgreSQL store (the rate
//! limiter in `signin::ratelimit` keeps them in memory on SQLite).

use crate::error::Result;
use crate::store::db::{Conn, params};

/// The failures recorded under `keys` after `since`, oldest first: (key, at).
pub fn recent(c: &Conn, keys: &[String; 2], since: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(
        "SELECT key, at FROM auth_failures WHERE key IN (?1, ?2) AND at > ?3 ORDER BY at",
    )?;
    let rows = stmt.query_map(params![keys[0], keys[1], since], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

pub fn record(c: &Conn, keys: &[String; 2], at: &str) -> Result<()> {
    let mut stmt = c.prepare_cached("INSERT INTO auth_failures (key, at) VALUES (?1, ?2)")?;
    for k in keys {
        stmt.execute(params![k, at])?;
    }
    Ok(())
}

pub fn clear(c: &Conn, key: &str) -> Result<()> {
    c.execute("DELETE FROM auth_failures WHERE key = ?1", [key])?;
    Ok(())
}

pub fn prune(c: &Conn, before: &str) -> Result<usize> {
    Ok(c.execute("DELETE FROM auth_failures WHERE at < ?1", [before])?)
}

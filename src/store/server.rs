//! What a running server records about itself (`server_settings`).

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// A setting's value and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub updated: String,
}

pub fn set(c: &Conn, key: &str, value: &str, now: &str) -> Result<()> {
    c.execute(
        "INSERT INTO server_settings (key, value, updated) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        params![key, value, now],
    )?;
    Ok(())
}

pub fn get(c: &Conn, key: &str) -> Result<Option<Setting>> {
    Ok(c.query_row(
        "SELECT value, updated FROM server_settings WHERE key = ?1",
        params![key],
        |r| {
            Ok(Setting {
                value: r.get(0)?,
                updated: r.get(1)?,
            })
        },
    )
    .optional()?)
}

/// Claims the periodic job `name` for this run when nobody ran it in the last
/// `every_secs` (`now_unix` is the caller's clock): with several instances on one
/// PostgreSQL store, exactly one of them runs it per period. The claim is serialized by an
/// advisory lock held to the end of the transaction, so run the job in the same write.
pub fn claim_job(c: &Conn, name: &str, now_unix: i64, every_secs: i64, now: &str) -> Result<bool> {
    if c.is_pg() {
        c.query_row(
            "SELECT pg_advisory_xact_lock(hashtext(?1))::TEXT",
            [name],
            |_| Ok(()),
        )?;
    }
    let key = format!("job:{name}");
    let last = get(c, &key)?.and_then(|s| s.value.parse::<i64>().ok());
    if last.is_some_and(|t| now_unix - t < every_secs && t <= now_unix) {
        return Ok(false);
    }
    set(c, &key, &now_unix.to_string(), now)?;
    Ok(true)
}

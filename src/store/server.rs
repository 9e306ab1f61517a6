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

//! Embedded, numbered migrations, applied in order, one transaction each. The schema
//! version lives in `PRAGMA user_version`; a database newer than this binary is refused.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// (version, name, SQL), in order. Never edit a migration once it has landed.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (2, "saml", include_str!("../../migrations/0002_saml.sql")),
    (
        3,
        "signin",
        include_str!("../../migrations/0003_signin.sql"),
    ),
    (4, "admin", include_str!("../../migrations/0004_admin.sql")),
    (
        5,
        "server",
        include_str!("../../migrations/0005_server.sql"),
    ),
    (
        6,
        "events",
        include_str!("../../migrations/0006_events.sql"),
    ),
    (
        7,
        "api_keys",
        include_str!("../../migrations/0007_api_keys.sql"),
    ),
    (
        8,
        "webhooks",
        include_str!("../../migrations/0008_webhooks.sql"),
    ),
    (9, "oidc", include_str!("../../migrations/0009_oidc.sql")),
    (
        10,
        "saml_attributes",
        include_str!("../../migrations/0010_saml_attributes.sql"),
    ),
    (
        11,
        "metadata_url",
        include_str!("../../migrations/0011_metadata_url.sql"),
    ),
    (
        12,
        "sp_keys",
        include_str!("../../migrations/0012_sp_keys.sql"),
    ),
    (
        13,
        "log_search",
        include_str!("../../migrations/0013_log_search.sql"),
    ),
    (
        14,
        "saml_slo",
        include_str!("../../migrations/0014_saml_slo.sql"),
    ),
];

pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies every migration newer than the database. Returns how many were applied.
pub fn migrate(conn: &mut Connection) -> Result<usize> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST_VERSION {
        return Err(Error::Invalid(format!(
            "the database is at schema version {current}, newer than this binary \
             (which knows up to {LATEST_VERSION}); run a newer idgate or restore a backup"
        )));
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|e| Error::internal(format!("migration {version} ({name}) failed: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer than this binary"), "{err}");
    }
}

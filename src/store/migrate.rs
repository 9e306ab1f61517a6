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
    (
        15,
        "auth_failures",
        include_str!("../../migrations/0015_auth_failures.sql"),
    ),
    (
        16,
        "log_targets",
        include_str!("../../migrations/0016_log_targets.sql"),
    ),
];

pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The same migrations for PostgreSQL (`migrations/postgres/`, `scripts/pg-schema-check.sh`
/// compares the two schemas): same numbers, same names.
const PG_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "saml",
        include_str!("../../migrations/postgres/0002_saml.sql"),
    ),
    (
        3,
        "signin",
        include_str!("../../migrations/postgres/0003_signin.sql"),
    ),
    (
        4,
        "admin",
        include_str!("../../migrations/postgres/0004_admin.sql"),
    ),
    (
        5,
        "server",
        include_str!("../../migrations/postgres/0005_server.sql"),
    ),
    (
        6,
        "events",
        include_str!("../../migrations/postgres/0006_events.sql"),
    ),
    (
        7,
        "api_keys",
        include_str!("../../migrations/postgres/0007_api_keys.sql"),
    ),
    (
        8,
        "webhooks",
        include_str!("../../migrations/postgres/0008_webhooks.sql"),
    ),
    (
        9,
        "oidc",
        include_str!("../../migrations/postgres/0009_oidc.sql"),
    ),
    (
        10,
        "saml_attributes",
        include_str!("../../migrations/postgres/0010_saml_attributes.sql"),
    ),
    (
        11,
        "metadata_url",
        include_str!("../../migrations/postgres/0011_metadata_url.sql"),
    ),
    (
        12,
        "sp_keys",
        include_str!("../../migrations/postgres/0012_sp_keys.sql"),
    ),
    (
        13,
        "log_search",
        include_str!("../../migrations/postgres/0013_log_search.sql"),
    ),
    (
        14,
        "saml_slo",
        include_str!("../../migrations/postgres/0014_saml_slo.sql"),
    ),
    (
        15,
        "auth_failures",
        include_str!("../../migrations/postgres/0015_auth_failures.sql"),
    ),
    (
        16,
        "log_targets",
        include_str!("../../migrations/postgres/0016_log_targets.sql"),
    ),
];

const _: () = assert!(PG_MIGRATIONS.len() == MIGRATIONS.len());

/// The advisory lock under which instances starting together migrate (and create the
/// first signing key) one after the other: an arbitrary constant ("idgate" + 1).
pub const MIGRATION_LOCK: i64 = 0x6964_6761_7465_0001;

/// Applies every PostgreSQL migration newer than the database, under an advisory lock:
/// three instances starting at once on an empty database end with one schema. Versions
/// live in `idgate_schema`.
pub fn migrate_pg(client: &mut postgres::Client) -> Result<usize> {
    use crate::store::db;
    let pg = |e: postgres::Error| Error::from(db::Error::from(e));
    // No NOTICE for the version table that already exists, at every start.
    client
        .batch_execute("SET client_min_messages TO warning")
        .map_err(pg)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    let outcome = (|| -> Result<usize> {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS idgate_schema (
                     version BIGINT PRIMARY KEY,
                     name    TEXT NOT NULL,
                     applied TIMESTAMPTZ NOT NULL DEFAULT now()
                 )",
            )
            .map_err(pg)?;
        let current: i64 = client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM idgate_schema", &[])
            .map_err(pg)?
            .get(0);
        not_newer_than_binary(current)?;
        let mut applied = 0;
        for (version, name, sql) in PG_MIGRATIONS.iter().filter(|m| m.0 > current) {
            let mut tx = client.transaction().map_err(pg)?;
            tx.batch_execute(sql).map_err(|e| {
                Error::internal(format!(
                    "migration {version} ({name}) failed: {}",
                    db::Error::from(e)
                ))
            })?;
            tx.execute(
                "INSERT INTO idgate_schema (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .map_err(pg)?;
            tx.commit().map_err(pg)?;
            tracing::info!(version, name, "applied migration");
            applied += 1;
        }
        Ok(applied)
    })();
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    outcome
}

/// A database migrated by a newer idgate is refused, on either engine.
fn not_newer_than_binary(current: i64) -> Result<()> {
    if current > LATEST_VERSION {
        return Err(Error::Invalid(format!(
            "the database is at schema version {current}, newer than this binary \
             (which knows up to {LATEST_VERSION}); run a newer idgate or restore a backup"
        )));
    }
    Ok(())
}

/// Applies every migration newer than the database. Returns how many were applied.
pub fn migrate(conn: &mut Connection) -> Result<usize> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    not_newer_than_binary(current)?;
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

    /// Migration 16 on a store with a provisioning log: the names its rows gave each target
    /// are kept (`scim_targets`), so a search by name still finds them by id.
    #[test]
    fn the_log_targets_migration_keeps_old_rows_searchable() {
        use crate::store::log_pages::{Cursor, RequestSearch, requests};
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, _, sql) in MIGRATIONS.iter().filter(|m| m.0 < 16) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO orgs (id, slug, name, created) VALUES (1, 'acme', 'Acme', 'x');
             INSERT INTO scim_requests (org_id, at, request_id, method, path, status,
                 duration_us, target_id, target_name, target_external) VALUES
               (1, 't', 'r1', 'POST', '/Users', 201, 1, 'u1', 'Ann@x', 'e1'),
               (1, 't', 'r2', 'PATCH', '/Users/u1', 200, 1, 'u1', 'ann@x', 'e1'),
               (1, 't', 'r3', 'GET', '/Users', 200, 1, NULL, 'ann@X', NULL),
               (1, 't', 'r4', 'DELETE', '/Users/u2', 204, 1, 'u2', NULL, NULL);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len() - 15);
        let targets: i64 = conn
            .query_row("SELECT COUNT(*) FROM scim_targets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            targets, 2,
            "u1 with each spelling of its name; u2 named nothing"
        );
        let c = crate::store::db::Conn::Sqlite(&conn);
        let find = |user: &str| {
            let s = RequestSearch {
                user: Some(user.into()),
                ..RequestSearch::default()
            };
            let rows = requests(&c, 1, &s, Cursor::Newest, 10).unwrap();
            rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
        };
        assert_eq!(find("ANN@x"), vec![3, 2, 1]);
        assert_eq!(find("e1"), vec![2, 1]);
        assert_eq!(find("u2"), vec![4]);
    }
}

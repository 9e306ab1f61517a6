//! The IdP metadata URL of an org (Entra's App Federation Metadata URL), the schedule of its
//! refreshes and the outcome of the last one; and the certificate expiry dates that the
//! metrics and the daily warning read.

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// An org's metadata URL as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataUrl {
    pub org_id: i64,
    pub url: String,
    pub next_refresh: String,
    pub last_at: Option<String>,
    pub last_ok: Option<bool>,
    pub last_result: Option<String>,
}

/// The org's metadata URL, if it has one.
pub fn get(conn: &Conn, org_id: i64) -> Result<Option<MetadataUrl>> {
    Ok(conn
        .prepare_cached(
            "SELECT org_id, url, next_refresh, last_at, last_ok, last_result
             FROM idp_metadata_urls WHERE org_id = ?1",
        )?
        .query_row([org_id], |r| {
            Ok(MetadataUrl {
                org_id: r.get(0)?,
                url: r.get(1)?,
                next_refresh: r.get(2)?,
                last_at: r.get(3)?,
                last_ok: r.get(4)?,
                last_result: r.get(5)?,
            })
        })
        .optional()?)
}

/// Sets (or replaces) the org's URL; the last outcome is recorded next with `record`.
pub fn set(conn: &Conn, org_id: i64, url: &str, next_refresh: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO idp_metadata_urls (org_id, url, next_refresh) VALUES (?1, ?2, ?3)
         ON CONFLICT (org_id) DO UPDATE SET url = excluded.url,
             next_refresh = excluded.next_refresh",
        params![org_id, url, next_refresh],
    )?;
    Ok(())
}

/// The outcome of a fetch, and when the next one is due.
pub fn record(
    conn: &Conn,
    org_id: i64,
    at: &str,
    ok: bool,
    result: &str,
    next_refresh: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE idp_metadata_urls SET last_at = ?2, last_ok = ?3, last_result = ?4,
             next_refresh = ?5 WHERE org_id = ?1",
        params![org_id, at, ok, result, next_refresh],
    )?;
    Ok(())
}

/// Stops refreshing the org's metadata (the configuration stays). Whether there was a URL.
pub fn remove(conn: &Conn, org_id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM idp_metadata_urls WHERE org_id = ?1", [org_id])? > 0)
}

/// Every URL whose refresh is due at `now`: (org id, org slug, URL).
pub fn due(conn: &Conn, now: &str) -> Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.org_id, o.slug, m.url FROM idp_metadata_urls m JOIN orgs o ON o.id = m.org_id
         WHERE m.next_refresh <= ?1 ORDER BY m.next_refresh",
    )?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// Takes a due refresh for this process: moves `next_refresh` to `next` if it is still due
/// at `now` and the URL is still `url`. False when someone else took it (or it changed).
pub fn claim(conn: &Conn, org_id: i64, url: &str, now: &str, next: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE idp_metadata_urls SET next_refresh = ?4
         WHERE org_id = ?1 AND url = ?2 AND next_refresh <= ?3",
        params![org_id, url, now, next],
    )? == 1)
}

/// The earliest `not_after` of each org's IdP signing certificates: (org slug, timestamp).
pub fn earliest_expiries(conn: &Conn) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.slug, MIN(c.not_after) FROM idp_certificates c JOIN orgs o ON o.id = c.org_id
         GROUP BY o.slug ORDER BY o.slug",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

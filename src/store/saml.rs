//! The IdP configuration of each org: entity ID, SSO URL and every signing certificate.

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// One signing certificate as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRecord {
    pub fingerprint: String,
    pub der: Vec<u8>,
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
}

/// An org's identity provider as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpRecord {
    pub entity_id: String,
    pub sso_url: String,
    /// `Location` of the HTTP-Redirect `SingleLogoutService`, when the metadata has one.
    pub slo_url: Option<String>,
    /// `metadata` (uploaded Federation Metadata XML) or `manual` (hand entry).
    pub source: String,
    pub updated: String,
    pub certificates: Vec<CertRecord>,
}

/// Replaces the org's IdP configuration as a whole (call inside one transaction). Any other
/// source than a metadata URL (an upload, hand entry) also stops that URL's refreshes.
pub fn set_idp(conn: &Conn, org_id: i64, idp: &IdpRecord) -> Result<()> {
    if idp.source != "metadata_url" {
        super::metadata_url::remove(conn, org_id)?;
    }
    conn.execute(
        "INSERT INTO idp_configs (org_id, entity_id, sso_url, source, updated, slo_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (org_id) DO UPDATE SET entity_id = excluded.entity_id,
             sso_url = excluded.sso_url, source = excluded.source, updated = excluded.updated,
             slo_url = excluded.slo_url",
        params![
            org_id,
            idp.entity_id,
            idp.sso_url,
            idp.source,
            idp.updated,
            idp.slo_url
        ],
    )?;
    conn.execute("DELETE FROM idp_certificates WHERE org_id = ?1", [org_id])?;
    let mut ins = conn.prepare_cached(
        "INSERT INTO idp_certificates (org_id, fingerprint, der, subject, not_before, not_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?;
    for c in &idp.certificates {
        ins.execute(params![
            org_id,
            c.fingerprint,
            c.der,
            c.subject,
            c.not_before,
            c.not_after
        ])?;
    }
    Ok(())
}

/// The org's IdP, if one is configured.
pub fn idp(conn: &Conn, org_id: i64) -> Result<Option<IdpRecord>> {
    type Head = (String, String, String, String, Option<String>);
    let head: Option<Head> = conn
        .prepare_cached(
            "SELECT entity_id, sso_url, source, updated, slo_url FROM idp_configs
             WHERE org_id = ?1",
        )?
        .query_row([org_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((entity_id, sso_url, source, updated, slo_url)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint, der, subject, not_before, not_after FROM idp_certificates
         WHERE org_id = ?1 ORDER BY not_after DESC",
    )?;
    let certificates = stmt
        .query_map([org_id], |r| {
            Ok(CertRecord {
                fingerprint: r.get(0)?,
                der: r.get(1)?,
                subject: r.get(2)?,
                not_before: r.get(3)?,
                not_after: r.get(4)?,
            })
        })?
        .collect::<crate::store::db::Result<_>>()?;
    Ok(Some(IdpRecord {
        entity_id,
        sso_url,
        slo_url,
        source,
        updated,
        certificates,
    }))
}

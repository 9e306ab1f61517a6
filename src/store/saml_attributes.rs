//! Which SAML attributes an org reads for the email, names and role (issue 11, "any SAML 2.0
//! IdP"). A missing row or a NULL column means "the defaults" (`saml::attributes`).

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// An org's choice of attribute per field; `None` = read the default names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeMap {
    /// An attribute name, or `NameID` for the subject's NameID whatever its format.
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<String>,
}

impl AttributeMap {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// The org's mapping (all defaults when none was ever set).
pub fn get(conn: &Conn, org_id: i64) -> Result<AttributeMap> {
    let found = conn
        .prepare_cached(
            "SELECT email, given_name, surname, display_name, role
             FROM saml_attribute_maps WHERE org_id = ?1",
        )?
        .query_row([org_id], |r| {
            Ok(AttributeMap {
                email: r.get(0)?,
                given_name: r.get(1)?,
                surname: r.get(2)?,
                display_name: r.get(3)?,
                role: r.get(4)?,
            })
        })
        .optional()?;
    Ok(found.unwrap_or_default())
}

/// Replaces the org's mapping as a whole; all defaults removes the row.
pub fn set(conn: &Conn, org_id: i64, map: &AttributeMap, now: &str) -> Result<()> {
    if map.is_default() {
        conn.execute(
            "DELETE FROM saml_attribute_maps WHERE org_id = ?1",
            [org_id],
        )?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO saml_attribute_maps
             (org_id, email, given_name, surname, display_name, role, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (org_id) DO UPDATE SET email = excluded.email,
             given_name = excluded.given_name, surname = excluded.surname,
             display_name = excluded.display_name, role = excluded.role,
             updated = excluded.updated",
        params![
            org_id,
            map.email,
            map.given_name,
            map.surname,
            map.display_name,
            map.role,
            now
        ],
    )?;
    Ok(())
}

//! SAML single logout: the LogoutRequests we sent (single use, until they expire) and the
//! SAML sessions an IdP's LogoutRequest names.

use crate::store::db::{Conn, OptionalExtension, params};

use crate::error::Result;

/// What the IdP said about a SAML session, to end it later at the IdP or on its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSession {
    pub org_id: i64,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
}

/// The SAML facts of a live session, if it came from a SAML sign-in.
pub fn saml_session(conn: &Conn, sid: &str) -> Result<Option<SamlSession>> {
    Ok(conn
        .prepare_cached(
            "SELECT org_id, saml_name_id, saml_name_id_format, saml_session_index FROM sessions
             WHERE id = ?1 AND saml_name_id IS NOT NULL",
        )?
        .query_row([sid], |r| {
            Ok(SamlSession {
                org_id: r.get(0)?,
                name_id: r.get(1)?,
                name_id_format: r.get(2)?,
                session_index: r.get(3)?,
            })
        })
        .optional()?)
}

/// Records the SAML facts of a session just inserted.
pub fn set_saml_session(
    conn: &Conn,
    sid: &str,
    name_id: &str,
    format: Option<&str>,
    session_index: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET saml_name_id = ?2, saml_name_id_format = ?3, saml_session_index = ?4
         WHERE id = ?1",
    )?
    .execute(params![sid, name_id, format, session_index])?;
    Ok(())
}

/// Ends every live session of `org_id` with this NameID (and, when given, this
/// SessionIndex); the ids of the sessions ended.
pub fn revoke_by_name_id(
    conn: &Conn,
    org_id: i64,
    name_id: &str,
    session_index: Option<&str>,
    now: &str,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE sessions SET revoked = ?4
         WHERE org_id = ?1 AND saml_name_id = ?2 AND revoked IS NULL
           AND (CAST(?3 AS TEXT) IS NULL OR saml_session_index = ?3)
         RETURNING id",
    )?;
    let ids = stmt
        .query_map(params![org_id, name_id, session_index, now], |r| r.get(0))?
        .collect::<crate::store::db::Result<_>>()?;
    Ok(ids)
}

/// Remembers a LogoutRequest we sent.
pub fn insert_request(
    conn: &Conn,
    id: &str,
    org_id: i64,
    created: &str,
    expires: &str,
) -> Result<()> {
    conn.execute(
        "DELETE FROM saml_logout_requests WHERE expires < ?1",
        [created],
    )?;
    conn.prepare_cached(
        "INSERT INTO saml_logout_requests (id, org_id, created, expires) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, org_id, created, expires])?;
    Ok(())
}

/// Uses up a LogoutRequest of `org_id` that has not expired: whether there was one.
pub fn consume_request(conn: &Conn, org_id: i64, id: &str, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM saml_logout_requests WHERE id = ?1 AND org_id = ?2 AND expires > ?3",
        )?
        .execute(params![id, org_id, now])?
        > 0)
}

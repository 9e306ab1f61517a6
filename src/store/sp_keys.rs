//! The SAML SP key pairs idgate generates per org (signing AuthnRequests, decrypting
//! assertions) and the org's switches for them. Private keys arrive and leave sealed.

use crate::store::db::{Conn, OptionalExtension, Row, params};

use crate::error::Result;

/// What an SP key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUse {
    Signing,
    Encryption,
}

impl KeyUse {
    pub const ALL: [KeyUse; 2] = [KeyUse::Signing, KeyUse::Encryption];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Encryption => "encryption",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signing" => Some(Self::Signing),
            "encryption" => Some(Self::Encryption),
            _ => None,
        }
    }
}

/// One key pair as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SpKey {
    pub id: i64,
    pub key_use: KeyUse,
    pub fingerprint: String,
    pub certificate_der: Vec<u8>,
    pub sealed_key: Vec<u8>,
    pub not_before: String,
    pub not_after: String,
    pub created: String,
    /// `None` for the current key of its use; else the end of its grace period.
    pub retire_after: Option<String>,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("id", &self.id)
            .field("key_use", &self.key_use)
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &self.not_after)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

/// The org's switches (both off until set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpOptions {
    pub sign_requests: bool,
    pub encrypt_assertions: bool,
}

pub fn options(conn: &Conn, org_id: i64) -> Result<SpOptions> {
    Ok(conn
        .prepare_cached(
            "SELECT sign_requests, encrypt_assertions FROM saml_sp_options WHERE org_id = ?1",
        )?
        .query_row([org_id], |r| {
            Ok(SpOptions {
                sign_requests: r.get(0)?,
                encrypt_assertions: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Changes the switches given; `None` leaves one as it is.
pub fn set_options(
    conn: &Conn,
    org_id: i64,
    sign_requests: Option<bool>,
    encrypt_assertions: Option<bool>,
) -> Result<SpOptions> {
    let old = options(conn, org_id)?;
    let new = SpOptions {
        sign_requests: sign_requests.unwrap_or(old.sign_requests),
        encrypt_assertions: encrypt_assertions.unwrap_or(old.encrypt_assertions),
    };
    conn.execute(
        "INSERT INTO saml_sp_options (org_id, sign_requests, encrypt_assertions)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (org_id) DO UPDATE SET sign_requests = excluded.sign_requests,
             encrypt_assertions = excluded.encrypt_assertions",
        params![org_id, new.sign_requests, new.encrypt_assertions],
    )?;
    Ok(new)
}

const COLUMNS: &str = "id, key_use, fingerprint, certificate, sealed_key, not_before, not_after, \
                       created, retire_after";

fn key_from_row(r: &Row<'_>) -> crate::store::db::Result<SpKey> {
    let key_use: String = r.get(1)?;
    Ok(SpKey {
        id: r.get(0)?,
        key_use: KeyUse::parse(&key_use).unwrap_or(KeyUse::Signing),
        fingerprint: r.get(2)?,
        certificate_der: r.get(3)?,
        sealed_key: r.get(4)?,
        not_before: r.get(5)?,
        not_after: r.get(6)?,
        created: r.get(7)?,
        retire_after: r.get(8)?,
    })
}

/// The keys of one use still live at `now`: the current one first, then those in their
/// grace period, newest first.
pub fn live_keys(conn: &Conn, org_id: i64, key_use: KeyUse, now: &str) -> Result<Vec<SpKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM saml_sp_keys
         WHERE org_id = ?1 AND key_use = ?2 AND (retire_after IS NULL OR retire_after > ?3)
         ORDER BY retire_after IS NOT NULL, id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![org_id, key_use.as_str(), now], key_from_row)?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// The current key of one use, if the org has one.
pub fn current_key(conn: &Conn, org_id: i64, key_use: KeyUse) -> Result<Option<SpKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM saml_sp_keys
         WHERE org_id = ?1 AND key_use = ?2 AND retire_after IS NULL ORDER BY id DESC LIMIT 1"
    );
    Ok(conn
        .query_row(&sql, params![org_id, key_use.as_str()], key_from_row)
        .optional()?)
}

/// The key with this id, of this org.
pub fn key_by_id(conn: &Conn, org_id: i64, id: i64) -> Result<Option<SpKey>> {
    let sql = format!("SELECT {COLUMNS} FROM saml_sp_keys WHERE org_id = ?1 AND id = ?2");
    Ok(conn
        .query_row(&sql, params![org_id, id], key_from_row)
        .optional()?)
}

/// A new key to add (`sealed_key` already sealed).
pub struct NewKey {
    pub key_use: KeyUse,
    pub fingerprint: String,
    pub certificate_der: Vec<u8>,
    pub sealed_key: Vec<u8>,
    pub not_before: String,
    pub not_after: String,
}

/// Makes `key` the current key of its use; the one it replaces stays live until
/// `grace_until`. Keys whose grace ended before `now` are deleted. Returns the new id.
pub fn add_key(
    conn: &Conn,
    org_id: i64,
    key: &NewKey,
    now: &str,
    grace_until: &str,
) -> Result<i64> {
    let use_ = key.key_use.as_str();
    conn.execute(
        "DELETE FROM saml_sp_keys WHERE org_id = ?1 AND key_use = ?2
         AND retire_after IS NOT NULL AND retire_after <= ?3",
        params![org_id, use_, now],
    )?;
    conn.execute(
        "UPDATE saml_sp_keys SET retire_after = ?3
         WHERE org_id = ?1 AND key_use = ?2 AND retire_after IS NULL",
        params![org_id, use_, grace_until],
    )?;
    Ok(conn.query_row(
        "INSERT INTO saml_sp_keys (org_id, key_use, fingerprint, certificate, sealed_key,
             not_before, not_after, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         RETURNING id",
        params![
            org_id,
            use_,
            key.fingerprint,
            key.certificate_der,
            key.sealed_key,
            key.not_before,
            key.not_after,
            now
        ],
        |r| r.get(0),
    )?)
}

/// (org slug, use, not_after) of the current key of every switched-on use, every org.
pub fn current_expiries(conn: &Conn) -> Result<Vec<(String, KeyUse, String)>> {
    let mut stmt = conn.prepare(
        "SELECT o.slug, k.key_use, k.not_after FROM saml_sp_keys k
         JOIN orgs o ON o.id = k.org_id
         JOIN saml_sp_options p ON p.org_id = k.org_id
         WHERE k.retire_after IS NULL
           AND ((k.key_use = 'signing' AND p.sign_requests = 1)
             OR (k.key_use = 'encryption' AND p.encrypt_assertions = 1))
         ORDER BY o.slug, k.key_use",
    )?;
    let rows = stmt.query_map([], |r| {
        let key_use: String = r.get(1)?;
        Ok((
            r.get(0)?,
            KeyUse::parse(&key_use).unwrap_or(KeyUse::Signing),
            r.get(2)?,
        ))
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

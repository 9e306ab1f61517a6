//! Configuring an org's OIDC connection — the same rules for the command line and the
//! admin UI: the tenant resolved to its GUID, the secret sealed (and checked against the
//! Secret-ID mix-up), or a certificate generated.

use time::{Date, OffsetDateTime};

use super::credential;
use super::http::Fetcher;
use super::tenant::{self, Tenant};
use crate::clock::timestamp;
use crate::seal::Sealer;
use crate::store::oidc::OidcConnection;

/// The tenant GUID of what the admin pasted: read from the input, or for a domain from the
/// discovery document's issuer (a fixed host, the domain as the only part typed).
pub async fn resolve_tenant(fetcher: &Fetcher, input: &str) -> Result<String, String> {
    match tenant::parse(input, fetcher.authority())? {
        Tenant::Id(g) => Ok(g),
        Tenant::Domain(d) => {
            let url = tenant::discovery(fetcher.authority(), &d);
            let body = fetcher
                .get(&url)
                .await
                .map_err(|e| format!("the tenant {d} cannot be looked up: {e}"))?;
            let doc: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("the tenant {d} cannot be looked up: {e}"))?;
            doc["issuer"]
                .as_str()
                .and_then(|i| tenant::guid_from_issuer(i, fetcher.authority()))
                .ok_or_else(|| format!("the tenant {d} has no v2.0 issuer with a tenant ID"))
        }
    }
}

/// How the customer's app authenticates.
pub enum Secret {
    /// The client secret's Value.
    Value(String),
    /// Generate a key pair and certificate (`private_key_jwt`).
    NewCertificate,
    /// Keep the stored credential (the admin changed other fields).
    Keep,
}

/// What an admin gives for a customer-app connection.
pub struct Customer {
    pub tenant_id: String,
    pub client_id: String,
    pub secret: Secret,
    /// `YYYY-MM-DD`.
    pub secret_expires: Option<String>,
}

/// The connection to store, the generated certificate (to show for upload), and warnings.
pub struct Prepared {
    pub connection: OidcConnection,
    pub certificate_pem: Option<String>,
    pub warnings: Vec<String>,
}

/// Validates a client id (Entra's are GUIDs; other shapes only warn).
pub fn client_id(input: &str, warnings: &mut Vec<String>) -> Result<String, String> {
    let id = input.trim();
    if id.is_empty() || id.len() > 200 || id.contains(char::is_whitespace) {
        return Err(
            "the client ID must be the Application (client) ID from Entra's app Overview".into(),
        );
    }
    if !tenant::is_guid(id) {
        warnings.push(format!(
            "{id:?} is not a GUID; Entra's Application (client) IDs are GUIDs"
        ));
    }
    Ok(id.to_string())
}

pub fn parse_expiry(input: &str) -> Result<Option<String>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt)
        .map(|d| Some(d.to_string()))
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// A customer-app connection, sealed and ready to store; active (the org signs in with it).
pub fn customer(
    org_id: i64,
    slug: &str,
    input: Customer,
    existing: Option<&OidcConnection>,
    sealer: &Sealer,
    now: OffsetDateTime,
) -> Result<Prepared, String> {
    let mut warnings = Vec::new();
    let client_id = client_id(&input.client_id, &mut warnings)?;
    let stamp = timestamp(now);
    let mut c = OidcConnection {
        org_id,
        mode: "customer".into(),
        active: true,
        tenant_id: Some(input.tenant_id),
        client_id: Some(client_id),
        credential: "secret".into(),
        secret: None,
        secret_expires: input.secret_expires,
        private_key: None,
        certificate: None,
        created: existing.map_or(stamp.clone(), |e| e.created.clone()),
        updated: stamp,
    };
    let mut certificate_pem = None;
    match input.secret {
        Secret::Value(v) => {
            let v = v.trim();
            if v.is_empty() {
                return Err("the client secret is empty".into());
            }
            if credential::looks_like_secret_id(v) {
                warnings.push(
                    "the secret looks like a Secret ID (a GUID): Entra shows the secret's Value \
                     once, next to its Secret ID; paste the Value"
                        .into(),
                );
            }
            c.secret = Some(sealer.seal(v.as_bytes()));
        }
        Secret::NewCertificate => {
            let g = credential::generate(&format!("idgate {slug}")).map_err(|e| e.to_string())?;
            c.credential = "certificate".into();
            c.private_key = Some(sealer.seal(g.private_key_pem.as_bytes()));
            c.secret_expires =
                credential::not_after(&g.certificate_pem).map(|t| t.date().to_string());
            c.certificate = Some(g.certificate_pem.clone());
            certificate_pem = Some(g.certificate_pem);
        }
        Secret::Keep => {
            let Some(e) = existing.filter(|e| e.mode == "customer") else {
                return Err("a client secret or a certificate is required".into());
            };
            c.credential = e.credential.clone();
            c.secret = e.secret.clone();
            c.private_key = e.private_key.clone();
            c.certificate = e.certificate.clone();
            if e.credential == "certificate" {
                c.secret_expires = e.secret_expires.clone();
            }
        }
    }
    Ok(Prepared {
        connection: c,
        certificate_pem,
        warnings,
    })
}

/// An idgate-app connection: the tenant is bound at Connect (kept when it was bound).
pub fn idgate_app(
    org_id: i64,
    existing: Option<&OidcConnection>,
    now: OffsetDateTime,
) -> OidcConnection {
    let stamp = timestamp(now);
    OidcConnection {
        org_id,
        mode: "idgate_app".into(),
        active: true,
        tenant_id: existing
            .filter(|e| e.mode == "idgate_app")
            .and_then(|e| e.tenant_id.clone()),
        client_id: None,
        credential: "app".into(),
        secret: None,
        secret_expires: None,
        private_key: None,
        certificate: None,
        created: existing.map_or(stamp.clone(), |e| e.created.clone()),
        updated: stamp,
    }
}

/// Days until the credential expires, when it is known.
pub fn days_left(c: &OidcConnection, now: OffsetDateTime) -> Option<i64> {
    crate::clock::days_until(c.secret_expires.as_deref()?, now.date())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_client_ids() {
        assert_eq!(
            parse_expiry("2027-01-31").unwrap().as_deref(),
            Some("2027-01-31")
        );
        assert_eq!(parse_expiry(" ").unwrap(), None);
        assert!(parse_expiry("31/01/2027").is_err());
        let mut w = Vec::new();
        assert!(client_id("", &mut w).is_err());
        assert!(client_id("a b", &mut w).is_err());
        client_id("0b6a4c1e-5a11-4f51-9e1c-2f6a7d1b9c33", &mut w).unwrap();
        assert!(w.is_empty());
        client_id("my-app", &mut w).unwrap();
        assert_eq!(w.len(), 1);
    }
}

//! How idgate proves itself at Entra's token endpoint: the client secret (sent in the form
//! body, as Entra accepts), or `private_key_jwt` with a certificate idgate generated — the
//! admin uploads the `.cer` in Entra's "Certificates & secrets".

use base64::Engine as _;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::json;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// How long a generated certificate is valid (Entra accepts up to several years).
pub const CERT_DAYS: u32 = 730;

/// A key pair and its self-signed certificate, both PEM (the key PKCS#8).
pub struct Generated {
    pub certificate_pem: String,
    pub private_key_pem: String,
}

/// Generates an RSA-2048 key and a self-signed certificate for `subject`.
pub fn generate(subject: &str) -> Result<Generated> {
    let inner = || -> std::result::Result<Generated, openssl::error::ErrorStack> {
        let rsa = Rsa::generate(2048)?;
        let key = PKey::from_rsa(rsa)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", subject)?;
        let name = name.build();
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let serial: [u8; 16] = rand::random();
        let serial = BigNum::from_slice(&serial)?.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (from, until) = (
            Asn1Time::days_from_now(0)?,
            Asn1Time::days_from_now(CERT_DAYS)?,
        );
        b.set_not_before(&from)?;
        b.set_not_after(&until)?;
        b.sign(&key, MessageDigest::sha256())?;
        let cert = b.build();
        Ok(Generated {
            certificate_pem: String::from_utf8_lossy(&cert.to_pem()?).into_owned(),
            private_key_pem: String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned(),
        })
    };
    inner().map_err(|e| Error::internal(format!("cannot generate a certificate: {e}")))
}

/// The certificate's SHA-1 thumbprint, base64url (JWS `x5t`, how Entra picks the key).
pub fn x5t(certificate_pem: &str) -> Result<String> {
    let cert = X509::from_pem(certificate_pem.as_bytes())
        .map_err(|e| Error::Invalid(format!("not a PEM certificate: {e}")))?;
    let digest = cert
        .digest(MessageDigest::sha1())
        .map_err(|e| Error::internal(format!("certificate digest: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// The certificate's expiry, for the SSO page's warning.
pub fn not_after(certificate_pem: &str) -> Option<OffsetDateTime> {
    let cert = X509::from_pem(certificate_pem.as_bytes()).ok()?;
    let epoch = Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(cert.not_after()).ok()?;
    OffsetDateTime::from_unix_timestamp(i64::from(d.days) * 86_400 + i64::from(d.secs)).ok()
}

/// The `client_assertion` for `private_key_jwt`: RS256, `x5t` and `kid` = the thumbprint,
/// `aud` = the token endpoint, five minutes.
pub fn client_assertion(
    client_id: &str,
    token_endpoint: &str,
    certificate_pem: &str,
    private_key_pem: &str,
    now: OffsetDateTime,
) -> Result<String> {
    crate::session::install_jwt_provider();
    let thumb = x5t(certificate_pem)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(thumb.clone());
    header.kid = Some(thumb);
    let t = now.unix_timestamp();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": t,
        "nbf": t,
        "exp": t + 300,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .map_err(|e| Error::internal(format!("the OIDC private key cannot be read: {e}")))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Error::internal(format!("cannot sign the client assertion: {e}")))
}

/// A client secret that is really the Secret ID (a GUID) Entra shows next to the Value.
pub fn looks_like_secret_id(secret: &str) -> bool {
    super::tenant::is_guid(secret.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_signs_assertions_that_verify() {
        crate::session::install_jwt_provider();
        let g = generate("idgate test").unwrap();
        let now = OffsetDateTime::now_utc();
        let jwt = client_assertion(
            "cid",
            "https://x/t/oauth2/v2.0/token",
            &g.certificate_pem,
            &g.private_key_pem,
            now,
        )
        .unwrap();
        let cert = X509::from_pem(g.certificate_pem.as_bytes()).unwrap();
        let pem = cert.public_key().unwrap().public_key_to_pem().unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://x/t/oauth2/v2.0/token"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &v).unwrap();
        assert_eq!(data.claims["iss"], "cid");
        assert_eq!(
            data.header.x5t.as_deref(),
            Some(x5t(&g.certificate_pem).unwrap().as_str())
        );
        let exp = not_after(&g.certificate_pem).unwrap();
        assert!((exp - now).whole_days() >= i64::from(CERT_DAYS) - 1);
        assert!(looks_like_secret_id(
            " 0b6a4c1e-5a11-4f51-9e1c-2f6a7d1b9c33 "
        ));
        assert!(!looks_like_secret_id(
            "Qx8Q~abcdefghijklmnopqrstuvwxyz0123456789"
        ));
    }
}

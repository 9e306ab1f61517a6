//! SP-initiated sign-in: the AuthnRequest, sent by the HTTP-Redirect binding (deflate +
//! base64 + URL query), built with samael's AuthnRequest.

use base64::Engine as _;
use openssl::pkey::{PKey, Private};
use samael::schema::{AuthnRequest, Issuer};
use time::OffsetDateTime;

const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A fresh AuthnRequest ID: an XML NCName, like Entra's own (`id` + 32 hex digits).
pub fn new_request_id() -> String {
    format!("id{}", uuid::Uuid::new_v4().simple())
}

/// The signature algorithm of signed AuthnRequests (`SigAlg`).
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The URL that sends the browser to the IdP's SSO endpoint with the request and RelayState,
/// signed with `signer` when given (HTTP-Redirect binding, SAML bindings §3.4.4.1: the
/// signature covers `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear, encoded,
/// in the query, and travels in the `Signature` parameter).
pub fn redirect_url(
    sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    request_id: &str,
    relay_state: &str,
    now: OffsetDateTime,
    signer: Option<&PKey<Private>>,
) -> Result<String, String> {
    let issue_instant = chrono::DateTime::from_timestamp(now.unix_timestamp(), 0)
        .ok_or_else(|| "time out of range".to_string())?;
    let request = AuthnRequest {
        id: request_id.to_string(),
        version: "2.0".into(),
        issue_instant,
        destination: Some(sso_url.to_string()),
        issuer: Some(Issuer {
            value: Some(sp_entity_id.to_string()),
            ..Default::default()
        }),
        assertion_consumer_service_url: Some(acs_url.to_string()),
        protocol_binding: Some(HTTP_POST.into()),
        ..Default::default()
    };
    let mut url = request
        .redirect(relay_state)
        .map_err(|e| format!("cannot build the AuthnRequest: {e}"))?
        .ok_or_else(|| "the IdP has no SSO URL".to_string())?;
    let Some(key) = signer else {
        return Ok(url.to_string());
    };
    url.query_pairs_mut().append_pair("SigAlg", RSA_SHA256);
    let query = url.query().unwrap_or_default();
    // Our parameters come last, after any of the IdP's own SSO URL.
    let start = query
        .rmatch_indices("SAMLRequest=")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || query.as_bytes()[i - 1] == b'&')
        .ok_or_else(|| "the redirect URL lost its SAMLRequest".to_string())?;
    let signature = sign(key, &query.as_bytes()[start..])
        .map_err(|e| format!("cannot sign the AuthnRequest: {e}"))?;
    url.query_pairs_mut().append_pair(
        "Signature",
        &base64::engine::general_purpose::STANDARD.encode(signature),
    );
    Ok(url.to_string())
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `octets`.
fn sign(key: &PKey<Private>, octets: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)?;
    signer.update(octets)?;
    signer.sign_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn redirect_carries_a_deflated_request_and_relay_state() {
        let now = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        let url = redirect_url(
            "https://login.microsoftonline.com/tid/saml2?x=1",
            "https://login.example.com/saml/acme",
            "https://login.example.com/saml/acme/acs",
            "id0123",
            "rs-abc",
            now,
            None,
        )
        .unwrap();
        assert!(
            url.starts_with("https://login.microsoftonline.com/tid/saml2?x=1&SAMLRequest="),
            "{url}"
        );
        let query = url.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        assert_eq!(pairs[2], ("RelayState".into(), "rs-abc".into()));
        let deflated = base64::engine::general_purpose::STANDARD
            .decode(&pairs[1].1)
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .read_to_string(&mut xml)
            .unwrap();
        for want in [
            r#"ID="id0123""#,
            r#"Version="2.0""#,
            r#"IssueInstant="2026-03-01T10:00:00"#,
            r#"Destination="https://login.microsoftonline.com/tid/saml2?x=1""#,
            r#"AssertionConsumerServiceURL="https://login.example.com/saml/acme/acs""#,
            "https://login.example.com/saml/acme</saml2:Issuer>",
        ] {
            assert!(xml.contains(want), "{want} in {xml}");
        }
        assert!(!url.contains("Signature="), "unsigned: {url}");
        assert!(new_request_id().starts_with("id"));
        assert_eq!(new_request_id().len(), 34);
    }

    #[test]
    fn signed_redirect_signs_the_encoded_query_octets() {
        let now = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let url = redirect_url(
            "https://idp.example/sso?tenant=a+b&SAMLRequest=theirs",
            "https://login.example.com/saml/acme",
            "https://login.example.com/saml/acme/acs",
            "id0123",
            "rs/with+odd=chars",
            now,
            Some(&key),
        )
        .unwrap();
        let query = url.split_once('?').unwrap().1;
        let (signed, signature) = query.rsplit_once("&Signature=").unwrap();
        let signed = signed
            .strip_prefix("tenant=a+b&SAMLRequest=theirs&")
            .unwrap();
        assert!(signed.starts_with("SAMLRequest="), "{signed}");
        assert!(
            signed.ends_with(
                "&RelayState=rs%2Fwith%2Bodd%3Dchars\
                 &SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
            ),
            "{signed}"
        );
        let signature: String =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("s={signature}")).unwrap()
                [0]
            .1
            .clone();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .unwrap();
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        v.update(signed.as_bytes()).unwrap();
        assert!(v.verify(&signature).unwrap());
        // One octet changed (another RelayState) does not verify.
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        v.update(signed.replace("rs%2F", "rs%2E").as_bytes())
            .unwrap();
        assert!(!v.verify(&signature).unwrap());
    }
}

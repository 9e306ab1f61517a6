//! SP-initiated sign-in: the AuthnRequest, sent by the HTTP-Redirect binding (deflate +
//! base64 + URL query), built with samael's AuthnRequest.

use samael::schema::{AuthnRequest, Issuer};
use time::OffsetDateTime;

const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A fresh AuthnRequest ID: an XML NCName, like Entra's own (`id` + 32 hex digits).
pub fn new_request_id() -> String {
    format!("id{}", uuid::Uuid::new_v4().simple())
}

/// The URL that sends the browser to the IdP's SSO endpoint with the request and RelayState.
pub fn redirect_url(
    sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    request_id: &str,
    relay_state: &str,
    now: OffsetDateTime,
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
    request
        .redirect(relay_state)
        .map_err(|e| format!("cannot build the AuthnRequest: {e}"))?
        .map(|u| u.to_string())
        .ok_or_else(|| "the IdP has no SSO URL".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
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
        assert!(new_request_id().starts_with("id"));
        assert_eq!(new_request_id().len(), 34);
    }
}

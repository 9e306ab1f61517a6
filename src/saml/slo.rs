//! SAML single logout, HTTP-Redirect binding: the LogoutRequest and LogoutResponse we
//! send (deflate + base64 + URL query, signed like AuthnRequests when sign-requests is on),
//! and the reading of the ones the IdP sends: the query signature (SAML bindings §3.4.4.1:
//! over `SAML…=…&RelayState=…&SigAlg=…` exactly as they appear in the query), then a small
//! quick-xml read of the message. Nothing here panics on any input.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use openssl::pkey::{PKey, Private};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use time::OffsetDateTime;

use super::authn::RSA_SHA256;

/// Largest query string read at the SLO endpoint.
pub const MAX_QUERY: usize = 64 * 1024;
/// Largest inflated message.
const MAX_XML: u64 = 64 * 1024;

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const NS_P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn instant(now: OffsetDateTime) -> String {
    let t = now.replace_nanosecond(0).unwrap_or(now);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Who is logged out, as the IdP named them at sign-in.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
}

/// A LogoutRequest from the SP (`issuer`) to the IdP's `destination`.
pub fn logout_request(
    id: &str,
    issuer: &str,
    destination: &str,
    subject: &Subject,
    now: OffsetDateTime,
) -> String {
    let format = subject
        .name_id_format
        .as_deref()
        .map(|f| format!(" Format=\"{}\"", esc(f)))
        .unwrap_or_default();
    let index = subject
        .session_index
        .as_deref()
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", esc(s)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_P}" xmlns:saml="{NS_A}" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}"><saml:Issuer>{}</saml:Issuer><saml:NameID{format}>{}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        esc(id),
        instant(now),
        esc(destination),
        esc(issuer),
        esc(&subject.name_id),
    )
}

/// A LogoutResponse from the SP (`issuer`) answering `in_response_to`.
pub fn logout_response(
    id: &str,
    issuer: &str,
    destination: &str,
    in_response_to: &str,
    status: &str,
    now: OffsetDateTime,
) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_P}" xmlns:saml="{NS_A}" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status></samlp:LogoutResponse>"#,
        esc(id),
        instant(now),
        esc(destination),
        esc(in_response_to),
        esc(issuer),
        esc(status),
    )
}

/// The URL that sends the browser to `endpoint` with the message in `param`
/// (`SAMLRequest` or `SAMLResponse`), signed with `signer` when given.
pub fn redirect_url(
    endpoint: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    signer: Option<&PKey<Private>>,
) -> Result<String, String> {
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|e| format!("deflate: {e}"))?;
    let deflated = deflater.finish().map_err(|e| format!("deflate: {e}"))?;
    let message = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut pairs = vec![(param, message.as_str())];
    if let Some(rs) = relay_state {
        pairs.push(("RelayState", rs));
    }
    if signer.is_some() {
        pairs.push(("SigAlg", RSA_SHA256));
    }
    let mut query = serde_urlencoded::to_string(&pairs).map_err(|e| e.to_string())?;
    if let Some(key) = signer {
        let signature = sign(key, query.as_bytes()).map_err(|e| format!("sign: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        query.push('&');
        query.push_str(
            &serde_urlencoded::to_string([("Signature", b64)]).map_err(|e| e.to_string())?,
        );
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{query}"))
}

fn sign(key: &PKey<Private>, octets: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)?;
    signer.update(octets)?;
    signer.sign_to_vec()
}

/// What the IdP's redirect carried, decoded; `signed` is the exact signed octets.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// `SAMLRequest` or `SAMLResponse`.
    pub param: &'static str,
    pub xml: String,
    pub relay_state: Option<String>,
    pub sig_alg: Option<String>,
    pub signature: Option<Vec<u8>>,
    signed: String,
}

/// Reads an HTTP-Redirect query: one SAMLRequest or SAMLResponse, inflated (capped).
pub fn read_query(query: &str) -> Result<Redirect, String> {
    if query.len() > MAX_QUERY {
        return Err(format!("the query is larger than {MAX_QUERY} bytes"));
    }
    let mut raw: Vec<(&str, &str)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if raw.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("the parameter {k} appears twice"));
        }
        raw.push((k, v));
    }
    let get = |k: &str| raw.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let decode = |v: &str| -> Result<String, String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}"))
            .ok()
            .and_then(|mut p| p.pop())
            .map(|(_, v)| v)
            .ok_or_else(|| "a query parameter is not URL-encoded".to_string())
    };
    let (param, message) = match (get("SAMLRequest"), get("SAMLResponse")) {
        (Some(m), None) => ("SAMLRequest", m),
        (None, Some(m)) => ("SAMLResponse", m),
        (None, None) => return Err("no SAMLRequest or SAMLResponse".into()),
        (Some(_), Some(_)) => return Err("both SAMLRequest and SAMLResponse".into()),
    };
    let mut signed = format!("{param}={message}");
    for k in ["RelayState", "SigAlg"] {
        if let Some(v) = get(k) {
            signed.push_str(&format!("&{k}={v}"));
        }
    }
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(decode(message)?.trim())
        .map_err(|e| format!("the {param} is not base64: {e}"))?;
    let mut xml = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_XML + 1)
        .read_to_end(&mut xml)
        .map_err(|e| format!("the {param} does not inflate: {e}"))?;
    if xml.len() as u64 > MAX_XML {
        return Err(format!("the {param} inflates to more than {MAX_XML} bytes"));
    }
    let xml = String::from_utf8(xml).map_err(|_| format!("the {param} is not UTF-8"))?;
    let signature = match get("Signature") {
        Some(s) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(decode(s)?.trim())
                .map_err(|e| format!("the Signature is not base64: {e}"))?,
        ),
        None => None,
    };
    Ok(Redirect {
        param,
        xml,
        relay_state: get("RelayState").map(decode).transpose()?,
        sig_alg: get("SigAlg").map(decode).transpose()?,
        signature,
        signed,
    })
}

impl Redirect {
    /// Checks the query signature against the IdP's certificates: `Ok(None)` when unsigned,
    /// `Ok(Some(i))` with the index of the certificate that verifies, else why not.
    pub fn check_signature(&self, certificates_der: &[Vec<u8>]) -> Result<Option<usize>, String> {
        let Some(signature) = &self.signature else {
            return Ok(None);
        };
        match self.sig_alg.as_deref() {
            Some(RSA_SHA256) => {}
            Some(other) => return Err(format!("the signature algorithm {other} is not accepted")),
            None => return Err("a Signature without SigAlg".into()),
        }
        for (i, der) in certificates_der.iter().enumerate() {
            let Ok(cert) = openssl::x509::X509::from_der(der) else {
                continue;
            };
            let Ok(key) = cert.public_key() else {
                continue;
            };
            let ok = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
                .and_then(|mut v| {
                    v.update(self.signed.as_bytes())?;
                    v.verify(signature)
                })
                .unwrap_or(false);
            if ok {
                return Ok(Some(i));
            }
        }
        Err("the signature does not verify with any of the IdP's certificates".into())
    }
}

/// What a LogoutRequest or LogoutResponse says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// `LogoutRequest` or `LogoutResponse`.
    pub kind: String,
    pub id: String,
    pub issuer: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub not_on_or_after: Option<String>,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
    /// The top-level StatusCode's Value.
    pub status: Option<String>,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    a.normalized_value(XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

/// Reads a LogoutRequest or LogoutResponse (no DTD, well-formed, SAML protocol root).
pub fn parse(xml: &str) -> Result<Message, String> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!doctype") {
        return Err("the message holds a DOCTYPE".into());
    }
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut msg = Message::default();
    let mut text = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the message is not well-formed XML: {e}"))?;
        let (e, start) = match event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::Text(t) => {
                text.push_str(&t.xml10_content());
                continue;
            }
            Event::CData(t) => {
                text.push_str(&t.xml10_content());
                continue;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &*r {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                text.push(ch.ok_or("an unknown entity")?);
                continue;
            }
            Event::End(_) => {
                let closed = path.pop().unwrap_or_default();
                let value = std::mem::take(&mut text).trim().to_string();
                match (path.len(), closed.as_str()) {
                    (1, "Issuer") => msg.issuer = Some(value),
                    (1, "NameID") => msg.name_id = Some(value),
                    (1, "SessionIndex") => msg.session_indexes.push(value),
                    _ => {}
                }
                continue;
            }
            Event::Eof if path.is_empty() && !msg.kind.is_empty() => return Ok(msg),
            Event::Eof => return Err("the message ends early".into()),
            Event::DocType(_) => return Err("the message holds a DOCTYPE".into()),
            _ => continue,
        };
        text.clear();
        let (ns, local) = reader.resolver().resolve_element(e.name());
        let local = local.as_ref().to_string();
        let in_ns = |want: &str| matches!(ns, quick_xml::name::ResolveResult::Bound(quick_xml::name::Namespace(n)) if n == want);
        match path.len() {
            0 => {
                if !in_ns(NS_P) || !matches!(local.as_str(), "LogoutRequest" | "LogoutResponse") {
                    return Err(format!("not a LogoutRequest or LogoutResponse: {local}"));
                }
                if !msg.kind.is_empty() {
                    return Err("more than one root element".into());
                }
                msg.kind = local.clone();
                msg.id = attr(&e, "ID").ok_or("the message has no ID")?;
                msg.destination = attr(&e, "Destination");
                msg.in_response_to = attr(&e, "InResponseTo");
                msg.not_on_or_after = attr(&e, "NotOnOrAfter");
            }
            1 if !(in_ns(NS_A) || in_ns(NS_P)) => {}
            2 if local == "StatusCode" && path.get(1).is_some_and(|p| p == "Status") => {
                msg.status = attr(&e, "Value");
            }
            _ => {}
        }
        if start {
            path.push(local);
            if path.len() > 32 {
                return Err("the message nests too deep".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_the_redirect_and_parser() {
        let now = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        let subject = Subject {
            name_id: "a&b@acme.com".into(),
            name_id_format: Some("urn:x".into()),
            session_index: Some("_idx".into()),
        };
        let xml = logout_request("id1", "https://sp/x", "https://idp/slo", &subject, now);
        let key = PKey::private_key_from_pem(crate::saml::test_idp::key_file("idp-key").as_bytes())
            .unwrap();
        let url =
            redirect_url("https://idp/slo?a=1", "SAMLRequest", &xml, None, Some(&key)).unwrap();
        let query = url.split_once("?a=1&").unwrap().1;
        let r = read_query(query).unwrap();
        assert_eq!(r.param, "SAMLRequest");
        let m = parse(&r.xml).unwrap();
        assert_eq!(m.kind, "LogoutRequest");
        assert_eq!(m.id, "id1");
        assert_eq!(m.issuer.as_deref(), Some("https://sp/x"));
        assert_eq!(m.name_id.as_deref(), Some("a&b@acme.com"));
        assert_eq!(m.session_indexes, vec!["_idx".to_string()]);
        let cert = crate::saml::test_idp::cert_der("idp-cert");
        let other = crate::saml::test_idp::cert_der("attacker-cert");
        assert_eq!(
            r.check_signature(&[other.clone(), cert.clone()]).unwrap(),
            Some(1)
        );
        assert!(r.check_signature(&[other]).is_err());
        let tampered = query.replace("SigAlg=", "RelayState=x&SigAlg=");
        assert!(
            read_query(&tampered)
                .unwrap()
                .check_signature(&[cert])
                .is_err()
        );
    }

    #[test]
    fn entra_metadata_names_its_logout_endpoint() {
        let xml =
            include_bytes!("../../tests/fixtures/entra/entra-common-federationmetadata-2017.xml");
        let at = time::macros::datetime!(2018-01-01 12:00 UTC);
        let (idp, _) = crate::saml::metadata::parse_metadata(xml, at).unwrap();
        assert_eq!(
            idp.slo_url.as_deref(),
            Some("https://login.microsoftonline.com/common/saml2")
        );
        let record = crate::saml::idp_record(&idp, "metadata", "");
        assert_eq!(record.slo_url, idp.slo_url);
    }

    #[test]
    fn bad_input_is_refused_without_panics() {
        for q in [
            "",
            "SAMLRequest=%%%",
            "SAMLRequest=!!!",
            "SAMLRequest=AAAA",
            "SAMLRequest=a&SAMLRequest=b",
            "SAMLRequest=a&SAMLResponse=b",
        ] {
            assert!(read_query(q).is_err(), "{q}");
        }
        for x in [
            "",
            "<a/>",
            "<!DOCTYPE x><x/>",
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
        ] {
            assert!(parse(x).is_err(), "{x}");
        }
        let big = "x".repeat(MAX_QUERY + 1);
        assert!(read_query(&big).is_err());
        let resp = logout_response(
            "r1",
            "https://sp",
            "https://idp",
            "id1",
            STATUS_SUCCESS,
            OffsetDateTime::UNIX_EPOCH,
        );
        let m = parse(&resp).unwrap();
        assert_eq!(m.status.as_deref(), Some(STATUS_SUCCESS));
        assert_eq!(m.in_response_to.as_deref(), Some("id1"));
    }
}

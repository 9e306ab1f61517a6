//! Builds Entra-shaped SAML responses for the ACS tests and benchmarks and signs them at run
//! time with the committed test key (tests/fixtures/saml-test-key/), through samael's xmlsec
//! signer. Compiled always (hidden from the docs) so integration tests and examples can use
//! it; the key files are read from the source tree at run time, never embedded in the binary.
//!
//! The template copies the shape of the real 2022 Entra response in tests/fixtures/entra/:
//! `samlp:Response` with an unprefixed `Issuer`, an `Assertion` declaring the default
//! namespace, its `Signature` right after `Issuer`, exc-c14n, RSA-SHA256, the usual claims.

use std::sync::OnceLock;

use base64::Engine as _;
use samael::crypto::{CryptoProvider, XmlSec};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const IDP: &str = "https://sts.windows.net/00000000-1111-2222-3333-444444444444/";
pub const SP: &str = "https://login.example.com/saml/acme";
pub const ACS: &str = "https://login.example.com/saml/acme/acs";
pub const REQUEST_ID: &str = "id6d1a5c7e2f8b4a3c9e0f1a2b3c4d5e6f";
pub const ASSERTION_ID: &str = "_5a1f0c3e-8d2b-4b7a-9e61-0f2c3d4e5f60";
pub const RESPONSE_ID: &str = "_9b2e1d4f-7c3a-4e8b-a1f2-3c4d5e6f7081";
pub const OID: &str = "6f2b8c1e-3d4a-4b5c-8e9f-0a1b2c3d4e5f";
pub const EMAIL: &str = "alice@acme.com";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

const KEY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml-test-key/");

const CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
const MS_CLAIMS: &str = "http://schemas.microsoft.com/identity/claims";

/// The PEM text of one test key file ("idp-key", "idp-cert", "attacker-key",
/// "attacker-cert"), read once from `tests/fixtures/saml-test-key/` in the source tree.
pub fn key_file(name: &str) -> &'static str {
    static FILES: [(&str, OnceLock<String>); 4] = [
        ("idp-key", OnceLock::new()),
        ("idp-cert", OnceLock::new()),
        ("attacker-key", OnceLock::new()),
        ("attacker-cert", OnceLock::new()),
    ];
    let Some((file, text)) = FILES.iter().find(|(file, _)| *file == name) else {
        panic!("no key file {name}");
    };
    text.get_or_init(|| {
        let path = format!("{KEY_DIR}{file}.pem");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    })
}

pub fn cert_der(name: &str) -> Vec<u8> {
    openssl::x509::X509::from_pem(key_file(name).as_bytes())
        .expect("test cert")
        .to_der()
        .expect("test cert DER")
}

fn key_der(name: &str) -> Vec<u8> {
    openssl::pkey::PKey::private_key_from_pem(key_file(name).as_bytes())
        .expect("test key")
        .private_key_to_der()
        .expect("test key DER")
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

pub fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("format time")
}

/// Every knob a test may turn; `Entra::new(t)` is a genuine response issued at `t`.
#[derive(Clone)]
pub struct Entra {
    pub issued: OffsetDateTime,
    /// The Assertion's ID (`ASSERTION_ID` unless changed: replay tests need fresh ones).
    pub assertion_id: String,
    /// The emailaddress claim.
    pub email: String,
    pub name_id: String,
    /// The NameID's Format (Entra: emailAddress).
    pub name_id_format: String,
    /// When set, these attributes (name, values) replace Entra's claims: the shape of
    /// another IdP's response (`urn:oid:` names are sent with NameFormat `uri`).
    pub attributes: Option<Vec<(String, Vec<String>)>>,
    pub issuer: String,
    pub response_issuer: String,
    pub audience: String,
    pub recipient: String,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub sign_assertion: bool,
    pub sign_response: bool,
    pub signature_method: &'static str,
    pub digest_method: &'static str,
    /// Which key signs ("idp-key" or "attacker-key") and which cert KeyInfo shows.
    pub key: &'static str,
    pub key_info_cert: &'static str,
}

impl Entra {
    pub fn new(issued: OffsetDateTime) -> Self {
        Self {
            issued,
            assertion_id: ASSERTION_ID.into(),
            email: EMAIL.into(),
            name_id: EMAIL.into(),
            name_id_format: NAMEID_EMAIL.into(),
            attributes: None,
            issuer: IDP.into(),
            response_issuer: IDP.into(),
            audience: SP.into(),
            recipient: ACS.into(),
            destination: Some(ACS.into()),
            in_response_to: Some(REQUEST_ID.into()),
            sign_assertion: true,
            sign_response: false,
            signature_method: RSA_SHA256,
            digest_method: SHA256,
            key: "idp-key",
            key_info_cert: "idp-cert",
        }
    }

    fn signature_template(&self, id: &str) -> String {
        let cert: String = key_file(self.key_info_cert)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        format!(
            r##"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><SignatureMethod Algorithm="{}"/><Reference URI="#{id}"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms><DigestMethod Algorithm="{}"/><DigestValue></DigestValue></Reference></SignedInfo><SignatureValue></SignatureValue><KeyInfo><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></Signature>"##,
            self.signature_method, self.digest_method
        )
    }

    /// The Assertion alone, signed if `sign_assertion`.
    pub fn assertion(&self) -> String {
        let t = ts(self.issued);
        let before = ts(self.issued - time::Duration::minutes(5));
        let until = ts(self.issued + time::Duration::hours(1));
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let signature = if self.sign_assertion {
            self.signature_template(&self.assertion_id)
        } else {
            String::new()
        };
        let attr = |name: &str, value: &str| {
            format!(
                r#"<Attribute Name="{name}"><AttributeValue>{value}</AttributeValue></Attribute>"#
            )
        };
        let custom = self.attributes.as_ref().map(|list| {
            list.iter()
                .map(|(name, values)| {
                    let format = if name.starts_with("urn:oid:") {
                        r#" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri""#
                    } else {
                        ""
                    };
                    let values: String = values
                        .iter()
                        .map(|v| format!("<AttributeValue>{v}</AttributeValue>"))
                        .collect();
                    format!(r#"<Attribute Name="{name}"{format}>{values}</Attribute>"#)
                })
                .collect::<String>()
        });
        let entra = [
            attr(
                &format!("{MS_CLAIMS}/tenantid"),
                "00000000-1111-2222-3333-444444444444",
            ),
            attr(&format!("{MS_CLAIMS}/objectidentifier"), OID),
            attr(&format!("{MS_CLAIMS}/displayname"), "Alice Example"),
            attr(&format!("{MS_CLAIMS}/identityprovider"), IDP),
            attr(&format!("{CLAIMS}/emailaddress"), &self.email),
            attr(&format!("{CLAIMS}/name"), &self.name_id),
            attr(
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
                "Admin</AttributeValue><AttributeValue>Reader",
            ),
        ]
        .concat();
        let attributes = custom.unwrap_or(entra);
        let xml = format!(
            r#"<Assertion ID="{assertion_id}" IssueInstant="{t}" Version="2.0" xmlns="urn:oasis:names:tc:SAML:2.0:assertion"><Issuer>{issuer}</Issuer>{signature}<Subject><NameID Format="{name_id_format}">{name_id}</NameID><SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><SubjectConfirmationData{irt} NotOnOrAfter="{until}" Recipient="{recipient}"/></SubjectConfirmation></Subject><Conditions NotBefore="{before}" NotOnOrAfter="{until}"><AudienceRestriction><Audience>{audience}</Audience></AudienceRestriction></Conditions><AttributeStatement>{attributes}</AttributeStatement><AuthnStatement AuthnInstant="{t}" SessionIndex="{assertion_id}"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</AuthnContextClassRef></AuthnContext></AuthnStatement></Assertion>"#,
            assertion_id = self.assertion_id,
            issuer = self.issuer,
            name_id = self.name_id,
            name_id_format = self.name_id_format,
            recipient = self.recipient,
            audience = self.audience,
        );
        if self.sign_assertion {
            self.sign(&xml)
        } else {
            xml
        }
    }

    /// The whole Response around `assertion` (which may be doctored by the test).
    pub fn response_around(&self, assertion: &str) -> String {
        let t = ts(self.issued);
        let destination = self
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let signature = if self.sign_response {
            self.signature_template(RESPONSE_ID)
        } else {
            String::new()
        };
        let xml = format!(
            r#"<samlp:Response ID="{RESPONSE_ID}" Version="2.0" IssueInstant="{t}"{destination}{irt} xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{issuer}</Issuer>{signature}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#,
            issuer = self.response_issuer,
        );
        if self.sign_response {
            self.sign(&xml)
        } else {
            xml
        }
    }

    pub fn xml(&self) -> String {
        self.response_around(&self.assertion())
    }

    /// Signs the first `<Signature>` template of `xml` in document order.
    fn sign(&self, xml: &str) -> String {
        let signed = XmlSec::sign_xml(xml, &key_der(self.key)).expect("xmlsec signs");
        strip_declaration(&signed)
    }
}

pub fn strip_declaration(xml: &str) -> String {
    let xml = xml.trim();
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, body)| body.trim().to_string())
            .unwrap_or_default(),
        None => xml.to_string(),
    }
}

/// The text between the first `<{open}` and the matching first `</{close}>` (inclusive).
pub fn slice<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml.find(open).expect("open tag");
    let end = xml[start..].find(close).expect("close tag") + start + close.len();
    &xml[start..end]
}

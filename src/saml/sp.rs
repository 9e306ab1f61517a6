//! SAML 2.0 response validation for the ACS: one function of (response, configuration, now)
//! whose error names the check that failed, with expected and received values.
//!
//! samael is used only for what it does safely — xmlsec signature verification against the
//! configured certificates, restricted to SHA-256+ — and everything else is checked here
//! with the `now` argument: structure (one Assertion, signatures only where they belong),
//! DOCTYPE, comments, status, issuer, audience, recipient, destination, time windows and
//! InResponseTo. Identity is read only from the canonical bytes xmlsec verified.
//! Replay (assertion IDs seen before) is the caller's: it stores `assertion_id` until
//! `not_on_or_after`.
//!
//! libxml2/xmlsec: call [`init`] once on the main thread before starting worker threads.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use time::OffsetDateTime;

#[path = "sp_checks.rs"]
mod checks;
#[path = "sp_decrypt.rs"]
mod decrypt;
#[path = "sp_dsig.rs"]
mod dsig;
#[path = "sp_xml.rs"]
mod xml;

use checks::{check_assertion, check_in_response_to, check_response};
use xml::{Element, XmlError};

pub(crate) const NS_P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Largest decoded response accepted (Entra's are 5–15 KiB, more with many group claims).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// An IssueInstant older than this (plus skew) is refused: responses are posted at once.
pub const MAX_ISSUE_AGE: time::Duration = time::Duration::minutes(10);

/// This organisation's service-provider side.
#[derive(Debug, Clone)]
pub struct SpSettings {
    pub entity_id: String,
    pub acs_url: String,
    pub clock_skew: Duration,
}

/// The organisation's IdP: its entity ID and every signing certificate (rollover), DER.
#[derive(Debug, Clone)]
pub struct IdpSettings {
    pub entity_id: String,
    pub certificates_der: Vec<Vec<u8>>,
}

/// What the caller expects: the pending AuthnRequest ID, and whether IdP-initiated is on.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    pub in_response_to: Option<&'a str>,
    pub allow_unsolicited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedParts {
    Assertion,
    Response,
    Both,
}

/// A response that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The Assertion's ID; refuse it if seen before, keep it until `not_on_or_after`.
    pub assertion_id: String,
    /// After this instant validation refuses the assertion anyway (skew included).
    pub not_on_or_after: OffsetDateTime,
    pub in_response_to: Option<String>,
    pub issuer: String,
    /// The NameID, trimmed of XML whitespace.
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Attribute name → values, in document order (same-named attributes merged).
    pub attributes: Vec<(String, Vec<String>)>,
    pub signed_parts: SignedParts,
    /// SHA-256 of the DER certificate that verified the signature(s), `AA:BB:…` uppercase.
    pub certificate_fingerprint: String,
    /// The AuthnStatement's SessionIndex (single logout names the IdP session by it).
    pub session_index: Option<String>,
}

impl Verified {
    /// The values of one attribute (claim), if present.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    Malformed,
    Doctype,
    NotBase64,
    TooLarge,
    MultipleAssertions,
    EncryptedAssertion,
    NoAssertion,
    StatusNotSuccess,
    NoSignature,
    BadSignature,
    UnknownCertificate,
    WeakAlgorithm,
    /// A signature with a transform, canonicalisation or layout we do not run.
    UnsupportedSignature,
    SignatureWrapping,
    CommentInjection,
    WrongIssuer,
    WrongAudience,
    WrongRecipient,
    WrongDestination,
    Expired,
    NotYetValid,
    MissingInResponseTo,
    UnexpectedInResponseTo,
    Unsolicited,
    NoSubject,
    /// The organisation has no usable signing certificate configured.
    NotConfigured,
    /// Encrypted assertions are required and this one is not encrypted.
    NotEncrypted,
    /// No live encryption key opens the EncryptedAssertion.
    DecryptionFailed,
    /// An encryption or key-transport algorithm we do not accept.
    UnsupportedEncryption,
}

impl FailureCode {
    /// A stable snake_case reason code for logs and the sign-in log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Doctype => "doctype",
            Self::NotBase64 => "not_base64",
            Self::TooLarge => "too_large",
            Self::MultipleAssertions => "multiple_assertions",
            Self::EncryptedAssertion => "encrypted_assertion",
            Self::NoAssertion => "no_assertion",
            Self::StatusNotSuccess => "status_not_success",
            Self::NoSignature => "no_signature",
            Self::BadSignature => "bad_signature",
            Self::UnknownCertificate => "unknown_certificate",
            Self::WeakAlgorithm => "weak_algorithm",
            Self::UnsupportedSignature => "unsupported_signature",
            Self::SignatureWrapping => "signature_wrapping",
            Self::CommentInjection => "comment_injection",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongRecipient => "wrong_recipient",
            Self::WrongDestination => "wrong_destination",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MissingInResponseTo => "missing_in_response_to",
            Self::UnexpectedInResponseTo => "unexpected_in_response_to",
            Self::Unsolicited => "unsolicited",
            Self::NoSubject => "no_subject",
            Self::NotConfigured => "not_configured",
            Self::NotEncrypted => "not_encrypted",
            Self::DecryptionFailed => "decryption_failed",
            Self::UnsupportedEncryption => "unsupported_encryption",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check failed; `expected`/`received` are for the admin's sign-in log, never the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{code}: {detail}{}{}",
    show(" expected: ", expected),
    show(" received: ", received)
)]
pub struct Failure {
    pub code: FailureCode,
    pub expected: Option<String>,
    pub received: Option<String>,
    pub detail: String,
}

fn show(label: &str, value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|v| format!(";{label}{v}"))
        .unwrap_or_default()
}

impl Failure {
    pub(crate) fn new(
        code: FailureCode,
        expected: Option<String>,
        received: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            code,
            expected,
            received,
            detail: detail.into(),
        }
    }

    fn mismatch(code: FailureCode, expected: &str, received: Option<&str>, detail: &str) -> Self {
        Self::new(
            code,
            Some(expected.to_string()),
            received.map(str::to_string),
            detail,
        )
    }

    fn malformed(detail: impl Into<String>) -> Self {
        Self::new(FailureCode::Malformed, None, None, detail)
    }
}

/// Initialises libxml2, xmlsec and its OpenSSL backend. Call once from the main thread
/// before worker threads start (samael would otherwise do it lazily, on first use, from
/// whichever worker gets the first sign-in). Errors only if xmlsec cannot start.
pub fn init() -> Result<(), String> {
    use samael::crypto::{CertificateDer, CryptoError, CryptoProvider, XmlSec};
    // samael initialises the libraries when it loads a key: load a throwaway certificate
    // and "verify" a document without a signature.
    let cert = throwaway_certificate().map_err(|e| format!("openssl: {e}"))?;
    match XmlSec::verify_signed_xml("<init/>", &CertificateDer::from(cert), None) {
        Ok(()) | Err(CryptoError::InvalidSignature) => Ok(()),
        // "Failed to find node": the libraries are up, the key loaded, no Signature found.
        Err(CryptoError::CryptoProviderError(e)) if e.to_string().contains("find node") => Ok(()),
        Err(CryptoError::CryptoProviderError(e)) => Err(format!("xmlsec initialisation: {e}")),
        Err(e) => Err(format!("xmlsec initialisation: {e}")),
    }
}

fn throwaway_certificate() -> Result<Vec<u8>, openssl::error::ErrorStack> {
    use openssl::{ec, nid::Nid, pkey::PKey, x509};
    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(ec::EcKey::generate(&group)?)?;
    let mut name = x509::X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "idgate xmlsec init")?;
    let name = name.build();
    let mut cert = x509::X509Builder::new()?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(&name)?;
    cert.set_pubkey(&key)?;
    cert.set_not_before(openssl::asn1::Asn1Time::days_from_now(0)?.as_ref())?;
    cert.set_not_after(openssl::asn1::Asn1Time::days_from_now(1)?.as_ref())?;
    cert.sign(&key, openssl::hash::MessageDigest::sha256())?;
    cert.build().to_der()
}

/// The organisation's encrypted-assertion setting: its live decryption keys (none while
/// encryption is off), and whether an unencrypted assertion is refused.
#[derive(Default)]
pub struct Decryption {
    pub keys: Vec<openssl::pkey::PKey<openssl::pkey::Private>>,
    pub required: bool,
}

/// Validates a base64 `SAMLResponse` (HTTP-POST binding) for one organisation at `now`.
pub fn validate_response(
    saml_response_b64: &str,
    sp: &SpSettings,
    idp: &IdpSettings,
    expect: &Expectation,
    now: OffsetDateTime,
) -> Result<Verified, Failure> {
    let none = Decryption::default();
    validate_response_decrypting(saml_response_b64, sp, idp, expect, now, &none)
}

/// `validate_response` for an organisation that may receive an `EncryptedAssertion`: it is
/// decrypted first, then the result passes every usual check.
pub fn validate_response_decrypting(
    saml_response_b64: &str,
    sp: &SpSettings,
    idp: &IdpSettings,
    expect: &Expectation,
    now: OffsetDateTime,
    decryption: &Decryption,
) -> Result<Verified, Failure> {
    let mut xml_text = decode(saml_response_b64)?;
    if decryption.required || !decryption.keys.is_empty() {
        let raw = xml::parse(&xml_text).map_err(xml_failure)?;
        if !decrypt::is_encrypted(&raw) {
            if decryption.required {
                return Err(Failure::new(
                    FailureCode::NotEncrypted,
                    Some("an EncryptedAssertion".into()),
                    Some("an unencrypted Assertion".into()),
                    "this organisation requires encrypted assertions",
                ));
            }
        } else {
            let spliced = decrypt::decrypt_response(&xml_text, &raw, &decryption.keys)?;
            drop(raw);
            xml_text = spliced;
        }
    }
    let raw = xml::parse(&xml_text).map_err(xml_failure)?;
    if !raw.is(NS_P, "Response") {
        return Err(Failure::new(
            FailureCode::Malformed,
            Some("samlp:Response".into()),
            Some(format!("{{{}}}{}", raw.ns, raw.name)),
            "the document is not a SAML Response",
        ));
    }
    check_status(&raw)?;
    let assertion = single_assertion(&raw)?;
    check_ids(&raw)?;
    let layout = dsig::inspect(&raw, assertion)?;
    if idp.certificates_der.is_empty() {
        return Err(Failure::new(
            FailureCode::NotConfigured,
            Some("at least one IdP signing certificate".into()),
            None,
            "no signing certificate is configured for this organisation",
        ));
    }
    let (predigest, cert) = dsig::verify(&xml_text, &idp.certificates_der, &layout)?;
    let signed = xml::parse(&predigest).map_err(xml_failure)?;
    let assertion_id = assertion.attr("ID").unwrap_or_default();
    // The response shell: the signed one when the Response is signed, else the raw one.
    let (response, assertion) = if layout.response_signed {
        let id = raw.attr("ID").unwrap_or_default();
        if !signed.is(NS_P, "Response") || signed.attr("ID") != Some(id) {
            return Err(wrapping(
                "the verified content is not this Response",
                &signed,
            ));
        }
        let assertion = single_assertion(&signed)?;
        if assertion.attr("ID") != Some(assertion_id) {
            return Err(wrapping(
                "the verified Response holds another Assertion",
                assertion,
            ));
        }
        (&signed, assertion)
    } else {
        if !signed.is(NS_A, "Assertion") || signed.attr("ID") != Some(assertion_id) {
            return Err(wrapping(
                "the verified content is not this Assertion",
                &signed,
            ));
        }
        (&raw, &signed)
    };
    let signed_parts = match (layout.response_signed, layout.assertion_signed) {
        (true, true) => SignedParts::Both,
        (true, false) => SignedParts::Response,
        _ => SignedParts::Assertion,
    };
    let mut verified = check_assertion(assertion, sp, idp, now)?;
    check_response(response, layout.response_signed, sp, idp, now)?;
    verified.in_response_to = check_in_response_to(
        response.attr("InResponseTo"),
        verified.in_response_to.as_deref(),
        expect,
    )?;
    verified.signed_parts = signed_parts;
    verified.certificate_fingerprint = idp
        .certificates_der
        .get(cert)
        .map(|der| fingerprint(der))
        .unwrap_or_default();
    Ok(verified)
}

fn decode(b64: &str) -> Result<String, Failure> {
    let limit = MAX_RESPONSE_BYTES.div_ceil(3) * 4;
    let too_large = |received: String| {
        Failure::new(
            FailureCode::TooLarge,
            Some(format!("at most {MAX_RESPONSE_BYTES} bytes")),
            Some(received),
            "the SAMLResponse is too large",
        )
    };
    // Whitespace (line-wrapped base64) is allowed; it cannot be more than the text itself.
    if b64.len() > 2 * limit {
        return Err(too_large(format!("{} characters", b64.len())));
    }
    let bytes = decode_base64(b64).ok_or_else(|| {
        Failure::new(
            FailureCode::NotBase64,
            None,
            None,
            "the SAMLResponse is not base64",
        )
    })?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(too_large(format!("{} bytes", bytes.len())));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::malformed("the SAMLResponse is not UTF-8"))?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Standard base64, ignoring ASCII whitespace (line-wrapped posts, certificate text).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = &base64::engine::general_purpose::STANDARD;
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        engine.decode(compact).ok()
    } else {
        engine.decode(text).ok()
    }
}

/// SHA-256 of the DER as uppercase hex pairs joined by colons, the form the admin sees for
/// the organisation's configured certificates (`saml::metadata::fingerprint`).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(3 * 32);
    for (i, b) in openssl::sha::sha256(der).iter().enumerate() {
        let sep = if i == 0 { "" } else { ":" };
        let _ = write!(out, "{sep}{b:02X}");
    }
    out
}

fn xml_failure(e: XmlError) -> Failure {
    match e {
        XmlError::Doctype => Failure::new(
            FailureCode::Doctype,
            Some("no DTD".into()),
            Some("<!DOCTYPE or another markup declaration".into()),
            "DTDs and entity declarations are refused",
        ),
        XmlError::Comment(parent) => Failure::new(
            FailureCode::CommentInjection,
            Some("no comments".into()),
            Some(format!("a comment inside <{parent}>")),
            "comments inside a SAML response are refused (they can split signed values)",
        ),
        XmlError::Malformed(what) => Failure::malformed(format!("not well-formed XML: {what}")),
    }
}

fn wrapping(detail: &str, got: &Element) -> Failure {
    Failure::new(
        FailureCode::SignatureWrapping,
        None,
        Some(format!(
            "{} {}",
            got.name,
            got.attr("ID").unwrap_or_default()
        )),
        detail,
    )
}

fn check_status(response: &Element) -> Result<(), Failure> {
    let status = response
        .child(NS_P, "Status")
        .ok_or_else(|| Failure::malformed("the Response has no Status"))?;
    let code = status.child(NS_P, "StatusCode");
    let value = code.and_then(|c| c.attr("Value")).unwrap_or_default();
    if value == SUCCESS {
        return Ok(());
    }
    let mut received = value.to_string();
    if let Some(sub) = code
        .and_then(|c| c.child(NS_P, "StatusCode"))
        .and_then(|c| c.attr("Value"))
    {
        received.push_str(" / ");
        received.push_str(sub);
    }
    let message = status
        .child(NS_P, "StatusMessage")
        .map(|m| m.text())
        .unwrap_or_default();
    Err(Failure::new(
        FailureCode::StatusNotSuccess,
        Some(SUCCESS.into()),
        Some(received),
        format!("the IdP answered with an error status: {}", message.trim()),
    ))
}

/// Exactly one Assertion in the whole document, as a direct child of the Response.
fn single_assertion<'s, 'a>(response: &'s Element<'a>) -> Result<&'s Element<'a>, Failure> {
    let mut found: Vec<(&Element, bool)> = Vec::new();
    let mut encrypted = false;
    let mut nested_response = false;
    response.walk(&mut |e, path| {
        if e.is(NS_A, "Assertion") {
            found.push((e, path.len() == 1));
        } else if e.is(NS_A, "EncryptedAssertion") {
            encrypted = true;
        } else if e.is(NS_P, "Response") && !path.is_empty() {
            nested_response = true;
        }
    });
    if encrypted {
        return Err(Failure::new(
            FailureCode::EncryptedAssertion,
            Some("an unencrypted Assertion".into()),
            Some("EncryptedAssertion".into()),
            "the assertion is encrypted but encrypted assertions are off for this \
             organisation: turn them on in idgate, or turn off token encryption in Entra",
        ));
    }
    if nested_response {
        return Err(Failure::new(
            FailureCode::SignatureWrapping,
            None,
            Some("a Response inside the Response".into()),
            "a Response may not contain another Response",
        ));
    }
    match found.as_slice() {
        [] => Err(Failure::new(
            FailureCode::NoAssertion,
            Some("1 Assertion".into()),
            Some("0".into()),
            "the Response carries no Assertion",
        )),
        [(a, true)] => Ok(a),
        list if list.iter().all(|(_, direct)| *direct) => Err(Failure::new(
            FailureCode::MultipleAssertions,
            Some("1 Assertion".into()),
            Some(list.len().to_string()),
            "the Response carries more than one Assertion",
        )),
        list => Err(Failure::new(
            FailureCode::SignatureWrapping,
            Some("1 Assertion, directly in the Response".into()),
            Some(format!(
                "{} Assertion(s), {} elsewhere",
                list.len(),
                list.iter().filter(|(_, d)| !d).count()
            )),
            "an Assertion is hidden inside another element",
        )),
    }
}

fn check_ids(response: &Element) -> Result<(), Failure> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicate = None;
    response.walk(&mut |e, _| {
        for a in &e.attrs {
            if a.name == "ID" && a.ns.is_empty() && !seen.insert(a.value.as_ref()) {
                duplicate.get_or_insert_with(|| a.value.to_string());
            }
        }
    });
    match duplicate {
        Some(id) => Err(Failure::new(
            FailureCode::SignatureWrapping,
            Some("unique IDs".into()),
            Some(id),
            "two elements share one ID",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "sp_tests.rs"]
mod tests;

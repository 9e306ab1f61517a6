//! XML-DSig for the ACS: where signatures may sit, what they may say, and the call into
//! samael's xmlsec provider that verifies them against the configured certificates only.
//!
//! xmlsec dereferences every `<Reference>` and runs its transforms *before* it checks the
//! signature value, so a reference to anything but the signed element's own ID (an URL,
//! an XPointer) or any transform but enveloped-signature + canonicalisation is refused here,
//! before xmlsec sees the document.

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoError, CryptoProvider, ReduceMode, XmlSec,
};

use super::xml::Element;
use super::{Failure, FailureCode, NS_DS};

const ALLOWED: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const CANONICALISATIONS: &[&str] = &[
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
];

/// What the signatures of a response look like, before any cryptography.
pub(crate) struct Layout {
    pub response_signed: bool,
    pub assertion_signed: bool,
    /// Certificates found in `<KeyInfo>`: only a hint for which configured certificate to
    /// try first, and for telling "unknown certificate" from "bad signature". Never trusted.
    pub key_info_certs: Vec<Vec<u8>>,
}

/// Checks that the only signatures are one enveloped signature on the root `Response`
/// and/or one on its single `Assertion`, each with one reference to its own parent's ID.
pub(crate) fn inspect(response: &Element, assertion: &Element) -> Result<Layout, Failure> {
    let mut layout = Layout {
        response_signed: false,
        assertion_signed: false,
        key_info_certs: Vec::new(),
    };
    let mut misplaced: Option<String> = None;
    let mut signatures: Vec<(&Element, &Element)> = Vec::new();
    response.walk(&mut |e, path| {
        if !e.is(NS_DS, "Signature") {
            return;
        }
        match path.last() {
            Some(parent) if std::ptr::eq(*parent, response) || std::ptr::eq(*parent, assertion) => {
                signatures.push((e, parent));
            }
            _ => {
                let at = path.iter().map(|p| p.name.as_ref()).collect::<Vec<_>>();
                misplaced.get_or_insert_with(|| at.join("/"));
            }
        }
    });
    if let Some(at) = misplaced {
        return Err(wrapping(
            "a Signature is only allowed directly in the Response or the Assertion",
            at,
        ));
    }
    for (signature, parent) in signatures {
        let on_response = std::ptr::eq(parent, response);
        let seen = if on_response {
            &mut layout.response_signed
        } else {
            &mut layout.assertion_signed
        };
        if *seen {
            return Err(wrapping(
                "more than one Signature on one element",
                parent.name.to_string(),
            ));
        }
        *seen = true;
        check_signature(signature, parent, &mut layout.key_info_certs)?;
    }
    if !layout.response_signed && !layout.assertion_signed {
        return Err(Failure::new(
            FailureCode::NoSignature,
            Some("a signed Assertion or Response".into()),
            Some("no Signature".into()),
            "neither the Response nor the Assertion is signed",
        ));
    }
    Ok(layout)
}

fn check_signature(
    signature: &Element,
    parent: &Element,
    key_info_certs: &mut Vec<Vec<u8>>,
) -> Result<(), Failure> {
    let id = parent.attr("ID").unwrap_or_default();
    if id.is_empty() {
        return Err(wrapping(
            "the signed element has no ID",
            parent.name.to_string(),
        ));
    }
    for child in signature.elements() {
        let known = child.ns == NS_DS
            && matches!(
                child.name.as_ref(),
                "SignedInfo" | "SignatureValue" | "KeyInfo"
            );
        if !known {
            return Err(wrapping(
                "unexpected element inside Signature",
                child.name.to_string(),
            ));
        }
    }
    let mut signed_infos = signature.children_named(NS_DS, "SignedInfo");
    let (Some(info), None) = (signed_infos.next(), signed_infos.next()) else {
        return Err(malformed_sig("a Signature needs exactly one SignedInfo"));
    };
    let c14n = algorithm(info, "CanonicalizationMethod");
    if !CANONICALISATIONS.contains(&c14n) {
        return Err(unsupported("CanonicalizationMethod", c14n));
    }
    let method = algorithm(info, "SignatureMethod");
    if !ALLOWED.iter().any(|a| a.signature_uri() == method) {
        return Err(weak("SignatureMethod", method, "rsa-sha256"));
    }
    let mut references = info.children_named(NS_DS, "Reference");
    let (Some(reference), None) = (references.next(), references.next()) else {
        return Err(wrapping(
            "a Signature must have exactly one Reference",
            parent.name.to_string(),
        ));
    };
    let expected = format!("#{id}");
    let uri = reference.attr("URI").unwrap_or_default();
    if uri != expected {
        return Err(Failure::new(
            FailureCode::SignatureWrapping,
            Some(expected),
            Some(uri.to_string()),
            format!(
                "the Signature of the {} does not reference that element",
                parent.name
            ),
        ));
    }
    let mut enveloped = false;
    if let Some(transforms) = reference.child(NS_DS, "Transforms") {
        for t in transforms.elements() {
            let alg = t.attr("Algorithm").unwrap_or_default();
            if !t.is(NS_DS, "Transform") || !(alg == ENVELOPED || CANONICALISATIONS.contains(&alg))
            {
                return Err(unsupported("Transform", alg));
            }
            enveloped |= alg == ENVELOPED;
            if t.elements().any(|x| x.name != "InclusiveNamespaces") {
                return Err(unsupported("Transform", "a transform with parameters"));
            }
        }
    }
    if !enveloped {
        return Err(unsupported("Transform", "no enveloped-signature transform"));
    }
    let digest = algorithm(reference, "DigestMethod");
    if !ALLOWED.iter().any(|a| a.digest_uri() == digest) {
        return Err(weak("DigestMethod", digest, "sha256"));
    }
    if let Some(key_info) = signature.child(NS_DS, "KeyInfo") {
        for data in key_info.children_named(NS_DS, "X509Data") {
            for cert in data.children_named(NS_DS, "X509Certificate") {
                if let Some(der) = super::decode_base64(&cert.text()) {
                    key_info_certs.push(der);
                }
            }
        }
    }
    Ok(())
}

fn algorithm<'a>(parent: &'a Element, name: &str) -> &'a str {
    parent
        .child(NS_DS, name)
        .and_then(|e| e.attr("Algorithm"))
        .unwrap_or_default()
}

fn wrapping(detail: &str, received: String) -> Failure {
    Failure::new(FailureCode::SignatureWrapping, None, Some(received), detail)
}

fn malformed_sig(detail: &str) -> Failure {
    Failure::new(FailureCode::Malformed, None, None, detail)
}

fn unsupported(what: &str, got: &str) -> Failure {
    Failure::new(
        FailureCode::UnsupportedSignature,
        Some("enveloped-signature and exclusive/inclusive canonicalisation".into()),
        Some(got.to_string()),
        format!("{what} is not one we accept"),
    )
}

fn weak(what: &str, got: &str, want: &str) -> Failure {
    Failure::new(
        FailureCode::WeakAlgorithm,
        Some(format!("{want} or stronger")),
        Some(got.to_string()),
        format!("{what} is not SHA-256 or stronger"),
    )
}

/// Verifies every signature of `xml` with one configured certificate at a time (the one
/// named in KeyInfo first) and returns the canonical bytes xmlsec digested — the only text
/// identity is read from — with the index of the certificate that verified them.
pub(crate) fn verify(
    xml: &str,
    certs: &[Vec<u8>],
    layout: &Layout,
) -> Result<(String, usize), Failure> {
    let mut order: Vec<usize> = (0..certs.len()).collect();
    order.sort_by_key(|&i| !layout.key_info_certs.contains(&certs[i]));
    let mut provider_error = None;
    for i in order {
        let cert = [CertificateDer::from(certs[i].clone())];
        match XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &cert,
            ReduceMode::PreDigest,
            Some(ALLOWED),
        ) {
            Ok(predigest) => return Ok((predigest, i)),
            Err(CryptoError::InvalidSignature) => {}
            Err(e) => {
                provider_error.get_or_insert_with(|| describe(&e));
            }
        }
    }
    let configured: Vec<String> = certs.iter().map(|c| super::fingerprint(c)).collect();
    if let Some(bad) = certs
        .iter()
        .position(|c| openssl::x509::X509::from_der(c).is_err())
    {
        return Err(Failure::new(
            FailureCode::NotConfigured,
            Some("DER X.509 signing certificates".into()),
            Some(configured.join(", ")),
            format!("configured certificate #{} cannot be read", bad + 1),
        ));
    }
    let unknown = layout
        .key_info_certs
        .iter()
        .find(|k| !certs.contains(k))
        .filter(|_| !layout.key_info_certs.iter().any(|k| certs.contains(k)));
    if let Some(unknown) = unknown {
        return Err(Failure::new(
            FailureCode::UnknownCertificate,
            Some(configured.join(", ")),
            Some(super::fingerprint(unknown)),
            "signed with a certificate that is not in this organisation's IdP configuration \
             (SHA-256 fingerprints shown)",
        ));
    }
    let mut detail = "the signature does not verify with the configured certificate: \
                      the signed content was changed, or a different key signed it"
        .to_string();
    if let Some(e) = provider_error {
        detail.push_str(&format!(" ({e})"));
    }
    Err(Failure::new(
        FailureCode::BadSignature,
        Some(configured.join(", ")),
        None,
        detail,
    ))
}

fn describe(e: &CryptoError) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

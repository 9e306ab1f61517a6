//! ACS validation tests, part two: attacks (signature wrapping, comments, forged or weak
//! signatures, DTDs, parser differentials). Each is built from a genuine response signed at
//! test time, with the mutation that makes it bad written in the test.

use super::*;
use crate::saml::test_idp::*;

// ---- signature wrapping ----

fn evil_assertion(signed: &str) -> String {
    let without_signature = signed.replace(slice(signed, "<Signature", "</Signature>"), "");
    without_signature
        .replace(EMAIL, "admin@acme.com")
        .replace(ASSERTION_ID, "_evil")
}

#[test]
fn xsw_signed_assertion_moved_into_extensions() {
    let r = Entra::new(T);
    let signed = r.assertion();
    let moved = format!("<samlp:Extensions>{signed}</samlp:Extensions>");
    let xml = r
        .response_around(&evil_assertion(&signed))
        .replace("<samlp:Status>", &format!("{moved}<samlp:Status>"));
    rejects(&xml, FailureCode::SignatureWrapping);
}

#[test]
fn xsw_signed_assertion_moved_into_signature_object() {
    let r = Entra::new(T);
    let signed = r.assertion();
    let evil = evil_assertion(&signed);
    let sig = slice(&signed, "<Signature", "</Signature>");
    let with_object = sig.replace(
        "</Signature>",
        &format!("<Object>{signed}</Object></Signature>"),
    );
    let evil = evil.replacen("</Issuer>", &format!("</Issuer>{with_object}"), 1);
    rejects(&r.response_around(&evil), FailureCode::SignatureWrapping);
}

#[test]
fn xsw_evil_assertion_wrapping_the_signed_one() {
    let r = Entra::new(T);
    let signed = r.assertion();
    let evil = evil_assertion(&signed).replacen("</Issuer>", &format!("</Issuer>{signed}"), 1);
    rejects(&r.response_around(&evil), FailureCode::SignatureWrapping);
}

#[test]
fn xsw_second_assertion_appended() {
    let r = Entra::new(T);
    let signed = r.assertion();
    let evil = evil_assertion(&signed);
    rejects(
        &r.response_around(&format!("{signed}{evil}")),
        FailureCode::MultipleAssertions,
    );
    rejects(
        &r.response_around(&format!("{evil}{signed}")),
        FailureCode::MultipleAssertions,
    );
}

#[test]
fn xsw_response_signature_wrapping() {
    let mut r = Entra::new(T);
    r.sign_assertion = false;
    r.sign_response = true;
    let original = r.xml();
    let sig = slice(&original, "<Signature", "</Signature>");
    let evil_response = |placement: &str| {
        let mut evil = r.clone();
        evil.sign_response = false;
        evil.name_id = "admin@acme.com".into();
        let outer = evil
            .xml()
            .replace(RESPONSE_ID, "_evilresponse")
            .replace(ASSERTION_ID, "_evilassertion");
        match placement {
            // XSW1: the original Response inside the copied Signature, as an Object.
            "object" => outer.replace(
                "<samlp:Status>",
                &format!(
                    "{}<samlp:Status>",
                    sig.replace(
                        "</Signature>",
                        &format!("<Object>{original}</Object></Signature>")
                    )
                ),
            ),
            // XSW2: the original Response as a detached sibling of the copied Signature.
            _ => outer.replace("<samlp:Status>", &format!("{sig}{original}<samlp:Status>")),
        }
    };
    rejects(&evil_response("object"), FailureCode::SignatureWrapping);
    rejects(&evil_response("sibling"), FailureCode::SignatureWrapping);
}

#[test]
fn assertion_signature_moved_to_the_response_is_wrapping() {
    let r = Entra::new(T);
    let signed = r.assertion();
    let sig = slice(&signed, "<Signature", "</Signature>");
    let xml = r.response_around(&signed.replace(sig, "")).replacen(
        "</Issuer>",
        &format!("</Issuer>{sig}"),
        1,
    );
    rejects(&xml, FailureCode::SignatureWrapping);
}

#[test]
fn duplicate_ids_are_wrapping() {
    let r = Entra::new(T);
    let xml = r
        .xml()
        .replace("<samlp:Status>", &format!(r#"<samlp:Extensions><x ID="{ASSERTION_ID}" xmlns="urn:x"/></samlp:Extensions><samlp:Status>"#));
    rejects(&xml, FailureCode::SignatureWrapping);
}

// ---- other attacks on the signature ----

#[test]
fn comment_injection_in_name_id_and_attribute_values() {
    let mut r = Entra::new(T);
    r.name_id = "user@evil.com.good.com".into();
    let signed = r.xml();
    assert!(
        check(&signed).is_ok(),
        "the uncommented response is genuine"
    );
    // exc-c14n drops comments, so the signature still verifies: the comment itself is refused.
    let f = rejects(
        &signed.replacen("user@evil.com.good.com", "user@evil.com<!---->.good.com", 1),
        FailureCode::CommentInjection,
    );
    assert_eq!(f.received.as_deref(), Some("a comment inside <NameID>"));
    rejects(
        &signed.replace(&format!(">{OID}<"), &format!(">{OID}<!-- x --><")),
        FailureCode::CommentInjection,
    );
}

#[test]
fn stripped_and_tampered_signatures() {
    let signed = Entra::new(T).xml();
    let stripped = signed.replace(slice(&signed, "<Signature", "</Signature>"), "");
    rejects(&stripped, FailureCode::NoSignature);
    rejects(
        &signed.replace(EMAIL, "admin@acme.com"),
        FailureCode::BadSignature,
    );
    rejects(
        &signed.replace("Alice Example", "Mallory"),
        FailureCode::BadSignature,
    );
}

#[test]
fn attacker_key_with_its_certificate_in_key_info() {
    let mut r = Entra::new(T);
    r.key = "attacker-key";
    r.key_info_cert = "attacker-cert";
    let f = rejects(&r.xml(), FailureCode::UnknownCertificate);
    assert_eq!(f.received, Some(fingerprint(&cert_der("attacker-cert"))));
    // The same forgery showing the genuine certificate in KeyInfo is just a bad signature.
    r.key_info_cert = "idp-cert";
    rejects(&r.xml(), FailureCode::BadSignature);
}

#[test]
fn sha1_is_refused() {
    let mut r = Entra::new(T);
    r.signature_method = RSA_SHA1;
    r.digest_method = SHA1;
    rejects(&r.xml(), FailureCode::WeakAlgorithm);
    r.signature_method = RSA_SHA256;
    rejects(&r.xml(), FailureCode::WeakAlgorithm);
}

// ---- documents refused before any signature work ----

#[test]
fn doctype_xxe_and_billion_laughs() {
    let body = Entra::new(T).xml();
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        body.replace(EMAIL, "&x;")
    );
    rejects(&xxe, FailureCode::Doctype);
    let mut laughs = String::from(r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">"#);
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            r#"<!ENTITY lol{i} "{}">"#,
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>");
    laughs.push_str(&body.replace(EMAIL, "&lol9;"));
    rejects(&laughs, FailureCode::Doctype);
    // A DOCTYPE hidden after the prolog is refused too.
    rejects(
        &body.replace("<samlp:Status>", "<!DOCTYPE x><samlp:Status>"),
        FailureCode::Doctype,
    );
}

#[test]
fn non_success_status() {
    let xml = format!(
        r#"<samlp:Response ID="_r" Version="2.0" IssueInstant="{t}" Destination="{ACS}" InResponseTo="{REQUEST_ID}" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{IDP}</Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></samlp:StatusCode><samlp:StatusMessage>AADSTS50105: not assigned</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        t = ts(T)
    );
    let f = rejects(&xml, FailureCode::StatusNotSuccess);
    assert!(f.received.unwrap_or_default().ends_with("RequestDenied"));
    assert!(f.detail.contains("AADSTS50105"));
}

#[test]
fn encrypted_assertion_is_refused() {
    let r = Entra::new(T);
    let enc = r#"<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></EncryptedAssertion>"#;
    rejects(&r.response_around(enc), FailureCode::EncryptedAssertion);
}

#[test]
fn encoding_size_and_shape() {
    let f = validate_response("not base64!", &sp(), &idp(), &SOLICITED, T).unwrap_err();
    assert_eq!(f.code, FailureCode::NotBase64);
    let big = b64(&"x".repeat(MAX_RESPONSE_BYTES + 1));
    let f = validate_response(&big, &sp(), &idp(), &SOLICITED, T).unwrap_err();
    assert_eq!(f.code, FailureCode::TooLarge);
    rejects("<samlp:Response", FailureCode::Malformed);
    rejects(r#"<x:Response xmlns:x="urn:x"/>"#, FailureCode::Malformed);
    let r = Entra::new(T);
    rejects(&r.response_around(""), FailureCode::NoAssertion);
    let mut unsigned = r.clone();
    unsigned.sign_assertion = false;
    rejects(&unsigned.xml(), FailureCode::NoSignature);
    // Line-wrapped base64, as some form posts carry it, is accepted.
    let wrapped: String = b64(&r.xml())
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect();
    assert!(validate_response(&wrapped, &sp(), &idp(), &SOLICITED, T).is_ok());
}

#[test]
fn no_configured_certificate_never_skips_verification() {
    let mut idp = idp();
    idp.certificates_der.clear();
    let f = validate_response(&b64(&Entra::new(T).xml()), &sp(), &idp, &SOLICITED, T).unwrap_err();
    assert_eq!(f.code, FailureCode::NotConfigured);
}

#[test]
fn xml_that_parsers_could_read_differently_is_refused() {
    let good = Entra::new(T).xml();
    for (what, xml) in [
        (
            "'<' in an attribute",
            good.replacen(r#"Version="2.0""#, r#"Version="2.0" x="<a>""#, 1),
        ),
        (
            "undeclared prefix",
            good.replacen("<samlp:Status>", "<evil:x/><samlp:Status>", 1),
        ),
        (
            "duplicate attribute",
            good.replacen(r#"Version="2.0""#, r#"Version="2.0" Version="2.0""#, 1),
        ),
        ("content after the root", format!("{good}<samlp:Response/>")),
        ("text after the root", format!("{good}tail")),
        (
            "UTF-16 declaration",
            format!(r#"<?xml version="1.0" encoding="UTF-16"?>{good}"#),
        ),
        (
            "processing instruction",
            good.replacen("<samlp:Status>", "<?pi x?><samlp:Status>", 1),
        ),
        ("undefined entity", good.replacen(EMAIL, "&bogus;", 1)),
        (
            "mismatched end tag",
            good.replacen("</samlp:Status>", "</samlp:Statu>", 1),
        ),
        (
            "control character",
            good.replacen(EMAIL, "alice\u{1}@acme.com", 1),
        ),
    ] {
        let f = check(&xml).expect_err(what);
        assert_eq!(f.code, FailureCode::Malformed, "{what}: {f}");
    }
    // Character references and CDATA are plain text to XML-DSig: the signature still holds.
    let at_ref = "alice&#64;acme.com</NameID>";
    assert!(check(&good.replacen("alice@acme.com</NameID>", at_ref, 1)).is_ok());
    let cdata = "alice<![CDATA[@acme]]>.com</NameID>";
    let v = check(&good.replacen("alice@acme.com</NameID>", cdata, 1)).expect("CDATA");
    assert_eq!(v.name_id, EMAIL);
}

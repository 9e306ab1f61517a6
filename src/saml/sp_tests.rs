//! ACS validation tests: the real 2022 Entra response, then fresh Entra-shaped responses
//! signed at test time with tests/fixtures/saml-test-key/, genuine and attacked.

use time::macros::datetime;

use super::*;

#[path = "sp_attack_tests.rs"]
mod attacks;

use crate::saml::test_idp::*;

const T: OffsetDateTime = datetime!(2026-03-01 10:00:00 UTC);
const ENTRA_XML: &str =
    include_str!("../../tests/fixtures/entra/entra-response-2022-assertion-signed.xml");
const ENTRA_CERT: &str =
    include_str!("../../tests/fixtures/entra/entra-response-2022-signing-cert.pem");
const ENTRA_IDP: &str = "https://sts.windows.net/5b5c94c6-14cf-42da-85bc-4e08722b253b/";
const ENTRA_SP: &str = "https://devpg.tercen.com/_service/sso/auth/saml";
const ENTRA_REQUEST: &str = "id6491e192-e2d9-4970-ab03-e38ffda6e033";

fn sp() -> SpSettings {
    SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        clock_skew: Duration::from_secs(120),
    }
}

fn idp() -> IdpSettings {
    IdpSettings {
        entity_id: IDP.into(),
        certificates_der: vec![cert_der("idp-cert")],
    }
}

const SOLICITED: Expectation<'static> = Expectation {
    in_response_to: Some(REQUEST_ID),
    allow_unsolicited: false,
};

fn check(xml: &str) -> Result<Verified, Failure> {
    validate_response(
        &b64(xml),
        &sp(),
        &idp(),
        &SOLICITED,
        T + time::Duration::seconds(30),
    )
}

#[track_caller]
fn rejects(xml: &str, code: FailureCode) -> Failure {
    match check(xml) {
        Ok(v) => panic!("accepted, expected {code}: {v:?}"),
        Err(f) => {
            assert_eq!(f.code, code, "{f}");
            f
        }
    }
}

// ---- the real Entra response (2022) ----

fn entra_cert_der() -> Vec<u8> {
    openssl::x509::X509::from_pem(ENTRA_CERT.as_bytes())
        .and_then(|c| c.to_der())
        .expect("Entra cert")
}

fn entra(
    xml: &str,
    audience: &str,
    cert: Vec<u8>,
    now: OffsetDateTime,
) -> Result<Verified, Failure> {
    let sp = SpSettings {
        entity_id: audience.into(),
        acs_url: ENTRA_SP.into(),
        clock_skew: Duration::from_secs(120),
    };
    let idp = IdpSettings {
        entity_id: ENTRA_IDP.into(),
        certificates_der: vec![cert],
    };
    let expect = Expectation {
        in_response_to: Some(ENTRA_REQUEST),
        allow_unsolicited: false,
    };
    validate_response(&b64(xml), &sp, &idp, &expect, now)
}

const ENTRA_NOW: OffsetDateTime = datetime!(2022-02-23 17:50:00 UTC);

#[test]
fn real_entra_response_verifies_inside_its_window() {
    let v = entra(ENTRA_XML, ENTRA_SP, entra_cert_der(), ENTRA_NOW).expect("verifies");
    assert_eq!(v.assertion_id, "_8c68ecbc-f68b-4f9b-bf66-e6afe9c0b001");
    assert_eq!(v.name_id, "test@alexandremaurelgmail.onmicrosoft.com");
    assert_eq!(
        v.name_id_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(v.issuer, ENTRA_IDP);
    assert_eq!(v.in_response_to.as_deref(), Some(ENTRA_REQUEST));
    assert_eq!(v.signed_parts, SignedParts::Assertion);
    // From `openssl x509 -noout -fingerprint -sha256` (tests/fixtures/entra/SOURCES.md).
    assert_eq!(
        v.certificate_fingerprint,
        "78:D2:BE:38:6A:41:67:52:7F:66:B5:33:B7:B9:DE:62:FF:B7:0B:EF:17:D1:0D:65:B7:6A:29:DA:8A:82:33:47"
    );
    assert_eq!(
        v.attribute("http://schemas.microsoft.com/identity/claims/objectidentifier"),
        Some(&["814bd554-6a00-405c-91d5-4132d39ba4fb".to_string()][..])
    );
    // Conditions end 18:49:18.779 but the IssueInstant (17:49:18.872) ages out first.
    assert_eq!(v.not_on_or_after, datetime!(2022-02-23 18:01:18.872 UTC));
}

#[test]
fn real_entra_response_failures() {
    let today = OffsetDateTime::now_utc();
    let code = |r: Result<Verified, Failure>| r.map(|_| ()).map_err(|f| f.code);
    assert_eq!(
        code(entra(ENTRA_XML, ENTRA_SP, entra_cert_der(), today)),
        Err(FailureCode::Expired)
    );
    assert_eq!(
        code(entra(
            ENTRA_XML,
            "https://other.example.com/saml",
            entra_cert_der(),
            ENTRA_NOW
        )),
        Err(FailureCode::WrongAudience)
    );
    assert_eq!(
        code(entra(ENTRA_XML, ENTRA_SP, cert_der("idp-cert"), ENTRA_NOW)),
        Err(FailureCode::UnknownCertificate)
    );
    let tampered = ENTRA_XML.replace(">test@alexandremaurel", ">tesu@alexandremaurel");
    assert_ne!(tampered, ENTRA_XML);
    assert_eq!(
        code(entra(&tampered, ENTRA_SP, entra_cert_der(), ENTRA_NOW)),
        Err(FailureCode::BadSignature)
    );
}

// ---- genuine fresh responses ----

#[test]
fn genuine_responses_in_all_three_signing_modes() {
    for (assertion, response, parts) in [
        (true, false, SignedParts::Assertion),
        (false, true, SignedParts::Response),
        (true, true, SignedParts::Both),
    ] {
        let mut r = Entra::new(T);
        r.sign_assertion = assertion;
        r.sign_response = response;
        let v = check(&r.xml()).unwrap_or_else(|f| panic!("{parts:?}: {f}"));
        assert_eq!(v.signed_parts, parts);
        assert_eq!(v.assertion_id, ASSERTION_ID);
        assert_eq!(v.name_id, EMAIL);
        assert_eq!(v.issuer, IDP);
        assert_eq!(v.in_response_to.as_deref(), Some(REQUEST_ID));
        assert_eq!(
            v.certificate_fingerprint,
            fingerprint(&cert_der("idp-cert"))
        );
        assert_eq!(
            v.attribute("http://schemas.microsoft.com/identity/claims/objectidentifier"),
            Some(&[OID.to_string()][..])
        );
        assert_eq!(
            v.attribute("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"),
            Some(&[EMAIL.to_string()][..])
        );
        assert_eq!(
            v.attribute("http://schemas.microsoft.com/ws/2008/06/identity/claims/role"),
            Some(&["Admin".to_string(), "Reader".to_string()][..])
        );
        assert_eq!(
            v.not_on_or_after,
            T + MAX_ISSUE_AGE + time::Duration::seconds(120)
        );
    }
}

#[test]
fn any_configured_certificate_verifies_for_rollover() {
    let mut idp = idp();
    idp.certificates_der.insert(0, entra_cert_der());
    let v = validate_response(&b64(&Entra::new(T).xml()), &sp(), &idp, &SOLICITED, T)
        .expect("second certificate verifies");
    assert_eq!(
        v.certificate_fingerprint,
        fingerprint(&cert_der("idp-cert"))
    );
}

#[test]
fn reuse_returns_the_same_assertion_id_for_the_replay_cache() {
    let xml = Entra::new(T).xml();
    let first = check(&xml).expect("first");
    let second = check(&xml).expect("second: replay is the caller's to refuse");
    assert_eq!(first.assertion_id, second.assertion_id);
    assert!(first.not_on_or_after > T);
}

// ---- wrong values, time, InResponseTo ----

#[test]
fn wrong_audience_recipient_destination_issuer() {
    type Mutation = fn(&mut Entra);
    let cases: [(Mutation, FailureCode); 5] = [
        (
            |r| r.audience = "https://other.example.com".into(),
            FailureCode::WrongAudience,
        ),
        (
            |r| r.recipient = "https://other.example.com/acs".into(),
            FailureCode::WrongRecipient,
        ),
        (
            |r| r.destination = Some("https://other.example.com/acs".into()),
            FailureCode::WrongDestination,
        ),
        (
            |r| r.issuer = "https://sts.windows.net/evil/".into(),
            FailureCode::WrongIssuer,
        ),
        (
            |r| r.response_issuer = "https://sts.windows.net/evil/".into(),
            FailureCode::WrongIssuer,
        ),
    ];
    for (mutate, code) in cases {
        let mut r = Entra::new(T);
        mutate(&mut r);
        let f = rejects(&r.xml(), code);
        assert!(f.expected.is_some() && f.received.is_some(), "{f}");
    }
    let mut r = Entra::new(T);
    r.destination = None;
    assert!(
        check(&r.xml()).is_ok(),
        "Destination is optional on an unsigned Response"
    );
    r.sign_response = true;
    rejects(&r.xml(), FailureCode::WrongDestination);
}

#[test]
fn expired_and_not_yet_valid() {
    let xml = b64(&Entra::new(T).xml());
    let at = |now| validate_response(&xml, &sp(), &idp(), &SOLICITED, now).map_err(|f| f.code);
    assert!(
        at(T - time::Duration::minutes(1)).is_ok(),
        "within the clock skew"
    );
    assert_eq!(
        at(T + time::Duration::hours(2)).err(),
        Some(FailureCode::Expired)
    );
    assert_eq!(
        at(T + time::Duration::minutes(20)).err(),
        Some(FailureCode::Expired)
    );
    assert_eq!(
        at(T - time::Duration::minutes(10)).err(),
        Some(FailureCode::NotYetValid)
    );
}

#[test]
fn in_response_to_rules() {
    let xml = b64(&Entra::new(T).xml());
    let with = |in_response_to, allow_unsolicited| {
        let e = Expectation {
            in_response_to,
            allow_unsolicited,
        };
        validate_response(&xml, &sp(), &idp(), &e, T).map_err(|f| f.code)
    };
    assert!(with(Some(REQUEST_ID), false).is_ok());
    assert_eq!(
        with(Some("id-other"), false).err(),
        Some(FailureCode::UnexpectedInResponseTo)
    );
    assert_eq!(
        with(None, false).err(),
        Some(FailureCode::UnexpectedInResponseTo)
    );
    assert_eq!(
        with(None, true).err(),
        Some(FailureCode::UnexpectedInResponseTo)
    );

    let mut r = Entra::new(T);
    r.in_response_to = None;
    let xml = b64(&r.xml());
    let with = |in_response_to, allow_unsolicited| {
        let e = Expectation {
            in_response_to,
            allow_unsolicited,
        };
        validate_response(&xml, &sp(), &idp(), &e, T).map_err(|f| f.code)
    };
    assert_eq!(with(None, false).err(), Some(FailureCode::Unsolicited));
    assert_eq!(
        with(Some(REQUEST_ID), false).err(),
        Some(FailureCode::MissingInResponseTo)
    );
    let v = with(None, true).expect("IdP-initiated allowed");
    assert_eq!(v.in_response_to, None);
}

#[test]
fn concurrent_verification_from_many_threads() {
    init().expect("xmlsec starts");
    let good = b64(&Entra::new(T).xml());
    let bad = b64(&Entra::new(T).xml().replace(EMAIL, "admin@acme.com"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..25 {
                    let (sp, idp) = (sp(), idp());
                    let ok = validate_response(&good, &sp, &idp, &SOLICITED, T);
                    assert_eq!(ok.map(|v| v.name_id), Ok(EMAIL.to_string()), "run {i}");
                    let err = validate_response(&bad, &sp, &idp, &SOLICITED, T);
                    assert_eq!(
                        err.map_err(|f| f.code).err(),
                        Some(FailureCode::BadSignature)
                    );
                }
            });
        }
    });
}

#[test]
fn precheck_finds_forbidden_characters_anywhere() {
    let base = format!("<a>{}</a>", "x".repeat(200));
    assert_eq!(xml::precheck(&base), Ok(()));
    let allowed = format!("<a>\t\n\r\u{FFFD}\u{10000}é{}</a>", "x".repeat(100));
    assert_eq!(xml::precheck(&allowed), Ok(()));
    for at in [3, 63, 64, 65, 127, 128, 150, 202] {
        for bad in ['\u{0}', '\u{1}', '\u{B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            let mut text = base.clone();
            text.replace_range(at..=at, bad.encode_utf8(&mut [0; 4]));
            let want = format!("forbidden control character U+{:04X}", u32::from(bad));
            assert_eq!(xml::precheck(&text), Err(XmlError::Malformed(want)), "{at}");
        }
    }
}

#[test]
fn parsed_tree_borrows_plain_text_and_unescapes_the_rest() {
    let doc = "<r xmlns=\"urn:x\" a=\"1 &amp; 2\" b=\"plain\">one&#64;two\r\nthree<![CDATA[<c>]]>\
               <s:e xmlns:s=\"urn:oasis:names:tc:SAML:2.0:assertion\" s:q=\"v\">t</s:e></r>";
    let root = xml::parse(doc).expect("well-formed");
    assert!(root.is("urn:x", "r"));
    assert_eq!(root.attr("a"), Some("1 & 2"));
    assert_eq!(root.attr("b"), Some("plain"));
    assert_eq!(root.text(), "one@two\nthree<c>");
    let e = root.child(NS_A, "e").expect("child");
    assert_eq!(
        e.attr("q"),
        None,
        "namespaced attributes are not SAML attributes"
    );
    assert_eq!(
        (e.attrs[0].ns.as_ref(), e.attrs[0].value.as_ref()),
        (NS_A, "v")
    );
    assert_eq!(e.text(), "t");
    let borrowed = |c: &std::borrow::Cow<'_, str>| matches!(c, std::borrow::Cow::Borrowed(_));
    assert!(borrowed(&root.name) && borrowed(&e.ns) && borrowed(&e.attrs[0].value));
    assert!(borrowed(&e.text()));
}

#[test]
fn codes_are_stable_snake_case() {
    assert_eq!(
        FailureCode::SignatureWrapping.as_str(),
        "signature_wrapping"
    );
    assert_eq!(
        FailureCode::UnexpectedInResponseTo.as_str(),
        "unexpected_in_response_to"
    );
}

/// `cargo test --release -- --ignored --nocapture verification_speed`
#[test]
#[ignore = "benchmark; run in release mode"]
fn verification_speed() {
    init().expect("xmlsec starts");
    let xml = b64(&Entra::new(T).xml());
    let (sp, idp) = (sp(), idp());
    for _ in 0..20 {
        validate_response(&xml, &sp, &idp, &SOLICITED, T).expect("warm-up");
    }
    let n = 1000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        validate_response(&xml, &sp, &idp, &SOLICITED, T).expect("verifies");
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("validate_response: {per:.1} µs per verification ({n} runs)");
}

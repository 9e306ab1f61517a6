//! Hand entry: the certificate as the admin's `.cer` file comes (PEM, Base64, DER), and what
//! is refused. Expected values computed with `openssl x509 -noout -fingerprint -sha256 -dates`.

use time::OffsetDateTime;
use time::macros::datetime;

use super::super::tests::{ENTRA_PEM, kind};
use super::super::*;

const PEM_FINGERPRINT: &str = "78:D2:BE:38:6A:41:67:52:7F:66:B5:33:B7:B9:DE:62:FF:B7:0B:EF:17:D1:0D:65:B7:6A:29:DA:8A:82:33:47";

/// (case, certificate, entity ID, sign-on URL, now, error variant, message fragment)
type BadHandCase = (
    &'static str,
    &'static [u8],
    &'static str,
    &'static str,
    OffsetDateTime,
    &'static str,
    &'static str,
);

#[test]
fn hand_entry() {
    let pem = std::str::from_utf8(ENTRA_PEM).expect("PEM is text");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &body).expect("base64");
    let now = datetime!(2023-06-01 00:00 UTC);
    // (case: the form the .cer comes in, bytes)
    let cases: [(&str, Vec<u8>); 5] = [
        ("PEM fixture", ENTRA_PEM.to_vec()),
        (
            "PEM with CRLF line ends and a BOM (Windows)",
            format!("\u{feff}{}", pem.replace('\n', "\r\n")).into(),
        ),
        ("Base64 body only, one line", body.clone().into()),
        (
            "Base64 body only, wrapped at 76 columns",
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<Vec<_>>()
                .join("\n")
                .into(),
        ),
        ("binary DER", der.clone()),
    ];
    for (case, cert) in cases {
        let (config, warnings) = from_parts(
            &cert,
            " https://sts.windows.net/tenant/ ",
            "https://login.microsoftonline.com/tenant/saml2",
            now,
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            config.entity_id, "https://sts.windows.net/tenant/",
            "{case}"
        );
        let [c] = config.certificates.as_slice() else {
            panic!("{case}: one certificate")
        };
        assert_eq!(c.der, der, "{case}");
        assert_eq!(c.sha256_fingerprint, PEM_FINGERPRINT, "{case}");
        assert_eq!(
            c.subject, "CN=Microsoft Azure Federated SSO Certificate",
            "{case}"
        );
        assert_eq!(
            (c.not_before, c.not_after),
            (
                datetime!(2022-02-23 09:21:37 UTC),
                datetime!(2025-02-23 09:21:37 UTC)
            ),
            "{case}"
        );
        assert!(warnings.is_empty(), "{case}");
    }
    for url in [
        "http://localhost/sso",
        "http://[::1]:8080/sso",
        "HTTPS://Login.Example.com:443/saml2?x=1",
    ] {
        let (config, _) = from_parts(ENTRA_PEM, "e", url, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.sso_url, url);
    }
    let (_, warnings) = from_parts(
        ENTRA_PEM,
        "e",
        "http://127.0.0.1:8080/sso",
        datetime!(2025-02-10 09:21:37 UTC),
    )
    .expect("loopback http");
    assert_eq!(warnings, [Warning("certificate CN=Microsoft Azure Federated SSO Certificate (SHA-256 78:D2:BE:38…) expires on 2025-02-23 09:21 UTC (in 13 days)".into())]);
}

#[test]
fn bad_hand_entry() {
    let now = datetime!(2023-06-01 00:00 UTC);
    let url = "https://login.microsoftonline.com/t/saml2";
    let key = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".as_slice();
    let cut_pem = &ENTRA_PEM[..600];
    let cases: [BadHandCase; 13] = [
        (
            "empty entity ID",
            ENTRA_PEM,
            " ",
            url,
            now,
            "EmptyEntityId",
            "entity ID is empty",
        ),
        (
            "http sign-on URL",
            ENTRA_PEM,
            "e",
            "http://login.microsoftonline.com/t/saml2",
            now,
            "BadUrl",
            "must use https://",
        ),
        (
            "relative sign-on URL",
            ENTRA_PEM,
            "e",
            "/saml2",
            now,
            "BadUrl",
            "not an absolute URL",
        ),
        (
            "sign-on URL with a user name",
            ENTRA_PEM,
            "e",
            "https://me@login.example.com/",
            now,
            "BadUrl",
            "user name",
        ),
        (
            "sign-on URL with a space",
            ENTRA_PEM,
            "e",
            "https://login.example.com/a b",
            now,
            "BadUrl",
            "spaces",
        ),
        (
            "sign-on URL with a bad port",
            ENTRA_PEM,
            "e",
            "https://login.example.com:99999/",
            now,
            "BadUrl",
            "port",
        ),
        (
            "bad IPv6 host",
            ENTRA_PEM,
            "e",
            "https://[fe80::zz]/",
            now,
            "BadUrl",
            "IPv6 address is not valid",
        ),
        (
            "plain http to a host named localhost.example.com",
            ENTRA_PEM,
            "e",
            "http://localhost.example.com/",
            now,
            "BadUrl",
            "only for localhost",
        ),
        (
            "javascript: URL",
            ENTRA_PEM,
            "e",
            "javascript://alert(1)",
            now,
            "BadUrl",
            "no valid host",
        ),
        (
            "a private key instead of the certificate",
            key,
            "e",
            url,
            now,
            "BadCertificate",
            "never share a private key",
        ),
        (
            "PEM cut short",
            cut_pem,
            "e",
            url,
            now,
            "BadCertificate",
            "no -----END CERTIFICATE----- line",
        ),
        (
            "empty certificate",
            b"",
            "e",
            url,
            now,
            "BadCertificate",
            "empty",
        ),
        (
            "binary garbage that looks like DER",
            b"\x30\x03\x02\x01\x00",
            "e",
            url,
            now,
            "BadCertificate",
            "not an X.509",
        ),
    ];
    for (case, cert, entity_id, sso_url, now, expected, fragment) in cases {
        let err = from_parts(cert, entity_id, sso_url, now).expect_err(case);
        assert_eq!(kind(&err), expected, "{case}: {err}");
        assert!(err.to_string().contains(fragment), "{case}: {err}");
    }
}

#[test]
fn der_with_trailing_bytes_and_oversized_files_are_refused() {
    let config = parse_certificate(ENTRA_PEM).expect("fixture");
    let mut der = config.der.clone();
    der.extend_from_slice(b"extra");
    let err = parse_certificate(&der).expect_err("trailing bytes");
    assert!(
        err.to_string()
            .contains("5 stray bytes follow the certificate"),
        "{err}"
    );
    let err = parse_certificate(&vec![b'A'; MAX_CERTIFICATE_BYTES + 1]).expect_err("too large");
    assert_eq!(kind(&err), "TooLarge");
}

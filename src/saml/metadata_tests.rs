//! Fixtures: tests/fixtures/entra/SOURCES.md. Expected fingerprints and dates were computed
//! with `openssl x509 -noout -fingerprint -sha256 -subject -dates`, not by this code.

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;

/// Entra's common Federation Metadata (2017): Signature, 2 RoleDescriptors, IDPSSODescriptor.
const ENTRA: &[u8] =
    include_bytes!("../../tests/fixtures/entra/entra-common-federationmetadata-2017.xml");
/// Entra's "Microsoft Azure Federated SSO Certificate" (2022–2025), as a PEM `.cer`.
pub(super) const ENTRA_PEM: &[u8] =
    include_bytes!("../../tests/fixtures/entra/entra-response-2022-signing-cert.pem");

/// When all three certificates of the metadata are valid.
const ALL_VALID: OffsetDateTime = datetime!(2018-01-01 12:00 UTC);

const ENTRA_CERTS: [(&str, &str, OffsetDateTime, OffsetDateTime); 3] = [
    (
        "3C:B3:E2:A1:27:22:D3:E7:59:7B:D6:8D:1F:00:6E:44:75:15:E0:FA:21:C0:E4:84:59:74:7F:51:36:81:26:DD",
        "CN=accounts.accesscontrol.windows.net",
        datetime!(2017-02-13 00:00:00 UTC),
        datetime!(2019-02-14 00:00:00 UTC),
    ),
    (
        "C3:AB:06:1B:65:2D:C9:A7:47:F3:3D:E0:A8:9F:B5:C4:60:9A:0E:FB:51:18:B0:A3:96:A5:7D:CE:3D:A1:DB:B3",
        "CN=accounts.accesscontrol.windows.net",
        datetime!(2017-03-26 00:00:00 UTC),
        datetime!(2019-03-27 00:00:00 UTC),
    ),
    (
        "5C:75:8D:68:2B:B2:17:F0:1F:43:BE:D5:1D:00:90:29:CE:CD:2E:CE:52:CB:E8:C7:31:2C:E8:DF:13:D5:4B:7C",
        "CN=login.microsoftonline.us",
        datetime!(2016-11-16 08:00:00 UTC),
        datetime!(2018-11-16 08:00:00 UTC),
    ),
];

/// (case, now, `Ok(warnings)` or `Err(message fragment)`)
type ValidityCase = (
    &'static str,
    OffsetDateTime,
    Result<&'static [&'static str], &'static str>,
);
/// (case: what was changed, mutation of the fixture text)
type Variation = (&'static str, fn(&str) -> String);
/// (case: the mutation, mutation of the fixture text, error variant, message fragment)
type BadCase = (
    &'static str,
    fn(&str) -> Vec<u8>,
    &'static str,
    &'static str,
);
fn entra() -> String {
    String::from_utf8(ENTRA.to_vec()).expect("fixture is UTF-8")
}

fn replace_all(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "mutation target {from:?} not in fixture");
    s.replace(from, to)
}

/// Removes every element that starts with `start` and ends with the first `end` after it.
fn remove_all(s: &str, start: &str, end: &str) -> String {
    let mut out = s.to_owned();
    while let Some(i) = out.find(start) {
        let j = out[i..].find(end).expect("end tag") + i + end.len();
        out.replace_range(i..j, "");
    }
    out
}

/// Byte range of the `n`th (0-based) `<X509Certificate>` text inside the IDPSSODescriptor.
fn idp_cert_range(s: &str, n: usize) -> std::ops::Range<usize> {
    let mut at = s.find("<IDPSSODescriptor").expect("IDPSSODescriptor");
    for _ in 0..n {
        at += s[at..].find("</X509Certificate>").expect("cert") + 1;
    }
    let open = "<X509Certificate>";
    let start = at + s[at..].find(open).expect("cert") + open.len();
    start..start + s[start..].find("</X509Certificate>").expect("cert end")
}

pub(super) fn kind(e: &MetadataError) -> &'static str {
    match e {
        MetadataError::TooLarge { .. } => "TooLarge",
        MetadataError::NotXml { .. } => "NotXml",
        MetadataError::Malformed { .. } => "Malformed",
        MetadataError::Doctype { .. } => "Doctype",
        MetadataError::NoEntityDescriptor { .. } => "NoEntityDescriptor",
        MetadataError::SeveralEntities { .. } => "SeveralEntities",
        MetadataError::EmptyEntityId => "EmptyEntityId",
        MetadataError::SpMetadata => "SpMetadata",
        MetadataError::NoIdpDescriptor { .. } => "NoIdpDescriptor",
        MetadataError::NoSigningCertificate { .. } => "NoSigningCertificate",
        MetadataError::BadCertificate { .. } => "BadCertificate",
        MetadataError::NoRedirectBinding { .. } => "NoRedirectBinding",
        MetadataError::BadUrl { .. } => "BadUrl",
    }
}

fn assert_entra_certs(certs: &[Certificate]) {
    assert_eq!(certs.len(), ENTRA_CERTS.len());
    for (cert, (fp, subject, from, to)) in certs.iter().zip(ENTRA_CERTS) {
        assert_eq!(cert.sha256_fingerprint, fp);
        assert_eq!(fingerprint(&cert.der), fp);
        assert_eq!(cert.subject, subject);
        assert_eq!((cert.not_before, cert.not_after), (from, to));
        assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----\nMIID"));
        assert_eq!(
            parse_certificate(cert.pem.as_bytes()).expect("own PEM").der,
            cert.der
        );
    }
}

#[test]
fn entra_federation_metadata() {
    let (config, warnings) = parse_metadata(ENTRA, ALL_VALID).expect("real Entra metadata");
    assert_eq!(config.entity_id, "https://sts.windows.net/{tenantid}/");
    assert_eq!(
        config.sso_url,
        "https://login.microsoftonline.com/common/saml2"
    );
    assert_entra_certs(&config.certificates);
    assert_eq!(warnings, vec![]);
}

#[test]
fn certificate_validity_against_now() {
    let cases: [ValidityCase; 4] = [
        ("all three valid", ALL_VALID, Ok(&[])),
        (
            "login.microsoftonline.us expires in 15 days",
            datetime!(2018-11-01 08:00 UTC),
            Ok(&[
                "certificate CN=login.microsoftonline.us (SHA-256 5C:75:8D:68…) expires on 2018-11-16 08:00 UTC (in 15 days)",
            ]),
        ),
        (
            "login.microsoftonline.us expired, the others still valid",
            datetime!(2018-12-01 00:00 UTC),
            Ok(&[
                "certificate CN=login.microsoftonline.us (SHA-256 5C:75:8D:68…) has expired (on 2018-11-16 08:00 UTC)",
            ]),
        ),
        (
            "the second certificate is not valid yet",
            datetime!(2017-03-01 00:00 UTC),
            Ok(&[
                "certificate CN=accounts.accesscontrol.windows.net (SHA-256 C3:AB:06:1B…) is not valid yet (valid from 2017-03-26 00:00 UTC)",
            ]),
        ),
    ];
    for (case, now, expected) in cases {
        let got = parse_metadata(ENTRA, now);
        match (got, expected) {
            (Ok((config, warnings)), Ok(expected)) => {
                assert_eq!(config.certificates.len(), 3, "{case}");
                let warnings: Vec<String> = warnings.into_iter().map(|w| w.0).collect();
                assert_eq!(warnings, expected, "{case}");
            }
            (got, _) => panic!("{case}: unexpected {got:?}"),
        }
    }
    // No certificate valid at all (an old download, or one from the future): kept, with a
    // first warning that says sign-in will fail and lists every certificate's dates.
    for (now, fragment) in [
        (
            datetime!(2019-06-01 00:00 UTC),
            "none of the signing certificates is valid on 2019-06-01 00:00 UTC",
        ),
        (
            datetime!(2016-01-01 00:00 UTC),
            "CN=login.microsoftonline.us (SHA-256 5C:75:8D:68…) is valid from 2016-11-16 08:00 UTC to 2018-11-16 08:00 UTC",
        ),
    ] {
        let (config, warnings) = parse_metadata(ENTRA, now).expect("kept with warnings");
        assert_eq!(config.certificates.len(), 3);
        assert!(warnings[0].0.contains(fragment), "{}", warnings[0].0);
        assert!(
            warnings[0].0.contains("sign-in will fail"),
            "{}",
            warnings[0].0
        );
        assert_eq!(warnings.len(), 4, "{warnings:?}");
    }
}

#[test]
fn variations_that_still_parse() {
    let cases = variations();
    for (case, mutate) in cases {
        let (config, warnings) = parse_metadata(mutate(&entra()).as_bytes(), ALL_VALID)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            config.entity_id, "https://sts.windows.net/{tenantid}/",
            "{case}"
        );
        assert_eq!(
            config.sso_url, "https://login.microsoftonline.com/common/saml2",
            "{case}"
        );
        assert_entra_certs(&config.certificates);
        assert!(warnings.is_empty(), "{case}");
    }
}

const XXE: &str = r#"<!DOCTYPE EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#;
const LAUGHS: &str = r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>"#;
const DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

#[test]
fn bad_metadata_is_refused_with_the_specific_error() {
    let cases = bad_cases();
    for (case, mutate, expected, fragment) in cases {
        let err = parse_metadata(&mutate(&entra()), ALL_VALID).expect_err(case);
        assert_eq!(kind(&err), expected, "{case}: {err}");
        assert!(err.to_string().contains(fragment), "{case}: {err}");
    }
}

/// xorshift64*: reproducible without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = Rng(0x1D6A_7E5E_ED00_0001);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..2_000 {
        let mut input = ENTRA.to_vec();
        match rng.below(4) {
            0 => {
                for _ in 0..=rng.below(8) {
                    let i = rng.below(input.len());
                    input[i] = rng.below(256) as u8;
                }
            }
            1 => input.truncate(rng.below(input.len())),
            2 => {
                let i = rng.below(input.len());
                let j = (i + rng.below(64)).min(input.len());
                input.drain(i..j);
            }
            _ => {
                let i = rng.below(input.len());
                let j = (i + rng.below(256)).min(input.len());
                let copy = input[i..j].to_vec();
                let at = rng.below(input.len());
                input.splice(at..at, copy);
            }
        }
        let outcome = match parse_metadata(&input, ALL_VALID) {
            Ok(_) => "Ok",
            Err(e) => {
                assert!(!e.to_string().is_empty());
                kind(&e)
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    // The mutations reach far into the parser, not just the first check.
    println!("{outcomes:?}");
    assert!(outcomes.len() >= 4, "{outcomes:?}");
}

fn variations() -> [Variation; 6] {
    [
        ("KeyDescriptor without use counts as signing", |s| {
            let idp = s.find("<IDPSSODescriptor").expect("idp");
            let (head, tail) = s.split_at(idp);
            format!("{head}{}", tail.replace(r#" use="signing""#, ""))
        }),
        (
            "X509Certificate wrapped at 64 columns with CRLF, spaces and &#13;",
            |s| {
                let mut out = s.to_owned();
                for n in (0..3).rev() {
                    let range = idp_cert_range(&out, n);
                    let body: Vec<String> = out[range.clone()]
                        .as_bytes()
                        .chunks(64)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    out.replace_range(range, &format!("\r\n  {}&#13;\n  ", body.join("\r\n  ")));
                }
                out
            },
        ),
        ("a duplicated KeyDescriptor is kept once", |s| {
            let key = &s[s.find("<IDPSSODescriptor").expect("idp")..];
            let start = key.find("<KeyDescriptor").expect("key");
            let end = key.find("</KeyDescriptor>").expect("key end") + "</KeyDescriptor>".len();
            let dup = &key[start..end];
            replace_all(
                s,
                "<SingleLogoutService",
                &format!("{dup}<SingleLogoutService"),
            )
        }),
        ("md: prefix instead of the default namespace", |s| {
            let mut out = replace_all(
                s,
                r#"xmlns="urn:oasis:names:tc:SAML:2.0:metadata""#,
                r#"xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata""#,
            );
            for name in [
                "EntityDescriptor",
                "RoleDescriptor",
                "KeyDescriptor",
                "IDPSSODescriptor",
                "SingleLogoutService",
                "SingleSignOnService",
            ] {
                out = out
                    .replace(&format!("<{name}"), &format!("<md:{name}"))
                    .replace(&format!("</{name}"), &format!("</md:{name}"));
            }
            out
        }),
        ("wrapped in an EntitiesDescriptor", |s| {
            let body = replace_all(s, r#"<?xml version="1.0" encoding="utf-8"?>"#, "");
            format!(
                r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{body}</EntitiesDescriptor>"#
            )
        }),
        ("UTF-8 BOM, comments and a processing instruction", |s| {
            let out = replace_all(
                s,
                "<IDPSSODescriptor",
                "<!-- rolled over --><?pi x?><IDPSSODescriptor",
            );
            format!("\u{feff}{out}")
        }),
    ]
}

fn bad_cases() -> [BadCase; 22] {
    [
        (
            "XXE: DOCTYPE with an external entity used in entityID",
            |s| {
                let s = replace_all(s, DECL, &format!("{DECL}{XXE}"));
                replace_all(
                    &s,
                    r#"entityID="https://sts.windows.net/{tenantid}/""#,
                    r#"entityID="&xxe;""#,
                )
                .into()
            },
            "Doctype",
            "line 1, column 39",
        ),
        (
            "billion laughs: nested entities expanded in an Organization element",
            |s| {
                let s = replace_all(s, DECL, &format!("{DECL}\n{LAUGHS}"));
                replace_all(
                    &s,
                    "</IDPSSODescriptor>",
                    "</IDPSSODescriptor><Organization>&lol9;</Organization>",
                )
                .into()
            },
            "Doctype",
            "line 2, column 1",
        ),
        (
            "an undeclared entity (no DOCTYPE) inside X509Certificate",
            |s| {
                let mut s = s.to_owned();
                s.insert_str(idp_cert_range(&s, 0).start, "&xxe;");
                s.into()
            },
            "Malformed",
            "unknown entity &xxe;",
        ),
        (
            "no IDPSSODescriptor: the element removed",
            |s| remove_all(s, "<IDPSSODescriptor", "</IDPSSODescriptor>").into(),
            "NoIdpDescriptor",
            "https://sts.windows.net/{tenantid}/",
        ),
        (
            "SP metadata: IDPSSODescriptor renamed SPSSODescriptor",
            |s| replace_all(s, "IDPSSODescriptor", "SPSSODescriptor").into(),
            "SpMetadata",
            "SPSSODescriptor",
        ),
        (
            "encryption only: every use=\"signing\" changed to use=\"encryption\"",
            |s| replace_all(s, r#"use="signing""#, r#"use="encryption""#).into(),
            "NoSigningCertificate",
            "only has encryption keys",
        ),
        (
            "no KeyDescriptor: all removed",
            |s| remove_all(s, "<KeyDescriptor", "</KeyDescriptor>").into(),
            "NoSigningCertificate",
            "no <KeyDescriptor use=\"signing\">",
        ),
        (
            "garbage inside the second X509Certificate",
            |s| {
                let mut s = s.to_owned();
                s.replace_range(idp_cert_range(&s, 1), "not a certificate!");
                s.into()
            },
            "BadCertificate",
            "signing certificate #2 (of 3) in the IDPSSODescriptor cannot be read: it is not valid Base64",
        ),
        (
            "valid Base64 that is not a certificate in the third X509Certificate",
            |s| {
                let mut s = s.to_owned();
                s.replace_range(idp_cert_range(&s, 2), "SGVsbG8gd29ybGQ=");
                s.into()
            },
            "BadCertificate",
            "#3 (of 3) in the IDPSSODescriptor cannot be read: it is not an X.509",
        ),
        (
            "empty X509Certificate in the first KeyDescriptor",
            |s| {
                let mut s = s.to_owned();
                s.replace_range(idp_cert_range(&s, 0), "");
                s.into()
            },
            "BadCertificate",
            "#1 (of 3) in the IDPSSODescriptor cannot be read: it is empty",
        ),
        (
            "only HTTP-POST: the Redirect SingleSignOnService removed",
            |s| {
                replace_all(s, r#"<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.microsoftonline.com/common/saml2" />"#, "").into()
            },
            "NoRedirectBinding",
            "bindings present: urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        ),
        (
            "plain http SingleSignOnService Location",
            |s| {
                replace_all(s, r#"HTTP-Redirect" Location="https://login.microsoftonline.com/common/saml2" /><SingleSignOnService"#,
            r#"HTTP-Redirect" Location="http://login.microsoftonline.com/common/saml2" /><SingleSignOnService"#).into()
            },
            "BadUrl",
            "must use https://",
        ),
        (
            "2 MiB: a comment pads the file",
            |s| {
                replace_all(
                    s,
                    "<IDPSSODescriptor",
                    &format!("<!--{}--><IDPSSODescriptor", "x".repeat(2 << 20)),
                )
                .into()
            },
            "TooLarge",
            "over the limit of 1048576 bytes",
        ),
        (
            "not XML: plain text",
            |_| b"this is not metadata".to_vec(),
            "NotXml",
            "does not start with '<'",
        ),
        (
            "not XML: a PEM certificate uploaded as metadata",
            |_| ENTRA_PEM.to_vec(),
            "NotXml",
            "PEM",
        ),
        (
            "not XML: empty upload",
            |_| b" \n".to_vec(),
            "NotXml",
            "empty",
        ),
        (
            "truncated: the first 10,000 bytes (inside an attribute value)",
            |s| s.as_bytes()[..10_000].to_vec(),
            "Malformed",
            "malformed at line 1, column 9882: syntax error",
        ),
        (
            "truncated: cut just before </IDPSSODescriptor>",
            |s| s[..s.find("</IDPSSODescriptor>").expect("end")].into(),
            "Malformed",
            "ends before all its elements are closed (truncated?)",
        ),
        (
            "empty entityID",
            |s| {
                replace_all(
                    s,
                    r#"entityID="https://sts.windows.net/{tenantid}/""#,
                    r#"entityID="  ""#,
                )
                .into()
            },
            "EmptyEntityId",
            "entity ID is empty",
        ),
        (
            "default namespace changed to urn:example",
            |s| {
                replace_all(
                    s,
                    r#"xmlns="urn:oasis:names:tc:SAML:2.0:metadata""#,
                    r#"xmlns="urn:example""#,
                )
                .into()
            },
            "NoEntityDescriptor",
            "<EntityDescriptor> in the namespace urn:example",
        ),
        (
            "junk text after the closing </EntityDescriptor>",
            |s| format!("{s}\ntrailing text").into(),
            "Malformed",
            "line 2, column 1: text outside the root element",
        ),
        (
            "two EntityDescriptors in an EntitiesDescriptor",
            |s| {
                let body = replace_all(s, DECL, "");
                format!(r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{body}{body}</EntitiesDescriptor>"#).into()
            },
            "SeveralEntities",
            "describes 2 entities",
        ),
    ]
}

/// The fixture and every variation and bad mutation of it as `saml_metadata` fuzz seeds:
/// `cargo test --lib write_metadata_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_metadata_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/saml_metadata");
    std::fs::create_dir_all(&dir).unwrap();
    let name = |case: &str| -> String {
        case.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    };
    std::fs::write(dir.join("entra-2017"), ENTRA).unwrap();
    for (case, mutate) in variations() {
        std::fs::write(dir.join(format!("ok-{}", name(case))), mutate(&entra())).unwrap();
    }
    for (case, mutate, _, _) in bad_cases() {
        std::fs::write(dir.join(format!("bad-{}", name(case))), mutate(&entra())).unwrap();
    }
}

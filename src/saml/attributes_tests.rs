//! Attribute resolution, table-driven: which value each IdP's shape yields under the default
//! names and under an org's own mapping, and which names an admin may choose.

use time::macros::datetime;

use super::*;
use crate::saml::sp::SignedParts;

const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

fn verified(name_id: (&str, &str), attributes: &[(&str, &[&str])]) -> Verified {
    Verified {
        assertion_id: "_a".into(),
        not_on_or_after: datetime!(2030-01-01 0:00 UTC),
        in_response_to: None,
        issuer: "https://idp.example/".into(),
        name_id: name_id.0.into(),
        name_id_format: Some(name_id.1.into()),
        attributes: attributes
            .iter()
            .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        signed_parts: SignedParts::Assertion,
        certificate_fingerprint: "AA".into(),
        session_index: None,
    }
}

fn domains() -> Vec<String> {
    vec!["acme.com".into(), "acme.co.uk".into()]
}

fn map(email: Option<&str>, role: Option<&str>) -> AttributeMap {
    AttributeMap {
        email: email.map(str::to_string),
        role: role.map(str::to_string),
        ..AttributeMap::default()
    }
}

/// (where it came from, NameID and its format, attributes, the email or the refusal's reason)
type Case<'a> = (
    &'a str,
    (&'a str, &'a str),
    &'a [(&'a str, &'a [&'a str])],
    Result<&'a str, &'a str>,
);

#[test]
fn the_email_each_idp_shape_yields_under_the_defaults() {
    let opaque = ("a1b2c3", PERSISTENT);
    let cases: &[Case] = &[
        (
            "Entra: the emailaddress claim wins over the name claim and NameID",
            ("bob@acme.com", NAMEID_EMAIL),
            &[
                (CLAIM_NAME, &["upn@acme.com"]),
                (CLAIM_EMAIL, &[" Alice@ACME.com "]),
            ],
            Ok("alice@acme.com"),
        ),
        (
            "Entra without the emailaddress claim: the email-format NameID",
            ("Bob@Acme.com", NAMEID_EMAIL),
            &[(CLAIM_NAME, &["upn@acme.com"])],
            Ok("bob@acme.com"),
        ),
        (
            "Entra with a persistent NameID and no email claim: the name claim",
            opaque,
            &[(CLAIM_NAME, &["upn@acme.com"])],
            Ok("upn@acme.com"),
        ),
        (
            "pysaml2 / Shibboleth: urn:oid mail with a persistent NameID",
            opaque,
            &[
                (OID_MAIL, &["carol@acme.co.uk"]),
                (OID_GIVEN_NAME, &["Carol"]),
            ],
            Ok("carol@acme.co.uk"),
        ),
        (
            "Okta-style friendly name `email`",
            opaque,
            &[("email", &["dave@acme.com"])],
            Ok("dave@acme.com"),
        ),
        (
            "friendly name `mail`, any case",
            opaque,
            &[("Mail", &["erin@acme.com"])],
            Ok("erin@acme.com"),
        ),
        (
            "Entra's claim comes before the generic names",
            opaque,
            &[
                (OID_MAIL, &["x@acme.com"]),
                (CLAIM_EMAIL, &["entra@acme.com"]),
            ],
            Ok("entra@acme.com"),
        ),
        (
            "a blank first value is skipped",
            opaque,
            &[(OID_MAIL, &["  ", "frank@acme.com"])],
            Ok("frank@acme.com"),
        ),
        (
            "an opaque NameID and no email attribute",
            opaque,
            &[(OID_GIVEN_NAME, &["Gina"])],
            Err("no_email"),
        ),
        (
            "an unspecified-format NameID is not read by default",
            ("gina@acme.com", UNSPECIFIED),
            &[],
            Err("no_email"),
        ),
        (
            "not an email address",
            opaque,
            &[(OID_MAIL, &["not an email"])],
            Err("no_email"),
        ),
        (
            "outside the org's domains",
            opaque,
            &[(OID_MAIL, &["mallory@evil.example"])],
            Err("email_outside_domains"),
        ),
        (
            "a subdomain is not the domain",
            opaque,
            &[("email", &["h@eu.acme.com"])],
            Err("email_outside_domains"),
        ),
    ];
    for (why, name_id, attributes, want) in cases {
        let v = verified(*name_id, attributes);
        let got = identity_of(&v, &AttributeMap::default(), &domains())
            .map(|i| i.email)
            .map_err(|r| r.reason);
        assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{why}");
    }
}

#[test]
fn names_and_role_come_from_entra_claims_else_the_generic_names() {
    let entra = verified(
        ("a@acme.com", NAMEID_EMAIL),
        &[
            (CLAIM_GIVEN, &["Alice"]),
            (OID_GIVEN_NAME, &["Not used"]),
            (CLAIM_SURNAME, &["Example"]),
            (CLAIM_DISPLAY, &["Alice Example"]),
            (CLAIM_ROLE, &["Admin", "Reader"]),
            (CLAIM_OID, &["oid-1"]),
        ],
    );
    let i = identity_of(&entra, &AttributeMap::default(), &domains()).unwrap();
    assert_eq!(i.given_name.as_deref(), Some("Alice"));
    assert_eq!(i.surname.as_deref(), Some("Example"));
    assert_eq!(i.display_name.as_deref(), Some("Alice Example"));
    assert_eq!(i.role_claim.as_deref(), Some("Admin"));
    assert_eq!(i.object_id.as_deref(), Some("oid-1"));

    let generic = verified(
        ("opaque", PERSISTENT),
        &[
            (OID_MAIL, &["b@acme.com"]),
            (OID_GIVEN_NAME, &["Bob"]),
            ("sn", &["Builder"]),
            (OID_DISPLAY_NAME, &["Bob the Builder"]),
            ("role", &["viewer"]),
        ],
    );
    let i = identity_of(&generic, &AttributeMap::default(), &domains()).unwrap();
    assert_eq!(i.given_name.as_deref(), Some("Bob"));
    assert_eq!(i.surname.as_deref(), Some("Builder"));
    assert_eq!(i.display_name.as_deref(), Some("Bob the Builder"));
    assert_eq!(i.role_claim.as_deref(), Some("viewer"));
    assert_eq!(i.object_id, None);
}

#[test]
fn an_orgs_choice_is_the_only_name_read_for_its_field() {
    let v = verified(
        ("nameid@acme.com", UNSPECIFIED),
        &[
            (CLAIM_EMAIL, &["entra@acme.com"]),
            ("upn", &["Upn@Acme.com"]),
            ("groupRole", &["Owner"]),
            (CLAIM_ROLE, &["Admin"]),
        ],
    );
    let cases: &[(AttributeMap, Result<&str, &str>, Option<&str>)] = &[
        (map(Some("upn"), None), Ok("upn@acme.com"), Some("Admin")),
        (map(Some("UPN"), None), Ok("upn@acme.com"), Some("Admin")),
        (
            map(Some(NAME_ID), Some("groupRole")),
            Ok("nameid@acme.com"),
            Some("Owner"),
        ),
        (map(Some("missing"), None), Err("no_email"), None),
        (map(None, Some("missing")), Ok("entra@acme.com"), None),
    ];
    for (m, want, role) in cases {
        let got = identity_of(&v, m, &domains());
        match want {
            Ok(email) => {
                let i = got.unwrap_or_else(|r| panic!("{m:?}: {r:?}"));
                assert_eq!(i.email, *email, "{m:?}");
                assert_eq!(i.role_claim.as_deref(), *role, "{m:?}");
            }
            Err(reason) => {
                let r = got.unwrap_err();
                assert_eq!(r.reason, *reason, "{m:?}");
                // The admin's log says which attribute was expected and which came.
                assert!(r.expected.unwrap().contains("missing"), "{m:?}");
                assert!(r.received.unwrap().contains("upn"), "{m:?}");
            }
        }
    }
}

#[test]
fn which_names_an_admin_may_choose() {
    let ok: &[(Field, &str, Option<&str>)] = &[
        (
            Field::Email,
            " urn:oid:0.9.2342.19200300.100.1.3 ",
            Some(OID_MAIL),
        ),
        (Field::Email, "nameid", Some(NAME_ID)),
        (Field::Email, "", None),
        (Field::Role, "Default", None),
        (Field::GivenName, "givenName", Some("givenName")),
        (
            Field::DisplayName,
            "http://schemas.example.com/claims/display",
            Some("http://schemas.example.com/claims/display"),
        ),
    ];
    for (field, raw, want) in ok {
        assert_eq!(
            parse_name(*field, raw).as_ref().map(|o| o.as_deref()),
            Ok(*want),
            "{field:?} {raw:?}"
        );
    }
    let long = "a".repeat(MAX_NAME + 1);
    for (field, raw) in [
        (Field::Email, "two words"),
        (Field::Role, "tab\there"),
        (Field::Surname, "nul\0"),
        (Field::GivenName, "NameID"),
        (Field::Surname, long.as_str()),
    ] {
        let e = parse_name(field, raw).unwrap_err();
        assert!(e.contains("attribute"), "{field:?} {raw:?}: {e}");
    }
    assert!(parse_name(Field::Surname, &"a".repeat(MAX_NAME)).is_ok());
}

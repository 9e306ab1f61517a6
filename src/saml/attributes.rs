//! Who a verified assertion names: the email, names and role read from its attributes, for
//! Entra and for any other SAML 2.0 IdP. By default Entra's claim URIs come first, then the
//! names other IdPs send by default (pysaml2 and Shibboleth: `urn:oid:` names; Okta and
//! others: friendly names such as `email`); an org may choose one attribute per field
//! (`store::saml_attributes`). Attribute names match case-insensitively (ASCII).

use super::sp::Verified;
use crate::identity::normalize_email;
use crate::signin::{Identity, Refused};
use crate::store::saml_attributes::AttributeMap;

pub const CLAIM_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const CLAIM_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const CLAIM_GIVEN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const CLAIM_SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
const CLAIM_OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const CLAIM_DISPLAY: &str = "http://schemas.microsoft.com/identity/claims/displayname";
const CLAIM_ROLE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// LDAP `mail` (RFC 4524), `givenName` and `sn` (RFC 4519), `displayName` (RFC 2798).
pub const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
pub const OID_GIVEN_NAME: &str = "urn:oid:2.5.4.42";
pub const OID_SURNAME: &str = "urn:oid:2.5.4.4";
pub const OID_DISPLAY_NAME: &str = "urn:oid:2.16.840.1.113730.3.1.241";

/// The email field's special value: the subject's NameID, whatever its format.
pub const NAME_ID: &str = "NameID";
/// The longest attribute name an org may choose.
pub const MAX_NAME: usize = 256;

/// One field an org can map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    GivenName,
    Surname,
    DisplayName,
    Role,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Email,
        Field::GivenName,
        Field::Surname,
        Field::DisplayName,
        Field::Role,
    ];

    /// The name of the field in forms and flags (`given_name` / `--given-name`).
    pub fn key(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::GivenName => "given_name",
            Field::Surname => "surname",
            Field::DisplayName => "display_name",
            Field::Role => "role",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::Email => "Email",
            Field::GivenName => "Given name",
            Field::Surname => "Surname",
            Field::DisplayName => "Display name",
            Field::Role => "Role",
        }
    }

    /// The attribute names read, in order, when the org chose none.
    pub fn defaults(self) -> &'static [&'static str] {
        match self {
            Field::Email => &[CLAIM_EMAIL, OID_MAIL, "email", "mail", "emailAddress"],
            Field::GivenName => &[CLAIM_GIVEN, OID_GIVEN_NAME, "givenName", "firstName"],
            Field::Surname => &[CLAIM_SURNAME, OID_SURNAME, "sn", "surname", "lastName"],
            Field::DisplayName => &[CLAIM_DISPLAY, OID_DISPLAY_NAME, "displayName"],
            Field::Role => &[CLAIM_ROLE, "role", "roles"],
        }
    }

    /// How the defaults read, for the CLI and the SSO page.
    pub fn defaults_text(self) -> String {
        let names = self.defaults().join(", ");
        match self {
            Field::Email => format!("{names}, an email-format NameID, {CLAIM_NAME}"),
            _ => names,
        }
    }

    pub fn get(self, map: &AttributeMap) -> Option<&str> {
        match self {
            Field::Email => map.email.as_deref(),
            Field::GivenName => map.given_name.as_deref(),
            Field::Surname => map.surname.as_deref(),
            Field::DisplayName => map.display_name.as_deref(),
            Field::Role => map.role.as_deref(),
        }
    }

    pub fn set(self, map: &mut AttributeMap, value: Option<String>) {
        let slot = match self {
            Field::Email => &mut map.email,
            Field::GivenName => &mut map.given_name,
            Field::Surname => &mut map.surname,
            Field::DisplayName => &mut map.display_name,
            Field::Role => &mut map.role,
        };
        *slot = value;
    }
}

/// An attribute name as an admin typed it: trimmed; empty or `default` = the defaults
/// (`None`); `NameID` (any case) for the email only. Refused: whitespace or control
/// characters inside, longer than `MAX_NAME`.
pub fn parse_name(field: Field, raw: &str) -> Result<Option<String>, String> {
    let name = raw.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let label = field.label().to_lowercase();
    if name.eq_ignore_ascii_case(NAME_ID) {
        return match field {
            Field::Email => Ok(Some(NAME_ID.to_string())),
            _ => Err(format!(
                "the {label} attribute cannot be the NameID (only the email can)"
            )),
        };
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "the {label} attribute name is longer than {MAX_NAME} characters"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the {label} attribute {name:?} is not an attribute name: no spaces or control characters"
        ));
    }
    Ok(Some(name.to_string()))
}

/// The audit detail of a mapping: the fields chosen, `defaults` when none.
pub fn describe(map: &AttributeMap) -> String {
    let chosen: Vec<String> = Field::ALL
        .iter()
        .filter_map(|f| f.get(map).map(|n| format!("{}={n}", f.key())))
        .collect();
    if chosen.is_empty() {
        "defaults".into()
    } else {
        chosen.join(" ")
    }
}

/// The first non-blank value of the attribute `name` (trimmed).
fn first<'a>(v: &'a Verified, name: &str) -> Option<&'a str> {
    v.attributes
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, values)| values.iter())
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
}

/// The value of `field`: from the org's chosen attribute only, else the first default present.
fn value<'a>(v: &'a Verified, map: &AttributeMap, field: Field) -> Option<&'a str> {
    match field.get(map) {
        Some(name) => first(v, name),
        None => field.defaults().iter().find_map(|name| first(v, name)),
    }
}

/// The raw email of the assertion under `map`, or the refusal saying what was looked for.
fn raw_email<'a>(v: &'a Verified, map: &AttributeMap) -> Result<&'a str, Refused> {
    let name_id = Some(v.name_id.trim()).filter(|n| !n.is_empty());
    let (found, looked_for) = match map.email.as_deref() {
        Some(NAME_ID) => (
            name_id,
            "the NameID (this organization's choice)".to_string(),
        ),
        Some(name) => (
            first(v, name),
            format!("the attribute {name} (this organization's choice)"),
        ),
        None => (
            value(v, map, Field::Email)
                .or_else(|| name_id.filter(|_| v.name_id_format.as_deref() == Some(NAMEID_EMAIL)))
                .or_else(|| first(v, CLAIM_NAME)),
            Field::Email.defaults_text(),
        ),
    };
    found.ok_or_else(|| Refused {
        expected: Some(looked_for),
        received: Some(
            v.attributes
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ..Refused::new(
            "no_email",
            "the assertion carries no email where this organization reads it",
        )
    })
}

/// The identity a verified assertion names under the org's mapping: the email trimmed and
/// lowercased, inside one of the org's domains; names and role as sent.
pub fn identity_of(
    v: &Verified,
    map: &AttributeMap,
    domains: &[String],
) -> Result<Identity, Refused> {
    let raw = raw_email(v, map)?;
    let Some(email) = normalize_email(raw) else {
        return Err(Refused {
            received: Some(raw.to_string()),
            ..Refused::new("no_email", "the email claim is not an email address")
        });
    };
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    if !domains.iter().any(|d| d == domain) {
        return Err(Refused {
            expected: Some(domains.join(", ")),
            received: Some(email.clone()),
            ..Refused::new(
                "email_outside_domains",
                "the email is not in one of this organization's domains",
            )
        });
    }
    let read = |field| value(v, map, field).map(str::to_string);
    Ok(Identity {
        email,
        object_id: first(v, CLAIM_OID).map(str::to_string),
        role_claim: read(Field::Role),
        given_name: read(Field::GivenName),
        surname: read(Field::Surname),
        display_name: read(Field::DisplayName),
        oidc: None,
    })
}

#[cfg(test)]
#[path = "attributes_tests.rs"]
mod tests;

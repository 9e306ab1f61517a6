//! An identity provider's configuration, as an admin hands it to us: Entra's "Federation
//! Metadata XML" (or any SAML 2.0 IdP metadata), or a certificate, entity ID and sign-on URL
//! typed in by hand. The result is what every SAML response of the org is checked against.
//!
//! Choices:
//! - The metadata's own `<Signature>` is skipped, not verified. Admins download the file over
//!   TLS from Entra and upload it themselves; a signature made with a key that the same file
//!   introduces proves nothing, and Entra's per-app metadata comes with no trust anchor we
//!   could pin. The admin's upload, behind the admin login, is the trust decision.
//! - XML is refused outright when it holds a `<!DOCTYPE`: SAML metadata never needs a DTD,
//!   and without one there are no entity declarations, hence no XXE and no billion laughs.
//!   Input is capped at 1 MiB before parsing.
//! - Elements are matched by namespace URI, never by prefix (Entra uses a default namespace).
//!   WS-Federation `RoleDescriptor`s, SP descriptors and everything else are skipped.
//! - Every signing certificate is kept (Entra lists several during a rollover); expired or
//!   not-yet-valid ones are kept with a warning, and the upload is refused only when none is
//!   valid now.

use std::fmt;

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use time::OffsetDateTime;

mod certificate;

pub use certificate::{Certificate, fingerprint, parse_certificate};
use certificate::{certificate_from_base64, validity_warnings};

/// Largest metadata document accepted.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Largest certificate file accepted in hand entry.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// A certificate that expires within this many days gets a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// The only SSO binding we send AuthnRequests with.
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// What we need to know about an org's IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpConfig {
    pub entity_id: String,
    /// `Location` of the HTTP-Redirect `SingleSignOnService`.
    pub sso_url: String,
    /// `Location` of the HTTP-Redirect `SingleLogoutService`, if any (single logout).
    pub slo_url: Option<String>,
    /// Every signing certificate, in document order, without duplicates.
    pub certificates: Vec<Certificate>,
}

/// Something the admin should know, but that does not stop the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an upload was refused; each message tells the admin what is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("the {what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("the file is not XML: {reason}")]
    NotXml { reason: String },
    #[error("the XML is malformed at line {line}, column {column}: {reason}")]
    Malformed {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "the XML contains a DOCTYPE declaration (line {line}, column {column}); SAML metadata never \
         needs one, and documents with a DTD or entity declarations are refused for safety"
    )]
    Doctype { line: usize, column: usize },
    #[error(
        "no EntityDescriptor: expected an <EntityDescriptor> (or an <EntitiesDescriptor> holding \
         one) in the namespace {MD_NS}, but found {found}"
    )]
    NoEntityDescriptor { found: String },
    #[error(
        "the file describes {} entities ({}); upload the metadata of your identity provider alone",
        .entity_ids.len(), .entity_ids.join(", ")
    )]
    SeveralEntities { entity_ids: Vec<String> },
    #[error(
        "the identity provider's entity ID is empty (in metadata: the entityID attribute of \
         <EntityDescriptor>; in Entra it is the \"Microsoft Entra Identifier\")"
    )]
    EmptyEntityId,
    #[error(
        "this looks like SP (service provider) metadata: it has an SPSSODescriptor but no \
         IDPSSODescriptor; upload your identity provider's metadata instead (in Entra: the \
         enterprise application's Single sign-on page, \"Federation Metadata XML\")"
    )]
    SpMetadata,
    #[error(
        "no IDPSSODescriptor: the entity {entity_id} does not describe a SAML 2.0 identity provider"
    )]
    NoIdpDescriptor { entity_id: String },
    #[error(
        "no signing certificate: the IDPSSODescriptor has no <KeyDescriptor use=\"signing\"> (or \
         without use) holding an <X509Certificate>{}",
        if *.encryption_only { "; it only has encryption keys" } else { "" }
    )]
    NoSigningCertificate { encryption_only: bool },
    #[error("{which} cannot be read: {reason}")]
    BadCertificate { which: String, reason: String },
    #[error(
        "no SingleSignOnService with the binding {HTTP_REDIRECT}; bindings present: {}",
        if .present.is_empty() { "none".to_owned() } else { .present.join(", ") }
    )]
    NoRedirectBinding { present: Vec<String> },
    #[error("the {field} {url:?} is not usable: {reason}")]
    BadUrl {
        field: &'static str,
        url: String,
        reason: String,
    },
}

/// Parses uploaded IdP metadata. Warnings are about certificates that expire soon, have
/// expired, or are not yet valid at `now`.
pub fn parse_metadata(
    xml: &[u8],
    now: OffsetDateTime,
) -> Result<(IdpConfig, Vec<Warning>), MetadataError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge {
            what: "metadata file",
            size: xml.len(),
            limit: MAX_METADATA_BYTES,
        });
    }
    precheck(xml)?;
    let entity = single_entity(read_entities(xml)?)?;
    let entity_id = checked_entity_id(entity.entity_id.as_deref().unwrap_or(""))?;
    if entity.idp_descriptors == 0 {
        return Err(if entity.has_sp {
            MetadataError::SpMetadata
        } else {
            MetadataError::NoIdpDescriptor { entity_id }
        });
    }
    let certificates = signing_certificates(&entity.keys)?;
    let sso_url = redirect_sso_url(&entity.sso)?;
    let slo_url = entity
        .slo
        .iter()
        .find(|(binding, _)| binding.trim() == HTTP_REDIRECT)
        .and_then(|(_, location)| checked_url("SingleLogoutService Location", location).ok());
    let warnings = validity_warnings(&certificates, now)?;
    let config = IdpConfig {
        entity_id,
        sso_url,
        slo_url,
        certificates,
    };
    Ok((config, warnings))
}

/// Hand entry: a certificate (PEM, Base64 DER without headers, or binary DER), the IdP's
/// entity ID and its HTTP-Redirect sign-on URL.
pub fn from_parts(
    cert: &[u8],
    idp_entity_id: &str,
    sso_url: &str,
    now: OffsetDateTime,
) -> Result<(IdpConfig, Vec<Warning>), MetadataError> {
    let certificate = parse_certificate(cert)?;
    let entity_id = checked_entity_id(idp_entity_id)?;
    let sso_url = checked_url("sign-on URL", sso_url)?;
    let certificates = vec![certificate];
    let warnings = validity_warnings(&certificates, now)?;
    let config = IdpConfig {
        entity_id,
        sso_url,
        slo_url: None,
        certificates,
    };
    Ok((config, warnings))
}

// ---- the XML walk ----

/// What was collected from one `<EntityDescriptor>`.
#[derive(Default)]
struct RawEntity {
    entity_id: Option<String>,
    idp_descriptors: usize,
    has_sp: bool,
    /// `KeyDescriptor`s of the IDPSSODescriptor(s).
    keys: Vec<RawKey>,
    /// `(Binding, Location)` of each `SingleSignOnService`.
    sso: Vec<(String, String)>,
    /// `(Binding, Location)` of each `SingleLogoutService`.
    slo: Vec<(String, String)>,
}

struct RawKey {
    usage: Option<String>,
    /// Base64 text of each `<X509Certificate>`.
    certs: Vec<String>,
}

/// Where the walk is; `Skip` covers everything we do not read (and all its descendants).
#[derive(Clone, Copy)]
enum Frame {
    Entities,
    Entity,
    Idp,
    Key,
    KeyInfo,
    Cert,
    Skip,
}

/// Fails early with a clear message for inputs that are plainly not metadata, and for any
/// DOCTYPE (even before the parser would meet it).
fn precheck(xml: &[u8]) -> Result<(), MetadataError> {
    let not_xml = |reason: &str| MetadataError::NotXml {
        reason: reason.to_owned(),
    };
    if xml.starts_with(&[0xFF, 0xFE]) || xml.starts_with(&[0xFE, 0xFF]) {
        return Err(not_xml(
            "it is UTF-16 encoded; save it as UTF-8 and upload it again",
        ));
    }
    let body = xml.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(xml);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(body) = start.and_then(|i| body.get(i..)) else {
        return Err(not_xml("it is empty"));
    };
    let head: Vec<u8> = body.iter().take(15).map(u8::to_ascii_lowercase).collect();
    if head.starts_with(b"-----begin") {
        return Err(not_xml(
            "it is a PEM file (a certificate?); enter certificates by hand instead",
        ));
    }
    if head.starts_with(b"<!doctype html") || head.starts_with(b"<html") {
        return Err(not_xml("it is an HTML page, not SAML metadata"));
    }
    if !body.starts_with(b"<") {
        return Err(not_xml("it does not start with '<'"));
    }
    if let Some(pos) = xml.windows(9).position(|w| w == b"<!DOCTYPE") {
        let (line, column) = line_column(xml, pos);
        return Err(MetadataError::Doctype { line, column });
    }
    Ok(())
}

fn read_entities(xml: &[u8]) -> Result<Vec<RawEntity>, MetadataError> {
    let mut reader = NsReader::from_reader(xml);
    let mut stack: Vec<Frame> = Vec::new();
    let mut entities: Vec<RawEntity> = Vec::new();
    let mut root_seen = false;
    loop {
        // Errors about an event point at its start.
        let at = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(malformed(xml, reader.error_position(), e.to_string())),
        };
        let parent = stack.last().copied();
        let (element, is_start) = match event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Text(t) => {
                if parent.is_none() && !t.trim_ascii().is_empty() {
                    let at = at + (t.len() - t.trim_ascii_start().len()) as u64;
                    let reason = "text outside the root element".to_owned();
                    return Err(malformed(xml, at, reason));
                }
                append_cert_text(parent, &mut entities, &t.xml10_content());
                continue;
            }
            Event::CData(t) => {
                append_cert_text(parent, &mut entities, &t.xml10_content());
                continue;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => Some(ch),
                    Ok(None) => predefined_entity(&r),
                    Err(_) => None,
                };
                let Some(ch) = ch else {
                    return Err(malformed(xml, at, format!("unknown entity &{};", &*r)));
                };
                append_cert_text(parent, &mut entities, ch.encode_utf8(&mut [0; 4]));
                continue;
            }
            Event::DocType(_) => {
                let (line, column) = line_column(xml, position(at));
                return Err(MetadataError::Doctype { line, column });
            }
            Event::Eof if stack.is_empty() && root_seen => return Ok(entities),
            Event::Eof => {
                let reason = if root_seen {
                    "the document ends before all its elements are closed (truncated?)"
                } else {
                    "there is no root element"
                };
                return Err(malformed(xml, xml.len() as u64, reason.to_owned()));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
        };
        if parent.is_none() {
            if root_seen {
                return Err(malformed(xml, at, "a second root element".to_owned()));
            }
            root_seen = true;
        }
        let (ns, local) = reader.resolver().resolve_element(element.name());
        let ns = match ns {
            ResolveResult::Bound(Namespace(uri)) => uri,
            _ => "",
        };
        let frame =
            open(parent, ns, local.as_ref(), &element, &mut entities).map_err(|e| e.at(xml, at))?;
        if is_start {
            stack.push(frame);
        }
    }
}

/// Why an element could not be opened; attribute errors get a position later.
enum OpenError {
    Attribute(String),
    Fatal(MetadataError),
}

impl OpenError {
    fn at(self, xml: &[u8], at: u64) -> MetadataError {
        match self {
            Self::Attribute(reason) => malformed(xml, at, reason),
            Self::Fatal(e) => e,
        }
    }
}

/// Classifies an element by its parent, namespace URI and local name, and records what it
/// carries.
fn open(
    parent: Option<Frame>,
    ns: &str,
    local: &str,
    element: &BytesStart<'_>,
    entities: &mut Vec<RawEntity>,
) -> Result<Frame, OpenError> {
    let md = ns == MD_NS;
    let ds = ns == DS_NS;
    let frame = match parent {
        None | Some(Frame::Entities) if md && local == "EntitiesDescriptor" => Frame::Entities,
        None | Some(Frame::Entities) if md && local == "EntityDescriptor" => {
            let entity_id = attribute(element, "entityID")?;
            entities.push(RawEntity {
                entity_id,
                ..RawEntity::default()
            });
            Frame::Entity
        }
        None => {
            let found = if ns.is_empty() {
                format!("a root element <{local}> in no namespace")
            } else {
                format!("a root element <{local}> in the namespace {ns}")
            };
            return Err(OpenError::Fatal(MetadataError::NoEntityDescriptor {
                found,
            }));
        }
        Some(Frame::Entity) if md && local == "IDPSSODescriptor" => {
            if let Some(entity) = entities.last_mut() {
                entity.idp_descriptors += 1;
            }
            Frame::Idp
        }
        Some(Frame::Entity) if md && local == "SPSSODescriptor" => {
            if let Some(entity) = entities.last_mut() {
                entity.has_sp = true;
            }
            Frame::Skip
        }
        Some(Frame::Idp) if md && local == "KeyDescriptor" => {
            let usage = attribute(element, "use")?;
            if let Some(entity) = entities.last_mut() {
                entity.keys.push(RawKey {
                    usage,
                    certs: Vec::new(),
                });
            }
            Frame::Key
        }
        Some(Frame::Idp) if md && local == "SingleSignOnService" => {
            let binding = attribute(element, "Binding")?.unwrap_or_default();
            let location = attribute(element, "Location")?.unwrap_or_default();
            if let Some(entity) = entities.last_mut() {
                entity.sso.push((binding, location));
            }
            Frame::Skip
        }
        Some(Frame::Idp) if md && local == "SingleLogoutService" => {
            let binding = attribute(element, "Binding")?.unwrap_or_default();
            let location = attribute(element, "Location")?.unwrap_or_default();
            if let Some(entity) = entities.last_mut() {
                entity.slo.push((binding, location));
            }
            Frame::Skip
        }
        Some(Frame::Key | Frame::KeyInfo) if ds && local == "X509Certificate" => {
            if let Some(key) = entities.last_mut().and_then(|e| e.keys.last_mut()) {
                key.certs.push(String::new());
            }
            Frame::Cert
        }
        Some(Frame::Key | Frame::KeyInfo) if ds => Frame::KeyInfo,
        // RoleDescriptor (WS-Federation), the metadata's own ds:Signature, Extensions,
        // Organization, other role descriptors, endpoints we do not use…
        Some(_) => Frame::Skip,
    };
    Ok(frame)
}

/// The unescaped value of an unqualified attribute.
fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, OpenError> {
    let attr = element
        .try_get_attribute(name)
        .map_err(|e| OpenError::Attribute(e.to_string()))?;
    let Some(attr) = attr else {
        return Ok(None);
    };
    let value = attr
        .normalized_value(XmlVersion::Implicit1_0)
        .map_err(|e| OpenError::Attribute(format!("attribute {name}: {e}")))?;
    Ok(Some(value.into_owned()))
}

fn append_cert_text(frame: Option<Frame>, entities: &mut [RawEntity], text: &str) {
    if let Some(Frame::Cert) = frame
        && let Some(cert) = entities
            .last_mut()
            .and_then(|e| e.keys.last_mut())
            .and_then(|k| k.certs.last_mut())
    {
        cert.push_str(text);
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

fn position(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX)
}

fn malformed(xml: &[u8], at: u64, reason: String) -> MetadataError {
    let (line, column) = line_column(xml, position(at));
    MetadataError::Malformed {
        line,
        column,
        reason,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(xml: &[u8], offset: usize) -> (usize, usize) {
    let before = xml.get(..offset).unwrap_or(xml);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let tail = before.get(line_start..).unwrap_or_default();
    (line, String::from_utf8_lossy(tail).chars().count() + 1)
}

// ---- from what was read to an IdpConfig ----

fn single_entity(mut entities: Vec<RawEntity>) -> Result<RawEntity, MetadataError> {
    if entities.len() > 1 {
        let entity_ids = entities
            .iter()
            .map(|e| {
                e.entity_id
                    .clone()
                    .unwrap_or_else(|| "(no entityID)".to_owned())
            })
            .collect();
        return Err(MetadataError::SeveralEntities { entity_ids });
    }
    entities
        .pop()
        .ok_or_else(|| MetadataError::NoEntityDescriptor {
            found: "an <EntitiesDescriptor> with no <EntityDescriptor> inside".to_owned(),
        })
}

fn checked_entity_id(entity_id: &str) -> Result<String, MetadataError> {
    let entity_id = entity_id.trim();
    if entity_id.is_empty() {
        return Err(MetadataError::EmptyEntityId);
    }
    Ok(entity_id.to_owned())
}

/// `use="signing"` and a missing `use` both mean signing (SAML metadata §2.4.1.1).
fn signing_certificates(keys: &[RawKey]) -> Result<Vec<Certificate>, MetadataError> {
    let usage = |k: &RawKey| k.usage.as_deref().map(str::trim).map(str::to_owned);
    let texts: Vec<&String> = keys
        .iter()
        .filter(|k| usage(k).is_none_or(|u| u == "signing"))
        .flat_map(|k| &k.certs)
        .collect();
    if texts.is_empty() {
        let encryption_only = keys
            .iter()
            .any(|k| usage(k).as_deref() == Some("encryption"));
        return Err(MetadataError::NoSigningCertificate { encryption_only });
    }
    let mut certificates: Vec<Certificate> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let cert =
            certificate_from_base64(text).map_err(|reason| MetadataError::BadCertificate {
                which: format!(
                    "signing certificate #{} (of {}) in the IDPSSODescriptor",
                    i + 1,
                    texts.len()
                ),
                reason,
            })?;
        if !certificates.iter().any(|c| c.der == cert.der) {
            certificates.push(cert);
        }
    }
    Ok(certificates)
}

fn redirect_sso_url(services: &[(String, String)]) -> Result<String, MetadataError> {
    let redirect = services
        .iter()
        .find(|(binding, _)| binding.trim() == HTTP_REDIRECT);
    match redirect {
        Some((_, location)) => checked_url("SingleSignOnService Location", location),
        None => {
            let mut present: Vec<String> = Vec::new();
            for (binding, _) in services {
                let binding = match binding.trim() {
                    "" => "(no Binding attribute)".to_owned(),
                    b => b.to_owned(),
                };
                if !present.contains(&binding) {
                    present.push(binding);
                }
            }
            Err(MetadataError::NoRedirectBinding { present })
        }
    }
}

/// https only; plain http just for localhost and 127.0.0.1 (tests and local IdPs).
fn checked_url(field: &'static str, url: &str) -> Result<String, MetadataError> {
    let url = url.trim();
    let bad = |reason: &str| MetadataError::BadUrl {
        field,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.is_empty() {
        return Err(bad("it is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "it is not an absolute URL; it must start with https://",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("it must not contain a user name or password"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inner, after)) = v6.split_once(']') else {
            return Err(bad("its IPv6 address has no closing ']'"));
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("its IPv6 address is not valid"));
        }
        if !after.is_empty() && !after.starts_with(':') {
            return Err(bad("it has no valid host name"));
        }
        (format!("[{inner}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    let host = host.to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !host_ok {
        return Err(bad("it has no valid host name"));
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(bad("its port is not a number from 0 to 65535"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_owned()),
        "http" if matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") => {
            Ok(url.to_owned())
        }
        "http" => Err(bad(
            "it must use https:// (plain http:// is accepted only for localhost and 127.0.0.1)",
        )),
        _ => Err(bad("it must use https://")),
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;

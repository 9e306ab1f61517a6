//! One X.509 certificate of an IdP: read from PEM, Base64 or DER, described for the admin,
//! and checked against `now`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::x509::{X509, X509NameRef};
use time::{Duration, OffsetDateTime};

use super::{EXPIRY_WARNING_DAYS, MAX_CERTIFICATE_BYTES, MetadataError, Warning};

/// One signing certificate of the IdP; `der` is what responses are verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub der: Vec<u8>,
    pub pem: String,
    /// Uppercase hex with colons, like `AA:BB:…`.
    pub sha256_fingerprint: String,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Reads one X.509 certificate given as PEM, as Base64 DER without headers, or as DER.
pub fn parse_certificate(bytes: &[u8]) -> Result<Certificate, MetadataError> {
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(MetadataError::TooLarge {
            what: "certificate file",
            size: bytes.len(),
            limit: MAX_CERTIFICATE_BYTES,
        });
    }
    certificate_from_bytes(bytes).map_err(|reason| MetadataError::BadCertificate {
        which: "the certificate".to_owned(),
        reason,
    })
}

/// SHA-256 of the DER, as uppercase hex pairs joined by colons.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = openssl::sha::sha256(der);
    let pairs: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    pairs.join(":")
}

/// Warnings for certificates that are expired, not yet valid, or expire soon, and a loud one
/// when none is valid at `now`. Not an error: in SAML the uploaded metadata is the trust
/// anchor and signatures are checked against its keys whatever their dates; an old file
/// is kept (and shown with its dates) so the admin sees what to replace.
pub(super) fn validity_warnings(
    certificates: &[Certificate],
    now: OffsetDateTime,
) -> Result<Vec<Warning>, MetadataError> {
    let mut warnings = Vec::new();
    let mut any_valid = false;
    for cert in certificates {
        let name = describe(cert);
        if now > cert.not_after {
            let when = day(cert.not_after);
            warnings.push(Warning(format!(
                "certificate {name} has expired (on {when})"
            )));
        } else if now < cert.not_before {
            let when = day(cert.not_before);
            warnings.push(Warning(format!(
                "certificate {name} is not valid yet (valid from {when})"
            )));
        } else {
            any_valid = true;
            let left = cert.not_after - now;
            if left <= Duration::days(EXPIRY_WARNING_DAYS) {
                let when = day(cert.not_after);
                let days = match left.whole_days() {
                    0 => "less than a day".to_owned(),
                    1 => "1 day".to_owned(),
                    n => format!("{n} days"),
                };
                warnings.push(Warning(format!(
                    "certificate {name} expires on {when} (in {days})"
                )));
            }
        }
    }
    if !any_valid {
        let certificates: Vec<String> = certificates
            .iter()
            .map(|c| {
                let (from, to) = (day(c.not_before), day(c.not_after));
                format!("{} is valid from {from} to {to}", describe(c))
            })
            .collect();
        warnings.insert(
            0,
            Warning(format!(
                "none of the signing certificates is valid on {}: {}. Entra signs with a \
                 current certificate, so sign-in will fail until you upload the current \
                 Federation Metadata XML",
                day(now),
                certificates.join("; ")
            )),
        );
    }
    Ok(warnings)
}

/// `CN=… (SHA-256 AA:BB:CC:DD…)`: enough to tell certificates apart in a message.
fn describe(cert: &Certificate) -> String {
    let short = cert.sha256_fingerprint.get(..11).unwrap_or_default();
    if cert.subject.is_empty() {
        format!("SHA-256 {short}…")
    } else {
        format!("{} (SHA-256 {short}…)", cert.subject)
    }
}

fn day(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn certificate_from_bytes(bytes: &[u8]) -> Result<Certificate, String> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    if bytes.first() == Some(&0x30) {
        return certificate_from_der(bytes);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err("it is neither PEM, Base64 nor DER".to_owned());
    };
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    if !text.contains("-----BEGIN") {
        return certificate_from_base64(text);
    }
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Some((_, body)) = text.split_once(BEGIN) else {
        let label = text
            .split("-----BEGIN ")
            .nth(1)
            .and_then(|rest| rest.split("-----").next())
            .unwrap_or_default();
        let mut reason = format!("it is a PEM \"{label}\" block, not a CERTIFICATE");
        if label.contains("PRIVATE KEY") {
            reason.push_str("; never share a private key: replace it with a new one");
        }
        return Err(reason);
    };
    let Some((body, _)) = body.split_once(END) else {
        return Err(format!("the PEM has no {END} line (cut short?)"));
    };
    certificate_from_base64(body)
}

/// Base64 DER as found in `<X509Certificate>` or a headerless `.cer`; whitespace is ignored.
pub(super) fn certificate_from_base64(text: &str) -> Result<Certificate, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err("it is empty".to_owned());
    }
    let der = STANDARD_PAD_INDIFFERENT
        .decode(compact.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, byte) => format!(
                "it is not valid Base64 (unexpected {:?} at character {} of the Base64 text)",
                char::from(byte),
                at + 1
            ),
            e => format!("it is not valid Base64 ({e})"),
        })?;
    certificate_from_der(&der)
}

fn certificate_from_der(input: &[u8]) -> Result<Certificate, String> {
    let x509 = X509::from_der(input)
        .map_err(|_| "it is not an X.509 certificate (its DER does not decode)".to_owned())?;
    let der = x509
        .to_der()
        .map_err(|_| "it is not an X.509 certificate (it cannot be re-encoded)".to_owned())?;
    if der != input {
        return Err(match input.strip_prefix(der.as_slice()) {
            Some(extra) => format!("{} stray bytes follow the certificate", extra.len()),
            None => "it is not in canonical DER form".to_owned(),
        });
    }
    x509.public_key()
        .map_err(|_| "its public key cannot be read".to_owned())?;
    let not_before = asn1_time(x509.not_before())?;
    let not_after = asn1_time(x509.not_after())?;
    Ok(Certificate {
        pem: pem(&der),
        sha256_fingerprint: fingerprint(&der),
        subject: name(x509.subject_name()),
        der,
        not_before,
        not_after,
    })
}

fn asn1_time(t: &Asn1TimeRef) -> Result<OffsetDateTime, String> {
    let unreadable = || "its validity dates cannot be read".to_owned();
    let epoch = Asn1Time::from_unix(0).map_err(|_| unreadable())?;
    let diff = epoch.diff(t).map_err(|_| unreadable())?;
    OffsetDateTime::UNIX_EPOCH
        .checked_add(Duration::days(i64::from(diff.days)))
        .and_then(|t| t.checked_add(Duration::seconds(i64::from(diff.secs))))
        .ok_or_else(unreadable)
}

/// `CN=…, O=…` in the certificate's order.
fn name(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|entry| {
            let object = entry.object();
            let key = object
                .nid()
                .short_name()
                .map_or_else(|_| object.to_string(), str::to_owned);
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{key}={value}")
        })
        .collect();
    parts.join(", ")
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for (i, c) in body.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push_str("\n-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
#[path = "certificate_tests.rs"]
mod tests;

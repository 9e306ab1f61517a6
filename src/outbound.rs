//! Outgoing HTTP to addresses someone typed (webhook receivers, an IdP's metadata URL): one
//! client shape for all of them. The resolver is the SSRF guard of `webhooks::guard` (every
//! resolved address checked, `outbound_allow_networks` the exceptions), redirects are never
//! followed, connecting and the whole request have timeouts, and bodies are read under a
//! cap. TLS verifies against the system's roots, plus the CA certificates of
//! `outbound_ca_file` when the operator gives one (an internal CA; the tests' own).

use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;

use crate::webhooks::guard::{Allow, Guarded};

/// Connecting (DNS, TCP) and the TLS handshake each get this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The CA certificates of a PEM text (at least one), for `outbound_ca_file`.
pub fn parse_roots(pem: &str) -> Result<Vec<X509>, String> {
    let roots =
        X509::stack_from_pem(pem.as_bytes()).map_err(|e| format!("not PEM certificates: {e}"))?;
    if roots.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(roots)
}

/// A TLS connector that also trusts the CA certificates of `extra_roots` (PEM).
pub fn tls(extra_roots: &str) -> Result<SslConnector, String> {
    let fail = |e: openssl::error::ErrorStack| format!("TLS setup failed: {e}");
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(fail)?;
    builder
        .set_alpn_protos(b"\x02h2\x08http/1.1")
        .map_err(fail)?;
    for root in parse_roots(extra_roots)? {
        builder.cert_store_mut().add_cert(root).map_err(fail)?;
    }
    Ok(builder.build())
}

/// A guarded client: `allow`'s resolver, no redirects, `timeout` per request; `tls` (see
/// `tls`) when more roots than the system's are trusted.
pub fn client(
    allow: &Allow,
    tls: Option<SslConnector>,
    user_agent: &'static str,
    timeout: Duration,
) -> awc::Client {
    let resolver = actix_tls::connect::Resolver::custom(Guarded(allow.clone()));
    let mut connector = awc::Connector::new()
        .connector(actix_tls::connect::Connector::new(resolver).service())
        .timeout(CONNECT_TIMEOUT)
        .handshake_timeout(CONNECT_TIMEOUT);
    if let Some(tls) = tls {
        connector = connector.openssl(tls);
    }
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        .timeout(timeout)
        .add_default_header(("User-Agent", user_agent))
        .finish()
}

/// GETs a document from an https URL the guard accepts: 200 only, a redirect is an error
/// (never followed: it could lead anywhere), the body at most `max` bytes. The error says
/// what went wrong, for an admin to read.
pub async fn get_document(
    client: &awc::Client,
    allow: &Allow,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, String> {
    check_https(allow, url)?;
    let mut res = client
        .get(url)
        .insert_header((
            "Accept",
            "application/samlmetadata+xml, application/xml, text/xml",
        ))
        .send()
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = res.status();
    if status.is_redirection() {
        let to = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)");
        return Err(format!(
            "the server answered HTTP {} redirecting to {to}; redirects are not followed, \
             give the final URL",
            status.as_u16()
        ));
    }
    if status.as_u16() != 200 {
        return Err(format!("the server answered HTTP {}", status.as_u16()));
    }
    if let Some(len) = res
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > max
    {
        return Err(format!(
            "the document is {len} bytes, over the limit of {max} bytes"
        ));
    }
    let body = res.body().limit(max).await.map_err(|e| match e {
        awc::error::PayloadError::Overflow => {
            format!("the document is over the limit of {max} bytes")
        }
        e => format!("reading the answer failed: {e}"),
    })?;
    Ok(body.to_vec())
}

/// https only (whatever the allow-list says), then the guard's rules for the address.
pub fn check_https(allow: &Allow, url: &str) -> Result<(), String> {
    let url = url.trim();
    if !url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        return Err(format!("{url:?} must start with https://"));
    }
    allow.check_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_only() {
        let local = Allow::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(check_https(&local, "https://127.0.0.1:8443/m.xml").is_ok());
        assert!(check_https(&local, "HTTPS://login.microsoftonline.com/t/x.xml").is_ok());
        let e = check_https(&local, "http://127.0.0.1:8443/m.xml").unwrap_err();
        assert!(e.contains("https://"), "{e}");
        assert!(check_https(&Allow::default(), "https://127.0.0.1/m.xml").is_err());
        assert!(check_https(&Allow::default(), "https://10.0.0.1/m.xml").is_err());
        assert!(parse_roots("nope").is_err());
    }
}

//! Encrypted assertions: the test IdP signs the Assertion, `xmlsec1 --encrypt` (an
//! independent XML Encryption implementation) encrypts it for the certificate idgate
//! publishes in its SP metadata, and the ACS decrypts it before every usual check. A
//! wrong key, an unencrypted assertion while encryption is on, and a rollover.

use std::path::Path;
use std::process::Command;

use idgate::saml::test_idp::{self, Entra};

use crate::browser::{Pending, fresh_entra, reference_of, session_of, spawn_sso_app};
use crate::helpers::TestApp;

const GCM256: (&str, &str) = ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256");
const CBC128: (&str, &str) = ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128");

/// The encryption certificates (Base64 DER) in acme's SP metadata, current first.
async fn encryption_certificates(app: &TestApp) -> Vec<String> {
    let r = app.web("GET", "/saml/acme/metadata", &[], None).await;
    assert_eq!(r.status, 200);
    r.text
        .split("<md:KeyDescriptor use=\"encryption\">")
        .skip(1)
        .map(|part| {
            let within = part.split("<ds:X509Certificate>").nth(1).unwrap();
            within
                .split("</ds:X509Certificate>")
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn pem(cert_b64: &str) -> String {
    let lines: Vec<&str> = cert_b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// `assertion` encrypted by xmlsec1 for `cert_pem`: data with `alg`, key by RSA-OAEP.
fn xmlsec_encrypt(dir: &Path, assertion: &str, cert_pem: &str, alg: (&str, &str)) -> String {
    std::fs::write(dir.join("cert.pem"), cert_pem).unwrap();
    std::fs::write(dir.join("assertion.xml"), assertion).unwrap();
    let template = format!(
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#,
        alg.0
    );
    std::fs::write(dir.join("template.xml"), template).unwrap();
    let out = Command::new("xmlsec1")
        .args(["--encrypt", "--pubkey-cert-pem"])
        .arg(dir.join("cert.pem"))
        .args(["--session-key", alg.1, "--xml-data"])
        .arg(dir.join("assertion.xml"))
        .args(["--node-xpath", "/*"])
        .arg(dir.join("template.xml"))
        .output()
        .expect("xmlsec1 is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = String::from_utf8(out.stdout).unwrap();
    let data = test_idp::strip_declaration(&data);
    assert!(data.starts_with("<xenc:EncryptedData"), "{data}");
    format!(
        r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{data}</saml:EncryptedAssertion>"#
    )
}

/// An SP-initiated sign-in answered with the signed assertion encrypted for `cert_pem`.
async fn sign_in_encrypted(
    app: &TestApp,
    dir: &Path,
    cert_pem: &str,
    alg: (&str, &str),
) -> crate::helpers::Resp {
    let pending = app.saml_login("/app").await;
    let mut entra: Entra = fresh_entra();
    entra.in_response_to = Some(pending.request_id.clone());
    let encrypted = xmlsec_encrypt(dir, &entra.assertion(), cert_pem, alg);
    assert!(
        !encrypted.contains(test_idp::OID),
        "the claims are not in clear"
    );
    let response = entra.response_around(&encrypted);
    app.acs(&test_idp::b64(&response), Some(&pending.relay_state))
        .await
}

#[track_caller]
fn assert_reason(app: &TestApp, r: &crate::helpers::Resp, reason: &str) {
    assert_eq!(r.status, 403, "{reason}: {}", r.text);
    let reference = reference_of(r);
    let row = app
        .signin_log()
        .into_iter()
        .find(|l| l.reference == reference)
        .expect("a sign-in log row");
    assert_eq!(row.reason.as_deref(), Some(reason), "{row:?}");
}

#[actix_web::test]
async fn assertions_encrypted_by_xmlsec1_are_decrypted_checked_and_rolled_over() {
    let app = spawn_sso_app().await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    assert!(encryption_certificates(&app).await.is_empty());
    app.idgate(&[
        "org",
        "set",
        "acme",
        "--encrypt-assertions",
        "on",
        "--jit",
        "on",
    ]);
    let certs = encryption_certificates(&app).await;
    assert_eq!(certs.len(), 1);
    let first = pem(&certs[0]);

    // AES-256-GCM and AES-128-CBC content, RSA-OAEP key transport: signed in.
    for alg in [GCM256, CBC128] {
        let r = sign_in_encrypted(&app, dir, &first, alg).await;
        assert_eq!(r.status, 303, "{}: {:?}", alg.0, app.signin_log().first());
        assert!(!session_of(&r).is_empty());
    }

    // Encrypted for another key (the test IdP's own certificate): refused, clear reason.
    let other = test_idp::key_file("idp-cert").to_string();
    let r = sign_in_encrypted(&app, dir, &other, GCM256).await;
    assert_reason(&app, &r, "decryption_failed");

    // Encryption on: an unencrypted (but genuine) assertion is refused.
    let r = app.sso(|_| {}).await;
    assert_reason(&app, &r, "not_encrypted");

    // The signature is still checked after decryption: a forged assertion (signed by the
    // attacker's key) encrypted for idgate's certificate is refused.
    let pending: Pending = app.saml_login("/app").await;
    let mut forged = fresh_entra();
    forged.in_response_to = Some(pending.request_id.clone());
    forged.key = "attacker-key";
    forged.key_info_cert = "attacker-cert";
    let encrypted = xmlsec_encrypt(dir, &forged.assertion(), &first, GCM256);
    let r = app
        .acs(
            &test_idp::b64(&forged.response_around(&encrypted)),
            Some(&pending.relay_state),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let reason = app.signin_log()[0].reason.clone().unwrap_or_default();
    assert!(
        reason == "bad_signature" || reason == "unknown_certificate",
        "{reason}"
    );

    // Rollover: after a rotation both keys decrypt until the grace period ends.
    app.idgate(&["org", "saml-keys", "rotate", "acme", "--use", "encryption"]);
    let certs = encryption_certificates(&app).await;
    assert_eq!(certs.len(), 2);
    assert_eq!(pem(&certs[1]), first);
    let second = pem(&certs[0]);
    for cert in [&second, &first] {
        let r = sign_in_encrypted(&app, dir, cert, GCM256).await;
        assert_eq!(r.status, 303, "{:?}", app.signin_log().first());
    }
    // With no grace, the replaced key stops decrypting at once.
    app.idgate(&[
        "org",
        "saml-keys",
        "rotate",
        "acme",
        "--use",
        "encryption",
        "--grace-days",
        "0",
    ]);
    let r = sign_in_encrypted(&app, dir, &second, GCM256).await;
    assert_reason(&app, &r, "decryption_failed");

    // Encryption off: an encrypted assertion is refused as before, plain ones pass.
    app.idgate(&["org", "set", "acme", "--encrypt-assertions", "off"]);
    assert!(encryption_certificates(&app).await.is_empty());
    let r = sign_in_encrypted(&app, dir, &first, GCM256).await;
    assert_reason(&app, &r, "encrypted_assertion");
    let r = app.sso(|_| {}).await;
    assert_eq!(r.status, 303, "{}", r.text);
}

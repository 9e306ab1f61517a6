//! The SP's own keys: signed AuthnRequests (HTTP-Redirect binding, RSA-SHA256) checked by
//! an independent verifier (the `openssl` command line over the exact signed octets), the
//! SP metadata's certificates, key rotation with a grace period, and the command line.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use crate::browser::{fresh_entra, session_of, spawn_sso_app};
use crate::helpers::TestApp;
use idgate::saml::test_idp;

const SIG_ALG: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

impl TestApp {
    async fn sp_metadata(&self) -> String {
        let r = self.web("GET", "/saml/acme/metadata", &[], None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.text
    }

    /// `/saml/acme/login`'s redirect to the IdP.
    async fn login_location(&self) -> String {
        let r = self
            .web("GET", "/saml/acme/login?return_to=/app", &[], None)
            .await;
        assert_eq!(r.status, 302, "{}", r.text);
        r.header("location").unwrap()
    }
}

/// The certificates (Base64 DER) of one use in SP metadata, in order.
fn certificates(metadata: &str, key_use: &str) -> Vec<String> {
    metadata
        .split(&format!("<md:KeyDescriptor use=\"{key_use}\">"))
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

/// Splits a signed redirect into (signed octets, SigAlg, signature bytes), as SAML bindings
/// §3.4.4.1 defines them: the parameters exactly as they appear in the query.
fn signed_parts(location: &str) -> (String, String, Vec<u8>) {
    let query = location.split_once('?').unwrap().1;
    let raw: Vec<&str> = query.split('&').collect();
    let value = |name: &str| -> &str {
        raw.iter()
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {location}"))
    };
    let signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        value("SAMLRequest"),
        value("RelayState"),
        value("SigAlg")
    );
    let decode = |v: &str| -> String {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}")).unwrap()[0]
            .1
            .clone()
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decode(value("Signature")))
        .unwrap();
    (signed, decode(value("SigAlg")), signature)
}

/// `openssl dgst -sha256 -verify` with the certificate's public key: true when it verifies.
fn openssl_verifies(dir: &Path, cert_b64: &str, signed: &str, signature: &[u8]) -> bool {
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        cert_b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::fs::write(dir.join("cert.pem"), pem).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("cert.pem"))
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("pub.pem"), &out.stdout).unwrap();
    std::fs::write(dir.join("signed.bin"), signed).unwrap();
    std::fs::write(dir.join("sig.bin"), signature).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("pub.pem"))
        .arg("-signature")
        .arg(dir.join("sig.bin"))
        .arg(dir.join("signed.bin"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.success(), said.contains("Verified OK"), "{said}");
    out.status.success()
}

#[actix_web::test]
async fn signed_authn_requests_verify_with_the_published_certificate_through_a_rotation() {
    let app = spawn_sso_app().await;
    let work = tempfile::tempdir().unwrap();
    // Off by default: unsigned requests, no SP certificate, AuthnRequestsSigned="false".
    let md = app.sp_metadata().await;
    assert!(md.contains(r#"AuthnRequestsSigned="false""#), "{md}");
    assert!(!md.contains("KeyDescriptor"), "{md}");
    assert!(!app.login_location().await.contains("Signature="));

    app.idgate(&["org", "set", "acme", "--sign-requests", "on", "--jit", "on"]);
    let md = app.sp_metadata().await;
    assert!(md.contains(r#"AuthnRequestsSigned="true""#), "{md}");
    let first = certificates(&md, "signing");
    assert_eq!(first.len(), 1, "{md}");
    assert!(certificates(&md, "encryption").is_empty());
    // The command line prints the same certificate for Entra's upload.
    let pem = app.idgate(&["org", "saml-keys", "cert", "acme", "--use", "signing"]);
    assert_eq!(
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
        first[0]
    );

    // Its expiry reaches /metrics like the IdP's (3 years out; nothing for encryption).
    let metrics = app.web("GET", "/metrics", &[], None).await.text;
    assert!(
        metrics
            .contains("idgate_saml_sp_certificate_expiry_days{org=\"acme\",use=\"signing\"} 109"),
        "{metrics}"
    );
    assert!(!metrics.contains("use=\"encryption\""), "{metrics}");

    let location = app.login_location().await;
    let (signed, alg, signature) = signed_parts(&location);
    assert_eq!(alg, SIG_ALG);
    assert!(openssl_verifies(
        work.path(),
        &first[0],
        &signed,
        &signature
    ));
    // The signature covers the RelayState: another one does not verify.
    let forged = signed.replacen("RelayState=", "RelayState=x", 1);
    assert!(!openssl_verifies(
        work.path(),
        &first[0],
        &forged,
        &signature
    ));

    // The signed request's sign-in completes as before (alice is created just in time).
    let pending = crate::browser::Pending::from_redirect(location);
    let mut entra = fresh_entra();
    entra.in_response_to = Some(pending.request_id.clone());
    let r = app
        .acs(&test_idp::b64(&entra.xml()), Some(&pending.relay_state))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(!session_of(&r).is_empty());

    // A rotation with no grace: the new key signs at once, the old one is gone.
    app.idgate(&[
        "org",
        "saml-keys",
        "rotate",
        "acme",
        "--use",
        "signing",
        "--grace-days",
        "0",
    ]);
    let md = app.sp_metadata().await;
    let second = certificates(&md, "signing");
    assert_eq!(second.len(), 1, "{md}");
    assert_ne!(second[0], first[0]);
    let (signed, _, signature) = signed_parts(&app.login_location().await);
    assert!(openssl_verifies(
        work.path(),
        &second[0],
        &signed,
        &signature
    ));
    assert!(!openssl_verifies(
        work.path(),
        &first[0],
        &signed,
        &signature
    ));

    // A staged rotation (the default grace): the new certificate is published at once,
    // listed first; the replaced key keeps signing until its grace period ends.
    app.idgate(&["org", "saml-keys", "rotate", "acme", "--use", "signing"]);
    let md = app.sp_metadata().await;
    let staged = certificates(&md, "signing");
    assert_eq!(staged.len(), 2, "{md}");
    assert_eq!(staged[1], second[0], "the replaced key is listed second");
    let (signed, _, signature) = signed_parts(&app.login_location().await);
    assert!(openssl_verifies(
        work.path(),
        &second[0],
        &signed,
        &signature
    ));
    assert!(!openssl_verifies(
        work.path(),
        &staged[0],
        &signed,
        &signature
    ));
    let shown = app.idgate(&["org", "show", "acme"]);
    assert!(shown.contains("sign requests:     on"), "{shown}");
    assert!(shown.contains("; current)"), "{shown}");
    assert!(
        shown.contains("; previous, live until ") && shown.contains(", signs requests)"),
        "{shown}"
    );

    // Off again: unsigned, nothing published; the key is kept for the next time.
    app.idgate(&["org", "set", "acme", "--sign-requests", "off"]);
    let md = app.sp_metadata().await;
    assert!(md.contains(r#"AuthnRequestsSigned="false""#), "{md}");
    assert!(!md.contains("KeyDescriptor"), "{md}");
    assert!(!app.login_location().await.contains("Signature="));
}

#[actix_web::test]
async fn saml_keys_commands_refuse_bad_input_and_change_nothing() {
    let app = spawn_sso_app().await;
    let data = app._dir.path();
    for args in [
        vec!["org", "saml-keys", "rotate", "nope"],
        vec!["org", "saml-keys", "rotate", "acme", "--use", "decrypting"],
        vec!["org", "saml-keys", "rotate", "acme", "--grace-days", "400"],
        vec!["org", "set", "acme", "--sign-requests", "maybe"],
        vec!["org", "set", "nope", "--sign-requests", "on"],
    ] {
        let out = crate::cli::idgate_stdin(data, &args, "");
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let shown = app.idgate(&["org", "saml-keys", "list", "acme"]);
    assert!(!shown.contains("sp signing key"), "{shown}");
    assert!(shown.contains("sign requests:     off"), "{shown}");
    // No key yet: `cert` says how to make one, exit 1.
    let out = crate::cli::idgate_stdin(data, &["org", "saml-keys", "cert", "acme"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("saml-keys rotate acme"));
    // Rotating both uses makes one key of each.
    let out = app.idgate(&["org", "saml-keys", "rotate", "acme"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let shown = app.idgate(&["org", "saml-keys", "list", "acme"]);
    assert!(shown.contains("sp signing key:"), "{shown}");
    assert!(shown.contains("sp encryption key:"), "{shown}");
    // The private keys are sealed at rest: no PKCS#8 in the database.
    let sealed: Vec<Vec<u8>> = app
        .store
        .read_now(|c| {
            let mut s = c.prepare("SELECT sealed_key FROM saml_sp_keys")?;
            let rows = s.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(sealed.len(), 2);
    for k in sealed {
        assert!(openssl::pkey::PKey::private_key_from_pkcs8(&k).is_err());
    }
}

#[actix_web::test]
async fn the_sso_page_switches_signing_on_offers_the_certificate_and_rotates() {
    use crate::admin_helpers::{self, AdminBrowser};
    let app = spawn_sso_app().await;
    let ops = AdminBrowser::new(&app, &admin_helpers::operator(&app).await);
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("id=\"sp-keys\""), "{}", page.text);
    assert!(page.text.contains("No SP key pair yet"), "{}", page.text);

    let r = ops
        .post("/admin/orgs/acme/sso/sp-keys", &[("sign_requests", "on")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let md = app.sp_metadata().await;
    assert!(md.contains(r#"AuthnRequestsSigned="true""#), "{md}");
    let cert = certificates(&md, "signing").remove(0);
    let page = ops.get("/admin/orgs/acme/sso").await;
    let link = page
        .text
        .split("href=\"/admin/orgs/acme/sso/sp-keys/")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a certificate download link")
        .to_string();
    assert!(page.text.contains("current"), "{}", page.text);
    let cer = ops
        .get(&format!("/admin/orgs/acme/sso/sp-keys/{link}"))
        .await;
    assert_eq!(cer.status, 200);
    assert_eq!(
        cer.header("content-type").as_deref(),
        Some("application/x-x509-ca-cert")
    );
    let body: String = cer
        .text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(body, cert);
    // Another org's admin path or a made-up id finds nothing.
    for bad in ["999/certificate.cer", "x/certificate.cer"] {
        let r = ops
            .get(&format!("/admin/orgs/acme/sso/sp-keys/{bad}"))
            .await;
        assert_eq!(r.status, 404, "{bad}");
    }

    // Rotation from the page: two signing certificates published, the new one first.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/sp-keys/rotate",
            &[("key_use", "signing")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let md = app.sp_metadata().await;
    let both = certificates(&md, "signing");
    assert_eq!(both.len(), 2);
    assert_eq!(both[1], cert);
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert!(page.text.contains("previous, live until"), "{}", page.text);
    assert_eq!(page.text.matches("signs requests</span>").count(), 1);
    // A bad use changes nothing.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/sp-keys/rotate",
            &[("key_use", "both")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(certificates(&app.sp_metadata().await, "signing").len(), 2);

    // Encrypted assertions on, signing off (its checkbox left out): the encryption
    // certificate is published, the signing ones no more.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/sp-keys",
            &[("encrypt_assertions", "on")],
        )
        .await;
    assert_eq!(r.status, 303);
    let md = app.sp_metadata().await;
    assert!(md.contains(r#"AuthnRequestsSigned="false""#), "{md}");
    assert!(certificates(&md, "signing").is_empty(), "{md}");
    assert_eq!(certificates(&md, "encryption").len(), 1, "{md}");
    assert!(md.contains("xmlenc11#aes256-gcm"), "{md}");
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert!(
        page.text
            .contains("name=\"encrypt_assertions\" value=\"on\" checked")
    );
}

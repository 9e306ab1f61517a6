//! SAML single logout over real HTTP, both ways: `POST /logout` of a SAML session sends the
//! browser to the IdP with a LogoutRequest (NameID, SessionIndex, Issuer; signed when
//! sign-requests is on, checked with the `openssl` command line), whose LogoutResponse
//! (signed here with the test IdP's key) lands on the sign-in page; and the IdP's signed
//! LogoutRequest ends the session at once and is answered with a LogoutResponse.

use std::io::{Read as _, Write as _};
use std::process::Command;

use base64::Engine as _;

use crate::browser::{PUBLIC_URL, SLO_URL, session_of, spawn_sso_app};
use crate::helpers::{Resp, TestApp};
use idgate::saml::test_idp;

const SIG_ALG: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const NS: &str = r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

fn enc(v: &str) -> String {
    serde_urlencoded::to_string([("v", v)]).unwrap()[2..].to_string()
}

fn dec(v: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}")).unwrap()[0]
        .1
        .clone()
}

/// A raw query parameter of a URL, as it appears (still encoded).
fn raw<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
}

fn inflate(b64: &str) -> String {
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

fn attr(xml: &str, name: &str) -> String {
    xml.split(&format!(" {name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// The query the IdP sends: `param`=deflated XML (and RelayState), signed with `key`.
fn idp_query(param: &str, xml: &str, relay: Option<&str>, key: Option<&str>) -> String {
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    d.write_all(xml.as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(d.finish().unwrap());
    let mut q = format!("{param}={}", enc(&b64));
    if let Some(r) = relay {
        q.push_str(&format!("&RelayState={}", enc(r)));
    }
    if let Some(key) = key {
        q.push_str(&format!("&SigAlg={}", enc(SIG_ALG)));
        let pkey =
            openssl::pkey::PKey::private_key_from_pem(test_idp::key_file(key).as_bytes()).unwrap();
        let mut s =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
        s.update(q.as_bytes()).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec().unwrap());
        q.push_str(&format!("&Signature={}", enc(&sig)));
    }
    q
}

fn logout_response(in_response_to: &str, status: &str) -> String {
    format!(
        r#"<samlp:LogoutResponse {NS} ID="_r{}" Version="2.0" IssueInstant="{}" Destination="{PUBLIC_URL}/saml/acme/slo" InResponseTo="{in_response_to}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        uuid::Uuid::new_v4().simple(),
        test_idp::ts(time::OffsetDateTime::now_utc()),
        test_idp::IDP
    )
}

fn idp_logout_request(id: &str, name_id: &str, session_index: Option<&str>) -> String {
    let index = session_index
        .map(|s| format!("<samlp:SessionIndex>{s}</samlp:SessionIndex>"))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest {NS} ID="{id}" Version="2.0" IssueInstant="{}" Destination="{PUBLIC_URL}/saml/acme/slo"><saml:Issuer>{}</saml:Issuer><saml:NameID Format="{}">{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        test_idp::ts(time::OffsetDateTime::now_utc()),
        test_idp::IDP,
        test_idp::NAMEID_EMAIL
    )
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

impl TestApp {
    async fn slo(&self, query: &str) -> Resp {
        self.web("GET", &format!("/saml/acme/slo?{query}"), &[], None)
            .await
    }

    async fn logout(&self, cookie: &str) -> Resp {
        let c = format!("idgate_session={cookie}");
        self.web("POST", "/logout", &[("Cookie", &c)], None).await
    }

    /// Signs in through SAML; the session cookie and the assertion ID (Entra's SessionIndex).
    async fn saml_session(&self) -> (String, String) {
        let index = format!("_{}", uuid::Uuid::new_v4());
        let r = self.sso(|e| e.assertion_id = index.clone()).await;
        (session_of(&r), index)
    }
}

/// `openssl dgst -sha256 -verify` of a signed redirect with the IdP-side view of our
/// published signing certificate.
fn openssl_verifies(cert_pem: &str, signed: &str, signature: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.path().join("cert.pem"))
        .output()
        .expect("the openssl command line is installed");
    assert!(out.status.success());
    std::fs::write(dir.path().join("pub.pem"), &out.stdout).unwrap();
    std::fs::write(dir.path().join("signed.bin"), signed).unwrap();
    std::fs::write(dir.path().join("sig.bin"), signature).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.path().join("pub.pem"))
        .arg("-signature")
        .arg(dir.path().join("sig.bin"))
        .arg(dir.path().join("signed.bin"))
        .output()
        .unwrap()
        .status
        .success()
}

#[actix_web::test]
async fn sp_initiated_logout_sends_a_logout_request_and_accepts_only_its_answer() {
    let app = spawn_sso_app().await;
    app.idgate(&["org", "set", "acme", "--jit", "on"]);
    let md = app.web("GET", "/saml/acme/metadata", &[], None).await.text;
    assert!(
        md.contains(&format!(
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{PUBLIC_URL}/saml/acme/slo"/>"#
        )),
        "{md}"
    );

    let (cookie, index) = app.saml_session().await;
    assert_eq!(app.verify(&cookie).await.status, 200);
    let r = app.logout(&cookie).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{SLO_URL}?SAMLRequest=")),
        "{location}"
    );
    assert!(
        raw(&location, "Signature").is_none(),
        "unsigned while sign-requests is off"
    );
    // Revoked locally first.
    assert_eq!(app.verify(&cookie).await.status, 401);
    let xml = inflate(&dec(raw(&location, "SAMLRequest").unwrap()));
    assert!(xml.starts_with("<samlp:LogoutRequest "), "{xml}");
    assert!(
        xml.contains(&format!(
            r#"<saml:NameID Format="{}">{}</saml:NameID>"#,
            test_idp::NAMEID_EMAIL,
            test_idp::EMAIL
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<saml:Issuer>{PUBLIC_URL}/saml/acme</saml:Issuer>"
        )),
        "{xml}"
    );
    assert_eq!(attr(&xml, "Destination"), SLO_URL);
    let request_id = attr(&xml, "ID");

    // A wrong InResponseTo, an unsigned-but-tampered signature, the attacker's key: refused.
    let wrong = idp_query(
        "SAMLResponse",
        &logout_response("id-other", SUCCESS),
        None,
        Some("idp-key"),
    );
    let r = app.slo(&wrong).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("could not be accepted"), "{}", r.text);
    let forged = idp_query(
        "SAMLResponse",
        &logout_response(&request_id, SUCCESS),
        None,
        Some("attacker-key"),
    );
    assert_eq!(app.slo(&forged).await.status, 400);
    for junk in [
        "SAMLResponse=%%%",
        "SAMLResponse=bm90IGRlZmxhdGVk",
        "x=1",
        "",
    ] {
        assert_eq!(app.slo(junk).await.status, 400, "{junk}");
    }
    // The genuine answer: the sign-in page; used up once.
    let good = idp_query(
        "SAMLResponse",
        &logout_response(&request_id, SUCCESS),
        None,
        Some("idp-key"),
    );
    let r = app.slo(&good).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/login"));
    assert_eq!(app.slo(&good).await.status, 400, "single use");
}

#[actix_web::test]
async fn signed_logout_request_verifies_with_the_published_certificate() {
    let app = spawn_sso_app().await;
    app.idgate(&["org", "set", "acme", "--sign-requests", "on", "--jit", "on"]);
    let pem = app.idgate(&["org", "saml-keys", "cert", "acme", "--use", "signing"]);
    let (cookie, _) = app.saml_session().await;
    let location = app.logout(&cookie).await.header("location").unwrap();
    let signed = format!(
        "SAMLRequest={}&SigAlg={}",
        raw(&location, "SAMLRequest").unwrap(),
        raw(&location, "SigAlg").unwrap()
    );
    assert_eq!(dec(raw(&location, "SigAlg").unwrap()), SIG_ALG);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(dec(raw(&location, "Signature").unwrap()))
        .unwrap();
    assert!(openssl_verifies(&pem, &signed, &signature));
    assert!(!openssl_verifies(
        &pem,
        &signed.replace("SigAlg", "SigAlG"),
        &signature
    ));
}

#[actix_web::test]
async fn idp_initiated_logout_ends_the_session_at_once_and_answers() {
    let app = spawn_sso_app().await;
    app.idgate(&["org", "set", "acme", "--sign-requests", "on", "--jit", "on"]);
    let pem = app.idgate(&["org", "saml-keys", "cert", "acme", "--use", "signing"]);
    let (cookie, index) = app.saml_session().await;
    let (other, _) = app.saml_session().await;
    assert_eq!(app.verify(&cookie).await.status, 200);
    assert_eq!(app.verify(&other).await.status, 200);

    // Unsigned, or signed with another key: refused, and the session lives on.
    let req = idp_logout_request("_lr1", test_idp::EMAIL, Some(&index));
    for key in [None, Some("attacker-key")] {
        let r = app.slo(&idp_query("SAMLRequest", &req, None, key)).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(app.verify(&cookie).await.status, 200);
    }
    // Another IdP's Issuer: refused.
    let foreign = req.replace(test_idp::IDP, "https://evil.example/");
    let r = app
        .slo(&idp_query("SAMLRequest", &foreign, None, Some("idp-key")))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(app.verify(&cookie).await.status, 200);

    // Signed by the IdP: that IdP session's cookie is dead at once; the other lives.
    let r = app
        .slo(&idp_query(
            "SAMLRequest",
            &req,
            Some("rs-1"),
            Some("idp-key"),
        ))
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(app.verify(&cookie).await.status, 401);
    assert_eq!(app.verify(&other).await.status, 200);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{SLO_URL}?SAMLResponse=")),
        "{location}"
    );
    assert_eq!(dec(raw(&location, "RelayState").unwrap()), "rs-1");
    let xml = inflate(&dec(raw(&location, "SAMLResponse").unwrap()));
    assert!(xml.starts_with("<samlp:LogoutResponse "), "{xml}");
    assert_eq!(attr(&xml, "InResponseTo"), "_lr1");
    assert!(
        xml.contains(&format!(r#"<samlp:StatusCode Value="{SUCCESS}"/>"#)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<saml:Issuer>{PUBLIC_URL}/saml/acme</saml:Issuer>"
        )),
        "{xml}"
    );
    let signed = format!(
        "SAMLResponse={}&RelayState={}&SigAlg={}",
        raw(&location, "SAMLResponse").unwrap(),
        raw(&location, "RelayState").unwrap(),
        raw(&location, "SigAlg").unwrap()
    );
    let signature = base64::engine::general_purpose::STANDARD
        .decode(dec(raw(&location, "Signature").unwrap()))
        .unwrap();
    assert!(openssl_verifies(&pem, &signed, &signature));

    // Without a SessionIndex: every session of that user in the org.
    let all = idp_logout_request("_lr2", test_idp::EMAIL, None);
    let r = app
        .slo(&idp_query("SAMLRequest", &all, None, Some("idp-key")))
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(app.verify(&other).await.status, 401);
}

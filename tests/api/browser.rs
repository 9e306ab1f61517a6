//! Browser-side helpers for the sign-in tests: plain HTTP requests to the gateway, the
//! SP-initiated SAML dance with responses signed at test time, cookies, the sign-in log.

use std::io::Read as _;

use base64::Engine as _;
use idgate::clock::{Clock, timestamp};
use idgate::saml::test_idp::{self, Entra};
use idgate::store::saml::{CertRecord, IdpRecord};
use idgate::store::signin::SigninLog;
use idgate::store::{Store, orgs};
use serde_json::Value;

use crate::helpers::{Resp, TestApp, spawn_app_with};

pub const PUBLIC_URL: &str = "https://login.example.com";
/// The test IdP's logout endpoint (its `SingleLogoutService`).
pub const SLO_URL: &str =
    "https://login.microsoftonline.com/00000000-1111-2222-3333-444444444444/saml2/logout";

/// An app whose public URL matches the test IdP's audience, with acme's IdP configured.
pub async fn spawn_sso_app() -> TestApp {
    let app = spawn_app_with(|c| c.public_url = PUBLIC_URL.into()).await;
    configure_idp(&app.store, "acme");
    app
}

/// Gives `slug` the test IdP (entity ID and signing certificate of tests/fixtures/saml-test-key).
pub fn configure_idp(store: &Store, slug: &str) {
    let der = test_idp::cert_der("idp-cert");
    let now = timestamp(Clock::System.now());
    store
        .write_now(|c| {
            let org = orgs::require_org(c, slug)?;
            idgate::store::saml::set_idp(
                c,
                org.id,
                &IdpRecord {
                    entity_id: test_idp::IDP.into(),
                    sso_url: "https://login.microsoftonline.com/00000000-1111-2222-3333-444444444444/saml2".into(),
                    slo_url: Some(SLO_URL.into()),
                    source: "manual".into(),
                    updated: now.clone(),
                    certificates: vec![CertRecord {
                        fingerprint: "test".into(),
                        der: der.clone(),
                        subject: "CN=test".into(),
                        not_before: now.clone(),
                        not_after: "2099-01-01T00:00:00.000Z".into(),
                    }],
                },
            )
        })
        .unwrap();
}

/// Where `/saml/{org}/login` sent the browser.
pub struct Pending {
    pub request_id: String,
    pub relay_state: String,
    pub location: String,
}

impl Pending {
    /// Reads the AuthnRequest ID and RelayState out of a redirect to the IdP.
    pub fn from_redirect(location: String) -> Self {
        let pairs = query_pairs(&location);
        let get = |k: &str| pairs.iter().find(|p| p.0 == k).unwrap().1.clone();
        let deflated = base64::engine::general_purpose::STANDARD
            .decode(get("SAMLRequest"))
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .read_to_string(&mut xml)
            .unwrap();
        let id = xml
            .split(" ID=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        Self {
            request_id: id.to_string(),
            relay_state: get("RelayState"),
            location,
        }
    }
}

fn query_pairs(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(q).unwrap()
}

impl TestApp {
    /// A request to any gateway path; never follows redirects.
    pub async fn web(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Resp {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        }
        .expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn form(&self, path: &str, pairs: &[(&str, &str)], cookie: Option<&str>) -> Resp {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        let cookie = cookie.map(|c| format!("idgate_session={c}"));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        self.web("POST", path, &headers, Some(body)).await
    }

    /// Submits the sign-in form as a browser would: GET /login first (the CSRF cookie and
    /// the form's token), then POST with both.
    pub async fn login(&self, pairs: &[(&str, &str)]) -> Resp {
        let page = self.web("GET", "/login", &[], None).await;
        let token = page
            .text
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .expect("the sign-in form carries a CSRF token")
            .to_string();
        let cookie = page
            .headers
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("idgate_csrf="))
            .and_then(|v| v.split(';').next())
            .expect("the sign-in page sets the CSRF cookie")
            .to_string();
        let mut all = pairs.to_vec();
        all.push(("csrf", &token));
        let body = serde_urlencoded::to_string(&all).unwrap();
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie.as_str()),
        ];
        self.web("POST", "/login", &headers, Some(body)).await
    }

    /// Starts an SP-initiated sign-in for acme.
    pub async fn saml_login(&self, return_to: &str) -> Pending {
        let path = format!(
            "/saml/acme/login?{}",
            serde_urlencoded::to_string([("return_to", return_to)]).unwrap()
        );
        let r = self.web("GET", &path, &[], None).await;
        assert_eq!(r.status, 302, "{}", r.text);
        Pending::from_redirect(r.header("location").unwrap())
    }

    /// Posts a SAMLResponse (already base64) to acme's ACS.
    pub async fn acs(&self, b64: &str, relay_state: Option<&str>) -> Resp {
        let mut pairs = vec![("SAMLResponse", b64)];
        if let Some(r) = relay_state {
            pairs.push(("RelayState", r));
        }
        self.form("/saml/acme/acs", &pairs, None).await
    }

    /// A full SP-initiated sign-in with a genuine response built by `adjust`.
    pub async fn sso(&self, adjust: impl FnOnce(&mut Entra)) -> Resp {
        let pending = self.saml_login("/app").await;
        let mut entra = fresh_entra();
        entra.in_response_to = Some(pending.request_id.clone());
        adjust(&mut entra);
        self.acs(&test_idp::b64(&entra.xml()), Some(&pending.relay_state))
            .await
    }

    /// `/auth/verify` with a session cookie.
    pub async fn verify(&self, cookie: &str) -> Resp {
        let c = format!("idgate_session={cookie}");
        self.web("GET", "/auth/verify", &[("Cookie", &c)], None)
            .await
    }

    /// acme's newest sign-in log rows, newest first.
    pub fn signin_log(&self) -> Vec<SigninLog> {
        self.store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                idgate::store::signin::recent_signins(c, org.id, 100)
            })
            .unwrap()
    }
}

/// A genuine response issued now, with a fresh assertion ID.
pub fn fresh_entra() -> Entra {
    let mut e = Entra::new(time::OffsetDateTime::now_utc());
    e.assertion_id = format!("_{}", uuid::Uuid::new_v4());
    e
}

/// The session cookie a response sets, with its attributes.
pub fn set_cookie(r: &Resp) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("idgate_session="))
        .map(str::to_string)
}

/// The session token a response sets.
pub fn session_of(r: &Resp) -> String {
    let c = set_cookie(r).unwrap_or_else(|| panic!("no session cookie: {} {}", r.status, r.text));
    c.trim_start_matches("idgate_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The reference a "Sign-in failed" page shows.
pub fn reference_of(r: &Resp) -> String {
    let after = r
        .text
        .split("(reference ")
        .nth(1)
        .unwrap_or_else(|| panic!("no reference: {}", r.text));
    after.split(')').next().unwrap().to_string()
}

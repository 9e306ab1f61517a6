//! SAML sign-in over HTTP: SP-initiated login, the ACS with responses signed at test time,
//! every refusal with its own reason code in the sign-in log, sessions and revocation.

use idgate::saml::test_idp::{self, Entra};
use serde_json::json;

use crate::browser::{fresh_entra, reference_of, session_of, set_cookie, spawn_sso_app};
use crate::helpers::{TestApp, patch};

/// Provisions alice@acme.com (externalId = the test IdP's objectidentifier) over SCIM.
async fn provision_alice(app: &TestApp) -> String {
    let r = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "alice@acme.com",
                "externalId": test_idp::OID,
                "displayName": "Alice Example",
                "active": true,
                "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
                "roles": [{"value": "admin", "primary": true}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

#[track_caller]
fn assert_refused(r: &crate::helpers::Resp, app: &TestApp, reason: &str) {
    assert_eq!(r.status, 403, "{reason}: {}", r.text);
    assert!(set_cookie(r).is_none(), "{reason}: a session was set");
    assert!(r.text.contains("Sign-in failed (reference "), "{}", r.text);
    let page = r.text.replace("<!doctype html>", "");
    assert!(
        !page.contains(reason),
        "the page reveals the reason {reason}"
    );
    let reference = reference_of(r);
    let log = app.signin_log();
    let row = log
        .iter()
        .find(|l| l.reference == reference)
        .unwrap_or_else(|| panic!("no sign-in log row {reference} for {reason}"));
    assert!(!row.success);
    assert_eq!(row.reason.as_deref(), Some(reason), "{row:?}");
    // The operator can grep the server log for the reference the user reports.
    let logged = crate::logs::lines_with(&["sign-in refused", &reference, reason]);
    assert!(
        !logged.is_empty(),
        "no server log line with the reference {reference} for {reason}"
    );
}

#[actix_web::test]
async fn the_whole_life_of_a_provisioned_user() {
    let app = spawn_sso_app().await;
    let id = provision_alice(&app).await;
    let g = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Sales, EU", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.text);

    // SP-initiated sign-in; the email claim arrives in mixed case with spaces.
    let pending = app.saml_login("/reports?q=1").await;
    assert!(
        pending
            .location
            .starts_with("https://login.microsoftonline.com/00000000-1111-2222-3333-444444444444/saml2?SAMLRequest="),
        "{}",
        pending.location
    );
    let mut entra = fresh_entra();
    entra.in_response_to = Some(pending.request_id.clone());
    entra.email = " Alice@ACME.com ".into();
    let r = app
        .acs(&test_idp::b64(&entra.xml()), Some(&pending.relay_state))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/reports?q=1"));
    let cookie = set_cookie(&r).unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let session = session_of(&r);

    let v = app.verify(&session).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.header("x-idgate-user-id").as_deref(), Some(id.as_str()));
    assert_eq!(
        v.header("x-idgate-email").as_deref(),
        Some("alice@acme.com")
    );
    assert_eq!(v.header("x-idgate-name").as_deref(), Some("Alice Example"));
    assert_eq!(v.header("x-idgate-org").as_deref(), Some("acme"));
    assert_eq!(v.header("x-idgate-groups").as_deref(), Some("Sales%2C EU"));
    let s = app
        .web(
            "GET",
            "/api/v1/session",
            &[("Cookie", &format!("idgate_session={session}"))],
            None,
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["email"], "alice@acme.com");
    assert_eq!(s.body["user_id"], id.as_str());
    assert_eq!(s.body["org"], "acme");
    assert_eq!(s.body["groups"], json!(["Sales, EU"]));
    assert!(s.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let ok = app.signin_log();
    assert!(
        ok[0].success && ok[0].user_id.as_deref() == Some(id.as_str()),
        "{:?}",
        ok[0]
    );
    assert_eq!(ok[0].email.as_deref(), Some("alice@acme.com"));

    // Entra deactivates: the very next verify is 401, and sign-in is refused.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.verify(&session).await.status, 401);
    let refused = app.sso(|_| {}).await;
    assert_refused(&refused, &app, "deactivated");

    // Re-activation restores sign-in (not the revoked session).
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch(json!([{"op": "replace", "value": {"active": true}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.verify(&session).await.status, 401);
    let again = app.sso(|_| {}).await;
    assert_eq!(again.status, 303, "{}", again.text);
    let session2 = session_of(&again);
    assert_eq!(app.verify(&session2).await.status, 200);

    // DELETE ends it.
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    assert_eq!(app.verify(&session2).await.status, 401);
    let gone = app.sso(|_| {}).await;
    assert_refused(&gone, &app, "not_provisioned");
}

#[actix_web::test]
async fn genuine_responses_sign_in_in_all_three_signing_modes() {
    let app = spawn_sso_app().await;
    provision_alice(&app).await;
    for (assertion, response) in [(true, false), (false, true), (true, true)] {
        let r = app
            .sso(|e| {
                e.sign_assertion = assertion;
                e.sign_response = response;
            })
            .await;
        assert_eq!(
            r.status, 303,
            "assertion {assertion} response {response}: {}",
            r.text
        );
        assert_eq!(app.verify(&session_of(&r)).await.status, 200);
    }
}

#[actix_web::test]
async fn every_attack_is_refused_with_its_own_reason() {
    let app = spawn_sso_app().await;
    provision_alice(&app).await;
    let now = time::OffsetDateTime::now_utc();
    type Mutation = Box<dyn Fn(&mut Entra)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "wrong_audience",
            Box::new(|e| e.audience = "https://login.example.com/saml/other".into()),
        ),
        (
            "wrong_recipient",
            Box::new(|e| e.recipient = "https://evil.example/acs".into()),
        ),
        (
            "wrong_destination",
            Box::new(|e| e.destination = Some("https://evil.example/acs".into())),
        ),
        (
            "wrong_issuer",
            Box::new(|e| {
                e.issuer = "https://sts.windows.net/ffffffff-0000-0000-0000-000000000000/".into();
                e.response_issuer = e.issuer.clone();
            }),
        ),
        (
            "unknown_certificate",
            Box::new(|e| {
                e.key = "attacker-key";
                e.key_info_cert = "attacker-cert";
            }),
        ),
        (
            "weak_algorithm",
            Box::new(|e| {
                e.signature_method = test_idp::RSA_SHA1;
                e.digest_method = test_idp::SHA1;
            }),
        ),
        (
            "expired",
            Box::new(move |e| e.issued = now - time::Duration::hours(3)),
        ),
        (
            "not_yet_valid",
            Box::new(move |e| e.issued = now + time::Duration::hours(1)),
        ),
        ("no_signature", Box::new(|e| e.sign_assertion = false)),
        (
            "unexpected_in_response_to",
            Box::new(|e| e.in_response_to = Some("idnot-a-request".into())),
        ),
        (
            "email_outside_domains",
            Box::new(|e| e.email = "alice@evil.com".into()),
        ),
    ];
    for (reason, mutate) in &cases {
        let r = app.sso(|e| mutate(e)).await;
        assert_refused(&r, &app, reason);
    }

    // Documents doctored after signing.
    type Doctor = Box<dyn Fn(&str) -> String>;
    let doctored: Vec<(&str, Doctor)> = vec![
        (
            "bad_signature",
            Box::new(|xml| xml.replacen("Alice Example", "Mallory Example", 1)),
        ),
        (
            "no_signature",
            Box::new(|xml| xml.replace(test_idp::slice(xml, "<Signature", "</Signature>"), "")),
        ),
        (
            "comment_injection",
            Box::new(|xml| xml.replacen(">alice@acme.com<", ">alice@acme.com<!---->.evil.com<", 1)),
        ),
        (
            "signature_wrapping",
            Box::new(|xml| {
                // XSW: the signed assertion hidden in Extensions, an unsigned evil one in its place.
                let signed = test_idp::slice(xml, "<Assertion", "</Assertion>").to_string();
                let evil = signed
                    .replace(test_idp::slice(&signed, "<Signature", "</Signature>"), "")
                    .replace("alice@acme.com", "admin@acme.com");
                xml.replace(&signed, &evil).replace(
                    "<samlp:Status>",
                    &format!("<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>"),
                )
            }),
        ),
        (
            "doctype",
            Box::new(|xml| {
                format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{xml}")
            }),
        ),
        (
            "doctype",
            Box::new(|xml| {
                format!(
                    "<!DOCTYPE r [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;\">]>{xml}"
                )
            }),
        ),
        (
            "multiple_assertions",
            Box::new(|xml| {
                let a = test_idp::slice(xml, "<Assertion", "</Assertion>").to_string();
                xml.replacen("</samlp:Response>", &format!("{a}</samlp:Response>"), 1)
            }),
        ),
    ];
    for (reason, doctor) in &doctored {
        let pending = app.saml_login("/").await;
        let mut e = fresh_entra();
        e.in_response_to = Some(pending.request_id.clone());
        let xml = doctor(&e.xml());
        let r = app
            .acs(&test_idp::b64(&xml), Some(&pending.relay_state))
            .await;
        assert_refused(&r, &app, reason);
    }

    // Far too large: 413, still a readable page with a reference, and logged.
    let huge = "A".repeat(700 * 1024);
    let r = app.acs(&huge, None).await;
    assert_eq!(r.status, 413);
    assert!(r.text.contains("Sign-in failed (reference "), "{}", r.text);
    let reference = crate::browser::reference_of(&r);
    let log = app.signin_log();
    let row = log.iter().find(|l| l.reference == reference).unwrap();
    assert_eq!(row.reason.as_deref(), Some("too_large"));

    // Not base64, no response at all: a refusal page, not a 500.
    let r = app.acs("%%%not base64", None).await;
    assert_refused(&r, &app, "not_base64");
    let r = app
        .form("/saml/acme/acs", &[("RelayState", "x")], None)
        .await;
    assert_refused(&r, &app, "malformed");
}

#[actix_web::test]
async fn a_response_is_good_for_one_sign_in_only() {
    let app = spawn_sso_app().await;
    provision_alice(&app).await;
    // SP-initiated: the request is used up by the first post.
    let pending = app.saml_login("/").await;
    let mut e = fresh_entra();
    e.in_response_to = Some(pending.request_id.clone());
    let b64 = test_idp::b64(&e.xml());
    let first = app.acs(&b64, Some(&pending.relay_state)).await;
    assert_eq!(first.status, 303, "{}", first.text);
    let second = app.acs(&b64, Some(&pending.relay_state)).await;
    assert_refused(&second, &app, "unexpected_in_response_to");

    // IdP-initiated is refused while the org does not allow it…
    let mut unsolicited = fresh_entra();
    unsolicited.in_response_to = None;
    let b64 = test_idp::b64(&unsolicited.xml());
    assert_refused(&app.acs(&b64, None).await, &app, "unsolicited");
    // …and once allowed, the same assertion ID is still accepted only once (replay cache).
    set_idp_initiated(&app, true);
    let mut unsolicited = fresh_entra();
    unsolicited.in_response_to = None;
    let b64 = test_idp::b64(&unsolicited.xml());
    let ok = app.acs(&b64, Some("/welcome")).await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location").as_deref(), Some("/welcome"));
    assert_refused(&app.acs(&b64, None).await, &app, "replayed_assertion");
    // An IdP-initiated RelayState cannot redirect off-site.
    let mut e = fresh_entra();
    e.in_response_to = None;
    let r = app
        .acs(&test_idp::b64(&e.xml()), Some("https://evil.example/"))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/"));
}

fn set_org(app: &TestApp, change: idgate::store::orgs::SettingsChange) {
    app.store
        .write_now(|c| {
            let org = idgate::store::orgs::require_org(c, "acme")?;
            idgate::store::orgs::update_settings(c, org.id, &change)
        })
        .unwrap();
}

fn set_idp_initiated(app: &TestApp, on: bool) {
    set_org(
        app,
        idgate::store::orgs::SettingsChange {
            idp_initiated: Some(on),
            ..Default::default()
        },
    );
}

fn set_jit(app: &TestApp, on: bool) {
    set_org(
        app,
        idgate::store::orgs::SettingsChange {
            jit: Some(on),
            ..Default::default()
        },
    );
}

#[actix_web::test]
async fn unprovisioned_users_are_refused_unless_jit_and_saml_roles_fill_gaps_only() {
    let app = spawn_sso_app().await;
    let r = app.sso(|_| {}).await;
    assert_refused(&r, &app, "not_provisioned");

    set_jit(&app, true);
    let r = app.sso(|_| {}).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(
        v.header("x-idgate-email").as_deref(),
        Some("alice@acme.com")
    );
    // No SCIM role: the SAML role claim (first value, "Admin") resolves through the mapping.
    assert_eq!(v.header("x-idgate-role").as_deref(), Some(""));
    let users = app
        .get("/Users?filter=userName%20eq%20%22alice@acme.com%22")
        .await;
    assert_eq!(users.body["totalResults"], 1, "{}", users.text);
    assert_eq!(users.body["Resources"][0]["externalId"], test_idp::OID);
    assert_eq!(users.body["Resources"][0]["displayName"], "Alice Example");

    app.store
        .write_now(|c| {
            let org = idgate::store::orgs::require_org(c, "acme")?;
            idgate::store::orgs::set_role_mapping(c, org.id, "admin", "Administrator")
        })
        .unwrap();
    let r = app.sso(|_| {}).await;
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(v.header("x-idgate-role").as_deref(), Some("Administrator"));

    // A role from SCIM wins over the claim.
    let id = users.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = app
        .patch(
            &format!("/Users/{id}"),
            patch(json!([{"op": "add", "path": "roles", "value": [{"value": "viewer", "primary": true}]}])),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    app.store
        .write_now(|c| {
            let org = idgate::store::orgs::require_org(c, "acme")?;
            idgate::store::orgs::set_role_mapping(c, org.id, "viewer", "Viewer")?;
            idgate::store::orgs::reresolve_roles(c, org.id).map(|_| ())
        })
        .unwrap();
    let r = app.sso(|_| {}).await;
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(v.header("x-idgate-role").as_deref(), Some("Viewer"));
}

#[actix_web::test]
async fn sign_in_cannot_start_an_open_redirect_or_without_an_idp() {
    let app = spawn_sso_app().await;
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let q = serde_urlencoded::to_string([("return_to", bad)]).unwrap();
        let r = app
            .web("GET", &format!("/saml/acme/login?{q}"), &[], None)
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = app.web("GET", "/saml/nope/login", &[], None).await;
    assert_eq!(r.status, 404);
    // An org without IdP metadata (or with key-less metadata): nothing to sign in with,
    // and its ACS refuses everything.
    crate::helpers::create_org(&app.store, "beta", "beta.com");
    let r = app.web("GET", "/saml/beta/login", &[], None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("not set up"), "{}", r.text);
    let e = fresh_entra();
    let r = app
        .form(
            "/saml/beta/acs",
            &[("SAMLResponse", &test_idp::b64(&e.xml()))],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(set_cookie(&r).is_none());
}

#[actix_web::test]
async fn an_email_shared_by_two_users_signs_neither_in() {
    let app = spawn_sso_app().await;
    for (user_name, external_id) in [("alice1", "ext-1"), ("alice2", "ext-2")] {
        let r = app
            .post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "externalId": external_id,
                    "active": true,
                    "emails": [{"value": "Alice@acme.com", "type": "work", "primary": true}],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // The response's objectidentifier is neither user's externalId: only the email is left.
    assert_refused(&app.sso(|_| {}).await, &app, "ambiguous_email");
}

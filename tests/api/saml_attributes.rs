//! Any SAML 2.0 IdP, not only Entra: the generic attribute names read by default (pysaml2,
//! Shibboleth, Okta), and the per-org attribute mapping set by the CLI and the admin UI.

use idgate::saml::test_idp::{self, Entra};

use crate::admin_helpers::{AdminBrowser, operator};
use crate::browser::{session_of, spawn_sso_app};
use crate::helpers::TestApp;

const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const OID_GIVEN: &str = "urn:oid:2.5.4.42";
const OID_SN: &str = "urn:oid:2.5.4.4";
const OID_DISPLAY: &str = "urn:oid:2.16.840.1.113730.3.1.241";

/// What a generic SAML 2.0 IdP (pysaml2's default attribute map) sends: `urn:oid:` names,
/// an opaque persistent NameID, no Entra claims.
fn generic(e: &mut Entra, mail: &str) {
    e.name_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90".into();
    e.name_id_format = test_idp::NAMEID_PERSISTENT.into();
    e.attributes = Some(vec![
        (OID_MAIL.into(), vec![mail.into()]),
        (OID_GIVEN.into(), vec!["Alice".into()]),
        (OID_SN.into(), vec!["Liddell".into()]),
        (OID_DISPLAY.into(), vec!["Alice Liddell".into()]),
    ]);
}

fn jit(app: &TestApp) {
    app.store
        .write_now(|c| {
            let org = idgate::store::orgs::require_org(c, "acme")?;
            idgate::store::orgs::update_settings(
                c,
                org.id,
                &idgate::store::orgs::SettingsChange {
                    jit: Some(true),
                    ..Default::default()
                },
            )
        })
        .unwrap();
}

/// The user the sign-in created (just in time), as SCIM shows it.
async fn scim_user(app: &TestApp, user_name: &str) -> serde_json::Value {
    let users = app
        .get(&format!("/Users?filter=userName%20eq%20%22{user_name}%22"))
        .await;
    assert_eq!(users.body["totalResults"], 1, "{}", users.text);
    users.body["Resources"][0].clone()
}

#[track_caller]
fn reason_of_last(app: &TestApp) -> Option<String> {
    app.signin_log()[0].reason.clone()
}

#[actix_web::test]
async fn a_generic_idp_with_urn_oid_mail_and_a_persistent_name_id_signs_in() {
    let app = spawn_sso_app().await;
    jit(&app);
    let r = app.sso(|e| generic(e, " Alice@ACME.com ")).await;
    assert_eq!(r.status, 303, "{}: {:?}", r.text, reason_of_last(&app));
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(
        v.header("x-idgate-email").as_deref(),
        Some("alice@acme.com")
    );
    let user = scim_user(&app, "alice@acme.com").await;
    assert_eq!(user["displayName"], "Alice Liddell", "{user}");
    assert_eq!(user["name"]["givenName"], "Alice", "{user}");
    assert_eq!(user["name"]["familyName"], "Liddell", "{user}");

    // The friendly names `email` and `mail` are read too.
    for name in ["email", "mail"] {
        let r = app
            .sso(|e| {
                generic(e, "x");
                e.attributes = Some(vec![(name.into(), vec!["alice@acme.com".into()])]);
            })
            .await;
        assert_eq!(r.status, 303, "{name}: {}", r.text);
    }
    // The domain rules hold for these names as for Entra's claim.
    let r = app.sso(|e| generic(e, "alice@evil.example")).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        reason_of_last(&app).as_deref(),
        Some("email_outside_domains")
    );
    // No email anywhere (an opaque NameID is not one): no_email.
    let r = app
        .sso(|e| {
            generic(e, "x");
            e.attributes = Some(vec![(OID_GIVEN.into(), vec!["Alice".into()])]);
        })
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(reason_of_last(&app).as_deref(), Some("no_email"));
}

#[actix_web::test]
async fn the_cli_chooses_the_attributes_and_refuses_bad_names() {
    let app = spawn_sso_app().await;
    jit(&app);
    // The defaults, shown.
    let shown = app.idgate(&["org", "saml-attributes", "acme"]);
    assert!(shown.contains("emailaddress"), "{shown}");
    assert!(shown.contains(OID_MAIL), "{shown}");

    // eduPersonPrincipalName as the email, a custom role attribute.
    let out = app.idgate(&[
        "org",
        "saml-attributes",
        "acme",
        "--email",
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
        "--role",
        "groupRole",
        "--display-name",
        "cn",
    ]);
    assert!(out.contains("urn:oid:1.3.6.1.4.1.5923.1.1.1.6"), "{out}");
    let r = app
        .sso(|e| {
            generic(e, "bob@acme.com");
            e.attributes.as_mut().unwrap().extend([
                (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6".into(),
                    vec!["Carol@Acme.com".into()],
                ),
                ("cn".into(), vec!["Carol C.".into()]),
                ("groupRole".into(), vec!["Admin".into()]),
            ]);
        })
        .await;
    assert_eq!(r.status, 303, "{}: {:?}", r.text, reason_of_last(&app));
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(
        v.header("x-idgate-email").as_deref(),
        Some("carol@acme.com")
    );
    let user = scim_user(&app, "carol@acme.com").await;
    assert_eq!(user["displayName"], "Carol C.", "{user}");
    // The chosen attribute is the only one read for the email: without it, no_email.
    let r = app.sso(|e| generic(e, "bob@acme.com")).await;
    assert_eq!(r.status, 403);
    assert_eq!(reason_of_last(&app).as_deref(), Some("no_email"));

    // Bad names are refused and change nothing.
    for bad in [
        vec!["--email", "two words"],
        vec!["--given-name", ""],
        vec!["--role", "tab\tname"],
        vec!["--surname", &"x".repeat(300)],
    ] {
        let mut args = vec!["org", "saml-attributes", "acme"];
        args.extend(bad.iter().copied());
        let out = crate::cli::idgate_stdin(app_dir(&app), &args, "");
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("attribute"), "{bad:?}: {err}");
    }
    let shown = app.idgate(&["org", "saml-attributes", "acme"]);
    assert!(
        shown.contains("urn:oid:1.3.6.1.4.1.5923.1.1.1.6"),
        "{shown}"
    );
    assert!(shown.contains("groupRole"), "{shown}");

    // `default` restores one; --reset all of them: the generic response signs in again.
    app.idgate(&["org", "saml-attributes", "acme", "--email", "default"]);
    let r = app.sso(|e| generic(e, "alice@acme.com")).await;
    assert_eq!(r.status, 303, "{}: {:?}", r.text, reason_of_last(&app));
    app.idgate(&["org", "saml-attributes", "acme", "--reset"]);
    let shown = app.idgate(&["org", "saml-attributes", "acme"]);
    assert!(!shown.contains("groupRole"), "{shown}");
    // The NameID itself as the email (an IdP sending it with the unspecified format).
    app.idgate(&["org", "saml-attributes", "acme", "--email", "NameID"]);
    let r = app
        .sso(|e| {
            generic(e, "x");
            e.name_id = "dave@acme.com".into();
            e.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into();
        })
        .await;
    assert_eq!(r.status, 303, "{}: {:?}", r.text, reason_of_last(&app));
}

fn app_dir(app: &TestApp) -> &std::path::Path {
    app._dir.path()
}

#[actix_web::test]
async fn the_sso_page_shows_and_edits_the_mapping_with_csrf() {
    let app = spawn_sso_app().await;
    jit(&app);
    let admin = AdminBrowser::new(&app, &operator(&app).await);
    let page = admin.get("/admin/orgs/acme/sso").await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(r#"id="saml-attributes""#),
        "{}",
        page.text
    );
    assert!(page.text.contains(OID_MAIL), "the defaults are shown");

    let path = "/admin/orgs/acme/sso/attributes";
    // Without the CSRF token: refused, nothing saved.
    let r = admin.post_raw(path, &[("email", "upn")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // A bad name: 422 with the reason, nothing saved.
    let r = admin
        .post(path, &[("email", "two words"), ("role", "groupRole")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("two words"), "{}", r.text);
    let shown = app.idgate(&["org", "saml-attributes", "acme"]);
    assert!(!shown.contains("groupRole"), "{shown}");

    let r = admin
        .post(
            path,
            &[
                ("email", "upn"),
                ("given_name", ""),
                ("surname", ""),
                ("display_name", ""),
                ("role", "groupRole"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = admin.get("/admin/orgs/acme/sso").await;
    assert!(page.text.contains(r#"value="upn""#), "{}", page.text);
    let r = app
        .sso(|e| {
            generic(e, "bob@acme.com");
            e.attributes
                .as_mut()
                .unwrap()
                .push(("upn".into(), vec!["erin@acme.com".into()]));
        })
        .await;
    assert_eq!(r.status, 303, "{}: {:?}", r.text, reason_of_last(&app));
    let v = app.verify(&session_of(&r)).await;
    assert_eq!(v.header("x-idgate-email").as_deref(), Some("erin@acme.com"));
    // Audited.
    let audit = admin.get("/admin/orgs/acme/audit").await;
    assert!(audit.text.contains("org.saml.attributes"), "{}", audit.text);
}

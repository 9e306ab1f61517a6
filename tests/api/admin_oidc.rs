//! Admin UI: Microsoft Entra over OpenID Connect on the SSO setup page — the customer-app
//! form (tenant in any form, secret never shown again, the Secret-ID warning, certificate
//! generation and its .cer), the SAML/OIDC switch, Connect (idgate app), the Test sign-in
//! start and its report on the sign-in log entry page; access and CSRF.

use actix_web::{App, HttpResponse, HttpServer, web};
use idgate::clock::{Clock, timestamp};
use idgate::config::{Config, OidcApp};
use idgate::store::oidc::{self as oidc_store, OidcConnection};
use idgate::store::signin::{self as signin_store, SigninLog};
use idgate::store::{admin as admin_store, orgs};
use serde_json::json;

use crate::admin_helpers::{self, AdminBrowser, unescape};
use crate::helpers::{TestApp, create_org, spawn_app, spawn_app_with};

const TENANT: &str = "3f1c6a2e-8d4b-4c1a-9e2f-5b7d8c9a0e11";
const CLIENT_ID: &str = "6b2f1a3c-4d5e-4f60-8a9b-0c1d2e3f4a5b";
const SECRET: &str = "Qx8Q~not-a-guid.the-secret-value-42";
const SECRET_ID: &str = "9d1e2f3a-4b5c-4d6e-8f7a-0b1c2d3e4f5a";

async fn operator(app: &TestApp) -> AdminBrowser<'_> {
    AdminBrowser::new(app, &admin_helpers::operator(app).await)
}

fn connection(app: &TestApp, slug: &str) -> Option<OidcConnection> {
    let slug = slug.to_string();
    app.store
        .read_now(move |c| {
            let org = orgs::require_org(c, &slug)?;
            oidc_store::connection(c, org.id)
        })
        .unwrap()
}

fn audit_actions(app: &TestApp) -> Vec<String> {
    app.store
        .read_now(|c| admin_store::audit_log(c, None, 100))
        .unwrap()
        .into_iter()
        .map(|(e, _)| e.action)
        .collect()
}

/// The customer-app form with a secret.
fn secret_form<'a>(tenant: &'a str, secret: &'a str, expires: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("tenant", tenant),
        ("client_id", CLIENT_ID),
        ("credential", "secret"),
        ("client_secret", secret),
        ("secret_expires", expires),
    ]
}

fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .date()
        .to_string()
}

#[actix_web::test]
async fn customer_app_is_saved_and_the_secret_is_never_shown_again() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert_eq!(page.status, 200);
    for want in [
        "Microsoft Entra (OpenID Connect)",
        "http://127.0.0.1:8080/oidc/callback</span>",
        "platform <strong>Web</strong>",
        "Single-page application",
        "email, xms_edov, upn",
        "User.Read",
        "objectId</span> → <span class=\"mono\">externalId",
        "id=\"active-protocol\">SAML<",
    ] {
        assert!(page.text.contains(want), "{want}: {}", page.text);
    }
    // The authority URL form with /v2.0, the GUID in capitals: stored as the GUID.
    let tenant_url = format!(
        "https://login.microsoftonline.com/{}/v2.0",
        TENANT.to_uppercase()
    );
    let expires = in_days(10);
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(&tenant_url, SECRET, &expires),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/admin/orgs/acme/sso?done=oidc-saved")
    );
    let c = connection(&app, "acme").expect("saved");
    assert_eq!(c.mode, "customer");
    assert_eq!(c.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(c.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(c.credential, "secret");
    assert_eq!(c.secret_expires.as_deref(), Some(expires.as_str()));
    // Sealed at rest; acme has no SAML IdP, so the first connection is the one in use.
    let sealed = c.secret.clone().unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(SECRET));
    assert!(c.active);
    assert!(audit_actions(&app).contains(&"oidc.configure".to_string()));

    let page = ops.get("/admin/orgs/acme/sso?done=oidc-saved").await;
    assert_eq!(page.status, 200);
    for want in [
        "Microsoft Entra connection saved.",
        TENANT,
        CLIENT_ID,
        "client secret (stored encrypted, never shown)",
        "expires in 10 days",
        "id=\"active-protocol\">Microsoft Entra (OpenID Connect)<",
        "id=\"oidc-links\">0<",
        "leave empty to keep the stored secret",
    ] {
        assert!(page.text.contains(want), "{want}: {}", page.text);
    }
    assert!(!page.text.contains(SECRET));
    assert!(!page.text.contains("Secret ID (a GUID)"));

    // Saving again with the secret left empty keeps the stored one.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, "", &expires),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(connection(&app, "acme").unwrap().secret, Some(sealed));
    // No page shows the secret: the SSO page, the audit log, the org page.
    for path in [
        "/admin/orgs/acme/sso",
        "/admin/orgs/acme/audit",
        "/admin/orgs/acme",
    ] {
        let p = ops.get(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(!p.text.contains(SECRET), "{path}");
    }
}

#[actix_web::test]
async fn a_secret_id_pasted_as_the_secret_is_saved_with_a_warning() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET_ID, ""),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Microsoft Entra connection saved."));
    assert!(
        r.text.contains("looks like a Secret ID (a GUID)"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(SECRET_ID), "the secret is not echoed");
    assert!(connection(&app, "acme").is_some());
}

#[actix_web::test]
async fn bad_input_shows_the_form_again_and_changes_nothing() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let bad: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("tenant", "common"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
            ],
            "multi-tenant endpoint",
        ),
        (
            &[
                ("tenant", "https://evil.example/x"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
            ],
            "not a Microsoft Entra sign-in host",
        ),
        (
            &[
                ("tenant", ""),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
            ],
            "the tenant is empty",
        ),
        (
            &[
                ("tenant", TENANT),
                ("client_id", "not an id"),
                ("client_secret", SECRET),
            ],
            "Application (client) ID",
        ),
        (
            &[
                ("tenant", TENANT),
                ("client_id", CLIENT_ID),
                ("client_secret", ""),
            ],
            "paste the client secret",
        ),
        (
            &[
                ("tenant", TENANT),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("secret_expires", "31/12/2027"),
            ],
            "is not a date",
        ),
    ];
    for (form, why) in bad {
        let r = ops.post("/admin/orgs/acme/sso/oidc", form).await;
        assert_eq!(r.status, 422, "{form:?}: {}", r.text);
        let text = unescape(&r.text);
        assert!(text.contains("Not saved, nothing was changed"), "{text}");
        assert!(text.contains(why), "{why}: {text}");
        assert!(!r.text.contains(SECRET), "the secret is not echoed back");
        assert!(connection(&app, "acme").is_none());
    }
    // Typed values are kept in the form (not the secret).
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &[("tenant", "common"), ("client_id", "my-client-x")],
        )
        .await;
    assert!(r.text.contains("value=\"my-client-x\""), "{}", r.text);

    // A saved connection stays exactly as it was after a refused change.
    let ok = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET, ""),
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let before = connection(&app, "acme").unwrap();
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form("organizations", "another-secret", ""),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(connection(&app, "acme").unwrap(), before);
}

/// Serves `/{domain}/v2.0/.well-known/openid-configuration` as Entra does (the issuer with
/// the tenant GUID); returns the base URL.
async fn discovery_server() -> String {
    let base = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shared = web::Data::new(base.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).route(
            "/{domain}/v2.0/.well-known/openid-configuration",
            web::get().to(
                |path: web::Path<String>,
                 base: web::Data<std::sync::Arc<std::sync::Mutex<String>>>| async move {
                    if path.as_str() != "contoso.onmicrosoft.com" {
                        return HttpResponse::BadRequest().json(json!({"error": "invalid_tenant"}));
                    }
                    let b = base.lock().unwrap().clone();
                    HttpResponse::Ok().json(json!({"issuer": format!("{b}/{TENANT}/v2.0")}))
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    *base.lock().unwrap() = url.clone();
    actix_web::rt::spawn(server.run());
    url
}

#[actix_web::test]
async fn a_tenant_domain_is_resolved_to_its_guid() {
    let authority = discovery_server().await;
    let a = authority.clone();
    let app = spawn_app_with(move |c: &mut Config| {
        c.oidc_authority = a;
        c.oidc_allow_insecure_authority = true;
    })
    .await;
    let ops = operator(&app).await;
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form("Contoso.onmicrosoft.com", SECRET, ""),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        connection(&app, "acme").unwrap().tenant_id.as_deref(),
        Some(TENANT)
    );
    // A domain the authority does not know: refused with the reason, nothing changed.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &[("tenant", "nobody.example"), ("client_id", "x-y")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("cannot be looked up"), "{}", r.text);
    assert_eq!(
        connection(&app, "acme").unwrap().client_id.as_deref(),
        Some(CLIENT_ID)
    );
}

#[actix_web::test]
async fn a_generated_certificate_is_offered_for_download() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    // Nothing to download before.
    assert_eq!(
        ops.get("/admin/orgs/acme/sso/oidc/certificate.cer")
            .await
            .status,
        404
    );
    let form = [
        ("tenant", TENANT),
        ("client_id", CLIENT_ID),
        ("credential", "certificate"),
    ];
    let r = ops.post("/admin/orgs/acme/sso/oidc", &form).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("BEGIN CERTIFICATE"), "{}", r.text);
    assert!(r.text.contains("Upload this certificate in Entra"));
    assert!(!r.text.contains("PRIVATE KEY"));
    let c = connection(&app, "acme").unwrap();
    assert_eq!(c.credential, "certificate");
    let pem = c.certificate.clone().unwrap();
    assert!(c.secret_expires.is_some(), "the certificate's expiry");

    let cer = ops.get("/admin/orgs/acme/sso/oidc/certificate.cer").await;
    assert_eq!(cer.status, 200);
    assert_eq!(
        cer.header("content-disposition").as_deref(),
        Some("attachment; filename=\"idgate-acme.cer\"")
    );
    let x509 = openssl::x509::X509::from_pem(cer.text.as_bytes()).expect("a PEM certificate");
    assert_eq!(cer.text, pem);
    assert!(!cer.text.contains("PRIVATE KEY"));
    let cn = x509
        .subject_name()
        .entries()
        .next()
        .unwrap()
        .data()
        .as_slice()
        .to_vec();
    assert_eq!(cn, b"idgate acme");

    // The page links it; saving again with "certificate" keeps it; "new" replaces it.
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert!(page.text.contains("certificate.cer"));
    assert!(page.text.contains("keep the current certificate"));
    assert!(!page.text.contains("BEGIN CERTIFICATE"), "shown once only");
    let r = ops.post("/admin/orgs/acme/sso/oidc", &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        connection(&app, "acme").unwrap().certificate,
        Some(pem.clone())
    );
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &[
                ("tenant", TENANT),
                ("client_id", CLIENT_ID),
                ("credential", "new_certificate"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(connection(&app, "acme").unwrap().certificate, Some(pem));
}

#[actix_web::test]
async fn the_org_switches_between_saml_and_oidc() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    // No OIDC connection: cannot switch to it.
    let r = ops
        .post("/admin/orgs/acme/sso/protocol", &[("protocol", "oidc")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("Still signing in with SAML"));
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET, ""),
        )
        .await;
    assert_eq!(r.status, 303);
    let active = |app: &TestApp| connection(app, "acme").unwrap().active;
    assert!(active(&app));

    let r = ops
        .post("/admin/orgs/acme/sso/protocol", &[("protocol", "saml")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(!active(&app));
    let page = ops.get("/admin/orgs/acme/sso?done=protocol-saml").await;
    assert!(page.text.contains("now signs in with SAML"));
    assert!(page.text.contains("id=\"active-protocol\">SAML<"));
    assert!(page.text.contains("Switch to Microsoft Entra"));
    // Saving the OIDC form does not switch the org back by itself.
    let r = ops
        .post("/admin/orgs/acme/sso/oidc", &secret_form(TENANT, "", ""))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(!active(&app));

    let r = ops
        .post("/admin/orgs/acme/sso/protocol", &[("protocol", "oidc")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(active(&app));
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert!(page.text.contains("Switch to SAML"));
    let sso_rows = audit_actions(&app)
        .iter()
        .filter(|a| *a == "sso.protocol")
        .count();
    assert_eq!(sso_rows, 2);
}

#[actix_web::test]
async fn org_admins_manage_their_own_org_only_and_every_form_checks_csrf() {
    let app = spawn_app().await;
    create_org(&app.store, "beta", "beta.io");
    let own = AdminBrowser::new(
        &app,
        &admin_helpers::org_admin(&app, "acme", "boss@acme.com").await,
    );
    let r = own
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET, ""),
        )
        .await;
    assert_eq!(
        r.status, 303,
        "an org admin manages their org's SSO: {}",
        r.text
    );

    let other = AdminBrowser::new(
        &app,
        &admin_helpers::org_admin(&app, "beta", "boss@beta.io").await,
    );
    let posts: &[(&str, &[(&str, &str)])] = &[
        (
            "/admin/orgs/acme/sso/oidc",
            &[("tenant", TENANT), ("client_id", CLIENT_ID)],
        ),
        ("/admin/orgs/acme/sso/protocol", &[("protocol", "saml")]),
        ("/admin/orgs/acme/sso/oidc/connect", &[]),
        ("/admin/orgs/acme/sso/oidc/test", &[]),
    ];
    assert_eq!(other.get("/admin/orgs/acme/sso").await.status, 404);
    assert_eq!(
        other
            .get("/admin/orgs/acme/sso/oidc/certificate.cer")
            .await
            .status,
        404
    );
    for (path, form) in posts {
        let r = other.post(path, form).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let ops = operator(&app).await;
    for (path, form) in posts {
        for csrf in [None, Some("forged-token")] {
            let mut all = form.to_vec();
            if let Some(t) = csrf {
                all.push(("csrf", t));
            }
            let r = ops.post_raw(path, &all).await;
            assert_eq!(r.status, 403, "{path} with {csrf:?}: {}", r.text);
        }
    }
    let c = connection(&app, "acme").unwrap();
    assert!(c.active, "nothing changed");
    assert_eq!(c.mode, "customer");
}

#[actix_web::test]
async fn test_sign_in_goes_to_entra_with_select_account() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    // Nothing to test yet: the page says so.
    let r = ops.post("/admin/orgs/acme/sso/oidc/test", &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("nothing to test"));
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET, ""),
        )
        .await;
    assert_eq!(r.status, 303);
    // The OIDC button, and the page's Test sign-in while OIDC is the protocol in use.
    for path in [
        "/admin/orgs/acme/sso/oidc/test",
        "/admin/orgs/acme/sso/test",
    ] {
        let r = ops.post(path, &[]).await;
        assert_eq!(r.status, 302, "{path}: {}", r.text);
        let to = r.header("location").unwrap();
        let prefix = format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize?");
        assert!(to.starts_with(&prefix), "{to}");
        for want in [
            format!("client_id={CLIENT_ID}"),
            "prompt=select_account".into(),
            "code_challenge_method=S256".into(),
            "response_mode=query".into(),
        ] {
            assert!(to.contains(&want), "{want}: {to}");
        }
        assert!(admin_helpers::cookie_of(&r, "idgate_oidc").is_some());
    }
    let purposes: Vec<String> = app
        .store
        .read_now(|c| {
            let mut s = c.prepare("SELECT purpose FROM oidc_pending")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<idgate::store::db::Result<Vec<String>>>()?;
            Ok(v)
        })
        .unwrap();
    assert_eq!(purposes, ["test", "test"]);
}

#[actix_web::test]
async fn the_sign_in_entry_shows_a_test_report() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let oid = "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a";
    let report = json!({
        "checks": [
            {"name": "signature", "ok": true, "expected": "RS256 by a key of the tenant", "received": "kid key-1"},
            {"name": "aud", "ok": false, "expected": CLIENT_ID, "received": "someone-else"},
        ],
        "claims": {"oid": oid, "tid": TENANT, "name": "<script>alert(1)</script>"},
        "resolution": {
            "user": "alice@acme.com", "user_id": "u-1", "rule": "upn",
            "external_id": "legacy-id", "external_id_matches": false,
            "fix": "In Entra's provisioning Attribute Mapping, map objectId to externalId",
        },
    });
    let now = timestamp(Clock::System.now());
    let row = SigninLog {
        at: now,
        reference: "RTEST123".into(),
        method: "oidc",
        success: false,
        reason: Some("wrong_audience".into()),
        detail: Some("the ID token is for another app".into()),
        report: Some(report.to_string()),
        ..Default::default()
    };
    app.store
        .write_now(move |c| {
            let org = orgs::require_org(c, "acme")?;
            signin_store::log_signin(
                c,
                &SigninLog {
                    org_id: Some(org.id),
                    ..row
                },
            )
        })
        .unwrap();
    let page = ops.get("/admin/orgs/acme/signins/RTEST123").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(!page.text.contains("<script>alert"), "claims are escaped");
    let text = unescape(&page.text);
    for want in [
        "Test sign-in: ID token checks",
        "signature",
        "kid key-1",
        "<span class=\"badge ok\">pass</span>",
        "<span class=\"badge err\">fail</span>",
        "someone-else",
        "Decoded ID token claims",
        "\"name\": \"<script>alert(1)</script>\"",
        &format!("\"oid\": \"{oid}\""),
        "alice@acme.com",
        "href=\"/admin/orgs/acme/users/u-1\"",
        "upn",
        "externalId = oid",
        "legacy-id",
        "map objectId to externalId",
        "Application (client) ID of the Entra app",
    ] {
        assert!(
            text.contains(want) || page.text.contains(want),
            "{want}: {text}"
        );
    }
    // The sign-in log lists it as oidc; the SSO page links it as the last test.
    let list = ops.get("/admin/orgs/acme/signins").await;
    assert!(list.text.contains("<td>oidc</td>"), "{}", list.text);
    let r = ops
        .post(
            "/admin/orgs/acme/sso/oidc",
            &secret_form(TENANT, SECRET, ""),
        )
        .await;
    assert_eq!(r.status, 303);
    let sso = ops.get("/admin/orgs/acme/sso").await;
    assert!(
        sso.text
            .contains("href=\"/admin/orgs/acme/signins/RTEST123\""),
        "{}",
        sso.text
    );
}

#[actix_web::test]
async fn connect_needs_the_idgate_app_and_goes_to_admin_consent() {
    // Not configured on this server: a clear message, nothing stored.
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert!(
        page.text
            .contains("not configured the idgate Microsoft app")
    );
    let r = ops.post("/admin/orgs/acme/sso/oidc/connect", &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("oidc_app_client_id"), "{}", r.text);
    assert!(connection(&app, "acme").is_none());
    drop(ops);

    let app = spawn_app_with(|c: &mut Config| {
        c.oidc_app = Some(OidcApp {
            client_id: CLIENT_ID.into(),
            client_secret: Some(SECRET.into()),
            certificate_pem: None,
            private_key_pem: None,
        });
    })
    .await;
    let ops = operator(&app).await;
    let r = ops.post("/admin/orgs/acme/sso/oidc/connect", &[]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let to = r.header("location").unwrap();
    assert!(
        to.starts_with(&format!(
            "https://login.microsoftonline.com/organizations/v2.0/adminconsent?client_id={CLIENT_ID}"
        )),
        "{to}"
    );
    assert!(to.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foidc%2Fcallback"));
    let c = connection(&app, "acme").unwrap();
    assert_eq!(c.mode, "idgate_app");
    assert_eq!(c.tenant_id, None, "bound only by the verified sign-in");
    let page = ops.get("/admin/orgs/acme/sso").await;
    for want in [
        "idgate app (Connect Microsoft Entra)",
        "not connected yet",
        CLIENT_ID,
        "Connect Microsoft Entra</button>",
    ] {
        assert!(page.text.contains(want), "{want}: {}", page.text);
    }
    // Not connected yet: neither a test nor the switch to OIDC can start.
    let r = ops.post("/admin/orgs/acme/sso/oidc/test", &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    // A second Connect reuses the connection (and goes to consent again).
    let r = ops.post("/admin/orgs/acme/sso/oidc/connect", &[]).await;
    assert_eq!(r.status, 302);
    let again = connection(&app, "acme").unwrap();
    assert_eq!(again.created, c.created);
}

/// The admin's Test sign-in, whole: started on the SSO page, Entra (the fake) answers, the
/// callback sends the admin to the sign-in log entry that shows each check, the claims and
/// the user it would reach; no session, no link.
#[actix_web::test]
async fn a_real_test_sign_in_reports_checks_claims_and_resolution() {
    use crate::fake_entra::{CLIENT_ID as FAKE_CLIENT, TENANT as FAKE_TENANT};
    let (app, entra) = crate::oidc::oidc_app().await;
    let ops = operator(&app).await;
    // Provisioned without externalId: found by upn, and the page says how to fix that.
    let r = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "alice@acme.com", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for aud in [FAKE_CLIENT, "someone-elses-app"] {
        let r = ops.post("/admin/orgs/acme/sso/oidc/test", &[]).await;
        assert_eq!(r.status, 302, "{}", r.text);
        let url = r.header("location").unwrap();
        let q: Vec<(String, String)> =
            serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).unwrap().1.clone();
        let cookie = format!(
            "idgate_oidc={}",
            admin_helpers::cookie_of(&r, "idgate_oidc").unwrap()
        );
        let mut claims = entra.claims(&get("nonce"));
        claims["aud"] = json!(aud);
        let code = entra.code_for(entra.id_token(&claims), &get("code_challenge"));
        let back = crate::oidc::callback(
            &app,
            &[("code", &code), ("state", &get("state"))],
            Some(&cookie),
        )
        .await;
        assert_eq!(back.status, 303, "{}", back.text);
        assert!(admin_helpers::cookie_of(&back, "idgate_session").is_none());
        let to = back.header("location").unwrap();
        assert!(to.starts_with("/admin/orgs/acme/signins/"), "{to}");
        let page = ops.get(&to).await;
        assert_eq!(page.status, 200);
        let text = unescape(&page.text);
        assert!(text.contains("Test sign-in: ID token checks"), "{text}");
        assert!(text.contains(FAKE_TENANT));
        assert!(text.contains("\"oid\": \"1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a\""));
        if aud == FAKE_CLIENT {
            assert!(!text.contains("badge err\">fail"), "{text}");
            for want in [
                "alice@acme.com",
                "externalId = oid",
                "(no externalId)",
                "objectId",
            ] {
                assert!(text.contains(want), "{want}: {text}");
            }
        } else {
            assert!(text.contains("badge err\">fail"), "{text}");
            assert!(text.contains("someone-elses-app"));
            assert!(text.contains("Application (client) ID of the Entra app"));
        }
    }
    let links = app
        .store
        .read_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            oidc_store::link_count(c, org.id)
        })
        .unwrap();
    assert_eq!(links, 0, "a test links nobody");
    let sso = ops.get("/admin/orgs/acme/sso").await;
    assert!(
        sso.text
            .contains("id=\"oidc-last-test\"><span class=\"badge err\">failure")
    );
}

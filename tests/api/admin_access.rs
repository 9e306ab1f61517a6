//! Admin UI access: operator sign-in, CSRF on every form, organizations and domains,
//! org-admin scoping, org admins through SSO, and Test sign-in reporting back.

use idgate::clock::{Clock, timestamp};
use idgate::saml::test_idp;
use idgate::signin::password;
use idgate::store::{accounts, admin as admin_store, orgs};

use crate::admin_helpers::{AdminBrowser, admin_login, admin_login_response, cookie_of, csrf_of};
use crate::browser::{Pending, fresh_entra, spawn_sso_app};
use crate::helpers::{TestApp, create_org, spawn_app};

const OPS_PASSWORD: &str = "a long operator password";

fn create_operator(app: &TestApp) {
    let hash = password::hash(OPS_PASSWORD).unwrap();
    app.store
        .write_now(|c| {
            admin_store::create_admin(c, "ops@example.com", &hash, &timestamp(Clock::System.now()))
        })
        .unwrap();
}

async fn operator(app: &TestApp) -> AdminBrowser<'_> {
    create_operator(app);
    let cookie = admin_login(app, "OPS@example.com", OPS_PASSWORD).await;
    AdminBrowser::new(app, &cookie)
}

#[actix_web::test]
async fn operator_signs_in_and_every_form_needs_the_csrf_token() {
    let app = spawn_app().await;
    // Not signed in: to the sign-in page. A product session does not open the admin UI.
    let r = app.web("GET", "/admin/orgs", &[], None).await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/admin/login"))
    );
    let r = app
        .web(
            "GET",
            "/admin/orgs",
            &[("Cookie", "idgate_session=eyJhbGciOiJFUzI1NiJ9.e30.x")],
            None,
        )
        .await;
    assert_eq!(r.status, 303);
    create_operator(&app);
    assert_eq!(
        admin_login_response(&app, "ops@example.com", "wrong password!")
            .await
            .status,
        401
    );
    let r = admin_login_response(&app, "ops@example.com", OPS_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = cookie_of(&r, "idgate_admin").unwrap();
    assert!(
        r.headers
            .get_all("set-cookie")
            .any(|v| v.to_str().unwrap().contains("HttpOnly"))
    );
    let ops = AdminBrowser {
        app: &app,
        cookie: format!("idgate_admin={cookie}"),
    };
    let page = ops.get("/admin/orgs").await;
    assert_eq!(page.status, 200);
    for (h, want) in [("cache-control", "no-store"), ("x-frame-options", "DENY")] {
        assert_eq!(page.header(h).as_deref(), Some(want), "{h}");
    }
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(page.text.contains("acme"), "{}", page.text);

    // Without the token, or with another, a form changes nothing.
    let r = ops
        .post_raw("/admin/orgs", &[("slug", "beta"), ("name", "Beta")])
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = ops
        .post_raw(
            "/admin/orgs",
            &[("slug", "beta"), ("name", "Beta"), ("csrf", "forged")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        app.store
            .read_now(|c| orgs::org_by_slug(c, "beta"))
            .unwrap()
            .is_none()
    );

    // With it: created, audited with who and from where.
    let r = ops
        .post(
            "/admin/orgs",
            &[
                ("slug", "beta"),
                ("name", "Beta Inc"),
                ("domains", "beta.com, Beta.co.uk"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/admin/orgs/beta?done=created")
    );
    let page = ops.get("/admin/orgs/beta?done=created").await;
    assert!(
        page.text.contains("Organization created.") && page.text.contains("beta.co.uk"),
        "{}",
        page.text
    );
    let audit = app
        .store
        .read_now(|c| admin_store::audit_log(c, None, 10))
        .unwrap();
    let (entry, slug) = &audit[0];
    assert_eq!(
        (entry.action.as_str(), slug.as_deref()),
        ("org.create", Some("beta"))
    );
    assert_eq!(entry.actor, "operator:ops@example.com");
    assert_eq!(entry.ip.as_deref(), Some("127.0.0.1"));
    // A bad slug and a taken domain are explained, nothing is created.
    let r = ops
        .post("/admin/orgs", &[("slug", "Bad Slug"), ("name", "X")])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("not a valid slug"), "{}", r.text);
    let r = ops
        .post(
            "/admin/orgs",
            &[("slug", "gamma"), ("name", "G"), ("domains", "acme.com")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("already belongs"), "{}", r.text);

    // Domains: add, SSO only, remove; rename; delete needs the slug typed.
    assert_eq!(
        ops.post("/admin/orgs/beta/domains", &[("domain", "beta.io")])
            .await
            .status,
        303
    );
    let r = ops
        .post(
            "/admin/orgs/beta/domains/sso-only",
            &[("domain", "beta.io"), ("sso_only", "on")],
        )
        .await;
    assert_eq!(r.status, 303);
    let sso_only = app
        .store
        .read_now(|c| orgs::org_by_domain(c, "beta.io"))
        .unwrap()
        .unwrap()
        .1;
    assert!(sso_only);
    assert_eq!(
        ops.post("/admin/orgs/beta/domains/remove", &[("domain", "beta.io")])
            .await
            .status,
        303
    );
    assert_eq!(
        ops.post("/admin/orgs/beta/name", &[("name", "Beta GmbH")])
            .await
            .status,
        303
    );
    assert!(ops.get("/admin/orgs/beta").await.text.contains("Beta GmbH"));
    assert_eq!(
        ops.post("/admin/orgs/beta/delete", &[("confirm", "nope")])
            .await
            .status,
        422
    );
    assert_eq!(
        ops.post("/admin/orgs/beta/delete", &[("confirm", "beta")])
            .await
            .status,
        303
    );
    assert_eq!(ops.get("/admin/orgs/beta").await.status, 404);

    // Sign out: the cookie no longer works.
    assert_eq!(ops.post("/admin/logout", &[]).await.status, 303);
    assert_eq!(ops.get("/admin/orgs").await.status, 303);
}

/// An org admin of acme: a local account whose role is admin.
async fn acme_admin(app: &TestApp) -> AdminBrowser<'_> {
    let id = app.create_user("root@acme.com").await;
    let now = timestamp(Clock::System.now());
    let hash = password::hash("acme admin password").unwrap();
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::update_settings(
                c,
                org.id,
                &orgs::SettingsChange {
                    default_role: Some(Some("admin".into())),
                    ..Default::default()
                },
            )?;
            orgs::reresolve_roles(c, org.id)?;
            accounts::set_password(c, &id, &hash, &now)
        })
        .unwrap();
    let cookie = admin_login(app, "root@acme.com", "acme admin password").await;
    AdminBrowser::new(app, &cookie)
}

#[actix_web::test]
async fn an_org_admin_sees_only_their_org() {
    let app = spawn_app().await;
    create_org(&app.store, "beta", "beta.com");
    let admin = acme_admin(&app).await;
    let r = admin.get("/admin/orgs").await;
    assert_eq!(r.header("location").as_deref(), Some("/admin/orgs/acme"));
    assert_eq!(admin.get("/admin/orgs/acme").await.status, 200);
    for path in [
        "/admin/orgs/beta",
        "/admin/orgs/beta/sso",
        "/admin/orgs/beta/scim",
        "/admin/orgs/nope",
    ] {
        let r = admin.get(path).await;
        assert_eq!(r.status, 404, "{path}");
    }
    for (path, pairs) in [
        ("/admin/orgs/beta/name", vec![("name", "pwned")]),
        ("/admin/orgs/beta/domains", vec![("domain", "evil.com")]),
        ("/admin/orgs/beta/scim/tokens", vec![("name", "x")]),
        ("/admin/orgs/beta/sso/settings", vec![("jit", "on")]),
        ("/admin/orgs/beta/delete", vec![("confirm", "beta")]),
        ("/admin/orgs/acme/delete", vec![("confirm", "acme")]),
        ("/admin/orgs", vec![("slug", "mine"), ("name", "Mine")]),
    ] {
        let r = admin.post(path, &pairs).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let beta = app
        .store
        .read_now(|c| orgs::require_org(c, "beta"))
        .unwrap();
    assert_eq!(beta.name, "beta");
    assert!(
        app.store
            .read_now(|c| orgs::list_tokens(c, beta.id))
            .unwrap()
            .len()
            == 1
    );
    // Its own org: allowed.
    assert_eq!(
        admin
            .post("/admin/orgs/acme/scim/tokens", &[("name", "mine")])
            .await
            .status,
        200
    );
    // A user who is not an admin gets nothing; losing the admin role ends the session.
    let id = app.create_user("pleb@acme.com").await;
    let now = timestamp(Clock::System.now());
    let hash = password::hash("pleb password 123").unwrap();
    app.store
        .write_now(|c| accounts::set_password(c, &id, &hash, &now))
        .unwrap();
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::update_settings(
                c,
                org.id,
                &orgs::SettingsChange {
                    default_role: Some(None),
                    ..Default::default()
                },
            )?;
            orgs::reresolve_roles(c, org.id).map(|_| ())
        })
        .unwrap();
    assert_eq!(
        admin_login_response(&app, "pleb@acme.com", "pleb password 123")
            .await
            .status,
        401
    );
    assert_eq!(admin.get("/admin/orgs/acme").await.status, 303);
}

/// Starts an org admin's SSO sign-in from /admin/login: (AuthnRequest ID, RelayState).
async fn admin_sso_start(app: &TestApp, email: &str) -> (String, String) {
    let page = app.web("GET", "/admin/login", &[], None).await;
    let csrf = cookie_of(&page, "idgate_csrf").unwrap();
    let body = serde_urlencoded::to_string([
        ("email", email),
        ("password", ""),
        ("csrf", &csrf_of(&page.text)),
    ])
    .unwrap();
    let cookie = format!("idgate_csrf={csrf}");
    let r = app
        .web(
            "POST",
            "/admin/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
            ],
            Some(body),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let pending = Pending::from_redirect(r.header("location").unwrap());
    (pending.request_id, pending.relay_state)
}

#[actix_web::test]
async fn org_admins_sign_in_through_sso_and_test_sign_in_reports_back() {
    let app = spawn_sso_app().await;
    app.create_user("alice@acme.com").await;
    // SSO from the admin sign-in page: email only.
    let (pending_id, relay) = admin_sso_start(&app, "alice@acme.com").await;
    let mut e = fresh_entra();
    e.in_response_to = Some(pending_id.clone());
    // alice has no admin role — only the SAML role claim ("Admin", mapped to admin here)
    // says so, and the admin UI goes by the resolved role: refused, no session of any kind.
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::set_role_mapping(c, org.id, "admin", "admin")
        })
        .unwrap();
    let r = app.acs(&test_idp::b64(&e.xml()), Some(&relay)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(cookie_of(&r, "idgate_admin").is_none() && cookie_of(&r, "idgate_session").is_none());
    assert_eq!(app.signin_log()[0].reason.as_deref(), Some("not_an_admin"));

    // With the admin role (mapped from SCIM), the same flow opens the admin UI.
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::update_settings(
                c,
                org.id,
                &orgs::SettingsChange {
                    default_role: Some(Some("Admin".into())),
                    ..Default::default()
                },
            )?;
            orgs::reresolve_roles(c, org.id).map(|_| ())
        })
        .unwrap();
    let (pending_id, relay) = admin_sso_start(&app, "alice@acme.com").await;
    let mut e = fresh_entra();
    e.in_response_to = Some(pending_id);
    let r = app.acs(&test_idp::b64(&e.xml()), Some(&relay)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/admin/orgs/acme"));
    assert!(
        cookie_of(&r, "idgate_session").is_none(),
        "an admin sign-in is not a product session"
    );
    let admin = AdminBrowser {
        app: &app,
        cookie: format!("idgate_admin={}", cookie_of(&r, "idgate_admin").unwrap()),
    };
    assert_eq!(admin.get("/admin/orgs/acme/sso").await.status, 200);

    let ops = operator(&app).await;
    // Test sign-in: the outcome comes back to the admin's sign-in log page.
    let r = ops.post("/admin/orgs/acme/sso/test", &[]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let relay = Pending::from_redirect(r.header("location").unwrap()).relay_state;
    let mut bad = fresh_entra();
    bad.in_response_to = None; // any request ID: the audience is what fails first
    bad.audience = "https://login.example.com/saml/wrong".into();
    let r = app.acs(&test_idp::b64(&bad.xml()), Some(&relay)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap();
    assert!(to.starts_with("/admin/orgs/acme/signins/"), "{to}");
    let reference = to.rsplit('/').next().unwrap();
    let log = app.signin_log();
    let row = log.iter().find(|l| l.reference == reference).unwrap();
    assert_eq!(row.reason.as_deref(), Some("wrong_audience"));
    assert!(row.detail.is_some());
    // Nothing was issued by a test sign-in.
    assert!(cookie_of(&r, "idgate_session").is_none() && cookie_of(&r, "idgate_admin").is_none());
}

#[actix_web::test]
async fn no_admin_form_works_without_its_csrf_token() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let token_count = || {
        app.store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                orgs::list_tokens(c, org.id)
            })
            .unwrap()
            .len()
    };
    let before = (
        app.store
            .read_now(|c| orgs::require_org(c, "acme"))
            .unwrap(),
        token_count(),
        app.store
            .read_now(|c| admin_store::audit_log(c, None, 100))
            .unwrap()
            .len(),
    );
    let forms: &[(&str, &[(&str, &str)])] = &[
        ("/admin/orgs", &[("slug", "x"), ("name", "X")]),
        ("/admin/orgs/acme/name", &[("name", "Pwned")]),
        ("/admin/orgs/acme/domains", &[("domain", "evil.com")]),
        ("/admin/orgs/acme/domains/remove", &[("domain", "acme.com")]),
        (
            "/admin/orgs/acme/domains/sso-only",
            &[("domain", "acme.com"), ("sso_only", "on")],
        ),
        ("/admin/orgs/acme/delete", &[("confirm", "acme")]),
        ("/admin/orgs/acme/sso/settings", &[("jit", "on")]),
        ("/admin/orgs/acme/sso/test", &[]),
        ("/admin/orgs/acme/scim/settings", &[("role_attribute", "x")]),
        ("/admin/orgs/acme/scim/tokens", &[("name", "evil")]),
        ("/admin/orgs/acme/scim/tokens/revoke", &[("name", "test")]),
        (
            "/admin/orgs/acme/scim/roles",
            &[("idp_value", "a"), ("role", "admin")],
        ),
        ("/admin/orgs/acme/scim/roles/remove", &[("idp_value", "a")]),
        ("/admin/logout", &[]),
    ];
    for (path, pairs) in forms {
        for csrf in [None, Some("forged-token")] {
            let mut all = pairs.to_vec();
            if let Some(t) = csrf {
                all.push(("csrf", t));
            }
            let r = ops.post_raw(path, &all).await;
            assert_eq!(r.status, 403, "{path} with {csrf:?}: {}", r.text);
        }
    }
    // The multipart upload checks its token too.
    let r = ops
        .app
        .web(
            "POST",
            "/admin/orgs/acme/sso/metadata",
            &[
                ("Content-Type", "multipart/form-data; boundary=b"),
                ("Cookie", &ops.cookie),
            ],
            Some("--b\r\nContent-Disposition: form-data; name=\"metadata_text\"\r\n\r\n<x/>\r\n--b--\r\n".into()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let after = (
        app.store
            .read_now(|c| orgs::require_org(c, "acme"))
            .unwrap(),
        token_count(),
        app.store
            .read_now(|c| admin_store::audit_log(c, None, 100))
            .unwrap()
            .len(),
    );
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "nothing changed"
    );
    // And the session is still good (logout was refused too).
    assert_eq!(ops.get("/admin/orgs").await.status, 200);
}

#[actix_web::test]
async fn sso_only_refuses_an_org_admins_password_but_never_an_operators() {
    let app = spawn_app().await;
    acme_admin(&app).await; // works while passwords are allowed
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::set_sso_only(c, org.id, "acme.com", true).map(|_| ())
        })
        .unwrap();
    let r = admin_login_response(&app, "root@acme.com", "acme admin password").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(cookie_of(&r, "idgate_admin").is_none());
    // Operators are separate accounts: break-glass, whatever the domains say.
    create_operator(&app);
    let r = admin_login_response(&app, "ops@example.com", OPS_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    // Failed attempts are rate-limited per account.
    for _ in 0..idgate::signin::ratelimit::PER_ACCOUNT {
        let r = admin_login_response(&app, "ops@example.com", "not the password").await;
        assert_eq!(r.status, 401);
    }
    let r = admin_login_response(&app, "ops@example.com", OPS_PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(cookie_of(&r, "idgate_admin").is_none());
}

//! Admin UI: sign-in (operator, org admin by password and by SSO), CSRF, org-admin scoping,
//! organizations, SSO setup (metadata upload, Test sign-in) and SCIM setup.

use idgate::clock::{Clock, timestamp};
use idgate::saml::test_idp;
use idgate::signin::password;
use idgate::store::{accounts, admin as admin_store, orgs};
use serde_json::json;

use crate::browser::{fresh_entra, spawn_sso_app};
use crate::helpers::{Resp, TestApp, create_org, spawn_app};

const OPS_PASSWORD: &str = "a long operator password";
const ENTRA_METADATA: &str =
    include_str!("../fixtures/entra/entra-common-federationmetadata-2017.xml");

fn cookie_value(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(|v| v[name.len() + 1..].to_string())
}

fn form_token(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a CSRF token in the page")
        .to_string()
}

/// Signs in on /admin/login; returns the response (a session cookie when it worked).
async fn admin_login(app: &TestApp, email: &str, password: &str) -> Resp {
    let page = app.web("GET", "/admin/login", &[], None).await;
    let csrf = cookie_value(&page, "idgate_csrf").unwrap();
    let body = serde_urlencoded::to_string([
        ("email", email),
        ("password", password),
        ("csrf", &form_token(&page.text)),
    ])
    .unwrap();
    let cookie = format!("idgate_csrf={csrf}");
    app.web(
        "POST",
        "/admin/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &cookie),
        ],
        Some(body),
    )
    .await
}

fn create_operator(app: &TestApp) {
    let hash = password::hash(OPS_PASSWORD).unwrap();
    app.store
        .write_now(|c| {
            admin_store::create_admin(c, "ops@example.com", &hash, &timestamp(Clock::System.now()))
        })
        .unwrap();
}

/// A browser signed in to the admin UI.
struct AdminBrowser<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl AdminBrowser<'_> {
    async fn get(&self, path: &str) -> Resp {
        self.app
            .web("GET", path, &[("Cookie", &self.cookie)], None)
            .await
    }

    /// The CSRF token of the session (from any admin page).
    async fn csrf(&self) -> String {
        let mut r = self.get("/admin/orgs").await;
        if let Some(to) = r.header("location").filter(|_| r.status == 303) {
            r = self.get(&to).await; // an org admin's own org
        }
        form_token(&r.text)
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let token = self.csrf().await;
        let mut all = pairs.to_vec();
        all.push(("csrf", &token));
        self.post_raw(path, &all).await
    }

    async fn post_raw(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        self.app
            .web(
                "POST",
                path,
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Cookie", &self.cookie),
                ],
                Some(body),
            )
            .await
    }

    async fn upload(&self, path: &str, file: &str, text: &str) -> Resp {
        let token = self.csrf().await;
        let b = "----idgatetestboundary";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"metadata_file\"; filename=\"m.xml\"\r\nContent-Type: text/xml\r\n\r\n{file}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"metadata_text\"\r\n\r\n{text}\r\n--{b}--\r\n"
        );
        let ct = format!("multipart/form-data; boundary={b}");
        self.app
            .web(
                "POST",
                path,
                &[("Content-Type", &ct), ("Cookie", &self.cookie)],
                Some(body),
            )
            .await
    }
}

async fn operator(app: &TestApp) -> AdminBrowser<'_> {
    create_operator(app);
    let r = admin_login(app, "OPS@example.com", OPS_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = format!("idgate_admin={}", cookie_value(&r, "idgate_admin").unwrap());
    AdminBrowser { app, cookie }
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
        admin_login(&app, "ops@example.com", "wrong password!")
            .await
            .status,
        401
    );
    let r = admin_login(&app, "ops@example.com", OPS_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = cookie_value(&r, "idgate_admin").unwrap();
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

#[actix_web::test]
async fn sso_setup_loads_entra_metadata_and_refuses_bad_files() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert_eq!(page.status, 200);
    for want in [
        "http://127.0.0.1:8080/saml/acme</span>",
        "http://127.0.0.1:8080/saml/acme/acs</span>",
        "http://127.0.0.1:8080/saml/acme/login</span>",
        "href=\"/saml/acme/metadata\"",
        "not set up",
    ] {
        assert!(page.text.contains(want), "{want}");
    }
    // The real Entra Federation Metadata XML (its certificates expired long ago): loaded,
    // every certificate listed, and the page says sign-in will fail until it is replaced.
    let r = ops
        .upload("/admin/orgs/acme/sso/metadata", ENTRA_METADATA, "")
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = ops.get("/admin/orgs/acme/sso?done=metadata").await;
    assert!(page.text.contains("Federation Metadata XML loaded"));
    for fp in ["3C:B3:E2:A1", "C3:AB:06:1B", "5C:75:8D:68"] {
        assert!(page.text.contains(fp), "{fp}");
    }
    assert!(page.text.contains("https://sts.windows.net/{tenantid}/"));
    assert!(page.text.contains("sign-in will fail"), "{}", page.text);
    // Pasted instead of a file works too; garbage, XXE and key-less metadata are refused
    // with the reason, and the configuration stays as it was.
    assert_eq!(
        ops.upload("/admin/orgs/acme/sso/metadata", "", ENTRA_METADATA)
            .await
            .status,
        303
    );
    for (bad, why) in [
        ("not xml at all", "not"),
        (
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            "DTD",
        ),
        (
            &ENTRA_METADATA.replace("use=\"signing\"", "use=\"encryption\""),
            "signing certificate",
        ),
        ("", "Choose the Federation Metadata XML"),
    ] {
        let r = ops.upload("/admin/orgs/acme/sso/metadata", bad, "").await;
        assert_eq!(r.status, 422, "{why}: {}", r.text);
        assert!(r.text.contains(why), "{why}: {}", r.text);
        assert!(
            r.text.contains("3C:B3:E2:A1"),
            "the old configuration is still shown"
        );
    }
    // Sign-in options.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/settings",
            &[("idp_initiated", "on"), ("clock_skew", "60")],
        )
        .await;
    assert_eq!(r.status, 303);
    let org = app
        .store
        .read_now(|c| orgs::require_org(c, "acme"))
        .unwrap();
    assert!(org.idp_initiated && !org.jit && org.clock_skew_secs == 60);
    assert_eq!(
        ops.post("/admin/orgs/acme/sso/settings", &[("clock_skew", "99999")])
            .await
            .status,
        422
    );
}

#[actix_web::test]
async fn scim_setup_generates_a_token_shown_once_and_revokes_it() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/scim").await;
    assert!(
        page.text.contains("http://127.0.0.1:8080/scim/v2"),
        "{}",
        page.text
    );
    let r = ops
        .post("/admin/orgs/acme/scim/tokens", &[("name", "entra-2")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let token = r
        .text
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("idgs_"), "{token}");
    assert_eq!(app.call_as(&token, "GET", "/Users", None).await.status, 200);
    // Listed by name, never shown again.
    let page = ops.get("/admin/orgs/acme/scim").await;
    assert!(page.text.contains("entra-2") && !page.text.contains(&token));
    assert_eq!(
        ops.post("/admin/orgs/acme/scim/tokens", &[("name", "entra-2")])
            .await
            .status,
        409
    );
    let r = ops
        .post(
            "/admin/orgs/acme/scim/tokens/revoke",
            &[("name", "entra-2")],
        )
        .await;
    assert_eq!(r.status, 303);
    app.call_as(&token, "GET", "/Users", None)
        .await
        .assert_error(401, None);

    // Settings and role mappings apply to SCIM at once.
    let id = app.create_user("ann@acme.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            crate::helpers::patch(json!([{"op": "add", "path": "roles", "value": [{"value": "Admin", "primary": true}]}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ops.post(
            "/admin/orgs/acme/scim/roles",
            &[("idp_value", " ADMIN "), ("role", "administrator")]
        )
        .await
        .status,
        303
    );
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        user.body["urn:idgate:params:scim:schemas:extension:2.0:User"]["role"],
        "administrator"
    );
    assert_eq!(
        ops.post(
            "/admin/orgs/acme/scim/roles/remove",
            &[("idp_value", "admin")]
        )
        .await
        .status,
        303
    );
    let r = ops
        .post(
            "/admin/orgs/acme/scim/settings",
            &[
                ("scim_enabled", "on"),
                ("role_attribute", "roles"),
                ("default_role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        user.body["urn:idgate:params:scim:schemas:extension:2.0:User"]["role"],
        "viewer"
    );
    app.get("/Groups").await.assert_error(403, None); // group sync unticked
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
    let r = admin_login(app, "root@acme.com", "acme admin password").await;
    assert_eq!(r.status, 303, "{}", r.text);
    AdminBrowser {
        app,
        cookie: format!("idgate_admin={}", cookie_value(&r, "idgate_admin").unwrap()),
    }
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
        admin_login(&app, "pleb@acme.com", "pleb password 123")
            .await
            .status,
        401
    );
    assert_eq!(admin.get("/admin/orgs/acme").await.status, 303);
}

/// Starts an org admin's SSO sign-in from /admin/login: (AuthnRequest ID, RelayState).
async fn admin_sso_start(app: &TestApp, email: &str) -> (String, String) {
    use base64::Engine as _;
    use std::io::Read as _;
    let page = app.web("GET", "/admin/login", &[], None).await;
    let csrf = cookie_value(&page, "idgate_csrf").unwrap();
    let body = serde_urlencoded::to_string([
        ("email", email),
        ("password", ""),
        ("csrf", &form_token(&page.text)),
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
    let location = r.header("location").unwrap();
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let get = |k: &str| q.iter().find(|p| p.0 == k).unwrap().1.clone();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(get("SAMLRequest"))
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    let id = xml
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    (id.to_string(), get("RelayState"))
}

#[actix_web::test]
async fn org_admins_sign_in_through_sso_and_test_sign_in_reports_back() {
    let app = spawn_sso_app().await;
    app.create_user("alice@acme.com").await;
    // SSO from the admin sign-in page: email only.
    let (pending_id, relay) = admin_sso_start(&app, "alice@acme.com").await;
    let mut e = fresh_entra();
    e.in_response_to = Some(pending_id.clone());
    // alice has no admin role: refused, and no product session either.
    let r = app.acs(&test_idp::b64(&e.xml()), Some(&relay)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        cookie_value(&r, "idgate_admin").is_none() && cookie_value(&r, "idgate_session").is_none()
    );
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
        cookie_value(&r, "idgate_session").is_none(),
        "an admin sign-in is not a product session"
    );
    let admin = AdminBrowser {
        app: &app,
        cookie: format!("idgate_admin={}", cookie_value(&r, "idgate_admin").unwrap()),
    };
    assert_eq!(admin.get("/admin/orgs/acme/sso").await.status, 200);

    let ops = operator(&app).await;
    // Test sign-in: the outcome comes back to the admin's sign-in log page.
    let r = ops.post("/admin/orgs/acme/sso/test", &[]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let location = r.header("location").unwrap();
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let relay = q.iter().find(|p| p.0 == "RelayState").unwrap().1.clone();
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
    assert!(
        cookie_value(&r, "idgate_session").is_none() && cookie_value(&r, "idgate_admin").is_none()
    );
}

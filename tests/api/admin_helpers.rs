//! Signing in to the admin UI in tests: as an operator admin, or as an org admin (a user of
//! the org whose resolved role is admin, with a local password). Both return the value of
//! the `idgate_admin` cookie; `admin_get` sends it.

use idgate::clock::{Clock, timestamp};
use idgate::signin::password;
use idgate::store::{accounts, admin, orgs};
use serde_json::json;

use crate::helpers::{Resp, TestApp};

pub const OPERATOR_EMAIL: &str = "root@operator.example";
pub const PASSWORD: &str = "correct horse battery staple";

/// The value of cookie `name` a response sets.
pub fn cookie_of(r: &Resp, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    r.headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// The value of the first `name="csrf"` field of a page (the sign-in form's token, or the
/// admin session's token on every signed-in page).
pub fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF field in {page}"))
        .to_string()
}

/// Undoes the HTML escaping of a page (named and numeric references), to look for JSON and
/// other text with quotes in it.
pub fn unescape(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let decoded = entity.and_then(|(name, end)| {
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Signs in at `/admin/login` as a browser would (GET for the CSRF cookie and field, then
/// POST); returns the admin cookie's value.
pub async fn admin_login(app: &TestApp, email: &str, password: &str) -> String {
    let r = admin_login_response(app, email, password).await;
    assert_eq!(r.status, 303, "admin sign-in of {email}: {}", r.text);
    cookie_of(&r, "idgate_admin").unwrap_or_else(|| panic!("no admin cookie for {email}"))
}

/// The answer to an admin sign-in attempt, whatever it is.
pub async fn admin_login_response(app: &TestApp, email: &str, password: &str) -> Resp {
    let page = app.web("GET", "/admin/login", &[], None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = csrf_of(&page.text);
    let cookie = format!(
        "idgate_csrf={}",
        cookie_of(&page, "idgate_csrf").expect("the sign-in page sets the CSRF cookie")
    );
    let body =
        serde_urlencoded::to_string([("email", email), ("password", password), ("csrf", &csrf)])
            .unwrap();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", cookie.as_str()),
    ];
    app.web("POST", "/admin/login", &headers, Some(body)).await
}

/// Creates (once per app) the operator admin `OPERATOR_EMAIL` and signs in.
pub async fn operator(app: &TestApp) -> String {
    let hash = password::hash(PASSWORD).unwrap();
    let now = timestamp(Clock::System.now());
    app.store
        .write_now(|c| {
            if admin::admin_by_email(c, OPERATOR_EMAIL)?.is_none() {
                admin::create_admin(c, OPERATOR_EMAIL, &hash, &now)?;
            }
            Ok(())
        })
        .unwrap();
    admin_login(app, OPERATOR_EMAIL, PASSWORD).await
}

/// Makes `email` (in one of the org's domains) an admin of the org `slug` and signs in:
/// creates the user over SCIM with the app role `admin` (through a token of its own, so
/// any org works), maps the IdP value `admin` to the role `admin` for the org, and gives
/// the user the local password `PASSWORD`.
pub async fn org_admin(app: &TestApp, slug: &str, email: &str) -> String {
    let token = idgate::cli::new_token();
    let now = timestamp(Clock::System.now());
    let name = format!("admin-helper {email}");
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, slug)?;
            orgs::create_token(c, org.id, &name, &token, &now)
        })
        .unwrap();
    let r = app
        .call_as(
            &token,
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "active": true,
                "emails": [{"value": email, "type": "work", "primary": true}],
                "roles": [{"value": "admin", "primary": true}],
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let hash = password::hash(PASSWORD).unwrap();
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, slug)?;
            orgs::set_role_mapping(c, org.id, "admin", "admin")?;
            orgs::reresolve_roles(c, org.id)?;
            accounts::set_password(c, &id, &hash, &now)
        })
        .unwrap();
    admin_login(app, email, PASSWORD).await
}

impl TestApp {
    /// GETs an admin page with an admin cookie.
    pub async fn admin_get(&self, cookie: &str, path: &str) -> Resp {
        let c = format!("idgate_admin={cookie}");
        self.web("GET", path, &[("Cookie", &c)], None).await
    }

    /// POSTs an admin form with the admin cookie and the session's CSRF token.
    pub async fn admin_post(
        &self,
        cookie: &str,
        csrf: &str,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Resp {
        let mut all = pairs.to_vec();
        all.push(("csrf", csrf));
        let body = serde_urlencoded::to_string(&all).unwrap();
        let c = format!("idgate_admin={cookie}");
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", c.as_str()),
        ];
        self.web("POST", path, &headers, Some(body)).await
    }
}

/// A browser signed in to the admin UI: GETs, CSRF-carrying POSTs, multipart uploads.
pub struct AdminBrowser<'a> {
    pub app: &'a TestApp,
    /// `idgate_admin=…`
    pub cookie: String,
}

impl AdminBrowser<'_> {
    pub async fn get(&self, path: &str) -> Resp {
        self.app
            .web("GET", path, &[("Cookie", &self.cookie)], None)
            .await
    }

    /// The CSRF token of the session (from any admin page).
    pub async fn csrf(&self) -> String {
        let mut r = self.get("/admin/orgs").await;
        if let Some(to) = r.header("location").filter(|_| r.status == 303) {
            r = self.get(&to).await; // an org admin's own org
        }
        csrf_of(&r.text)
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let token = self.csrf().await;
        let mut all = pairs.to_vec();
        all.push(("csrf", &token));
        self.post_raw(path, &all).await
    }

    pub async fn post_raw(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
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

    pub async fn upload(&self, path: &str, file: &str, text: &str) -> Resp {
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

impl<'a> AdminBrowser<'a> {
    /// A browser with the admin cookie value `cookie`.
    pub fn new(app: &'a TestApp, cookie: &str) -> Self {
        Self {
            app,
            cookie: format!("idgate_admin={cookie}"),
        }
    }
}

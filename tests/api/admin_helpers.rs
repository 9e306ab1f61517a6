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
    let r = app.web("POST", "/admin/login", &headers, Some(body)).await;
    assert_eq!(r.status, 303, "admin sign-in of {email}: {}", r.text);
    cookie_of(&r, "idgate_admin").unwrap_or_else(|| panic!("no admin cookie for {email}"))
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

//! The admin pages' frame: the navigation every page carries, security headers, notices,
//! and the guards' error pages.

/// The value of a guard (`admin.org`, `admin.form`, `admin.org_form`), or return the page it
/// answered with (404, 403 …).
macro_rules! or_page {
    ($guard:expr) => {
        match $guard {
            Ok(value) => value,
            Err(page) => return page,
        }
    };
}
pub(crate) use or_page;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::auth::Admin;
use crate::store::orgs::Org;

/// What the frame of every admin page shows.
pub struct Nav {
    pub email: String,
    pub operator: bool,
    /// (slug, name) of the org whose pages these are.
    pub org: Option<(String, String)>,
    pub tab: &'static str,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Nav {
    pub fn new(admin: &Admin, org: Option<&Org>, tab: &'static str) -> Self {
        Self {
            email: admin.session.email.clone(),
            operator: admin.is_operator(),
            org: org.map(|o| (o.slug.clone(), o.name.clone())),
            tab,
            csrf: admin.session.csrf.clone(),
            notice: None,
            error: None,
        }
    }

    /// With the notice a redirect asked for (`?done=CODE`): fixed texts only, so a link
    /// cannot put words in the page.
    pub fn done(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice).map(str::to_string);
        self
    }

    pub fn error(mut self, e: impl Into<String>) -> Self {
        self.error = Some(e.into());
        self
    }
}

fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Organization created.",
        "saved" => "Saved.",
        "metadata" => "Federation Metadata XML loaded: the IdP below is now in use.",
        "metadata-url" => {
            "Metadata URL set: fetched now, the IdP below is in use, and it is fetched again \
             periodically."
        }
        "refreshed" => "Metadata URL fetched again: the last refresh below shows the outcome.",
        "metadata-url-removed" => {
            "Metadata URL removed: the IdP below stays in use and is no longer refreshed."
        }
        "oidc-saved" => "Microsoft Entra connection saved.",
        "protocol-oidc" => "The organization now signs in with Microsoft Entra (OpenID Connect).",
        "protocol-saml" => "The organization now signs in with SAML.",
        "domain-added" => "Domain added.",
        "domain-removed" => "Domain removed.",
        "revoked" => "Revoked. Requests with it fail from now on.",
        "mapped" => "Role mapping saved; every user's role was resolved again.",
        "unmapped" => "Role mapping removed; every user's role was resolved again.",
        "deleted" => "Organization deleted.",
        "paused" => "Paused: events wait here and are sent, in order, on Enable.",
        "enabled" => "Enabled: deliveries go on, and stalled lanes were re-armed.",
        "resumed" => "Stalled lanes re-armed: their next event is tried now.",
        "replaying" => "Replay started: every lane sends the events after that point again.",
        "skipped" => "Skipped: the lane moves on to its next event.",
        "removed" => "Webhook endpoint removed.",
        _ => return None,
    })
}

/// `form-action` must let a form's redirect reach the IdP: an org admin's SSO sign-in and
/// the Test sign-in POST here and are sent on to Entra (Chromium enforces `form-action` on
/// the redirects after a form submission). Any https origin, and a plain-http OIDC test
/// authority when one is configured (`allow_form_target`).
static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn csp() -> &'static str {
    CSP.get_or_init(|| csp_with(None))
}

fn csp_with(extra: Option<&str>) -> String {
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action 'self' https:{}; frame-ancestors 'none'; base-uri 'none'",
        extra.map(|e| format!(" {e}")).unwrap_or_default()
    )
}

/// Lets admin forms lead to a plain-http origin too (a local OIDC test provider); the first
/// call wins for the process.
pub fn allow_form_target(origin: &str) {
    let _ = CSP.set(csp_with(Some(origin)));
}

/// An admin page: never cached (they show settings and, once, secrets), never framed.
pub fn page(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Content-Security-Policy", csp()))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "admin template failed");
            internal()
        }
    }
}

pub fn ok(p: &impl Template) -> HttpResponse {
    page(StatusCode::OK, p)
}

/// 303 after a POST, with an optional notice code.
pub fn see_other(to: &str, done: Option<&str>) -> HttpResponse {
    let location = match done {
        Some(code) => format!("{to}?done={code}"),
        None => to.to_string(),
    };
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Pages for operator admins only: an org admin gets the same 404 as for any page that is
/// not theirs.
pub fn operator_only(admin: &Admin) -> Result<(), HttpResponse> {
    if admin.is_operator() {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// How long ago `then` (a stored timestamp) was, in the largest whole unit: "40 s", "3 min",
/// "5 h", "2 d". Empty when `then` cannot be read.
pub fn age(now: time::OffsetDateTime, then: &str) -> String {
    let Ok(t) = time::OffsetDateTime::parse(then, &time::format_description::well_known::Rfc3339)
    else {
        return String::new();
    };
    let s = (now - t).whole_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

/// The same answer for "no such thing" and "not yours": an org admin cannot tell another
/// org's objects from missing ones.
pub fn not_found() -> HttpResponse {
    simple(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is not yours to see.",
    )
}

pub fn internal() -> HttpResponse {
    simple(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Something went wrong on our side; the server log has the details.",
    )
}

pub fn forbidden(message: &str) -> HttpResponse {
    simple(StatusCode::FORBIDDEN, "Not allowed", message)
}

fn simple(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    crate::web::pages::message(status, title, message, None, Some(("Admin home", "/admin")))
}

/// Logs a store error and answers 500.
pub fn store_failed(e: &crate::error::Error) -> HttpResponse {
    match e {
        crate::error::Error::NotFound(_) => not_found(),
        _ => {
            tracing::error!(error = %e, "admin: store failed");
            internal()
        }
    }
}

/// The `done` query parameter of a page.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Done {
    pub done: Option<String>,
}

pub type DoneQuery = web::Query<Done>;

//! The browser surface's rendering: compile-checked templates, security headers, the
//! session cookie, the client's address.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::config::Config;
use crate::session::COOKIE;
use crate::signin::{Client, Granted};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub email: String,
    pub return_to: String,
    pub password_step: bool,
    pub error: Option<String>,
    pub sso_href: Option<String>,
    /// The CSRF token of the form (and of the cookie set with the page).
    pub csrf: String,
    /// Cookies get `Secure` (https `public_url`).
    pub secure: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub message: String,
    pub reference: Option<String>,
    pub action: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "signed_in.html")]
pub struct SignedInPage {
    pub email: String,
    pub name: Option<String>,
    pub org: String,
    pub role: Option<String>,
    pub expires: String,
}

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A rendered page with the browser surface's headers (no caching, no framing).
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Content-Security-Policy", CSP))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("Something went wrong on our side.\n")
        }
    }
}

/// A short message page, with an optional button.
pub fn message(
    status: StatusCode,
    title: &str,
    message: &str,
    reference: Option<&str>,
    action: Option<(&str, &str)>,
) -> HttpResponse {
    html(
        status,
        &MessagePage {
            title: title.into(),
            message: message.into(),
            reference: reference.map(str::to_string),
            action: action.map(|(l, h)| (l.to_string(), h.to_string())),
        },
    )
}

/// "Sign-in failed (reference R)": never the reason.
pub fn signin_failed(status: StatusCode, reference: &str) -> HttpResponse {
    message(
        status,
        "Sign-in failed",
        &format!("Sign-in failed (reference {reference})."),
        Some(reference),
        Some(("Try again", "/login")),
    )
}

/// The store or something else on our side failed; the log has the cause.
pub fn internal_error() -> HttpResponse {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Something went wrong on our side. Please try again in a moment.",
        None,
        None,
    )
}

pub fn secure(config: &Config) -> bool {
    config.public_url.starts_with("https://")
}

/// Every cookie idgate sets: whole site, HttpOnly, SameSite=Lax, Secure on https; `max_age`
/// in seconds (`None`: for the browser session; `Some(0)`: removal).
pub fn cookie(
    name: &'static str,
    value: &str,
    secure: bool,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish();
    match max_age {
        Some(0) => c.make_removal(),
        Some(secs) => c.set_max_age(actix_web::cookie::time::Duration::seconds(secs)),
        None => {}
    }
    c
}

/// Sets `cookie` on `res` (logging the rare failure).
pub fn add_cookie(res: &mut HttpResponse, cookie: &Cookie<'_>) {
    if let Err(e) = res.add_cookie(cookie) {
        tracing::error!(error = %e, name = cookie.name(), "cannot set a cookie");
    }
}

/// The session cookie for a new session.
pub fn session_cookie(config: &Config, granted: &Granted) -> Cookie<'static> {
    cookie(
        COOKIE,
        &granted.token,
        secure(config),
        Some(granted.max_age_secs),
    )
}

/// A cookie that removes the session cookie.
pub fn clear_cookie(config: &Config) -> Cookie<'static> {
    cookie(COOKIE, "", secure(config), Some(0))
}

/// The cookie that pairs a sign-in form with the browser it was given to (double submit).
const CSRF_COOKIE: &str = "idgate_csrf";

/// The browser's sign-in CSRF token: its cookie's, or a fresh one.
pub fn csrf_token(req: &HttpRequest) -> String {
    use base64::Engine as _;
    req.cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| {
            let bytes: [u8; 32] = rand::random();
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        })
}

/// Whether a submitted sign-in form carries this browser's token (constant-time).
pub fn csrf_matches(req: &HttpRequest, submitted: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    req.cookie(CSRF_COOKIE).is_some_and(|c| {
        !submitted.is_empty() && bool::from(c.value().as_bytes().ct_eq(submitted.as_bytes()))
    })
}

/// (Re)sets the sign-in CSRF cookie on a page that carries a form with `token`.
pub fn set_csrf_cookie(res: &mut HttpResponse, config: &Config, token: &str) {
    set_csrf_cookie_secure(res, secure(config), token);
}

pub fn set_csrf_cookie_secure(res: &mut HttpResponse, secure: bool, token: &str) {
    add_cookie(res, &cookie(CSRF_COOKIE, token, secure, None));
}

/// 303 to `to` (after a POST) or 302.
pub fn redirect(status: StatusCode, to: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The client's address (the first untrusted hop of `X-Forwarded-For` when the peer is a
/// trusted proxy) and user agent.
pub fn client(req: &HttpRequest, config: &Config) -> Client {
    let peer = req.peer_addr().map(|a| a.ip());
    let mut ip = peer;
    if let Some(p) = peer
        && config.trusted_proxies.contains(&p)
        && let Some(xff) = req
            .headers()
            .get("X-Forwarded-For")
            .and_then(|v| v.to_str().ok())
    {
        for hop in xff.rsplit(',').map(str::trim) {
            match hop.parse::<std::net::IpAddr>() {
                Ok(a) if config.trusted_proxies.contains(&a) => continue,
                Ok(a) => {
                    ip = Some(a);
                    break;
                }
                Err(_) => break,
            }
        }
    }
    Client {
        ip: ip.map(|a| a.to_string()),
        user_agent: req
            .headers()
            .get("User-Agent")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(400).collect()),
    }
}

/// Whether the direct peer is a trusted proxy (its `X-Forwarded-*` headers count).
pub fn from_trusted_proxy(req: &HttpRequest, config: &Config) -> bool {
    req.peer_addr()
        .is_some_and(|a| config.trusted_proxies.contains(&a.ip()))
}

/// The session token of a request: the cookie, else `Authorization: Bearer`.
pub fn session_token(req: &HttpRequest) -> Option<String> {
    if let Some(c) = req.cookie(COOKIE)
        && !c.value().is_empty()
    {
        return Some(c.value().to_string());
    }
    let auth = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Where the browser may be sent after sign-in: a path on the gateway (`/x`, not `//x`),
/// or an absolute URL on `public_url` or an allowed origin. `None` = refused.
pub fn safe_return_to(config: &Config, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some("/".into());
    }
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if raw.starts_with('/') {
        return (!raw.starts_with("//")).then(|| raw.to_string());
    }
    let (scheme, rest) = raw.split_once("://")?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{}://{}", scheme, &rest[..host_end]).to_ascii_lowercase();
    if rest[..host_end].contains('@') {
        return None;
    }
    let own = config.public_url.to_ascii_lowercase();
    let own_origin = own
        .split_once("://")
        .map(|(s, r)| format!("{s}://{}", r.split('/').next().unwrap_or("")))
        .unwrap_or_default();
    (origin == own_origin || config.allowed_return_origins.contains(&origin))
        .then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_path_or_an_allowed_origin() {
        let config = Config {
            public_url: "https://login.example.com".into(),
            allowed_return_origins: vec!["https://app.example.com".into()],
            ..Config::default()
        };
        let ok = |s: &str| safe_return_to(&config, s);
        assert_eq!(ok("").as_deref(), Some("/"));
        assert_eq!(ok("/app?x=1").as_deref(), Some("/app?x=1"));
        assert_eq!(
            ok("https://app.example.com/a").as_deref(),
            Some("https://app.example.com/a")
        );
        assert_eq!(
            ok("https://LOGIN.example.com").as_deref(),
            Some("https://LOGIN.example.com")
        );
        for bad in [
            "//evil.com/x",
            "/\\evil.com",
            "https://evil.com/",
            "https://app.example.com.evil.com/",
            "https://app.example.com@evil.com/",
            "javascript:alert(1)",
            "http://app.example.com/",
            "evil.com",
            "/a\nb",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}

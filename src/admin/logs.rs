//! The logs an admin reads to find out what went wrong: the SCIM request log (provisioning),
//! the sign-in log, each entry with a hint for the fix; the audit log of admin changes.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::auth::Admin;
use super::directory::pretty;
use super::events::{EventView, caused_by};
use super::hints::{provisioning_hint, signin_hint};
use super::view::or_page;
use super::view::{self, Nav};
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::admin::{self as admin_store, AuditEntry};
use crate::store::requests::RequestLog;
use crate::store::signin::{self as signin_store, SigninLog};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/admin/orgs/{slug}/provisioning",
        web::get().to(super::log_pages::provisioning),
    )
    .route(
        "/admin/orgs/{slug}/provisioning/{id}",
        web::get().to(provisioning_entry),
    )
    .route(
        "/admin/orgs/{slug}/signins",
        web::get().to(super::log_pages::signins),
    )
    .route(
        "/admin/orgs/{slug}/signins/{reference}",
        web::get().to(signin),
    )
    .route("/admin/orgs/{slug}/audit", web::get().to(org_audit))
    .route("/admin/audit", web::get().to(all_audit));
}

/// Rows the audit log shows at most (the newest).
const LIMIT: u32 = 200;

/// `?since=`: its canonical code and the timestamp it stands for (None: any time).
pub(super) fn since(state: &AppState, code: &str) -> (&'static str, Option<String>) {
    let (code, back) = match code {
        "1h" => ("1h", time::Duration::hours(1)),
        "24h" => ("24h", time::Duration::hours(24)),
        "7d" => ("7d", time::Duration::days(7)),
        "30d" => ("30d", time::Duration::days(30)),
        _ => return ("all", None),
    };
    (code, Some(timestamp(state.clock.now() - back)))
}

/// At most `max` characters of `s`, with "…" when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// A logged body, indented when it is JSON.
fn body(raw: Option<&str>) -> Option<String> {
    let raw = raw.filter(|b| !b.is_empty())?;
    Some(
        serde_json::from_str::<serde_json::Value>(raw)
            .map(|v| pretty(&v))
            .unwrap_or_else(|_| raw.to_string()),
    )
}

pub(super) fn status_badge(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        300..=399 => "muted",
        _ => "err",
    }
}

pub(super) fn millis(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

#[derive(Template)]
#[template(path = "admin/provisioning_entry.html")]
struct ProvisioningEntryPage {
    nav: Nav,
    slug: String,
    id: i64,
    entry: RequestLog,
    badge: &'static str,
    duration: String,
    request_body: Option<String>,
    response_body: Option<String>,
    hint: Option<String>,
    caused: Vec<EventView>,
}

async fn provisioning_entry(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, raw_id) = path.into_inner();
    let org = or_page!(admin.org(&state, &slug).await);
    let Ok(id) = raw_id.parse::<i64>() else {
        return view::not_found();
    };
    let org_id = org.id;
    let found = state
        .store
        .read(move |c| {
            let Some(entry) = crate::store::requests::entry(c, org_id, id)? else {
                return Ok(None);
            };
            let caused = caused_by(c, org_id, &entry.request_id, &entry.at, entry.duration_us)?;
            Ok(Some((entry, caused)))
        })
        .await;
    match found {
        Ok(Some((entry, caused))) => view::ok(&ProvisioningEntryPage {
            nav: Nav::new(&admin, Some(&org), "provisioning"),
            slug: org.slug,
            id,
            badge: status_badge(entry.status),
            duration: millis(entry.duration_us),
            request_body: body(entry.request_body.as_deref()),
            response_body: body(entry.response_body.as_deref()),
            hint: provisioning_hint(
                entry.status,
                entry.scim_type.as_deref(),
                &entry.path,
                &entry.request_id,
            ),
            entry,
            caused,
        }),
        Ok(None) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Template)]
#[template(path = "admin/signin.html")]
struct SigninPage {
    nav: Nav,
    slug: String,
    row: SigninLog,
    hint: Option<String>,
    /// An OIDC Test sign-in's checks, claims and resolution.
    report: Option<super::oidc_report::Report>,
}

async fn signin(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, reference) = path.into_inner();
    let org = or_page!(admin.org(&state, &slug).await);
    let found = state
        .store
        .read(move |c| signin_store::signin_by_reference(c, &reference))
        .await;
    // References are global; only a row of this org is shown.
    let row = match found {
        Ok(rows) => rows.into_iter().find(|r| r.org_id == Some(org.id)),
        Err(e) => return view::store_failed(&e),
    };
    let Some(row) = row else {
        return view::not_found();
    };
    let hint = match (&row.reason, row.success) {
        (Some(reason), false) if row.method == "oidc" => super::oidc_report::hint(reason)
            .map(str::to_string)
            .or_else(|| signin_hint(reason, &org, &state.config.public_url)),
        (Some(reason), false) => signin_hint(reason, &org, &state.config.public_url),
        _ => None,
    };
    view::ok(&SigninPage {
        nav: Nav::new(&admin, Some(&org), "signins"),
        slug: org.slug,
        report: super::oidc_report::parse(row.report.as_deref()),
        row,
        hint,
    })
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    /// Every org's rows (the operator's page), with their org slug.
    all: bool,
    rows: Vec<(AuditEntry, Option<String>)>,
    limit: u32,
}

async fn org_audit(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let id = org.id;
    match state
        .store
        .read(move |c| admin_store::audit_log(c, Some(id), LIMIT))
        .await
    {
        Ok(rows) => view::ok(&AuditPage {
            nav: Nav::new(&admin, Some(&org), "audit"),
            all: false,
            rows,
            limit: LIMIT,
        }),
        Err(e) => view::store_failed(&e),
    }
}

/// Every org's audit rows, and those of no org (operator sign-ins, deleted orgs).
async fn all_audit(state: web::Data<AppState>, admin: Admin) -> HttpResponse {
    if !admin.is_operator() {
        return view::not_found();
    }
    match state
        .store
        .read(|c| admin_store::audit_log(c, None, LIMIT))
        .await
    {
        Ok(rows) => view::ok(&AuditPage {
            nav: Nav::new(&admin, None, "audit"),
            all: true,
            rows,
            limit: LIMIT,
        }),
        Err(e) => view::store_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_on_character_boundaries() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc…");
        assert_eq!(shorten("ééé", 2), "éé…");
    }

    #[test]
    fn bodies_are_indented_when_json() {
        assert_eq!(body(Some("{\"a\":1}")).as_deref(), Some("{\n  \"a\": 1\n}"));
        assert_eq!(
            body(Some("(3 bytes, not JSON)")).as_deref(),
            Some("(3 bytes, not JSON)")
        );
        assert_eq!(body(Some("")), None);
        assert_eq!(body(None), None);
    }
}

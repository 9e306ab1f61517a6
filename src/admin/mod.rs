//! The admin web UI: server-rendered pages (askama) for operator admins (every org) and org
//! admins (their own org only). Core flows work without JavaScript (a copy button is the
//! only script). Every form carries the admin session's CSRF token; every change is audited.
//!
//! Guards return `Result<T, HttpResponse>`: the error *is* the page to show (404, 403 …).
#![allow(clippy::result_large_err)]

mod api_keys;
mod auth;
mod directory;
mod events;
mod hints;
mod log_pages;
mod logs;
mod oidc;
mod oidc_report;
mod orgs;
mod scim;
mod sso;
mod sso_attributes;
mod sso_metadata_url;
mod sso_sp_keys;
mod view;
mod webhooks;

use actix_web::{HttpResponse, web};

use crate::events::{OrgWrite, Source};
use crate::state::AppState;
use crate::store::admin::{self as admin_store, AuditEntry};
use crate::store::orgs::{self as org_store, Org, SettingsChange};

pub use auth::{Admin, finish_signin, test_result_redirect};

pub use view::allow_form_target;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(orgs::home))
        .route("/admin/", web::get().to(orgs::home))
        .route("/admin/login", web::get().to(auth::login_form))
        .route("/admin/login", web::post().to(auth::login))
        .route("/admin/logout", web::post().to(auth::logout))
        .route("/admin/orgs", web::get().to(orgs::list))
        .route("/admin/orgs", web::post().to(orgs::create))
        .route("/admin/orgs/{slug}", web::get().to(orgs::show))
        .route("/admin/orgs/{slug}/name", web::post().to(orgs::rename))
        .route(
            "/admin/orgs/{slug}/domains",
            web::post().to(orgs::add_domain),
        )
        .route(
            "/admin/orgs/{slug}/domains/remove",
            web::post().to(orgs::remove_domain),
        )
        .route(
            "/admin/orgs/{slug}/domains/sso-only",
            web::post().to(orgs::sso_only),
        )
        .route("/admin/orgs/{slug}/delete", web::post().to(orgs::delete))
        .route("/admin/orgs/{slug}/sso", web::get().to(sso::show))
        .route(
            "/admin/orgs/{slug}/sso/metadata",
            web::post().to(sso::upload),
        )
        .route(
            "/admin/orgs/{slug}/sso/settings",
            web::post().to(sso::settings),
        )
        .route("/admin/orgs/{slug}/sso/test", web::post().to(sso::test))
        .route(
            "/admin/orgs/{slug}/sso/metadata-url",
            web::post().to(sso_metadata_url::set),
        )
        .route(
            "/admin/orgs/{slug}/sso/metadata-url/refresh",
            web::post().to(sso_metadata_url::refresh),
        )
        .route(
            "/admin/orgs/{slug}/sso/metadata-url/remove",
            web::post().to(sso_metadata_url::remove),
        )
        .configure(sso_sp_keys::routes)
        .configure(oidc::routes)
        .route("/admin/orgs/{slug}/scim", web::get().to(scim::show))
        .route(
            "/admin/orgs/{slug}/scim/settings",
            web::post().to(scim::settings),
        )
        .route(
            "/admin/orgs/{slug}/scim/tokens",
            web::post().to(scim::create_token),
        )
        .route(
            "/admin/orgs/{slug}/scim/tokens/revoke",
            web::post().to(scim::revoke_token),
        )
        .route(
            "/admin/orgs/{slug}/scim/roles",
            web::post().to(scim::map_role),
        )
        .route(
            "/admin/orgs/{slug}/scim/roles/remove",
            web::post().to(scim::unmap_role),
        )
        .configure(directory::routes)
        .configure(logs::routes)
        .configure(events::routes)
        .configure(api_keys::routes)
        .configure(webhooks::routes)
        .configure(sso_attributes::routes)
        .route("/static/admin.css", web::get().to(stylesheet))
        .route("/static/admin.js", web::get().to(script));
}

/// Applies a settings change with its audit row, then 303 to `to` with a notice.
async fn write_settings(
    state: &AppState,
    org: &Org,
    change: SettingsChange,
    entry: AuditEntry,
    to: &str,
) -> HttpResponse {
    let id = org.id;
    match state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            org_store::update_settings(c, id, &change)?;
            if change.role_attribute.is_some() || change.default_role.is_some() {
                write.roles(&org_store::reresolve_roles(c, id)?)?;
            }
            admin_store::audit(c, &entry)?;
            write.finish()
        })
        .await
    {
        Ok(()) => view::see_other(to, Some("saved")),
        Err(e) => view::store_failed(&e),
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../static/admin.css"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../static/admin.js"))
}

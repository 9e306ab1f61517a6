//! The SSO page's metadata URL (`crate::saml::metadata_url`): set it (fetched at once, the
//! error shown and nothing changed on failure), refresh it now, stop refreshing; and what the
//! page shows of the last refresh.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::auth::Admin;
use super::sso::{Flash, render_with};
use super::view::{self, Nav, or_page};
use crate::events::Source;
use crate::saml::metadata_url;
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::metadata_url::{self as url_store, MetadataUrl};

/// The metadata URL as the SSO page shows it.
pub struct UrlView {
    pub url: String,
    /// The last fetch: when, whether it worked, what it changed or why it failed.
    pub last_at: Option<String>,
    pub last_ok: bool,
    pub last_result: String,
    pub next_refresh: String,
}

impl From<MetadataUrl> for UrlView {
    fn from(m: MetadataUrl) -> Self {
        Self {
            url: m.url,
            last_at: m.last_at,
            last_ok: m.last_ok.unwrap_or(false),
            last_result: m.last_result.unwrap_or_default(),
            next_refresh: m.next_refresh,
        }
    }
}

/// For the SSO page's read.
pub fn load(c: &crate::store::db::Conn, org_id: i64) -> crate::error::Result<Option<UrlView>> {
    Ok(url_store::get(c, org_id)?.map(UrlView::from))
}

fn back(slug: &str) -> String {
    format!("/admin/orgs/{slug}/sso")
}

#[derive(Deserialize)]
pub struct UrlForm {
    #[serde(default)]
    url: String,
}

/// Sets the URL: fetched now; on error the page says why and nothing changed.
pub async fn set(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (_, UrlForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let url = form.url.trim().to_string();
    let entry = admin.audit(
        &state,
        Some(org.id),
        metadata_url::SET_ACTION,
        Some(&org.slug),
        None,
    );
    let source = Source::admin(&entry.actor);
    let refused = match crate::outbound::check_https(&state.outbound, &url) {
        Err(e) => e,
        Ok(()) => match metadata_url::set(&state, org.id, &url, source, entry).await {
            Ok(_) => return view::see_other(&back(&org.slug), Some("metadata-url")),
            Err(e) => e,
        },
    };
    let msg = format!(
        "The metadata URL was not set, and the current configuration is unchanged: {refused}."
    );
    let nav = Nav::new(&admin, Some(&org), "sso").error(msg);
    render_with(
        &state,
        org,
        nav,
        StatusCode::UNPROCESSABLE_ENTITY,
        Flash::default(),
    )
    .await
}

/// "Refresh now": the stored URL fetched at once; the page shows the outcome.
pub async fn refresh(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    #[derive(Deserialize)]
    struct F {}
    let (org, _): (_, F) = or_page!(admin.org_form(&state, &slug, &body).await);
    let id = org.id;
    let stored = match state.store.read(move |c| url_store::get(c, id)).await {
        Ok(s) => s,
        Err(e) => return view::store_failed(&e),
    };
    let Some(stored) = stored else {
        let nav = Nav::new(&admin, Some(&org), "sso").error("There is no metadata URL to refresh.");
        return render_with(
            &state,
            org,
            nav,
            StatusCode::UNPROCESSABLE_ENTITY,
            Flash::default(),
        )
        .await;
    };
    let entry = admin.audit(
        &state,
        Some(org.id),
        metadata_url::REFRESH_ACTION,
        Some(&org.slug),
        None,
    );
    let source = Source::admin(&entry.actor);
    metadata_url::refresh(&state, org.id, &org.slug, &stored.url, source, entry).await;
    view::see_other(&back(&org.slug), Some("refreshed"))
}

/// Stops refreshing; the configuration in use stays.
pub async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    #[derive(Deserialize)]
    struct F {}
    let (org, _): (_, F) = or_page!(admin.org_form(&state, &slug, &body).await);
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml.metadata_url.remove",
        Some(&org.slug),
        None,
    );
    let id = org.id;
    let done = state
        .store
        .write(move |c| {
            let removed = url_store::remove(c, id)?;
            if removed {
                admin_store::audit(c, &entry)?;
            }
            Ok(())
        })
        .await;
    match done {
        Ok(()) => view::see_other(&back(&org.slug), Some("metadata-url-removed")),
        Err(e) => view::store_failed(&e),
    }
}

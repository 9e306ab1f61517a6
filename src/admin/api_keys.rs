//! Product API keys (operators only): the list (never the keys themselves), a create form
//! whose new `idgk_…` key is shown once, and revocation. Audited as the command line does,
//! with the admin and the address.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::Admin;
use super::view::or_page;
use super::view::{self, DoneQuery, Nav};
use crate::cli::{API_KEY_SCOPES as SCOPES, new_api_key as new_key};
use crate::clock::timestamp;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::api_keys::{self, ApiKey, NewKey};
use crate::store::orgs::{self, Org};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api-keys", web::get().to(list))
        .route("/admin/api-keys", web::post().to(create))
        .route("/admin/api-keys/revoke", web::post().to(revoke));
}

/// The longest expiry the form takes (ten years).
const MAX_DAYS: u32 = 3650;

/// A key as the list shows it.
pub struct KeyRow {
    key: ApiKey,
    orgs: String,
    /// `revoked`, `expired` or `live`.
    status: &'static str,
}

/// What the create form holds (kept when it is shown again with an error).
#[derive(Default)]
struct Entered {
    name: String,
    scopes: Vec<String>,
    orgs: String,
    expires_days: String,
}

#[derive(Template)]
#[template(path = "admin/api_keys.html")]
struct KeysPage {
    nav: Nav,
    rows: Vec<KeyRow>,
    /// Each scope, and whether its box is ticked.
    scopes: Vec<(&'static str, bool)>,
    entered: Entered,
}

#[derive(Template)]
#[template(path = "admin/api_key.html")]
struct NewKeyPage {
    nav: Nav,
    name: String,
    key: String,
    scopes: String,
}

fn rows(c: &crate::store::db::Conn, now: &str) -> Result<Vec<KeyRow>> {
    let all = orgs::list_orgs(c)?;
    Ok(api_keys::list(c)?
        .into_iter()
        .map(|key| KeyRow {
            orgs: slugs(&all, key.org_ids.as_deref()),
            status: match (&key.revoked, &key.expires) {
                (Some(_), _) => "revoked",
                (None, Some(e)) if e.as_str() <= now => "expired",
                _ => "live",
            },
            key,
        })
        .collect())
}

/// "every org", or the slugs of `ids`.
pub fn slugs(all: &[Org], ids: Option<&[i64]>) -> String {
    match ids {
        None => "every org".into(),
        Some(ids) => all
            .iter()
            .filter(|o| ids.contains(&o.id))
            .map(|o| o.slug.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

async fn render(state: &AppState, nav: Nav, entered: Entered, code: StatusCode) -> HttpResponse {
    let now = timestamp(state.clock.now());
    match state.store.read(move |c| rows(c, &now)).await {
        Ok(rows) => view::page(
            code,
            &KeysPage {
                nav,
                rows,
                scopes: SCOPES
                    .iter()
                    .map(|s| (*s, entered.scopes.iter().any(|e| e == s)))
                    .collect(),
                entered,
            },
        ),
        Err(e) => view::store_failed(&e),
    }
}

async fn list(state: web::Data<AppState>, admin: Admin, q: DoneQuery) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let nav = Nav::new(&admin, None, "api-keys").done(q.done.as_deref());
    render(&state, nav, Entered::default(), StatusCode::OK).await
}

/// The create form, read from its pairs (the scopes are one checkbox each).
fn entered(pairs: Vec<(String, String)>) -> Entered {
    let mut e = Entered::default();
    for (k, v) in pairs {
        match k.as_str() {
            "name" => e.name = v,
            "scope" => e.scopes.push(v),
            "orgs" => e.orgs = v,
            "expires_days" => e.expires_days = v,
            _ => {}
        }
    }
    e
}

/// Org slugs typed into a form: comma, space or newline separated.
pub fn slug_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn create(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let form = entered(or_page!(admin.form::<Vec<(String, String)>>(&body)));
    let name = form.name.trim().to_string();
    let mut problems = Vec::new();
    if name.is_empty() {
        problems.push("give the key a name, such as `product-backend`".to_string());
    } else if name.chars().count() > 100 {
        problems.push("the name is longer than 100 characters".to_string());
    }
    if form.scopes.is_empty() {
        problems.push(format!("choose at least one scope ({})", SCOPES.join(", ")));
    }
    if let Some(bad) = form.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        problems.push(format!(
            "unknown scope {bad:?}; the scopes are {}",
            SCOPES.join(", ")
        ));
    }
    let days = form.expires_days.trim();
    let expires = match days.parse::<u32>() {
        _ if days.is_empty() => None,
        Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(timestamp(
            state.clock.now() + time::Duration::days(i64::from(d)),
        )),
        _ => {
            problems.push(format!(
                "the expiry must be a number of days from 1 to {MAX_DAYS}, or empty for none"
            ));
            None
        }
    };
    let slugs = slug_list(&form.orgs);
    if problems.is_empty() {
        let key = new_key();
        let now = timestamp(state.clock.now());
        let entry = admin.audit(
            &state,
            None,
            "api-key.create",
            Some(&name),
            Some(form.scopes.join(",")),
        );
        let (n, k, scopes) = (name.clone(), key.clone(), form.scopes.clone());
        let written = state
            .store
            .write(move |c| {
                let ids = slugs
                    .iter()
                    .map(|s| {
                        orgs::org_by_slug(c, s)?.map(|o| o.id).ok_or_else(|| {
                            Error::Invalid(format!("there is no organization {s:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                api_keys::create(
                    c,
                    &NewKey {
                        name: &n,
                        key: &k,
                        scopes: &scopes,
                        org_ids: (!ids.is_empty()).then_some(ids.as_slice()),
                        created: &now,
                        expires: expires.as_deref(),
                    },
                )?;
                admin_store::audit(c, &entry)
            })
            .await;
        match written {
            Ok(()) => {
                return view::ok(&NewKeyPage {
                    nav: Nav::new(&admin, None, "api-keys"),
                    name,
                    key,
                    scopes: form.scopes.join(", "),
                });
            }
            Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => problems.push(e.to_string()),
            Err(e) => return view::store_failed(&e),
        }
    }
    let nav = Nav::new(&admin, None, "api-keys")
        .error(format!("The key was not created: {}.", problems.join("; ")));
    render(&state, nav, form, StatusCode::UNPROCESSABLE_ENTITY).await
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn revoke(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let form: NameForm = or_page!(admin.form(&body));
    let now = timestamp(state.clock.now());
    let entry = admin.audit(&state, None, "api-key.revoke", Some(&form.name), None);
    let name = form.name;
    let revoked = state
        .store
        .write(move |c| {
            let done = api_keys::revoke(c, &name, &now)?;
            if done {
                admin_store::audit(c, &entry)?;
            }
            Ok(done)
        })
        .await;
    match revoked {
        Ok(true) => view::see_other("/admin/api-keys", Some("revoked")),
        Ok(false) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

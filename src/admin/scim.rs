//! SCIM setup: on/off, the Tenant URL, tokens (generated and shown once, listed, revoked),
//! group sync, strict attributes, the role attribute, the role-mapping table, the default
//! role.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::Admin;
use super::view::or_page;
use super::view::{self, DoneQuery, Nav};
use crate::clock::timestamp;
use crate::events::{OrgWrite, Source};
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::orgs::{self, Org, SettingsChange, TokenInfo};

#[derive(Template)]
#[template(path = "admin/scim.html")]
struct ScimPage {
    nav: Nav,
    org: Org,
    tenant_url: String,
    tokens: Vec<TokenInfo>,
    mappings: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin/token.html")]
struct TokenPage {
    nav: Nav,
    org: Org,
    tenant_url: String,
    name: String,
    token: String,
}

async fn render(state: &AppState, org: Org, nav: Nav, code: StatusCode) -> HttpResponse {
    let id = org.id;
    let found = state
        .store
        .read(move |c| Ok((orgs::list_tokens(c, id)?, orgs::role_mappings(c, id)?)))
        .await;
    match found {
        Ok((tokens, mappings)) => view::page(
            code,
            &ScimPage {
                nav,
                org,
                tenant_url: state.config.scim_base_url(),
                tokens,
                mappings,
            },
        ),
        Err(e) => view::store_failed(&e),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    q: DoneQuery,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let nav = Nav::new(&admin, Some(&org), "scim").done(q.done.as_deref());
    render(&state, org, nav, StatusCode::OK).await
}

fn back(org: &Org) -> String {
    format!("/admin/orgs/{}/scim", org.slug)
}

#[derive(Deserialize)]
struct SettingsForm {
    scim_enabled: Option<String>,
    group_sync: Option<String>,
    strict_attributes: Option<String>,
    #[serde(default)]
    role_attribute: String,
    #[serde(default)]
    default_role: String,
}

pub async fn settings(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, SettingsForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let role_attribute = form.role_attribute.trim().to_string();
    if role_attribute.is_empty() || role_attribute.contains(char::is_whitespace) {
        let nav = Nav::new(&admin, Some(&org), "scim")
            .error("The role attribute must be `roles` or one attribute name such as `roleName`.");
        return render(&state, org, nav, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let default_role = form.default_role.trim();
    let change = SettingsChange {
        scim_enabled: Some(form.scim_enabled.is_some()),
        group_sync: Some(form.group_sync.is_some()),
        strict_attributes: Some(form.strict_attributes.is_some()),
        role_attribute: Some(role_attribute),
        default_role: Some((!default_role.is_empty()).then(|| default_role.to_string())),
        ..Default::default()
    };
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.scim.settings",
        Some(&org.slug),
        Some(format!("{change:?}")),
    );
    super::write_settings(&state, &org, change, entry, &back(&org)).await
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn create_token(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, NameForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let name = form.name.trim().to_string();
    if name.is_empty() {
        let nav =
            Nav::new(&admin, Some(&org), "scim").error("Give the token a name, such as `entra`.");
        return render(&state, org, nav, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let token = crate::cli::new_token();
    let (now, id) = (timestamp(state.clock.now()), org.id);
    let entry = admin.audit(&state, Some(org.id), "scim-token.create", Some(&name), None);
    let (n, t) = (name.clone(), token.clone());
    let written = state
        .store
        .write(move |c| {
            orgs::create_token(c, id, &n, &t, &now)?;
            admin_store::audit(c, &entry)
        })
        .await;
    match written {
        Ok(()) => view::ok(&TokenPage {
            nav: Nav::new(&admin, Some(&org), "scim"),
            tenant_url: state.config.scim_base_url(),
            org,
            name,
            token,
        }),
        Err(e @ crate::error::Error::Conflict(_)) => {
            let nav = Nav::new(&admin, Some(&org), "scim").error(format!(
                "{e}. Choose another name, or revoke the old token first."
            ));
            render(&state, org, nav, StatusCode::CONFLICT).await
        }
        Err(e) => view::store_failed(&e),
    }
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, NameForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let (now, id, name) = (timestamp(state.clock.now()), org.id, form.name.clone());
    let entry = admin.audit(
        &state,
        Some(org.id),
        "scim-token.revoke",
        Some(&form.name),
        None,
    );
    let revoked = state
        .store
        .write(move |c| {
            let done = orgs::revoke_token(c, id, &name, &now)?;
            if done {
                admin_store::audit(c, &entry)?;
            }
            Ok(done)
        })
        .await;
    match revoked {
        Ok(true) => view::see_other(&back(&org), Some("revoked")),
        Ok(false) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct MapForm {
    #[serde(default)]
    idp_value: String,
    #[serde(default)]
    role: String,
}

pub async fn map_role(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    role_change(state, admin, slug, body, true).await
}

pub async fn unmap_role(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    role_change(state, admin, slug, body, false).await
}

async fn role_change(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
    add: bool,
) -> HttpResponse {
    let (org, form): (Org, MapForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let value = form.idp_value.trim().to_lowercase();
    let role = form.role.trim().to_string();
    if value.is_empty() || (add && role.is_empty()) {
        let nav = Nav::new(&admin, Some(&org), "scim")
            .error("Give both the value Entra sends and the role it maps to.");
        return render(&state, org, nav, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let action = if add {
        "org.role-map"
    } else {
        "org.role-unmap"
    };
    let entry = admin.audit(
        &state,
        Some(org.id),
        action,
        Some(&value),
        add.then(|| role.clone()),
    );
    let id = org.id;
    let written = state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            let changed = if add {
                orgs::set_role_mapping(c, id, &value, &role)?;
                true
            } else {
                orgs::remove_role_mapping(c, id, &value)?
            };
            if changed {
                write.roles(&orgs::reresolve_roles(c, id)?)?;
                admin_store::audit(c, &entry)?;
                write.finish()?;
            }
            Ok(changed)
        })
        .await;
    match written {
        Ok(true) => view::see_other(&back(&org), Some(if add { "mapped" } else { "unmapped" })),
        Ok(false) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

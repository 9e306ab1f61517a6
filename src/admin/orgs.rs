//! Organizations: the operator's list and create form; each org's overview (name,
//! domains with SSO-only, status) and deletion.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::Admin;
use super::view::or_page;
use super::view::{self, DoneQuery, Nav};
use crate::clock::timestamp;
use crate::events::{OrgWrite, Source};
use crate::identity;
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::orgs::{self, Domain, Org};
use crate::store::saml as idp_store;

pub struct OrgRow {
    pub org: Org,
    pub domains: Vec<Domain>,
    pub users: i64,
    pub groups: i64,
    pub sso: bool,
    /// The earliest `not_after` of the IdP's signing certificates.
    pub cert_expiry: Option<String>,
}

impl OrgRow {
    /// "certificate expired …" / "certificate expires …" when the earliest IdP signing
    /// certificate has expired or expires within 30 days of `now`.
    pub fn cert_warning(&self, now: &time::OffsetDateTime) -> Option<String> {
        let expiry = self.cert_expiry.as_deref()?;
        let left = crate::saml::expiry::days_left(expiry, now.date())?;
        let date = expiry.get(..10).unwrap_or(expiry);
        if expiry < timestamp(*now).as_str() {
            Some(format!("certificate expired {date}"))
        } else if left <= crate::saml::metadata::EXPIRY_WARNING_DAYS {
            Some(format!("certificate expires {date}"))
        } else {
            None
        }
    }
}

#[derive(Template)]
#[template(path = "admin/orgs.html")]
struct OrgsPage {
    nav: Nav,
    rows: Vec<OrgRow>,
    now: time::OffsetDateTime,
}

/// `/admin`: the operator's org list, or the org admin's own org (via the list).
pub async fn home(_admin: Admin) -> HttpResponse {
    view::see_other("/admin/orgs", None)
}

pub(super) fn row(c: &crate::store::db::Conn, org: Org) -> crate::error::Result<OrgRow> {
    let (users, groups) = admin_store::counts(c, org.id)?;
    let idp = idp_store::idp(c, org.id)?;
    Ok(OrgRow {
        domains: orgs::domains(c, org.id)?,
        sso: idp.as_ref().is_some_and(|i| !i.certificates.is_empty()),
        cert_expiry: idp
            .iter()
            .flat_map(|i| i.certificates.iter())
            .map(|c| c.not_after.clone())
            .min(),
        users,
        groups,
        org,
    })
}

pub async fn list(state: web::Data<AppState>, admin: Admin, q: DoneQuery) -> HttpResponse {
    if !admin.is_operator() {
        // An org admin has one org: go there.
        let id = admin.session.org_id;
        return match state
            .store
            .read(move |c| match id {
                Some(id) => orgs::org_by_id(c, id),
                None => Ok(None),
            })
            .await
        {
            Ok(Some(org)) => view::see_other(&format!("/admin/orgs/{}", org.slug), None),
            Ok(None) => view::not_found(),
            Err(e) => view::store_failed(&e),
        };
    }
    let rows = state
        .store
        .read(|c| orgs::list_orgs(c)?.into_iter().map(|o| row(c, o)).collect())
        .await;
    match rows {
        Ok(rows) => view::ok(&OrgsPage {
            nav: Nav::new(&admin, None, "orgs").done(q.done.as_deref()),
            rows,
            now: state.clock.now(),
        }),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct CreateForm {
    slug: String,
    name: String,
    #[serde(default)]
    domains: String,
}

pub async fn create(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> HttpResponse {
    if !admin.is_operator() {
        return view::not_found();
    }
    let form: CreateForm = or_page!(admin.form(&body));
    let slug = form.slug.trim().to_lowercase();
    let name = form.name.trim().to_string();
    let mut problems = Vec::new();
    if !identity::is_slug(&slug) {
        problems.push(format!(
            "{slug:?} is not a valid slug: 1–63 of a-z, 0-9 and -, not starting with -"
        ));
    }
    if name.is_empty() {
        problems.push("the name must not be empty".to_string());
    }
    let mut domains = Vec::new();
    for d in form
        .domains
        .split([',', ' ', '\n'])
        .filter(|d| !d.trim().is_empty())
    {
        match identity::normalize_domain(d) {
            Some(d) => domains.push(d),
            None => problems.push(format!("{d:?} is not a domain")),
        }
    }
    if problems.is_empty() {
        let now = timestamp(state.clock.now());
        let entry = admin.audit(
            &state,
            None,
            "org.create",
            Some(&slug),
            Some(domains.join(", ")),
        );
        let source = Source::admin(&entry.actor);
        let written = state
            .store
            .write(move |c| {
                let org = orgs::create_org(c, &slug, &name, &domains, &now)?;
                admin_store::audit(
                    c,
                    &admin_store::AuditEntry {
                        org_id: Some(org.id),
                        ..entry
                    },
                )?;
                OrgWrite::created(c, org.id, &source, &now)?;
                Ok(org)
            })
            .await;
        match written {
            Ok(org) => {
                return view::see_other(&format!("/admin/orgs/{}", org.slug), Some("created"));
            }
            Err(e @ crate::error::Error::Conflict(_)) => problems.push(e.to_string()),
            Err(e) => return view::store_failed(&e),
        }
    }
    let rows = state
        .store
        .read(|c| orgs::list_orgs(c)?.into_iter().map(|o| row(c, o)).collect())
        .await
        .unwrap_or_default();
    view::page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &OrgsPage {
            nav: Nav::new(&admin, None, "orgs").error(format!(
                "The organization was not created: {}.",
                problems.join("; ")
            )),
            rows,
            now: state.clock.now(),
        },
    )
}

#[derive(Template)]
#[template(path = "admin/org.html")]
struct OrgPage {
    nav: Nav,
    row: OrgRow,
    tokens: usize,
}

pub async fn show(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    q: DoneQuery,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let nav = Nav::new(&admin, Some(&org), "overview").done(q.done.as_deref());
    let id = org.id;
    let found = state
        .store
        .read(move |c| {
            let tokens = orgs::list_tokens(c, id)?
                .into_iter()
                .filter(|t| t.revoked.is_none())
                .count();
            Ok((row(c, org)?, tokens))
        })
        .await;
    match found {
        Ok((row, tokens)) => view::ok(&OrgPage { nav, row, tokens }),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, NameForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let name = form.name.trim().to_string();
    if name.is_empty() {
        return view::see_other(&format!("/admin/orgs/{}", org.slug), None);
    }
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.rename",
        Some(&org.slug),
        Some(name.clone()),
    );
    let change = orgs::SettingsChange {
        name: Some(name),
        ..Default::default()
    };
    super::write_settings(
        &state,
        &org,
        change,
        entry,
        &format!("/admin/orgs/{}", org.slug),
    )
    .await
}

#[derive(Deserialize)]
struct DomainForm {
    domain: String,
    #[serde(default)]
    sso_only: Option<String>,
    #[serde(default)]
    back: Option<String>,
}

/// Where a domain form came from (overview or SSO setup).
fn back(org: &Org, form: &DomainForm) -> String {
    match form.back.as_deref() {
        Some("sso") => format!("/admin/orgs/{}/sso", org.slug),
        _ => format!("/admin/orgs/{}", org.slug),
    }
}

pub async fn add_domain(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, DomainForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let to = back(&org, &form);
    let Some(domain) = identity::normalize_domain(&form.domain) else {
        return error_on(
            &state,
            &admin,
            &org,
            &format!("{:?} is not a domain name.", form.domain),
        )
        .await;
    };
    let entry = admin.audit(&state, Some(org.id), "org.domain.add", Some(&domain), None);
    let id = org.id;
    let written = state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            orgs::add_domain(c, id, &domain)?;
            admin_store::audit(c, &entry)?;
            write.finish()
        })
        .await;
    match written {
        Ok(()) => view::see_other(&to, Some("domain-added")),
        Err(e @ crate::error::Error::Conflict(_)) => {
            error_on(&state, &admin, &org, &e.to_string()).await
        }
        Err(e) => view::store_failed(&e),
    }
}

/// The overview page with an error on top.
async fn error_on(state: &AppState, admin: &Admin, org: &Org, error: &str) -> HttpResponse {
    let nav = Nav::new(admin, Some(org), "overview").error(error);
    let o = org.clone();
    match state.store.read(move |c| row(c, o)).await {
        Ok(row) => view::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &OrgPage {
                nav,
                row,
                tokens: 0,
            },
        ),
        Err(e) => view::store_failed(&e),
    }
}

pub async fn remove_domain(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    domain_change(state, admin, slug, body, false).await
}

pub async fn sso_only(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    domain_change(state, admin, slug, body, true).await
}

async fn domain_change(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
    sso: bool,
) -> HttpResponse {
    let (org, form): (Org, DomainForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let to = back(&org, &form);
    let domain = form.domain.trim().to_ascii_lowercase();
    let on = form.sso_only.is_some();
    let (action, detail) = if sso {
        (
            "org.domain.sso-only",
            Some(if on { "on" } else { "off" }.to_string()),
        )
    } else {
        ("org.domain.remove", None)
    };
    let entry = admin.audit(&state, Some(org.id), action, Some(&domain), detail);
    let id = org.id;
    let written = state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            let changed = if sso {
                orgs::set_sso_only(c, id, &domain, on)?
            } else {
                orgs::remove_domain(c, id, &domain)?
            };
            if changed {
                admin_store::audit(c, &entry)?;
                write.finish()?;
            }
            Ok(changed)
        })
        .await;
    match written {
        Ok(true) => view::see_other(&to, Some(if sso { "saved" } else { "domain-removed" })),
        Ok(false) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    if !admin.is_operator() {
        return view::not_found();
    }
    let form: DeleteForm = or_page!(admin.form(&body));
    if form.confirm.trim() != org.slug {
        return error_on(
            &state,
            &admin,
            &org,
            &format!("Type the slug {} to confirm the deletion.", org.slug),
        )
        .await;
    }
    let entry = admin.audit(
        &state,
        None,
        "org.delete",
        Some(&org.slug),
        Some(org.name.clone()),
    );
    let id = org.id;
    match state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            admin_store::delete_org(c, id)?;
            admin_store::audit(c, &entry)?;
            write.finish()
        })
        .await
    {
        Ok(()) => view::see_other("/admin/orgs", Some("deleted")),
        Err(e) => view::store_failed(&e),
    }
}

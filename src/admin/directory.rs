//! The org's directory as SCIM left it: users (search, status filter, pages of 50) with
//! their role, source, groups, sign-ins and exact SCIM representation; groups with members.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::Admin;
use super::view::or_page;
use super::view::{self, Nav};
use crate::directory::schema::ResourceKind;
use crate::scim::render;
use crate::state::AppState;
use crate::store::admin::{self as admin_store, UserRow};
use crate::store::resources::{self, Member};
use crate::store::signin::{self as signin_store, SigninLog};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orgs/{slug}/users", web::get().to(users))
        .route("/admin/orgs/{slug}/users/{id}", web::get().to(user))
        .route("/admin/orgs/{slug}/groups", web::get().to(groups))
        .route("/admin/orgs/{slug}/groups/{id}", web::get().to(group));
}

/// Rows per page of the users and groups lists.
const PAGE: u32 = 50;

/// Sign-ins shown on a user's page.
const USER_SIGNINS: u32 = 20;

/// Previous / next links of a list page, keeping its other query parameters.
pub struct Pager {
    pub page: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    fn new(path: &str, params: &[(&str, &str)], page: u32, more: bool) -> Self {
        let href = |n: u32| {
            let mut pairs: Vec<(&str, String)> = params
                .iter()
                .filter(|(_, v)| !v.is_empty() && *v != "all")
                .map(|(k, v)| (*k, (*v).to_string()))
                .collect();
            if n > 1 {
                pairs.push(("page", n.to_string()));
            }
            match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
                q if q.is_empty() => path.to_string(),
                q => format!("{path}?{q}"),
            }
        };
        Self {
            page,
            prev: (page > 1).then(|| href(page - 1)),
            next: more.then(|| href(page + 1)),
        }
    }
}

/// `?page=N`: 1 unless a number from 1 to 10 000.
fn page_number(raw: &str) -> u32 {
    raw.trim().parse::<u32>().unwrap_or(1).clamp(1, 10_000)
}

/// A document as indented JSON.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UsersQuery {
    q: String,
    status: String,
    page: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Nav,
    slug: String,
    q: String,
    status: &'static str,
    rows: Vec<UserRow>,
    pager: Pager,
}

async fn users(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    query: web::Query<UsersQuery>,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let (status, active) = match query.status.as_str() {
        "active" => ("active", Some(true)),
        "deactivated" => ("deactivated", Some(false)),
        _ => ("all", None),
    };
    let page = page_number(&query.page);
    let (id, q) = (org.id, query.q.trim().to_string());
    let search = q.clone();
    let found = state
        .store
        .read(move |c| {
            admin_store::search_users(c, id, &search, active, PAGE + 1, (page - 1) * PAGE)
        })
        .await;
    let mut rows = match found {
        Ok(rows) => rows,
        Err(e) => return view::store_failed(&e),
    };
    let path = format!("/admin/orgs/{}/users", org.slug);
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    view::ok(&UsersPage {
        nav: Nav::new(&admin, Some(&org), "users"),
        pager: Pager::new(&path, &[("q", &q), ("status", status)], page, more),
        slug: org.slug,
        q,
        status,
        rows,
    })
}

/// Everything the user page shows.
struct UserDetail {
    user: UserRow,
    groups: Vec<(String, String)>,
    signins: Vec<SigninLog>,
    /// Its provisioning history, newest first.
    provisioning: Vec<super::log_pages::ProvisioningRow>,
    scim: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    nav: Nav,
    slug: String,
    d: UserDetail,
}

async fn user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let org = or_page!(admin.org(&state, &slug).await);
    let (org_id, base) = (org.id, state.config.scim_base_url());
    let slug = org.slug.clone();
    let found = state
        .store
        .read(move |c| {
            let Some(user) = admin_store::user_summary(c, org_id, &id)? else {
                return Ok(None);
            };
            let stored = resources::get(c, ResourceKind::User, org_id, &id, false)?;
            let external = stored
                .as_ref()
                .and_then(|s| s.data["externalId"].as_str().map(str::to_string));
            let scim = stored
                .map(|s| pretty(&render::resource(ResourceKind::User, &s, &base)))
                .unwrap_or_default();
            let history = crate::store::log_pages::user_requests(
                c,
                org_id,
                &id,
                &user.user_name,
                external.as_deref(),
                USER_SIGNINS,
            )?;
            Ok(Some(UserDetail {
                provisioning: history
                    .into_iter()
                    .map(|(n, r)| super::log_pages::ProvisioningRow::new(&slug, n, r))
                    .collect(),
                groups: admin_store::user_groups(c, org_id, &id)?,
                signins: signin_store::user_signins(c, org_id, &id, &user.user_name, USER_SIGNINS)?,
                user,
                scim,
            }))
        })
        .await;
    match found {
        Ok(Some(d)) => view::ok(&UserPage {
            nav: Nav::new(&admin, Some(&org), "users"),
            slug: org.slug,
            d,
        }),
        Ok(None) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GroupsQuery {
    q: String,
    page: String,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    nav: Nav,
    slug: String,
    q: String,
    /// (id, displayName, member count)
    rows: Vec<(String, String, i64)>,
    pager: Pager,
}

async fn groups(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    query: web::Query<GroupsQuery>,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let page = page_number(&query.page);
    let (id, q) = (org.id, query.q.trim().to_string());
    let search = q.clone();
    let found = state
        .store
        .read(move |c| admin_store::search_groups(c, id, &search, PAGE + 1, (page - 1) * PAGE))
        .await;
    let mut rows = match found {
        Ok(rows) => rows,
        Err(e) => return view::store_failed(&e),
    };
    let path = format!("/admin/orgs/{}/groups", org.slug);
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    view::ok(&GroupsPage {
        nav: Nav::new(&admin, Some(&org), "groups"),
        pager: Pager::new(&path, &[("q", &q)], page, more),
        slug: org.slug,
        q,
        rows,
    })
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    nav: Nav,
    slug: String,
    id: String,
    name: String,
    members: Vec<Member>,
    scim: String,
}

async fn group(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let org = or_page!(admin.org(&state, &slug).await);
    let (org_id, base) = (org.id, state.config.scim_base_url());
    let found = state
        .store
        .read(move |c| resources::get(c, ResourceKind::Group, org_id, &id, true))
        .await;
    match found {
        Ok(Some(mut g)) => view::ok(&GroupPage {
            nav: Nav::new(&admin, Some(&org), "groups"),
            slug: org.slug,
            name: g.data["displayName"].as_str().unwrap_or_default().into(),
            scim: pretty(&render::resource(ResourceKind::Group, &g, &base)),
            members: g.members.take().unwrap_or_default(),
            id: g.id,
        }),
        Ok(None) => view::not_found(),
        Err(e) => view::store_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_links_keep_the_query() {
        let p = Pager::new("/u", &[("q", "a b&c"), ("status", "all")], 1, true);
        assert_eq!(p.prev, None);
        assert_eq!(p.next.as_deref(), Some("/u?q=a+b%26c&page=2"));
        let p = Pager::new("/u", &[("q", ""), ("status", "active")], 2, false);
        assert_eq!(p.prev.as_deref(), Some("/u?status=active"));
        assert_eq!(p.next, None);
        assert_eq!(page_number("x"), 1);
        assert_eq!(page_number("0"), 1);
        assert_eq!(page_number("3"), 3);
        assert_eq!(page_number("99999999"), 10_000);
    }
}

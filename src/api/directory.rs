//! The directory for the product: orgs, users, groups and memberships in the product form
//! (`directory::product`, the same `data` events carry), in keyset pages with an opaque
//! cursor. The first page of every list also returns `events_cursor`, the head of the event
//! log read in the same read transaction: list, then follow the feed from there, and no
//! change is missed or counted twice.

use crate::store::db::Conn;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::{Value, json};

use super::{ApiError, ApiKeyAuth, schema};
use crate::directory::product;
use crate::directory::schema::ResourceKind;
use crate::error::Result;
use crate::state::AppState;
use crate::store::orgs::Org;
use crate::store::pages::{self, UserFilter};
use crate::store::{events, orgs, resources};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/orgs", web::get().to(list_orgs))
        .route("/api/v1/orgs/{org}", web::get().to(get_org))
        .route("/api/v1/orgs/{org}/users", web::get().to(list_users))
        .route("/api/v1/orgs/{org}/users/{id}", web::get().to(get_user))
        .route(
            "/api/v1/orgs/{org}/users/{id}/groups",
            web::get().to(user_groups),
        )
        .route("/api/v1/orgs/{org}/groups", web::get().to(list_groups))
        .route("/api/v1/orgs/{org}/groups/{id}", web::get().to(get_group))
        .route(
            "/api/v1/orgs/{org}/groups/{id}/members",
            web::get().to(group_members),
        );
}

/// `limit`, `cursor` and the filters of a list.
struct ListQuery {
    limit: u32,
    cursor: Option<String>,
    filter: UserFilter,
}

fn list_query(req: &HttpRequest, filters: &[&str]) -> std::result::Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad(format!("the query string cannot be read: {e}")))?;
    let mut q = ListQuery {
        limit: 100,
        cursor: None,
        filter: UserFilter::default(),
    };
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => match v.trim().parse::<u32>() {
                Ok(n @ 1..=1000) => q.limit = n,
                _ => return Err(ApiError::bad(format!("limit must be 1 to 1000, not {v:?}"))),
            },
            "cursor" => q.cursor = Some(v),
            f if !filters.contains(&f) => {
                return Err(ApiError::bad(format!("unknown parameter {k:?}")));
            }
            "active" => match v.as_str() {
                "true" => q.filter.active = Some(true),
                "false" => q.filter.active = Some(false),
                _ => {
                    return Err(ApiError::bad(format!(
                        "active must be true or false, not {v:?}"
                    )));
                }
            },
            "email" => q.filter.email = Some(v),
            "external_id" => q.filter.external_id = Some(v),
            _ => q.filter.group = Some(v),
        }
    }
    Ok(q)
}

/// Cursors are opaque to the product: base64url of the position after which to go on.
fn encode(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

fn decode(cursor: &str) -> std::result::Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad("the cursor is not one this API gave"))
}

fn seq_after(q: &ListQuery) -> std::result::Result<i64, ApiError> {
    match &q.cursor {
        None => Ok(0),
        Some(c) => decode(c)?
            .parse()
            .map_err(|_| ApiError::bad("the cursor is not one this API gave")),
    }
}

/// A page: at most `limit` items (one more was read to tell whether there is more),
/// `next_cursor` from the last item's position, `events_cursor` on the first page.
fn page<T>(
    mut items: Vec<T>,
    limit: u32,
    first: Option<i64>,
    position: impl Fn(&T) -> String,
    form: impl Fn(&T) -> Value,
) -> HttpResponse {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = more
        .then(|| items.last().map(|i| encode(&position(i))))
        .flatten();
    let mut body = json!({
        "data": items.iter().map(form).collect::<Vec<_>>(),
        "next_cursor": next,
    });
    if let Some(head) = first {
        body["events_cursor"] = json!(head);
    }
    ok(body)
}

fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// Reads in one read transaction, so that a page and the event head agree.
async fn snapshot<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Conn) -> Result<T> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    Ok(state.store.read(move |c| c.snapshot(f)).await?)
}

/// The key, with the scope to read the directory, and the org it names.
async fn org_of(
    state: &AppState,
    key: &ApiKeyAuth,
    slug: &str,
) -> std::result::Result<Org, ApiError> {
    key.require("directory:read")?;
    key.org(state, slug).await
}

#[utoipa::path(get, path = "/api/v1/orgs", tag = "directory",
    description = "The organizations this key may see (scope directory:read).",
    responses((status = 200, body = schema::OrgList), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error)))]
pub(super) async fn list_orgs(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
) -> std::result::Result<HttpResponse, ApiError> {
    key.require("directory:read")?;
    let all = snapshot(&state, |c| {
        orgs::list_orgs(c)?
            .into_iter()
            .map(|o| crate::events::org_state(c, o.id))
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    let seen: Vec<Value> = all
        .into_iter()
        .flatten()
        .filter(|o| o["id"].as_i64().is_some_and(|id| key.sees(id)))
        .collect();
    Ok(ok(json!({"data": seen})))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "directory", params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, body = schema::Org), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn get_org(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> std::result::Result<HttpResponse, ApiError> {
    let org = org_of(&state, &key, &path).await?;
    let form = snapshot(&state, move |c| crate::events::org_state(c, org.id)).await?;
    form.map(ok)
        .ok_or_else(|| ApiError::not_found(format!("no organization {:?}", path.as_str())))
}

async fn list_resources(
    state: &AppState,
    key: &ApiKeyAuth,
    req: &HttpRequest,
    slug: &str,
    kind: ResourceKind,
) -> std::result::Result<HttpResponse, ApiError> {
    let org = org_of(state, key, slug).await?;
    let filters: &[&str] = match kind {
        ResourceKind::User => &["active", "email", "external_id", "group"],
        ResourceKind::Group => &[],
    };
    let q = list_query(req, filters)?;
    let after = seq_after(&q)?;
    let (limit, filter, first) = (q.limit, q.filter.clone(), q.cursor.is_none());
    let (items, head) = snapshot(state, move |c| {
        let items = pages::resources(c, kind, org.id, after, limit + 1, &filter)?;
        Ok((items, if first { Some(events::head(c)?) } else { None }))
    })
    .await?;
    let form = match kind {
        ResourceKind::User => product::user,
        ResourceKind::Group => product::group,
    };
    Ok(page(items, limit, head, |s| s.seq.to_string(), form))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/users", tag = "directory",
    description = "The org's users in keyset pages; the first page carries events_cursor.",
    params(("org" = String, Path, description = "The organization's slug"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (100)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("active" = Option<bool>, Query, description = "Only active (true) or deactivated (false) users"),
        ("email" = Option<String>, Query, description = "Lowercased email equals"),
        ("external_id" = Option<String>, Query, description = "externalId equals (Entra's objectId)"),
        ("group" = Option<String>, Query, description = "Member of this group id")),
    responses((status = 200, body = schema::UserPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn list_users(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    req: HttpRequest,
) -> std::result::Result<HttpResponse, ApiError> {
    list_resources(&state, &key, &req, &path, ResourceKind::User).await
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/groups", tag = "directory",
    params(("org" = String, Path, description = "The organization's slug"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (100)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = schema::GroupPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn list_groups(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    req: HttpRequest,
) -> std::result::Result<HttpResponse, ApiError> {
    list_resources(&state, &key, &req, &path, ResourceKind::Group).await
}

async fn get_resource(
    state: &AppState,
    key: &ApiKeyAuth,
    (slug, id): (String, String),
    kind: ResourceKind,
) -> std::result::Result<HttpResponse, ApiError> {
    let org = org_of(state, key, &slug).await?;
    let lookup = id.clone();
    let found = snapshot(state, move |c| {
        resources::get(c, kind, org.id, &lookup, false)
    })
    .await?;
    let stored = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no {} {id:?} in {slug}",
            kind.name().to_lowercase()
        ))
    })?;
    Ok(ok(match kind {
        ResourceKind::User => product::user(&stored),
        ResourceKind::Group => product::group(&stored),
    }))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/users/{id}", tag = "directory",
    params(("org" = String, Path, description = "The organization's slug"), ("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = schema::User), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn get_user(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<(String, String)>,
) -> std::result::Result<HttpResponse, ApiError> {
    get_resource(&state, &key, path.into_inner(), ResourceKind::User).await
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/groups/{id}", tag = "directory",
    params(("org" = String, Path, description = "The organization's slug"), ("id" = String, Path, description = "The group's id")),
    responses((status = 200, body = schema::Group), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn get_group(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<(String, String)>,
) -> std::result::Result<HttpResponse, ApiError> {
    get_resource(&state, &key, path.into_inner(), ResourceKind::Group).await
}

/// A page of what hangs under one user or group (its groups, its members): 404 when it does
/// not exist; the event head on the first page.
async fn nested<T: Send + 'static>(
    state: &AppState,
    (org, slug, id): (Org, String, String),
    kind: ResourceKind,
    first: bool,
    read: impl FnOnce(&Conn, i64, &str) -> Result<Vec<T>> + Send + 'static,
) -> std::result::Result<(Vec<T>, Option<i64>), ApiError> {
    snapshot(state, move |c| {
        if resources::get(c, kind, org.id, &id, false)?.is_none() {
            return Ok(None);
        }
        let items = read(c, org.id, &id)?;
        let head = if first { Some(events::head(c)?) } else { None };
        Ok(Some((items, head)))
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no such {} in {slug}", kind.name().to_lowercase())))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/users/{id}/groups", tag = "directory",
    params(("org" = String, Path, description = "The organization's slug"), ("id" = String, Path, description = "The user's id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (100)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = schema::GroupPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn user_groups(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> std::result::Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    let org = org_of(&state, &key, &slug).await?;
    let q = list_query(&req, &[])?;
    let (after, limit) = (seq_after(&q)?, q.limit);
    let (items, head) = nested(
        &state,
        (org, slug, id),
        ResourceKind::User,
        q.cursor.is_none(),
        move |c, org, id| pages::groups_of(c, org, id, after, limit + 1),
    )
    .await?;
    Ok(page(
        items,
        limit,
        head,
        |s| s.seq.to_string(),
        product::group,
    ))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/groups/{id}/members", tag = "directory",
    params(("org" = String, Path, description = "The organization's slug"), ("id" = String, Path, description = "The group's id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (100)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = schema::MemberPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn group_members(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> std::result::Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    let org = org_of(&state, &key, &slug).await?;
    let q = list_query(&req, &[])?;
    let after = q
        .cursor
        .as_deref()
        .map(decode)
        .transpose()?
        .unwrap_or_default();
    let limit = q.limit;
    let (items, head) = nested(
        &state,
        (org, slug, id),
        ResourceKind::Group,
        q.cursor.is_none(),
        move |c, _, id| resources::members_after(c, id, &after, limit + 1),
    )
    .await?;
    Ok(page(
        items,
        limit,
        head,
        |m| m.value.clone(),
        |m| json!({"id": m.value, "type": m.type_, "display_name": m.display}),
    ))
}

//! List and search (RFC 7644 §3.4.2, §3.4.3): query parameters or a SearchRequest body →
//! filter, sort, page, projection → a ListResponse.

use serde_json::{Value, json};

use super::render;
use crate::directory::filter::{self, AttrPath};
use crate::directory::schema::{LIST_RESPONSE_URN, ResourceKind};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::filter_sql;
use crate::store::orgs::Org;
use crate::store::resources::{self, ListQuery};

/// The largest page served; larger `count` values are lowered to it (RFC 7644 §3.4.2.4).
pub const MAX_PAGE: u64 = 1000;
const DEFAULT_PAGE: u64 = 100;

/// What a client asked a list for.
#[derive(Debug, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

impl ListParams {
    /// From query parameters; names compared case-insensitively.
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let mut p = Self::default();
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                "filter" => p.filter = Some(v.clone()),
                "sortby" => p.sort_by = Some(v.clone()),
                "sortorder" => p.sort_order = Some(v.clone()),
                "startindex" => p.start_index = Some(v.clone()),
                "count" => p.count = Some(v.clone()),
                "attributes" => p.attributes.extend(split_list(v)),
                "excludedattributes" => p.excluded.extend(split_list(v)),
                _ => {}
            }
        }
        p
    }

    /// From a `POST /.search` SearchRequest body.
    pub fn from_search_body(body: &Value) -> Result<Self> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::invalid_syntax("a SearchRequest must be a JSON object"))?;
        let mut p = Self::default();
        for (k, v) in obj {
            let text = || -> Result<String> {
                match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(Error::invalid_value(format!(
                        "{k} must be a string or number"
                    ))),
                }
            };
            let list = || -> Result<Vec<String>> {
                match v {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str().map(str::to_string).ok_or_else(|| {
                                Error::invalid_value(format!("{k} must be an array of strings"))
                            })
                        })
                        .collect(),
                    Value::String(s) => Ok(split_list(s)),
                    _ => Err(Error::invalid_value(format!(
                        "{k} must be an array of strings"
                    ))),
                }
            };
            match k.to_ascii_lowercase().as_str() {
                "filter" => p.filter = Some(text()?),
                "sortby" => p.sort_by = Some(text()?),
                "sortorder" => p.sort_order = Some(text()?),
                "startindex" => p.start_index = Some(text()?),
                "count" => p.count = Some(text()?),
                "attributes" => p.attributes = list()?,
                "excludedattributes" => p.excluded = list()?,
                _ => {}
            }
        }
        Ok(p)
    }
}

fn parse_number(name: &str, v: Option<&str>, default: i64) -> Result<i64> {
    match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Error::invalid_value(format!("{name} must be an integer, not {s:?}"))),
    }
}

fn sort_path(s: &str) -> Result<AttrPath> {
    let p = filter::parse_patch_path(s)
        .map_err(|e| Error::invalid_value(format!("sortBy {s:?}: {e}")))?;
    if p.filter.is_some() {
        return Err(Error::invalid_value("sortBy cannot contain a filter"));
    }
    Ok(p.attr)
}

/// `startIndex`: 1-based; values below 1 are 1 (RFC 7644 §3.4.2.4).
pub fn start_index(v: Option<&str>) -> Result<u64> {
    Ok(parse_number("startIndex", v, 1)?.max(1) as u64)
}

/// `count`: negative is 0; at most `MAX_PAGE`.
pub fn count(v: Option<&str>) -> Result<u64> {
    Ok((parse_number("count", v, DEFAULT_PAGE as i64)?.max(0) as u64).min(MAX_PAGE))
}

/// Runs a list for an org and renders the ListResponse.
pub async fn run(state: &AppState, org: &Org, kind: ResourceKind, p: ListParams) -> Result<Value> {
    let start_index = start_index(p.start_index.as_deref())?;
    let (total, resources) = query(
        state,
        org,
        kind,
        &p,
        start_index,
        count(p.count.as_deref())?,
    )
    .await?;
    Ok(json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}

/// Like `run` without the page-size cap (root search asks each type for a longer prefix);
/// returns (totalResults, rendered resources).
pub async fn run_unbounded(
    state: &AppState,
    org: &Org,
    kind: ResourceKind,
    p: ListParams,
) -> Result<(u64, Vec<Value>)> {
    let start_index = start_index(p.start_index.as_deref())?;
    let count = parse_number("count", p.count.as_deref(), DEFAULT_PAGE as i64)?.max(0) as u64;
    query(state, org, kind, &p, start_index, count).await
}

async fn query(
    state: &AppState,
    org: &Org,
    kind: ResourceKind,
    p: &ListParams,
    start_index: u64,
    count: u64,
) -> Result<(u64, Vec<Value>)> {
    let filter = match p.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(
            filter::parse_filter(f)
                .map_err(|e| Error::invalid_filter(format!("{e} (in filter {f:?})")))?,
        ),
    };
    let sort = match p.sort_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let expr = filter_sql::sort_expr(kind, &sort_path(s)?)?;
            let desc = match p
                .sort_order
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("") | Some("ascending") => false,
                Some("descending") => true,
                Some(other) => {
                    return Err(Error::invalid_value(format!(
                        "sortOrder must be ascending or descending, not {other:?}"
                    )));
                }
            };
            Some((expr, desc))
        }
    };
    let with_members =
        kind == ResourceKind::Group && render::wants_members(&p.attributes, &p.excluded);
    let org_id = org.id;
    let cursors = &state.store.cursors;
    let sequential = filter.is_none() && sort.is_none();
    let generation = cursors.generation();
    let after_seq = sequential
        .then(|| cursors.get(org_id, kind, start_index))
        .flatten();
    // Entra's lookup before each create (`userName eq "…"`) finds at most one row on a
    // unique index: answered on this worker (`read_inline`) without a thread hand-off, like
    // the token check. Anything that may scan or return many rows goes to a reading thread.
    let inline = sort.is_none()
        && !with_members
        && filter
            .as_ref()
            .is_some_and(|f| filter_sql::is_unique_lookup(kind, f));
    let read = move |c: &crate::store::db::Conn| {
        let q = ListQuery {
            filter: filter.as_ref(),
            sort,
            start_index,
            count,
            with_members,
            after_seq,
        };
        resources::list(c, kind, org_id, &q)
    };
    let (total, page) = if inline {
        state.store.read_inline(read).await?
    } else {
        state.store.read(read).await?
    };
    if let Some(last) = page.last().filter(|_| sequential) {
        cursors.put(
            org_id,
            kind,
            start_index + page.len() as u64,
            last.seq,
            generation,
        );
    }
    let base = state.config.scim_base_url();
    let resources = page
        .iter()
        .map(|s| {
            render::project(
                kind,
                render::resource(kind, s, &base),
                &p.attributes,
                &p.excluded,
            )
        })
        .collect();
    Ok((total, resources))
}

//! `POST /.search` at the service root (RFC 7644 §3.4.3): one query over every resource type
//! the caller may read. A filter that names attributes of only one type matches nothing of
//! the other; a filter valid for no type is `invalidFilter`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::handlers::Ctx;
use super::list::{self, ListParams};
use super::{ScimAuth, ScimError, json_response, read_json};
use crate::directory::schema::{LIST_RESPONSE_URN, ResourceKind};
use crate::error::{Error, ScimType};

pub async fn root(
    ctx: Ctx,
    auth: ScimAuth,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, body, ctx.limit()).await?;
    let p = ListParams::from_search_body(&body)?;
    let start = list::start_index(p.start_index.as_deref())?;
    let count = list::count(p.count.as_deref())?;
    let kinds: Vec<ResourceKind> = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .filter(|k| auth.authorize(*k).is_ok())
        .collect();
    // Each type is asked for everything up to the end of the requested page; the pages
    // are then laid end to end, users first.
    let mut total = 0u64;
    let mut resources: Vec<Value> = Vec::new();
    let mut last_error = None;
    let mut answered = 0;
    for kind in kinds {
        let sub = ListParams {
            start_index: Some("1".into()),
            count: Some((start - 1 + count).to_string()),
            filter: p.filter.clone(),
            sort_by: p.sort_by.clone(),
            sort_order: p.sort_order.clone(),
            attributes: p.attributes.clone(),
            excluded: p.excluded.clone(),
        };
        match list::run_unbounded(&ctx, &auth.org, kind, sub).await {
            Ok((n, items)) => {
                answered += 1;
                total += n;
                resources.extend(items);
            }
            Err(Error::BadRequest {
                scim_type: Some(ScimType::InvalidFilter),
                detail,
            }) => last_error = Some(detail),
            Err(e) => return Err(e.into()),
        }
    }
    if answered == 0 {
        return Err(Error::invalid_filter(last_error.unwrap_or_default()).into());
    }
    let page: Vec<Value> = resources
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    ))
}

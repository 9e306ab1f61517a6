//! `/Groups` handlers; every one answers 403 while the org has group sync off.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::handlers::{Ctx, Projection, if_match};
use super::{ScimAuth, ScimError, read_json, render, service};
use crate::directory::schema::ResourceKind;

const KIND: ResourceKind = ResourceKind::Group;

pub async fn create(
    ctx: Ctx,
    auth: ScimAuth,
    req: HttpRequest,
    body: web::Payload,
    proj: Projection,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(KIND)?;
    let body = read_json(&req, body, ctx.limit()).await?;
    let written =
        service::create_group(&ctx, auth.org, super::handlers::source(&req), body).await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::CREATED, &proj))
}

pub async fn replace(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    proj: Projection,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(KIND)?;
    let body = read_json(&req, body, ctx.limit()).await?;
    let written = service::replace_group(
        &ctx,
        auth.org,
        super::handlers::source(&req),
        id.into_inner(),
        body,
        if_match(&req),
    )
    .await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::OK, &proj))
}

/// 204 like Microsoft's reference endpoint, unless the client asked for attributes: then
/// 200 with the projected group. Large groups are not re-sent on every member change.
pub async fn patch(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    proj: Projection,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(KIND)?;
    let body = read_json(&req, body, ctx.limit()).await?;
    let wants_body = !proj.attributes.is_empty() || !proj.excluded.is_empty();
    let with_members = wants_body && render::wants_members(&proj.attributes, &proj.excluded);
    let written = service::patch_group(
        &ctx,
        auth.org,
        super::handlers::source(&req),
        id.into_inner(),
        body,
        if_match(&req),
        with_members,
    )
    .await?;
    if wants_body {
        Ok(ctx.written_response(KIND, &written, StatusCode::OK, &proj))
    } else {
        let mut res = HttpResponse::NoContent()
            .insert_header(("ETag", render::etag(written.stored.version)))
            .finish();
        super::handlers::note_ignored(&mut res, &written.ignored);
        super::log_target::note_target(&mut res, KIND, &written.stored);
        Ok(res)
    }
}

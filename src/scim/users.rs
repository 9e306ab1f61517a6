//! `/Users` handlers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::handlers::{Ctx, Projection};
use super::{ScimAuth, ScimError, read_json, service};
use crate::directory::schema::ResourceKind;

const KIND: ResourceKind = ResourceKind::User;

pub async fn create(
    ctx: Ctx,
    auth: ScimAuth,
    req: HttpRequest,
    body: web::Payload,
    proj: Projection,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, body, ctx.limit()).await?;
    let written = service::create_user(&ctx, auth.org, super::handlers::source(&req), body).await?;
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
    let body = read_json(&req, body, ctx.limit()).await?;
    let written = service::replace_user(
        &ctx,
        auth.org,
        super::handlers::source(&req),
        id.into_inner(),
        body,
        super::handlers::if_match(&req),
    )
    .await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::OK, &proj))
}

pub async fn patch(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    proj: Projection,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, body, ctx.limit()).await?;
    let written = service::patch_user(
        &ctx,
        auth.org,
        super::handlers::source(&req),
        id.into_inner(),
        body,
        super::handlers::if_match(&req),
    )
    .await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::OK, &proj))
}

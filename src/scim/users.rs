//! `/Users` handlers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::handlers::{Ctx, Projection};
use super::{ScimAuth, ScimError, list, read_json, service};
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
    let written = service::create_user(&ctx, auth.org, body).await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::CREATED, &proj))
}

pub async fn get(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    proj: Projection,
    req: HttpRequest,
) -> Result<HttpResponse, ScimError> {
    let stored = ctx.fetch(KIND, &auth, id.into_inner(), false).await?;
    Ok(ctx.conditional_get(&req, KIND, &stored, &proj))
}

pub async fn list(
    ctx: Ctx,
    auth: ScimAuth,
    q: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ScimError> {
    let body = list::run(&ctx, &auth.org, KIND, list::ListParams::from_query(&q)).await?;
    Ok(super::json_response(StatusCode::OK, &body))
}

pub async fn search(
    ctx: Ctx,
    auth: ScimAuth,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(&req, body, ctx.limit()).await?;
    let params = list::ListParams::from_search_body(&body)?;
    let body = list::run(&ctx, &auth.org, KIND, params).await?;
    Ok(super::json_response(StatusCode::OK, &body))
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
        id.into_inner(),
        body,
        super::handlers::if_match(&req),
    )
    .await?;
    Ok(ctx.written_response(KIND, &written, StatusCode::OK, &proj))
}

pub async fn delete(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ScimError> {
    let actor = format!("scim token {:?}", auth.token_name);
    service::delete(
        &ctx,
        auth.org,
        KIND,
        id.into_inner(),
        super::handlers::if_match(&req),
        actor,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

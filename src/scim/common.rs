//! The handlers that are the same for `/Users` and `/Groups` (read, list, search, delete),
//! generic over the resource type. Creates, replaces and PATCHes differ per type and live in
//! `users.rs` and `groups.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::handlers::{Ctx, Projection, if_match};
use super::{ScimAuth, ScimError, list, read_json, render, service};
use crate::directory::schema::ResourceKind;

/// A resource type served under its own endpoint.
pub trait Endpoint {
    const KIND: ResourceKind;
}

pub struct Users;
pub struct Groups;

impl Endpoint for Users {
    const KIND: ResourceKind = ResourceKind::User;
}

impl Endpoint for Groups {
    const KIND: ResourceKind = ResourceKind::Group;
}

pub async fn get<E: Endpoint>(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    proj: Projection,
    req: HttpRequest,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(E::KIND)?;
    let with_members =
        E::KIND == ResourceKind::Group && render::wants_members(&proj.attributes, &proj.excluded);
    let stored = ctx
        .fetch(E::KIND, &auth, id.into_inner(), with_members)
        .await?;
    Ok(ctx.conditional_get(&req, E::KIND, &stored, &proj))
}

pub async fn list<E: Endpoint>(
    ctx: Ctx,
    auth: ScimAuth,
    q: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(E::KIND)?;
    let body = list::run(&ctx, &auth.org, E::KIND, list::ListParams::from_query(&q)).await?;
    Ok(super::json_response(StatusCode::OK, &body))
}

pub async fn search<E: Endpoint>(
    ctx: Ctx,
    auth: ScimAuth,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(E::KIND)?;
    let body = read_json(&req, body, ctx.limit()).await?;
    let params = list::ListParams::from_search_body(&body)?;
    let body = list::run(&ctx, &auth.org, E::KIND, params).await?;
    Ok(super::json_response(StatusCode::OK, &body))
}

pub async fn delete<E: Endpoint>(
    ctx: Ctx,
    auth: ScimAuth,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ScimError> {
    auth.authorize(E::KIND)?;
    let actor = format!("scim token {:?}", auth.token_name);
    let deleted = service::delete(
        &ctx,
        auth.org,
        super::handlers::source(&req),
        E::KIND,
        id.into_inner(),
        if_match(&req),
        actor,
    )
    .await?;
    let mut res = HttpResponse::NoContent().finish();
    super::log_target::note_target(&mut res, E::KIND, &deleted);
    Ok(res)
}

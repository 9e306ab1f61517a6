//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, built
//! from the same schema table that drives storage, filters and PATCH, so they stay truthful.
//! They describe the server, not an org, and need no token.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::handlers::Ctx;
use super::{ScimError, json_response, list::MAX_PAGE};
use crate::directory::schema::{
    Attr, ENTERPRISE_USER, GROUP, IDGATE_USER, LIST_RESPONSE_URN, ResourceKind, Schema, USER,
};
use crate::error::Error;

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub async fn service_provider_config(ctx: Ctx) -> HttpResponse {
    let base = ctx.config.scim_base_url();
    json_response(
        StatusCode::OK,
        &json!({
            "schemas": [SPC_URN],
            "documentationUri": format!("{}/", ctx.config.public_url),
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_PAGE},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a SCIM token created for the organization \
                                (HTTP Basic with the token as the password is accepted too).",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

fn resource_type_json(kind: ResourceKind, base: &str) -> Value {
    let mut extensions: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    if kind == ResourceKind::User {
        extensions.push(json!({"schema": IDGATE_USER.id, "required": false}));
    }
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": kind.core().description,
        "schema": kind.core().id,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())},
    })
}

fn list_response(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

pub async fn resource_types(ctx: Ctx) -> HttpResponse {
    let base = ctx.config.scim_base_url();
    let items = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| resource_type_json(k, &base))
        .collect();
    json_response(StatusCode::OK, &list_response(items))
}

pub async fn resource_type(ctx: Ctx, name: web::Path<String>) -> Result<HttpResponse, ScimError> {
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&name))
        .ok_or_else(|| Error::NotFound(format!("no resource type {name:?}")))?;
    Ok(json_response(
        StatusCode::OK,
        &resource_type_json(kind, &ctx.config.scim_base_url()),
    ))
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    if !a.canonical_values.is_empty() {
        v["canonicalValues"] = json!(a.canonical_values);
    }
    if !a.reference_types.is_empty() {
        v["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub_attributes.is_empty() {
        v["subAttributes"] = Value::Array(a.sub_attributes.iter().map(attr_json).collect());
    }
    v
}

const SCHEMAS: [&Schema; 4] = [&USER, &ENTERPRISE_USER, &GROUP, &IDGATE_USER];

fn schema_json(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)},
    })
}

pub async fn schemas(ctx: Ctx) -> HttpResponse {
    let base = ctx.config.scim_base_url();
    let items = SCHEMAS.iter().map(|s| schema_json(s, &base)).collect();
    json_response(StatusCode::OK, &list_response(items))
}

pub async fn schema(ctx: Ctx, urn: web::Path<String>) -> Result<HttpResponse, ScimError> {
    let s = SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&urn))
        .ok_or_else(|| Error::NotFound(format!("no schema {urn:?}")))?;
    Ok(json_response(
        StatusCode::OK,
        &schema_json(s, &ctx.config.scim_base_url()),
    ))
}

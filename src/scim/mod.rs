//! The SCIM 2.0 surface under `/scim/v2`: routes, the RFC 7644 error body, body reading.
//! Handlers stay thin: authorise, parse, call `service`, render.

mod auth;
mod common;
mod discovery;
mod groups;
mod handlers;
mod list;
mod log;
mod log_target;
pub(crate) mod render;
mod search;
mod service;
mod users;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

pub use auth::ScimAuth;
use common::{Groups, Users};

use crate::directory::schema::ERROR_URN;
use crate::error::Error;

pub const CONTENT_TYPE: &str = "application/scim+json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Each path answers its own methods; any other method is 405 with a SCIM error body.
    let other = || web::route().to(method_not_allowed);
    cfg.service(
        web::scope("/scim/v2")
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ScimError(Error::invalid_value(format!("bad query string: {e}"))).into()
            }))
            .wrap(actix_web::middleware::from_fn(log::log_request))
            .route(
                "/ServiceProviderConfig",
                web::get().to(discovery::service_provider_config),
            )
            .route("/ServiceProviderConfig", other())
            .route("/ResourceTypes", web::get().to(discovery::resource_types))
            .route("/ResourceTypes", other())
            .route(
                "/ResourceTypes/{name}",
                web::get().to(discovery::resource_type),
            )
            .route("/ResourceTypes/{name}", other())
            .route("/Schemas", web::get().to(discovery::schemas))
            .route("/Schemas", other())
            .route("/Schemas/{urn}", web::get().to(discovery::schema))
            .route("/Schemas/{urn}", other())
            .route("/.search", web::post().to(search::root))
            .route("/.search", other())
            .route("/Users", web::get().to(common::list::<Users>))
            .route("/Users", web::post().to(users::create))
            .route("/Users", other())
            .route("/Users/.search", web::post().to(common::search::<Users>))
            .route("/Users/.search", other())
            .route("/Users/{id}", web::get().to(common::get::<Users>))
            .route("/Users/{id}", web::put().to(users::replace))
            .route("/Users/{id}", web::patch().to(users::patch))
            .route("/Users/{id}", web::delete().to(common::delete::<Users>))
            .route("/Users/{id}", other())
            .route("/Groups", web::get().to(common::list::<Groups>))
            .route("/Groups", web::post().to(groups::create))
            .route("/Groups", other())
            .route("/Groups/.search", web::post().to(common::search::<Groups>))
            .route("/Groups/.search", other())
            .route("/Groups/{id}", web::get().to(common::get::<Groups>))
            .route("/Groups/{id}", web::put().to(groups::replace))
            .route("/Groups/{id}", web::patch().to(groups::patch))
            .route("/Groups/{id}", web::delete().to(common::delete::<Groups>))
            .route("/Groups/{id}", other())
            .default_service(web::to(not_found)),
    );
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    ScimError(Error::MethodNotAllowed(format!(
        "{} is not supported on {}",
        req.method(),
        req.path()
    )))
    .error_response()
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    ScimError(Error::NotFound(format!(
        "no SCIM endpoint at {} {}",
        req.method(),
        req.path()
    )))
    .error_response()
}

/// An error rendered as the RFC 7644 §3.12 error body.
#[derive(Debug)]
pub struct ScimError(pub Error);

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the request log records about an error response.
#[derive(Clone)]
pub(crate) struct ErrorInfo {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            Error::BadRequest { .. } | Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let scim_type = match &self.0 {
            Error::BadRequest { scim_type, .. } => scim_type.map(|t| t.as_str()),
            Error::Conflict(_) => Some("uniqueness"),
            _ => None,
        };
        let detail = match &self.0 {
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error in SCIM request");
                "internal server error".to_string()
            }
            Error::Unavailable(cause) => {
                tracing::error!(%cause, "SCIM request: the store could not complete it");
                "the store could not complete the request (unreachable, or a conflicting write \
                 won); nothing was changed: try again"
                    .to_string()
            }
            other => other.to_string(),
        };
        let mut res = error_body(status, scim_type, &detail);
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"idgate SCIM\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res.extensions_mut().insert(ErrorInfo { scim_type, detail });
        res
    }
}

/// The RFC 7644 §3.12 error response: `status` as a string, an optional `scimType`, `detail`.
pub fn error_body(status: StatusCode, scim_type: Option<&str>, detail: &str) -> HttpResponse {
    let mut body = json!({
        "schemas": [ERROR_URN],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    let text = body.to_string();
    let mut res = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(text.clone());
    // Failures keep their body for the provisioning log.
    res.extensions_mut().insert(LoggedBody(text));
    res
}

/// The response body kept for the request log.
#[derive(Clone)]
pub(crate) struct LoggedBody(pub String);

/// A SCIM JSON response.
pub fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(crate::directory::compact(body))
}

/// The request body kept for the request log.
#[derive(Clone)]
pub(crate) struct LoggedRequest(pub String);

/// Reads and parses a JSON request body: the content type must be JSON (SCIM or plain),
/// the size within the configured limit.
pub async fn read_json(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != CONTENT_TYPE && mime != "application/json" {
        return Err(Error::UnsupportedMediaType(format!(
            "the request body must be application/scim+json or application/json, not {:?}",
            if ct.is_empty() { "(none)" } else { ct }
        ))
        .into());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Error::invalid_syntax(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::PayloadTooLarge(format!(
                "the request body is larger than the limit of {limit} bytes"
            ))
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    req.extensions_mut()
        .insert(LoggedRequest(String::from_utf8_lossy(&body).into_owned()));
    serde_json::from_slice(&body).map_err(|e| {
        Error::invalid_syntax(format!("the request body is not valid JSON: {e}")).into()
    })
}

//! The product API under `/api/v1`: how the product behind idgate follows every identity
//! change. Authenticated by product API keys (`idgate api-key create`), scoped, optionally
//! restricted to some orgs (a key sees nothing else: 404, as for SCIM). Errors are JSON
//! `{"error": code, "message": …}`.

mod auth;
mod directory;
mod feed;
mod openapi;
mod schema;
mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

pub use auth::ApiKeyAuth;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi::document))
        .route("/api/v1/events", web::get().to(feed::events))
        .configure(directory::routes)
        .configure(webhooks::routes);
}

/// A product API error: its status, a stable code, a message for the developer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields of the body (`oldest_seq` of a 410).
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<crate::error::Error> for ApiError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::Invalid(m) | Error::BadRequest { detail: m, .. } => Self::bad(m),
            Error::NotFound(m) => Self::not_found(m),
            Error::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            Error::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            e => {
                tracing::error!(error = %e, "product API: store error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store did not answer; try again",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"error": self.code, "message": self.message});
        if let Some(serde_json::Value::Object(extra)) = &self.extra {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        let mut res = HttpResponse::build(self.status);
        res.insert_header(("Cache-Control", "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header(("WWW-Authenticate", "Bearer realm=\"idgate API\""));
        }
        res.json(body)
    }
}

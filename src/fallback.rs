//! What idgate answers when no handler does, always with a body in the surface's own format
//! (RFC 7644 error under `/scim/`, JSON under `/api/`, `/oauth/` and `/.well-known/`, a page
//! elsewhere): requests the HTTP codec refuses (malformed, head too large, too slow), paths
//! and methods with no route, error responses that would leave with an empty body, and a
//! handler that panics — a 500 for that request alone, logged; the worker and its other
//! connections go on.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use futures_util::FutureExt;
use serde_json::json;

use crate::telemetry::{REQUEST_ID, RequestId};
use crate::web::pages;

/// Which way a path's errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Scim,
    Json,
    Page,
    AdminPage,
}

fn surface(path: &str) -> Surface {
    if path.starts_with("/scim/") {
        Surface::Scim
    } else if ["/api/", "/oauth/", "/.well-known/"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        Surface::Json
    } else if path.starts_with("/admin") {
        Surface::AdminPage
    } else {
        Surface::Page
    }
}

fn public_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "the request could not be read: it is not well-formed HTTP",
        StatusCode::NOT_FOUND => "there is nothing at this address",
        StatusCode::METHOD_NOT_ALLOWED => "this address does not take this HTTP method",
        StatusCode::REQUEST_TIMEOUT => "the request took too long to arrive",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request's headers are too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the request body is not of a type this address takes"
        }
        s if s.is_server_error() => "something went wrong on our side; please try again",
        _ => "the request was refused",
    }
}

/// The error response for `status` at `path`, in that surface's format.
pub fn error_response(status: StatusCode, path: &str, detail: &str) -> HttpResponse {
    render(surface(path), status, detail)
}

fn render(surface: Surface, status: StatusCode, detail: &str) -> HttpResponse {
    match surface {
        Surface::Scim => crate::scim::error_body(status, None, detail),
        Surface::Json => HttpResponse::build(status).json(json!({
            "error": status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace(' ', "_"),
            "message": detail,
        })),
        Surface::Page | Surface::AdminPage => {
            let title = status.canonical_reason().unwrap_or("Error");
            let mut text = detail.to_string();
            if let Some(first) = text.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            text.push('.');
            let back = if surface == Surface::AdminPage {
                ("Back to the admin pages", "/admin")
            } else {
                ("Sign in", "/login")
            };
            pages::message(status, title, &text, None, Some(back))
        }
    }
}

/// Registered with the vendored actix-http (`set_codec_error_responder`): the answer to a
/// request the HTTP codec refused before any handler saw it.
pub fn codec_error(status: StatusCode, target: &[u8]) -> actix_http::Response<BoxBody> {
    let target = String::from_utf8_lossy(target);
    tracing::info!(status = status.as_u16(), target = %target.chars().take(200).collect::<String>(), "request refused by the HTTP layer");
    error_response(status, &target, public_detail(status)).into()
}

/// The app's default service, which resources without a route for the request's method
/// inherit too: 405 when a resource matched the path, 404 when none did.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let status = match req.match_pattern() {
        Some(_) => StatusCode::METHOD_NOT_ALLOWED,
        None => StatusCode::NOT_FOUND,
    };
    error_response(status, req.path(), public_detail(status))
}

/// Outermost guard around every handler: a panic becomes a logged 500 for that request only,
/// and an error response that would leave empty gets its surface's body.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The request itself is gone with a panicking handler: keep what the answer needs.
    let surface = surface(req.path());
    let request_id = req.extensions().get::<RequestId>().cloned();
    let handled = AssertUnwindSafe(next.call(req)).catch_unwind();
    let (outcome, outage) = crate::store::watching_outage(handled).await;
    match outcome {
        Ok(res) => res.map(|res| {
            let res = res.map_into_boxed_body();
            if outage && res.status() == StatusCode::INTERNAL_SERVER_ERROR {
                store_unreachable(res)
            } else {
                with_body(res)
            }
        }),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!(panic = %cause, "the request handler panicked; answered 500");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            let mut page = render(surface, status, public_detail(status));
            if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id.0).ok()) {
                page.headers_mut().insert(REQUEST_ID.clone(), id);
            }
            Err(actix_web::error::InternalError::from_response("handler panicked", page).into())
        }
    }
}

fn is_empty(res: &ServiceResponse<BoxBody>) -> bool {
    use actix_web::body::BodySize;
    matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    )
}

/// A 500 of a request that found the store unreachable (or lost a deadlock) becomes a 503
/// with `Retry-After` in its surface's format: nothing was written, and trying again shortly
/// will work. (SCIM and the product API answer 503 themselves; this covers every page and
/// form.)
fn store_unreachable(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let mut page = error_response(
        status,
        res.request().path(),
        "the service's database could not complete this just now; nothing was changed. Please \
         try again in a moment",
    );
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    if let Some(id) = res.headers().get(&REQUEST_ID) {
        page.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    }
    res.into_response(page)
}

/// An error response without a body gets its surface's; its other headers (`Allow`,
/// `WWW-Authenticate`, …) are kept.
fn with_body(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if status.as_u16() < 400 || res.request().method() == Method::HEAD || !is_empty(&res) {
        return res;
    }
    let mut filled = error_response(status, res.request().path(), public_detail(status));
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            filled.headers_mut().insert(name.clone(), value.clone());
        }
    }
    res.into_response(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_gets_its_surface() {
        for (path, want) in [
            ("/scim/v2/Users", Surface::Scim),
            ("/scim/v1", Surface::Scim),
            ("/api/v1/session", Surface::Json),
            ("/oauth/token", Surface::Json),
            ("/.well-known/jwks.json", Surface::Json),
            ("/login", Surface::Page),
            ("/admin/orgs", Surface::AdminPage),
            ("", Surface::Page),
            ("é", Surface::Page),
        ] {
            assert_eq!(surface(path), want, "{path}");
        }
    }
}

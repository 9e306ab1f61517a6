//! Pieces every SCIM handler shares: the app context, the projection parameters, ETags.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::{ScimAuth, ScimError, json_response, render};
use crate::directory::schema::ResourceKind;
use crate::error::Error;
use crate::state::AppState;
use crate::store::resources::{self, Stored};

use super::ErrorInfo;
use super::service::Written;

/// Puts the dropped attribute names into the provisioning log's detail for this response.
pub fn note_ignored(res: &mut HttpResponse, ignored: &[String]) {
    if !ignored.is_empty() {
        res.extensions_mut().insert(ErrorInfo {
            scim_type: None,
            detail: format!(
                "ignored attributes the schema does not define: {}",
                ignored.join(", ")
            ),
        });
    }
}

/// Where a SCIM write came from, for its events: the request id the provisioning log shows.
pub fn source(req: &HttpRequest) -> crate::events::Source {
    use actix_web::HttpMessage;
    let id = req
        .extensions()
        .get::<crate::telemetry::RequestId>()
        .map(|r| r.0.clone());
    crate::events::Source::scim(id)
}

/// The application state, as every handler sees it.
pub struct Ctx(web::Data<AppState>);

impl Deref for Ctx {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl FromRequest for Ctx {
    type Error = ScimError;
    type Future = Ready<Result<Self, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<AppState>>()
                .cloned()
                .map(Ctx)
                .ok_or_else(|| Error::internal("app state missing").into()),
        )
    }
}

/// `attributes` and `excludedAttributes` from the query string.
#[derive(Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl FromRequest for Projection {
    type Error = ScimError;
    type Future = Ready<Result<Self, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let p = super::list::ListParams::from_query(&pairs);
        ready(Ok(Projection {
            attributes: p.attributes,
            excluded: p.excluded,
        }))
    }
}

pub fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Ctx {
    pub fn limit(&self) -> usize {
        self.config.max_body_bytes
    }

    /// A resource of the caller's org, or 404.
    pub async fn fetch(
        &self,
        kind: ResourceKind,
        auth: &ScimAuth,
        id: String,
        with_members: bool,
    ) -> Result<Stored, ScimError> {
        let org_id = auth.org.id;
        let found = self
            .store
            .read(move |c| {
                resources::get(c, kind, org_id, &id, with_members)?
                    .ok_or_else(|| resources::not_found(kind, &id))
            })
            .await?;
        Ok(found)
    }

    /// The resource as JSON with its ETag (and Location on 201).
    pub fn resource_response(
        &self,
        kind: ResourceKind,
        stored: &Stored,
        status: StatusCode,
        proj: &Projection,
    ) -> HttpResponse {
        let base = self.config.scim_base_url();
        let body = render::project(
            kind,
            render::resource(kind, stored, &base),
            &proj.attributes,
            &proj.excluded,
        );
        let mut res = json_response(status, &body);
        super::log_target::note_target(&mut res, kind, stored);
        let headers = res.headers_mut();
        if let Ok(v) = header::HeaderValue::from_str(&render::etag(stored.version)) {
            headers.insert(header::ETAG, v);
        }
        if status == StatusCode::CREATED
            && let Ok(v) = header::HeaderValue::from_str(&render::location(&base, kind, &stored.id))
        {
            headers.insert(header::LOCATION, v);
        }
        res
    }

    /// A write's response; dropped attributes go to the provisioning log's detail.
    pub fn written_response(
        &self,
        kind: ResourceKind,
        written: &Written,
        status: StatusCode,
        proj: &Projection,
    ) -> HttpResponse {
        let mut res = self.resource_response(kind, &written.stored, status, proj);
        note_ignored(&mut res, &written.ignored);
        res
    }

    /// GET with `If-None-Match`: 304 when the client's copy is current.
    pub fn conditional_get(
        &self,
        req: &HttpRequest,
        kind: ResourceKind,
        stored: &Stored,
        proj: &Projection,
    ) -> HttpResponse {
        let unchanged = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| render::etag_matches(v, stored.version));
        if unchanged {
            return HttpResponse::NotModified()
                .insert_header((header::ETAG, render::etag(stored.version)))
                .finish();
        }
        self.resource_response(kind, stored, StatusCode::OK, proj)
    }
}

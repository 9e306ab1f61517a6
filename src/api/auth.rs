//! Product API keys on a request: `Authorization: Bearer idgk_…`, looked up by hash,
//! live (not revoked, not expired), with the scope the endpoint needs.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};

use super::ApiError;
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::api_keys::{self, ApiKey};
use crate::store::orgs::{self, Org};

/// An authenticated product API key.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth(pub ApiKey);

impl ApiKeyAuth {
    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.0.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this key lacks the scope {scope} (it has {}); create one with \
                     `idgate api-key create --scope {scope}`",
                    self.0.scopes.join(", ")
                ),
            ))
        }
    }

    pub fn sees(&self, org_id: i64) -> bool {
        self.0
            .org_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&org_id))
    }

    /// The org `slug`, if the key may see it (404 otherwise, as for a missing org).
    pub async fn org(&self, state: &AppState, slug: &str) -> Result<Org, ApiError> {
        let lookup = slug.to_string();
        match state
            .store
            .read(move |c| orgs::org_by_slug(c, &lookup))
            .await?
        {
            Some(org) if self.sees(org.id) => Ok(org),
            _ => Err(ApiError::not_found(format!("no organization {slug:?}"))),
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

async fn authenticate(req: HttpRequest) -> Result<ApiKeyAuth, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::bad("no application state"))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("send the API key as `Authorization: Bearer <key>`"))?;
    let key = value
        .trim()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, k)| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <key>`"))?;
    let found = state
        .store
        .read_inline(move |c| api_keys::find(c, &key))
        .await?
        .ok_or_else(|| unauthorized("the API key is not valid"))?;
    let now = timestamp(state.clock.now());
    if let Some(when) = &found.revoked {
        return Err(unauthorized(&format!(
            "the API key {:?} was revoked on {when}",
            found.name
        )));
    }
    if found
        .expires
        .as_ref()
        .is_some_and(|e| e.as_str() <= now.as_str())
    {
        return Err(unauthorized(&format!(
            "the API key {:?} has expired",
            found.name
        )));
    }
    // Last use at most once a minute per key: no write per request.
    if found.last_used.as_deref().and_then(|l| l.get(..16)) != now.get(..16) {
        let id = found.id;
        state
            .store
            .write_detached(move |c| api_keys::touch(c, id, &now));
    }
    Ok(ApiKeyAuth(found))
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

//! SCIM authentication: `Authorization: Bearer <token>` (or HTTP Basic with the token as
//! the password) selects the org. Missing, malformed, wrong or revoked → 401; SCIM turned
//! off for the org → 403.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;

use super::ScimError;
use crate::clock::timestamp;
use crate::error::Error;
use crate::session::AccessClaims;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::orgs::{self, Org};

/// The authenticated caller of a SCIM request.
#[derive(Clone)]
pub struct ScimAuth {
    pub org: Org,
    pub token_name: String,
}

/// Pulls the token out of an Authorization header value.
fn token_from_header(value: &str) -> Result<String, Error> {
    let (scheme, rest) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| Error::Unauthorized("malformed Authorization header".into()))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Ok(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Error::Unauthorized("malformed Basic credentials".into()))?;
        let (_, password) = decoded
            .split_once(':')
            .ok_or_else(|| Error::Unauthorized("malformed Basic credentials".into()))?;
        if !password.is_empty() {
            return Ok(password.to_string());
        }
    }
    Err(Error::Unauthorized(
        "use Authorization: Bearer <SCIM token>".into(),
    ))
}

async fn authenticate(req: HttpRequest) -> Result<ScimAuth, ScimError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Error::internal("app state missing"))?
        .clone();
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            Error::Unauthorized("missing Authorization header with a SCIM token".into())
        })?
        .to_str()
        .map_err(|_| Error::Unauthorized("malformed Authorization header".into()))?;
    let token = token_from_header(value)?;
    if looks_like_jwt(&token) {
        let auth = authenticate_access_token(&state, &token).await?;
        req.extensions_mut().insert(auth.clone());
        return check_enabled(auth);
    }
    let found = state
        .store
        .read_inline(move |c| orgs::find_token(c, &token))
        .await?
        .ok_or_else(|| {
            Error::Unauthorized("the SCIM token is not valid or has been revoked".into())
        })?;
    if let Some(revoked) = &found.revoked {
        let name = found.token_name.clone();
        // Logged in that org's provisioning log, where its admin looks.
        req.extensions_mut().insert(ScimAuth {
            org: found.org,
            token_name: name.clone(),
        });
        return Err(Error::Unauthorized(format!(
            "the SCIM token {name:?} was revoked on {revoked}; put a live token in Entra"
        ))
        .into());
    }
    let now = state.clock.now();
    let stamp = timestamp(now);
    // Record last use at most once a minute per token: no write per request.
    let stale = found
        .last_used
        .as_deref()
        .is_none_or(|last| stamp.get(..16) != last.get(..16));
    if stale {
        let id = found.token_id;
        state
            .store
            .write_detached(move |c| orgs::touch_token(c, id, &stamp));
    }
    let auth = ScimAuth {
        org: found.org,
        token_name: found.token_name,
    };
    req.extensions_mut().insert(auth.clone());
    check_enabled(auth)
}

fn check_enabled(auth: ScimAuth) -> Result<ScimAuth, ScimError> {
    if !auth.org.scim_enabled {
        return Err(Error::Forbidden(format!(
            "SCIM provisioning is turned off for the org {:?}; turn it on in the admin UI \
             (SCIM setup) or with `idgate org set {} --scim on`",
            auth.org.slug, auth.org.slug
        ))
        .into());
    }
    Ok(auth)
}

/// SCIM tokens are opaque `idgs_…` strings; OAuth access tokens are JWTs.
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// An OAuth access token from `/oauth/token`: signature, issuer, audience (this SCIM API),
/// expiry, and a client that is still live (revocation is immediate).
async fn authenticate_access_token(state: &AppState, token: &str) -> Result<ScimAuth, Error> {
    let sessions = &state.sessions;
    let claims: AccessClaims = sessions
        .verify_token(&state.store, token, &sessions.scim_audience())
        .await
        .map_err(|e| Error::Unauthorized(format!("the access token is not valid: {e}")))?;
    if claims.exp <= state.clock.now().unix_timestamp() {
        return Err(Error::Unauthorized(
            "the access token has expired; get a new one from /oauth/token".into(),
        ));
    }
    let client_id = claims.sub.clone();
    let (org, name) = state
        .store
        .read(move |c| accounts::live_client(c, &client_id))
        .await?
        .filter(|(org, _)| org.slug == claims.org)
        .ok_or_else(|| {
            Error::Unauthorized("the OAuth client of this access token was revoked".into())
        })?;
    Ok(ScimAuth {
        org,
        token_name: format!("oauth:{name}"),
    })
}

impl FromRequest for ScimAuth {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

impl ScimAuth {
    /// 403 for `/Groups` unless the org syncs groups; every other endpoint is allowed.
    pub fn authorize(&self, kind: crate::directory::schema::ResourceKind) -> Result<(), ScimError> {
        if kind != crate::directory::schema::ResourceKind::Group || self.org.group_sync {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "group sync is turned off for the org {:?}; turn it on in the admin UI \
                 (SCIM setup) or with `idgate org set {} --group-sync on`",
                self.org.slug, self.org.slug
            ))
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        assert_eq!(token_from_header("Bearer abc").unwrap(), "abc");
        assert_eq!(token_from_header("bearer   abc ").unwrap(), "abc");
        let basic = base64::engine::general_purpose::STANDARD.encode("scim:tok");
        assert_eq!(token_from_header(&format!("Basic {basic}")).unwrap(), "tok");
        assert!(token_from_header("Bearer").is_err());
        assert!(token_from_header("Token x").is_err());
        assert!(token_from_header("Basic !!!").is_err());
    }
}

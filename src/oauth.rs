//! `POST /oauth/token`: the OAuth 2.0 client credentials grant (RFC 6749 §4.4) for the SCIM
//! API, as Entra's "OAuth2 client credentials grant" provisioning mode and STACKIT use.
//! Errors are RFC 6749 §5.2 bodies. The access token is a short-lived ES256 JWT for one
//! org's SCIM API; the SCIM surface re-checks the client on every request, so revoking it
//! takes effect at once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::clock::timestamp;
use crate::session::AccessClaims;
use crate::state::AppState;
use crate::store::accounts;

/// How long an access token lives.
pub const ACCESS_TOKEN_SECS: i64 = 3600;

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(token));
}

/// An RFC 6749 §5.2 error response.
fn error(status: StatusCode, code: &str, description: &str, basic: bool) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    if basic {
        res.insert_header(("WWW-Authenticate", "Basic realm=\"idgate\""));
    }
    res.json(json!({"error": code, "error_description": description}))
}

fn invalid_client(basic: bool) -> HttpResponse {
    error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed: unknown or revoked client, or wrong secret",
        basic,
    )
}

/// `client_id:client_secret` from HTTP Basic (each part form-urlencoded, RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), ()>> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = || -> Option<(String, String)> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape = |s: &str| -> Option<String> {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(&format!("v={s}")).ok()?;
            pairs.into_iter().next().map(|(_, v)| v)
        };
        Some((unescape(id)?, unescape(secret)?))
    };
    Some(decode().ok_or(()))
}

async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
            false,
        );
    };
    let basic = basic_credentials(&req);
    let (client_id, secret, by_basic) = match (basic, &form.client_id, &form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method: HTTP Basic or form fields, not both",
                false,
            );
        }
        (Some(Err(())), _, _) => return invalid_client(true),
        (Some(Ok((id, secret))), None, None) => (id, secret, true),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
        (None, _, _) => return invalid_client(false),
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
                false,
            );
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
                false,
            );
        }
    }
    let lookup_id = client_id.clone();
    let found = state
        .store
        .read(move |c| accounts::authenticate_client(c, &lookup_id, &secret))
        .await;
    let org = match found {
        Ok(Some((org, _name))) => org,
        Ok(None) => return invalid_client(by_basic),
        Err(e) => {
            tracing::error!(error = %e, "oauth/token: store read failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not read its store",
                false,
            );
        }
    };
    let now = state.clock.now();
    let claims = AccessClaims {
        iss: state.sessions.issuer().to_string(),
        aud: state.sessions.scim_audience(),
        sub: client_id.clone(),
        org: org.slug,
        jti: uuid::Uuid::new_v4().to_string(),
        iat: now.unix_timestamp(),
        exp: now.unix_timestamp() + ACCESS_TOKEN_SECS,
    };
    let token = match state.sessions.sign(&claims) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "oauth/token: signing failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not sign a token",
                false,
            );
        }
    };
    let stamp = timestamp(now);
    state
        .store
        .write_detached(move |c| accounts::touch_client(c, &client_id, &stamp));
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECS,
        }))
}

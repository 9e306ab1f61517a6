//! Starting an OIDC sign-in (`GET /oidc/{org}/login`, the admin's Test sign-in, and the
//! idgate app's Connect): a pending request (state, nonce, PKCE verifier; single use, ten
//! minutes, bound to this browser by a cookie), then the browser goes to Entra.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{BROWSER_COOKIE, tenant};
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::oidc::{self as store, OidcConnection, Pending};
use crate::store::orgs::{self, Org};
use crate::web::pages;

/// How long a pending sign-in waits for the browser to come back.
pub const PENDING_FOR: time::Duration = time::Duration::minutes(10);

/// A Connect of the idgate app (not a sign-in purpose: it binds the tenant, issues nothing).
pub const CONNECT: &str = "connect";

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: String,
}

/// The org and its OIDC connection.
pub async fn org_and_connection(
    state: &AppState,
    slug: String,
) -> crate::error::Result<Option<(Org, Option<OidcConnection>)>> {
    state
        .store
        .read(move |c| {
            let Some(org) = orgs::org_by_slug(c, &slug)? else {
                return Ok(None);
            };
            let conn = store::connection(c, org.id)?;
            Ok(Some((org, conn)))
        })
        .await
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let (org, conn) = match org_and_connection(&state, slug.into_inner()).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return pages::message(
                StatusCode::NOT_FOUND,
                "Unknown organization",
                "No organization is set up at this address.",
                None,
                Some(("Sign in", "/login")),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "OIDC: store read failed");
            return pages::internal_error();
        }
    };
    let Some(conn) = conn.filter(|c| c.active) else {
        return pages::message(
            StatusCode::NOT_FOUND,
            "Microsoft sign-in is not set up",
            "Sign-in with Microsoft Entra is not set up for this organization. Ask your administrator.",
            None,
            None,
        );
    };
    let Some(return_to) = pages::safe_return_to(&state.config, &q.return_to) else {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Link not allowed",
            "This sign-in link would send you to an address that is not allowed.",
            None,
            None,
        );
    };
    begin(&state, &req, &org, &conn, return_to, "session", false).await
}

/// Why a sign-in cannot start with this connection (shown to the admin or the user).
pub fn not_ready(state: &AppState, conn: &OidcConnection, purpose: &str) -> Option<&'static str> {
    match conn.mode.as_str() {
        "idgate_app" if state.config.oidc_app.is_none() => {
            Some("The idgate Microsoft app is not configured on this server (oidc_app_client_id).")
        }
        "idgate_app" if conn.tenant_id.is_none() && purpose != CONNECT => Some(
            "This organization has not connected its Microsoft Entra tenant yet: an administrator \
             must click Connect Microsoft Entra first.",
        ),
        "customer" if conn.tenant_id.is_none() || conn.client_id.is_none() => {
            Some("The Microsoft Entra connection is incomplete.")
        }
        _ => None,
    }
}

/// The client id the connection signs in with.
pub fn client_id(state: &AppState, conn: &OidcConnection) -> Option<String> {
    match conn.mode.as_str() {
        "idgate_app" => state.config.oidc_app.as_ref().map(|a| a.client_id.clone()),
        _ => conn.client_id.clone(),
    }
}

fn random(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The browser's binding value: its cookie's, or a fresh one.
fn browser_value(req: &HttpRequest) -> String {
    req.cookie(BROWSER_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| random(32))
}

pub fn browser_hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// Starts a sign-in (or with `consent`, the idgate app's admin-consent step, after which
/// the callback starts the Connect sign-in) and sends the browser to Entra.
pub async fn begin(
    state: &AppState,
    req: &HttpRequest,
    org: &Org,
    conn: &OidcConnection,
    return_to: String,
    purpose: &str,
    consent: bool,
) -> HttpResponse {
    if let Some(why) = not_ready(state, conn, purpose) {
        return pages::message(
            StatusCode::NOT_FOUND,
            "Microsoft sign-in is not ready",
            why,
            None,
            None,
        );
    }
    let Some(client_id) = client_id(state, conn) else {
        return pages::internal_error();
    };
    let kind = if consent { "consent" } else { "signin" };
    // A Connect signs in at `organizations`: the tenant is whatever the token proves.
    let tenant = (purpose != CONNECT)
        .then(|| conn.tenant_id.clone())
        .flatten();
    let now = state.clock.now();
    let browser = browser_value(req);
    let verifier = random(48);
    let p = Pending {
        state: random(32),
        org_id: org.id,
        kind: kind.into(),
        browser: browser_hash(&browser),
        nonce: random(24),
        verifier,
        tenant_id: tenant,
        return_to,
        purpose: purpose.into(),
        created: timestamp(now),
        expires: timestamp(now + PENDING_FOR),
        used: None,
    };
    let url = if consent {
        tenant::admin_consent(
            &state.config.oidc_authority,
            &client_id,
            &super::redirect_uri(&state.config.public_url),
            &p.state,
        )
    } else {
        authorize_url(state, &client_id, &p)
    };
    if let Err(e) = state
        .store
        .write(move |c| store::insert_pending(c, &p))
        .await
    {
        tracing::error!(error = %e, "OIDC: cannot store the pending sign-in");
        return pages::internal_error();
    }
    let mut res = pages::redirect(StatusCode::FOUND, &url);
    let mut cookie = pages::cookie(
        BROWSER_COOKIE,
        &browser,
        pages::secure(&state.config),
        Some(PENDING_FOR.whole_seconds()),
    );
    cookie.set_path("/oidc/");
    pages::add_cookie(&mut res, &cookie);
    res
}

/// Entra's authorization URL for a pending sign-in: code flow, `response_mode=query`,
/// PKCE S256. An idgate-app Connect (no tenant yet) signs in at `organizations`.
pub fn authorize_url(state: &AppState, client_id: &str, p: &Pending) -> String {
    let t = p.tenant_id.as_deref().unwrap_or("organizations");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(p.verifier.as_bytes()));
    let redirect = super::redirect_uri(&state.config.public_url);
    let mut q = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect.as_str()),
        ("response_mode", "query"),
        ("scope", "openid profile email"),
        ("state", p.state.as_str()),
        ("nonce", p.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if p.purpose == "test" || p.purpose == CONNECT {
        q.push(("prompt", "select_account"));
    }
    let query = serde_urlencoded::to_string(&q).unwrap_or_default();
    format!(
        "{}?{query}",
        tenant::endpoints(&state.config.oidc_authority, t).authorize
    )
}

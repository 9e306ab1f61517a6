//! What the product asks the gateway: `/auth/verify` (forward-auth), `/api/v1/session`,
//! `/.well-known/jwks.json`, and `/` (who am I, sign out).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::pages;
use crate::session::{Refusal, SessionClaims};
use crate::state::AppState;

async fn current(state: &AppState, req: &HttpRequest) -> Result<Arc<SessionClaims>, Refusal> {
    let token = pages::session_token(req).ok_or(Refusal::Missing)?;
    state
        .sessions
        .verify(&state.store, &token, state.clock.now())
        .await
}

/// A header value: UTF-8 passes through (nginx and Traefik copy bytes), control
/// characters become spaces.
fn header_value(s: &str) -> HeaderValue {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    HeaderValue::from_bytes(clean.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Groups as one header: comma-separated, with `%` and `,` inside a name percent-encoded.
pub fn groups_header(groups: &[String]) -> String {
    groups
        .iter()
        .map(|g| g.replace('%', "%25").replace(',', "%2C"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `rd`: where to come back to after sign-in (Traefik/Caddy style); `redirect`: answer 302
/// instead of 401, coming back to the URL a trusted proxy reports (nginx's `@signin`).
#[derive(Deserialize)]
pub struct VerifyQuery {
    rd: Option<String>,
    redirect: Option<String>,
}

pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<VerifyQuery>,
) -> HttpResponse {
    match current(&state, &req).await {
        Ok(c) => {
            let mut res = HttpResponse::Ok();
            res.insert_header(("Cache-Control", "no-store"))
                .insert_header(("X-Idgate-User-Id", header_value(&c.sub)))
                .insert_header(("X-Idgate-Email", header_value(&c.email)))
                .insert_header((
                    "X-Idgate-Name",
                    header_value(c.name.as_deref().unwrap_or("")),
                ))
                .insert_header(("X-Idgate-Org", header_value(&c.org)))
                .insert_header((
                    "X-Idgate-Role",
                    header_value(c.role.as_deref().unwrap_or("")),
                ))
                .insert_header(("X-Idgate-Groups", header_value(&groups_header(&c.groups))));
            res.finish()
        }
        Err(refusal) => {
            tracing::debug!(reason = %refusal, "auth/verify: no valid session");
            let q = q.into_inner();
            let redirect = q.redirect.is_some() || state.config.verify_redirect;
            unauthenticated(&state, &req, q.rd, redirect)
        }
    }
}

/// 401, or (with `rd`, or `verify_redirect` on) 302 to the sign-in page.
fn unauthenticated(
    state: &AppState,
    req: &HttpRequest,
    rd: Option<String>,
    redirect: bool,
) -> HttpResponse {
    let config = &state.config;
    if rd.is_none() && !redirect {
        return HttpResponse::Unauthorized()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("text/plain")
            .body("no valid session\n");
    }
    let back = rd.or_else(|| forwarded_url(req, config));
    let target = back
        .and_then(|b| pages::safe_return_to(config, &b))
        .map(|b| {
            format!(
                "{}/login?{}",
                config.public_url,
                serde_urlencoded::to_string([("return_to", b)]).unwrap_or_default()
            )
        })
        .unwrap_or_else(|| format!("{}/login", config.public_url));
    pages::redirect(StatusCode::FOUND, &target)
}

/// The original URL a trusted forward-auth proxy reports (`X-Forwarded-Proto/Host/Uri`).
fn forwarded_url(req: &HttpRequest, config: &crate::config::Config) -> Option<String> {
    if !pages::from_trusted_proxy(req, config) {
        return None;
    }
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    Some(format!(
        "{}://{}{}",
        h("X-Forwarded-Proto")?,
        h("X-Forwarded-Host")?,
        h("X-Forwarded-Uri").unwrap_or("/")
    ))
}

fn expiry(exp: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(exp)
        .map(crate::clock::timestamp)
        .unwrap_or_default()
}

pub async fn session_json(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match current(&state, &req).await {
        Ok(c) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({
                "user_id": c.sub,
                "email": c.email,
                "name": c.name,
                "org": c.org,
                "role": c.role,
                "groups": c.groups,
                "groups_truncated": c.groups_truncated,
                "session_id": c.sid,
                "issued_at": expiry(c.iat),
                "expires_at": expiry(c.exp),
            })),
        Err(_) => HttpResponse::Unauthorized()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"error": "unauthenticated", "detail": "no valid session; sign in at /login"})),
    }
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = state.sessions.reload(&state.store).await {
        tracing::warn!(error = %e, "JWKS: reloading keys failed; serving the loaded ones");
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .content_type("application/json")
        .body(state.sessions.ring().jwks().to_string())
}

pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match current(&state, &req).await {
        Ok(c) => pages::html(
            StatusCode::OK,
            &pages::SignedInPage {
                email: c.email.clone(),
                name: c.name.clone(),
                org: c.org.clone(),
                role: c.role.clone(),
                expires: expiry(c.exp),
            },
        ),
        Err(_) => pages::redirect(StatusCode::SEE_OTHER, "/login"),
    }
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../static/idgate.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_comma_separated_and_escaped() {
        let g = vec![
            "Sales".to_string(),
            "R&D, EU".to_string(),
            "100%".to_string(),
        ];
        assert_eq!(groups_header(&g), "Sales,R&D%2C EU,100%25");
        assert_eq!(header_value("Zoë\nX").as_bytes(), "Zoë X".as_bytes());
    }
}

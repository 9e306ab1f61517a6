//! Email-first sign-in (`GET/POST /login`): the email's domain decides — SSO goes to the
//! org's IdP, an SSO-only domain refuses passwords, other orgs may use local passwords.
//! And `POST /logout`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::pages::{self, LoginPage};
use crate::identity::normalize_email;
use crate::signin::ratelimit::Limiter;
use crate::signin::{self, Identity, Refused, password};
use crate::state::AppState;
use crate::store::orgs::Org;
use crate::store::{accounts, orgs, saml as idp_store, signin as signin_store};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    return_to: String,
    csrf: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    return_to: String,
    email: String,
}

/// The sign-in page, (re)setting the CSRF cookie its form carries.
fn login_page(status: StatusCode, page: LoginPage) -> HttpResponse {
    let mut res = pages::html(status, &page);
    pages::set_csrf_cookie_secure(&mut res, page.secure, &page.csrf);
    res
}

/// Where an org's people start single sign-on: `/saml/{org}/login` or `/oidc/{org}/login`.
fn sso_href(org: &Org, protocol: &str, return_to: &str) -> String {
    format!(
        "/{protocol}/{}/login?return_to={}",
        org.slug,
        form_urlencoded(return_to)
    )
}

fn form_urlencoded(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|p| p.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let Some(return_to) = pages::safe_return_to(&state.config, &q.return_to) else {
        return bad_return_to();
    };
    login_page(
        StatusCode::OK,
        LoginPage {
            email: normalize_email(&q.email).unwrap_or_default(),
            return_to,
            password_step: false,
            error: None,
            sso_href: None,
            csrf: pages::csrf_token(&req),
            secure: pages::secure(&state.config),
        },
    )
}

fn bad_return_to() -> HttpResponse {
    pages::message(
        StatusCode::BAD_REQUEST,
        "Link not allowed",
        "This sign-in link would send you to an address that is not allowed.",
        None,
        Some(("Sign in", "/login")),
    )
}

/// What the domain says about an email: its org, SSO-only flag and the SSO protocol set up
/// (`saml` with an IdP certificate, or `oidc` with an active connection).
type OrgOf = (Org, bool, Option<&'static str>);

async fn org_of(state: &AppState, email: &str) -> crate::error::Result<Option<OrgOf>> {
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    state
        .store
        .read(move |c| {
            let Some((org, sso_only)) = orgs::org_by_domain(c, &domain)? else {
                return Ok(None);
            };
            let sso = if crate::store::oidc::is_active(c, org.id)? {
                Some("oidc")
            } else if idp_store::idp(c, org.id)?.is_some_and(|i| !i.certificates.is_empty()) {
                Some("saml")
            } else {
                None
            };
            Ok(Some((org, sso_only, sso)))
        })
        .await
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(return_to) = pages::safe_return_to(&state.config, &form.return_to) else {
        return bad_return_to();
    };
    let csrf = pages::csrf_token(&req);
    let retry = |status, email: &str, password_step, error: &str| {
        login_page(
            status,
            LoginPage {
                email: email.to_string(),
                return_to: return_to.clone(),
                password_step,
                error: Some(error.to_string()),
                sso_href: None,
                csrf: csrf.clone(),
                secure: pages::secure(&state.config),
            },
        )
    };
    // Login CSRF: the form must come from a page this browser was given.
    if !pages::csrf_matches(&req, &form.csrf) {
        return retry(
            StatusCode::FORBIDDEN,
            &normalize_email(&form.email).unwrap_or_default(),
            false,
            "This sign-in page expired. Please try again.",
        );
    }
    let Some(email) = normalize_email(&form.email) else {
        return retry(
            StatusCode::BAD_REQUEST,
            "",
            false,
            "Enter your work email address.",
        );
    };
    let found = match org_of(&state, &email).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "login: store read failed");
            return pages::internal_error();
        }
    };
    let Some((org, sso_only, sso)) = found else {
        return retry(
            StatusCode::NOT_FOUND,
            &email,
            false,
            "No organization signs in with this email domain. Check the address, or ask your administrator.",
        );
    };
    if form.password.is_empty() {
        if let Some(p) = sso {
            return pages::redirect(StatusCode::SEE_OTHER, &sso_href(&org, p, &return_to));
        }
        return login_page(
            StatusCode::OK,
            LoginPage {
                email,
                return_to,
                password_step: true,
                error: None,
                sso_href: None,
                csrf,
                secure: pages::secure(&state.config),
            },
        );
    }
    if sso_only {
        return refuse_sso_only(&state, &req, &org, &email, sso, &return_to).await;
    }
    password_signin(&state, &req, org, email, &form.password, &return_to, sso).await
}

/// A password for an SSO-only domain: refused, with a way to SSO, and logged.
async fn refuse_sso_only(
    state: &AppState,
    req: &HttpRequest,
    org: &Org,
    email: &str,
    sso: Option<&'static str>,
    return_to: &str,
) -> HttpResponse {
    let client = pages::client(req, &state.config);
    let reference = signin::new_reference();
    let mut row = signin::log_row(
        Some(org.id),
        state.clock.now(),
        &reference,
        "password",
        &client,
    );
    row.email = Some(email.to_string());
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    signin::log_refusal(
        state,
        row,
        &Refused::new(
            "sso_only",
            format!("the domain {domain} is marked SSO only"),
        ),
    )
    .await;
    let href = sso_href(org, sso.unwrap_or("saml"), return_to);
    pages::message(
        StatusCode::FORBIDDEN,
        "Use single sign-on",
        &format!(
            "Your organization requires single sign-on for {domain} addresses: password sign-in is turned off."
        ),
        None,
        sso.map(|_| ("Sign in with your company (SSO)", href.as_str())),
    )
}

async fn password_signin(
    state: &AppState,
    req: &HttpRequest,
    org: Org,
    email: String,
    password: &str,
    return_to: &str,
    sso: Option<&'static str>,
) -> HttpResponse {
    let client = pages::client(req, &state.config);
    let now = state.clock.now();
    let reference = signin::new_reference();
    let mut row = signin::log_row(Some(org.id), now, &reference, "password", &client);
    row.email = Some(email.clone());
    let retry = |status, error: &str| {
        let page = LoginPage {
            email: email.clone(),
            return_to: return_to.to_string(),
            password_step: true,
            error: Some(error.to_string()),
            sso_href: sso.map(|p| sso_href(&org, p, return_to)),
            csrf: pages::csrf_token(req),
            secure: pages::secure(&state.config),
        };
        login_page(status, page)
    };
    if let Some(wait) = state
        .limiter
        .blocked_in(&state.store, &email, client.ip.as_deref(), now)
        .await
    {
        signin::log_refusal(
            state,
            row,
            &Refused::new("rate_limited", "too many failed password attempts"),
        )
        .await;
        return retry(StatusCode::TOO_MANY_REQUESTS, &Limiter::wait_message(wait));
    }
    let (org_id, lookup_email) = (org.id, email.clone());
    let stored = state
        .store
        .read(move |c| {
            Ok(
                match signin_store::find_user(c, org_id, None, &lookup_email)? {
                    signin_store::Lookup::Found(u) => accounts::password_hash(c, &u.id)?,
                    _ => None,
                },
            )
        })
        .await;
    let stored = match stored {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "login: store read failed");
            return pages::internal_error();
        }
    };
    let has_account = stored.is_some();
    let ok = password::verify_off_thread(password, stored).await;
    if !ok {
        state
            .limiter
            .failed_in(&state.store, &email, client.ip.as_deref(), now)
            .await;
        let reason = if has_account {
            "bad_password"
        } else {
            "no_local_account"
        };
        signin::log_refusal(
            state,
            row,
            &Refused::new(reason, "the email or password is wrong"),
        )
        .await;
        return retry(
            StatusCode::UNAUTHORIZED,
            "The email or password is incorrect.",
        );
    }
    state.limiter.succeeded_in(&state.store, &email).await;
    let identity = Identity {
        email,
        ..Default::default()
    };
    finish(state, org, identity, None, row, return_to).await
}

/// Issues the session (or the refusal page) after the IdP or the password was checked.
pub async fn finish(
    state: &AppState,
    org: Org,
    identity: Identity,
    saml: Option<signin::SamlUse>,
    row: signin_store::SigninLog,
    return_to: &str,
) -> HttpResponse {
    let reference = row.reference.clone();
    match signin::complete(state, org, identity, saml, row, signin::Purpose::Session).await {
        Ok(Ok(signin::Outcome::Session(granted))) => {
            let mut res = pages::redirect(StatusCode::SEE_OTHER, return_to);
            if let Err(e) = res.add_cookie(&pages::session_cookie(&state.config, &granted)) {
                tracing::error!(error = %e, "cannot set the session cookie");
                return pages::internal_error();
            }
            res
        }
        Ok(Ok(_)) => pages::internal_error(),
        Ok(Err(_)) => pages::signin_failed(StatusCode::FORBIDDEN, &reference),
        Err(e) => {
            tracing::error!(error = %e, "sign-in: store write failed");
            pages::internal_error()
        }
    }
}

/// Ends the session here first; a SAML session then goes on to the IdP's logout endpoint
/// with a LogoutRequest (single logout), whose answer lands on the sign-in page.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut to = None;
    if let Some(token) = pages::session_token(&req) {
        let claims: Result<crate::session::SessionClaims, _> = state
            .sessions
            .verify_token(&state.store, &token, state.sessions.session_audience())
            .await;
        if let Ok(c) = claims {
            if let Err(e) = signin::end_session(&state, &c.sid).await {
                tracing::error!(error = %e, "logout: store write failed");
                return pages::internal_error();
            }
            to = crate::saml::logout_redirect(&state, &c.sid).await;
        }
    }
    let mut res = pages::redirect(StatusCode::SEE_OTHER, to.as_deref().unwrap_or("/login"));
    pages::add_cookie(&mut res, &pages::clear_cookie(&state.config));
    res
}

//! Who is using the admin UI: the `idgate_admin` cookie (a random token; its SHA-256 in
//! `admin_sessions`) names an operator admin or an org admin. A product session never opens
//! these pages. Every POST carries the session's CSRF token. Sign-in: operator admins with
//! their password (never subject to SSO-only: break-glass); org admins through their org's
//! SSO, or with a local password where the domain allows passwords.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;

use super::view;
use crate::clock::timestamp;
use crate::identity::normalize_email;
use crate::signin::{self, Identity, Outcome, Purpose, SamlUse, password};
use crate::state::AppState;
use crate::store::admin::{self as admin_store, AdminSession, AuditEntry};
use crate::store::orgs::{self, Org};
use crate::store::signin::{self as signin_store, Lookup, SigninLog};
use crate::store::{accounts, saml as idp_store};
use crate::web::pages;

pub const COOKIE: &str = "idgate_admin";

/// A signed-in admin.
pub struct Admin {
    pub session: AdminSession,
    pub ip: Option<String>,
}

/// Not signed in (or the session ended): to the admin sign-in page.
#[derive(Debug)]
pub struct SignInFirst;

impl std::fmt::Display for SignInFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sign in to the admin UI first")
    }
}

impl ResponseError for SignInFirst {
    fn error_response(&self) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header(("Location", "/admin/login"))
            .insert_header(("Cache-Control", "no-store"))
            .finish()
    }
}

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or(SignInFirst)?;
            let token = req.cookie(COOKIE).ok_or(SignInFirst)?.value().to_string();
            let hash = orgs::hash_token(&token).to_vec();
            let now = timestamp(state.clock.now());
            let session = state
                .store
                .read(move |c| admin_store::session(c, &hash, &now))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "admin session lookup failed");
                    SignInFirst
                })?
                .ok_or(SignInFirst)?;
            Ok(Admin {
                session,
                ip: pages::client(&req, &state.config).ip,
            })
        })
    }
}

impl Admin {
    pub fn is_operator(&self) -> bool {
        self.session.admin_id.is_some()
    }

    /// Who made a change, for the audit log.
    pub fn actor(&self) -> String {
        if self.is_operator() {
            format!("operator:{}", self.session.email)
        } else {
            format!("org-admin:{}", self.session.email)
        }
    }

    /// The org `slug`, if this admin may see it (404 otherwise, also for missing orgs).
    pub async fn org(&self, state: &AppState, slug: &str) -> Result<Org, HttpResponse> {
        let lookup = slug.to_string();
        match state
            .store
            .read(move |c| orgs::org_by_slug(c, &lookup))
            .await
        {
            Ok(Some(org)) if self.is_operator() || self.session.org_id == Some(org.id) => Ok(org),
            Ok(_) => Err(view::not_found()),
            Err(e) => Err(view::store_failed(&e)),
        }
    }

    /// A POST to an org's page: the org (404 unless this admin may see it) and the form,
    /// its CSRF token checked.
    pub async fn org_form<T: DeserializeOwned>(
        &self,
        state: &AppState,
        slug: &str,
        body: &[u8],
    ) -> Result<(Org, T), HttpResponse> {
        let org = self.org(state, slug).await?;
        Ok((org, self.form(body)?))
    }

    /// Parses a POSTed form and checks its CSRF token (403 page when it does not match).
    pub fn form<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, HttpResponse> {
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            csrf: String,
        }
        let token: Token = serde_urlencoded::from_bytes(body).unwrap_or(Token {
            csrf: String::new(),
        });
        if !self.csrf_ok(&token.csrf) {
            return Err(csrf_refused());
        }
        serde_urlencoded::from_bytes(body).map_err(|e| {
            view::page(
                StatusCode::BAD_REQUEST,
                &crate::web::pages::MessagePage {
                    title: "Bad form".into(),
                    message: format!("The form could not be read: {e}"),
                    reference: None,
                    action: Some(("Back".into(), "/admin".into())),
                },
            )
        })
    }

    pub fn csrf_ok(&self, submitted: &str) -> bool {
        !submitted.is_empty()
            && bool::from(self.session.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }

    /// An audit row for a change this admin made.
    pub fn audit(
        &self,
        state: &AppState,
        org_id: Option<i64>,
        action: &str,
        target: Option<&str>,
        detail: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            org_id,
            at: timestamp(state.clock.now()),
            actor: self.actor(),
            action: action.to_string(),
            target: target.map(str::to_string),
            detail,
            ip: self.ip.clone(),
        }
    }
}

pub fn csrf_refused() -> HttpResponse {
    view::forbidden(
        "This form expired or did not come from this admin page (CSRF check). Go back, reload the page and try again.",
    )
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    email: String,
    error: Option<String>,
    csrf: String,
}

fn login_page(
    status: StatusCode,
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = pages::csrf_token(req);
    let mut res = view::page(
        status,
        &LoginPage {
            email: email.to_string(),
            error: error.map(str::to_string),
            csrf: csrf.clone(),
        },
    );
    pages::set_csrf_cookie(&mut res, &state.config, &csrf);
    res
}

pub async fn login_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    login_page(StatusCode::OK, &req, &state, "", None)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    csrf: String,
}

pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !pages::csrf_matches(&req, &form.csrf) {
        return login_page(
            StatusCode::FORBIDDEN,
            &req,
            &state,
            "",
            Some("This sign-in page expired. Please try again."),
        );
    }
    let Some(email) = normalize_email(&form.email) else {
        return login_page(
            StatusCode::BAD_REQUEST,
            &req,
            &state,
            "",
            Some("Enter your email address."),
        );
    };
    let client = pages::client(&req, &state.config);
    let now = state.clock.now();
    let key = format!("admin:{email}");
    if let Some(wait) = state
        .limiter
        .blocked_in(&state.store, &key, client.ip.as_deref(), now)
        .await
    {
        let msg = crate::signin::ratelimit::Limiter::wait_message(wait);
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &req,
            &state,
            &email,
            Some(&msg),
        );
    }
    let found = match lookup(&state, &email).await {
        Ok(f) => f,
        Err(e) => return view::store_failed(&e),
    };
    let wrong = async |state: &AppState| {
        state
            .limiter
            .failed_in(&state.store, &key, client.ip.as_deref(), now)
            .await;
        tracing::info!(email = %email, "admin sign-in refused");
        login_page(
            StatusCode::UNAUTHORIZED,
            &req,
            state,
            &email,
            Some(
                "The email or password is incorrect, or this account may not administer anything.",
            ),
        )
    };
    match found {
        Who::Operator { id, hash } => {
            if !password::verify_off_thread(&form.password, Some(hash)).await {
                return wrong(&state).await;
            }
            state.limiter.succeeded_in(&state.store, &key).await;
            start_session(&state, &req, Some(id), None, &email).await
        }
        Who::Org {
            org,
            oidc: Some(conn),
            ..
        } if form.password.is_empty() => {
            let back = format!("/admin/orgs/{}", org.slug);
            crate::oidc::start::begin(&state, &req, &org, &conn, back, "admin", false).await
        }
        Who::Org {
            org,
            idp: Some(idp),
            ..
        } if form.password.is_empty() => {
            let back = format!("/admin/orgs/{}", org.slug);
            crate::saml::start_signin(&state, &org, &idp, back, Purpose::Admin).await
        }
        Who::Org {
            org,
            sso_only,
            user,
            ..
        } => {
            let (user_id, hash, is_admin) = user.unwrap_or_default();
            let ok = password::verify_off_thread(&form.password, hash).await;
            if !ok || !is_admin || sso_only {
                return wrong(&state).await;
            }
            state.limiter.succeeded_in(&state.store, &key).await;
            start_session(&state, &req, None, Some((org.id, user_id)), &email).await
        }
        Who::Nobody => {
            let _ = password::verify_off_thread(&form.password, None).await;
            wrong(&state).await
        }
    }
}

// Lives for one request: boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
enum Who {
    Operator {
        id: i64,
        hash: String,
    },
    /// An address of an org's domain: its IdP (if any), whether the domain is SSO-only, and
    /// the user (id, local password hash, active admin?) if there is one.
    Org {
        org: Org,
        idp: Option<crate::store::saml::IdpRecord>,
        /// The org's OIDC connection when it is the active one.
        oidc: Option<crate::store::oidc::OidcConnection>,
        sso_only: bool,
        user: Option<(String, Option<String>, bool)>,
    },
    Nobody,
}

async fn lookup(state: &AppState, email: &str) -> crate::error::Result<Who> {
    let email = email.to_string();
    state
        .store
        .read(move |c| {
            if let Some((id, hash)) = admin_store::admin_by_email(c, &email)? {
                return Ok(Who::Operator { id, hash });
            }
            let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
            let Some((org, sso_only)) = orgs::org_by_domain(c, domain)? else {
                return Ok(Who::Nobody);
            };
            let idp = idp_store::idp(c, org.id)?.filter(|i| !i.certificates.is_empty());
            let oidc = crate::store::oidc::connection(c, org.id)?.filter(|o| o.active);
            let user = match signin_store::find_user(c, org.id, None, &email)? {
                Lookup::Found(u) => {
                    let is_admin = u.active
                        && u.role
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case("admin"));
                    Some((u.id.clone(), accounts::password_hash(c, &u.id)?, is_admin))
                }
                _ => None,
            };
            Ok(Who::Org {
                org,
                idp,
                oidc,
                sso_only,
                user,
            })
        })
        .await
}

/// Writes an admin session and sets its cookie.
async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    admin_id: Option<i64>,
    org_user: Option<(i64, String)>,
    email: &str,
) -> HttpResponse {
    let now = state.clock.now();
    let lifetime = time::Duration::minutes(i64::from(state.config.session_lifetime_minutes));
    let (token, hash) = signin::new_secret();
    let (csrf, _) = signin::new_secret();
    let ip = pages::client(req, &state.config).ip;
    let session = AdminSession {
        token_hash: hash,
        admin_id,
        org_id: org_user.as_ref().map(|o| o.0),
        user_id: org_user.map(|o| o.1),
        email: email.to_string(),
        csrf,
        created: timestamp(now),
        expires: timestamp(now + lifetime),
        ip: ip.clone(),
    };
    let entry = AuditEntry {
        org_id: session.org_id,
        at: timestamp(now),
        actor: email.to_string(),
        action: "admin.sign-in".into(),
        target: None,
        detail: Some(
            if admin_id.is_some() {
                "operator, password"
            } else {
                "org admin, password"
            }
            .into(),
        ),
        ip,
    };
    let stamp = timestamp(now);
    let written = state
        .store
        .write(move |c| {
            admin_store::insert_session(c, &session)?;
            if let Some(id) = admin_id {
                admin_store::touch_admin(c, id, &stamp)?;
            }
            admin_store::audit(c, &entry)
        })
        .await;
    match written {
        Ok(()) => with_cookie(state, view::see_other("/admin", None), &token, lifetime),
        Err(e) => view::store_failed(&e),
    }
}

fn with_cookie(
    state: &AppState,
    mut res: HttpResponse,
    token: &str,
    lifetime: time::Duration,
) -> HttpResponse {
    let secs = lifetime.whole_seconds();
    pages::add_cookie(
        &mut res,
        &pages::cookie(COOKIE, token, pages::secure(&state.config), Some(secs)),
    );
    res
}

pub async fn logout(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> HttpResponse {
    #[derive(Deserialize)]
    struct F {}
    if let Err(page) = admin.form::<F>(&body) {
        return page;
    }
    let hash = admin.session.token_hash.clone();
    if let Err(e) = state
        .store
        .write(move |c| admin_store::delete_session(c, &hash))
        .await
    {
        return view::store_failed(&e);
    }
    let mut res = view::see_other("/admin/login", None);
    pages::add_cookie(
        &mut res,
        &pages::cookie(COOKIE, "", pages::secure(&state.config), Some(0)),
    );
    res
}

/// The end of an org admin's SSO sign-in (`Purpose::Admin`) or of a "Test sign-in"
/// (`Purpose::Test`), after the ACS verified the response.
pub async fn finish_signin(
    state: &AppState,
    org: Org,
    identity: Identity,
    saml: Option<SamlUse>,
    row: SigninLog,
    purpose: Purpose,
) -> HttpResponse {
    let reference = row.reference.clone();
    let slug = org.slug.clone();
    match signin::complete(state, org, identity, saml, row, purpose).await {
        Ok(Ok(Outcome::Admin { token })) => {
            let lifetime =
                time::Duration::minutes(i64::from(state.config.session_lifetime_minutes));
            with_cookie(
                state,
                view::see_other(&format!("/admin/orgs/{slug}"), None),
                &token,
                lifetime,
            )
        }
        _ if purpose == Purpose::Test => test_result_redirect(&slug, &reference),
        Ok(Err(_)) => pages::signin_failed(StatusCode::FORBIDDEN, &reference),
        Ok(Ok(_)) => view::internal(),
        Err(e) => view::store_failed(&e),
    }
}

/// Where a test sign-in's outcome is shown to the admin who started it: its sign-in log
/// entry (outcome, exact reason, expected and received values, the hint for the fix).
pub fn test_result_redirect(slug: &str, reference: &str) -> HttpResponse {
    view::see_other(&format!("/admin/orgs/{slug}/signins/{reference}"), None)
}

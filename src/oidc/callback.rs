//! `GET /oidc/callback`: the pending request (known, unexpired, unused, this browser's) is
//! used up first, so the code is exchanged at most once; then Entra's error or the code
//! exchange, the ID token's every check, and the same sign-in rules as SAML.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::identity as person;
use super::idtoken::Verified;
use super::start::{self, CONNECT};
use super::{aadsts_code, aadsts_hint, token};
use crate::clock::timestamp;
use crate::signin::{self, Purpose, Refused};
use crate::state::AppState;
use crate::store::oidc::{self as store, OidcConnection, Pending};
use crate::store::orgs::{self, Org};
use crate::store::signin::SigninLog;
use crate::web::pages;

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    admin_consent: Option<String>,
}

/// The pending request, its org and connection, and the org's domains.
struct Context {
    pending: Pending,
    org: Org,
    conn: OidcConnection,
    domains: Vec<String>,
}

pub async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let q: CallbackQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let now = state.clock.now();
    let client = pages::client(&req, &state.config);
    let mut row = signin::log_row(None, now, &signin::new_reference(), "oidc", &client);
    let Some(st) = q.state.clone().filter(|s| !s.is_empty() && s.len() <= 200) else {
        let r = Refused::new("malformed", "the redirect carries no state parameter");
        return refuse(&state, row, r, None).await;
    };
    let ctx = match load(&state, st.clone()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let r = Refused {
                received: Some(st),
                ..Refused::new("unknown_state", "no sign-in was started with this state")
            };
            return refuse(&state, row, r, None).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "OIDC: store read failed");
            return pages::internal_error();
        }
    };
    row.org_id = Some(ctx.org.id);
    let test = (ctx.pending.purpose == "test").then(|| ctx.org.slug.clone());
    if let Err(r) = use_up(&state, &req, &ctx.pending, now).await {
        return refuse(&state, row, r, test).await;
    }
    if let Some(error) = q.error.as_deref() {
        let desc = q.error_description.clone().unwrap_or_default();
        let code = aadsts_code(&desc);
        let r = Refused {
            received: Some(code.clone().unwrap_or_else(|| error.to_string())),
            ..Refused::new(
                "idp_error",
                format!(
                    "Entra answered {error}: {}. {}",
                    desc.lines().next().unwrap_or(""),
                    code.as_deref().map_or("", aadsts_hint)
                ),
            )
        };
        return refuse(&state, row, r, test).await;
    }
    if ctx.pending.kind == "consent" {
        return after_consent(&state, &req, &ctx, &q, row).await;
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        let r = Refused::new(
            "malformed",
            "the redirect carries neither a code nor an error",
        );
        return refuse(&state, row, r, test).await;
    };
    let id_token = match token::exchange(&state, &ctx.conn, &ctx.pending, &code).await {
        Ok(t) => t,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    let (checks, verified) =
        token::validate(&state, &ctx.org, &ctx.conn, &ctx.pending, &id_token).await;
    if test.is_some() {
        row.report = Some(person::report(&checks, &id_token, None).to_string());
    }
    let verified = match verified {
        Ok(v) => v,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    if ctx.pending.purpose == CONNECT {
        return connect(&state, ctx, verified, row).await;
    }
    let identity = match person::identity_of(&verified, &ctx.domains) {
        Ok(i) => i,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    row.detail = Some(format!(
        "ID token of tenant {} verified (RS256); oid {}",
        verified.tid, verified.oid
    ));
    let purpose = Purpose::parse(&ctx.pending.purpose);
    if purpose == Purpose::Test {
        let resolved = person::resolution(&state, ctx.org.id, identity.oidc.clone()).await;
        row.report = Some(person::report(&checks, &id_token, Some(resolved)).to_string());
    }
    match purpose {
        Purpose::Session => {
            crate::web::finish(&state, ctx.org, identity, None, row, &ctx.pending.return_to).await
        }
        other => crate::admin::finish_signin(&state, ctx.org, identity, None, row, other).await,
    }
}

async fn load(state: &AppState, st: String) -> crate::error::Result<Option<Context>> {
    state
        .store
        .read(move |c| {
            let Some(pending) = store::pending(c, &st)? else {
                return Ok(None);
            };
            let Some(org) = orgs::org_by_id(c, pending.org_id)? else {
                return Ok(None);
            };
            let Some(conn) = store::connection(c, org.id)? else {
                return Ok(None);
            };
            let domains = orgs::domains(c, org.id)?
                .into_iter()
                .map(|d| d.domain)
                .collect();
            Ok(Some(Context {
                pending,
                org,
                conn,
                domains,
            }))
        })
        .await
}

/// Checks the pending request and uses it up: exactly once, unexpired, by the browser that
/// started it.
async fn use_up(
    state: &AppState,
    req: &HttpRequest,
    p: &Pending,
    now: time::OffsetDateTime,
) -> Result<(), Refused> {
    let stamp = timestamp(now);
    if p.used.is_some() {
        return Err(Refused {
            received: p.used.clone().map(|u| format!("used at {u}")),
            ..Refused::new(
                "reused_state",
                "this sign-in was already completed (replay)",
            )
        });
    }
    if p.expires <= stamp {
        return Err(Refused {
            expected: Some(format!("before {}", p.expires)),
            received: Some(stamp),
            ..Refused::new("expired_state", "the sign-in took longer than ten minutes")
        });
    }
    let browser = req
        .cookie(super::BROWSER_COOKIE)
        .map(|c| start::browser_hash(c.value()));
    let same = browser.as_deref().is_some_and(|b| {
        use subtle::ConstantTimeEq as _;
        b.len() == p.browser.len() && bool::from(b.ct_eq(&p.browser))
    });
    if !same {
        return Err(Refused::new(
            "browser_mismatch",
            "the sign-in was started in another browser (or its cookie is missing)",
        ));
    }
    let st = p.state.clone();
    match state
        .store
        .write(move |c| store::consume_pending(c, &st, &stamp))
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refused::new(
            "reused_state",
            "this sign-in was completed by another request at the same time (replay)",
        )),
        Err(e) => {
            tracing::error!(error = %e, "OIDC: cannot use up the pending sign-in");
            Err(Refused::new(
                "internal",
                "a store error; see the server log",
            ))
        }
    }
}

/// The idgate app was consented to: now the one sign-in that proves the tenant.
async fn after_consent(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    q: &CallbackQuery,
    row: SigninLog,
) -> HttpResponse {
    if !q
        .admin_consent
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let r = Refused::new("consent_missing", "Entra did not report admin consent");
        return refuse(state, row, r, None).await;
    }
    start::begin(
        state,
        req,
        &ctx.org,
        &ctx.conn,
        ctx.pending.return_to.clone(),
        CONNECT,
        false,
    )
    .await
}

/// Binds an idgate-app connection to the verified token's tenant (never the consent
/// redirect's `tenant` parameter), one org per tenant.
async fn connect(state: &AppState, ctx: Context, v: Verified, mut row: SigninLog) -> HttpResponse {
    let (org_id, tid, stamp) = (ctx.org.id, v.tid.clone(), timestamp(state.clock.now()));
    row.detail = Some(format!(
        "Connected Microsoft Entra tenant {tid} (verified ID token)"
    ));
    row.success = true;
    row.email = v.upn.clone().or(v.email.clone());
    let bound = state
        .store
        .write(move |c| {
            if !store::bind_tenant(c, org_id, &tid, &stamp)? {
                return Ok(false);
            }
            orgs::audit(
                c,
                Some(org_id),
                &stamp,
                "oidc",
                "oidc.connect",
                Some(&tid),
                None,
            )?;
            crate::store::signin::log_signin(c, &row)?;
            Ok(true)
        })
        .await;
    let back = format!("/admin/orgs/{}/sso", ctx.org.slug);
    match bound {
        Ok(true) => pages::redirect(StatusCode::SEE_OTHER, &back),
        Ok(false) => {
            let r = Refused {
                received: Some(v.tid.clone()),
                ..Refused::new(
                    "tenant_taken",
                    "this Microsoft Entra tenant is already connected to another organization",
                )
            };
            let row = signin::log_row(
                Some(org_id),
                state.clock.now(),
                &signin::new_reference(),
                "oidc",
                &Default::default(),
            );
            refuse(state, row, r, None).await
        }
        Err(e) => {
            tracing::error!(error = %e, "OIDC: cannot bind the tenant");
            pages::internal_error()
        }
    }
}

/// Logs the refusal, then shows "Sign-in failed (reference R)" — or sends the admin of a
/// Test sign-in to its log entry.
async fn refuse(
    state: &AppState,
    row: SigninLog,
    r: Refused,
    test: Option<String>,
) -> HttpResponse {
    let reference = row.reference.clone();
    signin::log_refusal(state, row, &r).await;
    if let Some(slug) = test {
        return crate::admin::test_result_redirect(&slug, &reference);
    }
    let status = if r.reason == "malformed" {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::FORBIDDEN
    };
    pages::signin_failed(status, &reference)
}

//! `GET /oidc/callback`: the pending request (known, unexpired, unused, this browser's) is
//! used up first, so the code is exchanged at most once; then Entra's error or the code
//! exchange, the ID token's every check, and the same sign-in rules as SAML.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::idtoken::{self, Check, Expect, Verified};
use super::jwks::KeyError;
use super::start::{self, CONNECT};
use super::{aadsts_code, aadsts_hint, credential, tenant};
use crate::clock::timestamp;
use crate::identity::normalize_email;
use crate::signin::{self, Identity, Purpose, Refused};
use crate::state::AppState;
use crate::store::oidc::{self as store, Claims, OidcConnection, Pending};
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
    let id_token = match exchange(&state, &ctx, &code).await {
        Ok(t) => t,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    let (checks, verified) = validate(&state, &ctx, &id_token).await;
    if test.is_some() {
        row.report = Some(report(&checks, &id_token, None).to_string());
    }
    let verified = match verified {
        Ok(v) => v,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    if ctx.pending.purpose == CONNECT {
        return connect(&state, ctx, verified, row).await;
    }
    let identity = match identity_of(&verified, &ctx.domains) {
        Ok(i) => i,
        Err(r) => return refuse(&state, row, r, test).await,
    };
    row.detail = Some(format!(
        "ID token of tenant {} verified (RS256); oid {}",
        verified.tid, verified.oid
    ));
    let purpose = Purpose::parse(&ctx.pending.purpose);
    if purpose == Purpose::Test {
        let resolved = resolution(&state, ctx.org.id, identity.oidc.clone()).await;
        row.report = Some(report(&checks, &id_token, Some(resolved)).to_string());
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

/// The code exchange: once, never retried; only the ID token is kept.
async fn exchange(state: &AppState, ctx: &Context, code: &str) -> Result<String, Refused> {
    let failed = |detail: String| Refused::new("token_endpoint_failed", detail);
    let client_id =
        start::client_id(state, &ctx.conn).ok_or_else(|| failed("no client id".into()))?;
    let t = ctx.pending.tenant_id.as_deref().unwrap_or("organizations");
    let endpoint = tenant::endpoints(&state.config.oidc_authority, t).token;
    let redirect = super::redirect_uri(&state.config.public_url);
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.to_string()),
        ("redirect_uri", redirect),
        ("client_id", client_id.clone()),
        ("code_verifier", ctx.pending.verifier.clone()),
    ];
    let cred = client_credential(state, &ctx.conn).map_err(|e| {
        tracing::error!(error = %e, "OIDC: the client credential cannot be used");
        failed(format!("the client credential cannot be used: {e}"))
    })?;
    match cred {
        Credential::Secret(s) => form.push(("client_secret", s)),
        Credential::Certificate { cert, key } => {
            let jwt =
                credential::client_assertion(&client_id, &endpoint, &cert, &key, state.clock.now())
                    .map_err(|e| failed(e.to_string()))?;
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", jwt));
        }
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = state
        .oidc
        .fetcher
        .post_form(&endpoint, &pairs)
        .await
        .map_err(|e| failed(format!("the token endpoint cannot be reached: {e}")))?;
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let desc = json["error_description"].as_str().unwrap_or("");
        let code = aadsts_code(desc);
        return Err(Refused {
            received: Some(code.clone().unwrap_or_else(|| {
                json["error"]
                    .as_str()
                    .map_or(format!("HTTP {status}"), str::to_string)
            })),
            ..Refused::new(
                "token_error",
                format!(
                    "the token endpoint refused the code (HTTP {status}): {}. {}",
                    desc.lines()
                        .next()
                        .unwrap_or(json["error"].as_str().unwrap_or("")),
                    code.as_deref().map_or("", aadsts_hint)
                ),
            )
        });
    }
    json["id_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| failed("the token response has no id_token (scope openid missing?)".into()))
}

enum Credential {
    Secret(String),
    Certificate { cert: String, key: String },
}

fn client_credential(state: &AppState, c: &OidcConnection) -> crate::error::Result<Credential> {
    let open = |b: &Option<Vec<u8>>| -> crate::error::Result<String> {
        let sealed = b
            .as_ref()
            .ok_or_else(|| crate::error::Error::Invalid("no credential stored".into()))?;
        Ok(String::from_utf8_lossy(&state.sealer.open(sealed)?).into_owned())
    };
    match c.credential.as_str() {
        "secret" => Ok(Credential::Secret(open(&c.secret)?)),
        "certificate" => Ok(Credential::Certificate {
            cert: c.certificate.clone().unwrap_or_default(),
            key: open(&c.private_key)?,
        }),
        _ => {
            let app =
                state.config.oidc_app.as_ref().ok_or_else(|| {
                    crate::error::Error::Invalid("oidc_app is not configured".into())
                })?;
            Ok(
                match (
                    &app.client_secret,
                    &app.certificate_pem,
                    &app.private_key_pem,
                ) {
                    (Some(s), _, _) => Credential::Secret(s.clone()),
                    (None, Some(cert), Some(key)) => Credential::Certificate {
                        cert: cert.clone(),
                        key: key.clone(),
                    },
                    _ => {
                        return Err(crate::error::Error::Invalid(
                            "oidc_app has no credential".into(),
                        ));
                    }
                },
            )
        }
    }
}

/// Every check of the ID token, in order; the first failure is the refusal.
async fn validate(
    state: &AppState,
    ctx: &Context,
    token: &str,
) -> (Vec<Check>, Result<Verified, Refused>) {
    let refused = |f: idtoken::Failure| Refused {
        reason: f.reason,
        detail: f.detail,
        expected: f.expected,
        received: f.received,
    };
    let t = match idtoken::inspect(token) {
        Ok(t) => t,
        Err(f) => return (Vec::new(), Err(refused(f))),
    };
    let connecting = ctx.pending.purpose == CONNECT;
    let bound = ctx.conn.tenant_id.clone().filter(|_| !connecting);
    // The key set: the org's tenant, or (Connect) the token's own GUID `tid` — a fixed host
    // and a GUID either way; the issuer check then ties the token to that tenant.
    let Some(key_tenant) = bound.clone().or_else(|| t.tid()) else {
        let r = Refused::new("wrong_issuer", "the ID token has no tenant (tid) GUID");
        return (Vec::new(), Err(r));
    };
    let now = state.clock.now();
    let key = match state
        .oidc
        .jwks
        .key(&state.oidc.fetcher, &key_tenant, &t.kid, now)
        .await
    {
        Ok(k) => k,
        Err(KeyError::Unknown { refreshed }) => {
            let r = Refused {
                received: Some(t.kid.clone()),
                ..Refused::new(
                    "unknown_kid",
                    if refreshed {
                        "the ID token's key is not in the tenant's key set, also after a refresh"
                    } else {
                        "the ID token's key is not in the tenant's key set (refreshed recently; not again yet)"
                    },
                )
            };
            return (Vec::new(), Err(r));
        }
        Err(KeyError::Fetch(e)) => {
            let r = Refused::new(
                "keys_unavailable",
                format!("the tenant's signing keys cannot be fetched: {e}"),
            );
            return (Vec::new(), Err(r));
        }
    };
    let sig = Check {
        name: "signature".into(),
        ok: true,
        expected: "RS256 by a key of the tenant".into(),
        received: format!("kid {}", t.kid),
    };
    if let Err(f) = idtoken::verify_signature(&t, &key) {
        return (vec![Check { ok: false, ..sig }], Err(refused(f)));
    }
    let client_id = start::client_id(state, &ctx.conn).unwrap_or_default();
    let expect = Expect {
        authority: &state.config.oidc_authority,
        tenant: bound.as_deref(),
        client_id: &client_id,
        nonce: &ctx.pending.nonce,
        skew_secs: ctx.org.clock_skew_secs.max(0),
        now,
    };
    let (mut checks, verified) = idtoken::check_claims(&t.claims, &expect);
    checks.insert(0, sig);
    (checks, verified.map_err(refused))
}

/// The person a verified token names. The session's email: the email when Entra calls it
/// verified, else a member's upn, else the email claim; it must be in the org's domains.
/// Only the verified email and the member upn may ever link an account.
pub fn identity_of(v: &Verified, domains: &[String]) -> Result<Identity, Refused> {
    let in_domains = |e: &str| {
        let d = e.rsplit_once('@').map_or("", |(_, d)| d);
        domains.iter().any(|x| x == d)
    };
    let verified_email = v
        .email
        .as_deref()
        .filter(|_| v.email_verified)
        .and_then(normalize_email)
        .filter(|e| in_domains(e));
    let member_upn = v
        .upn
        .as_deref()
        .filter(|_| !v.guest)
        .and_then(normalize_email);
    let email = verified_email
        .clone()
        .or_else(|| member_upn.clone().filter(|u| in_domains(u)))
        .or_else(|| v.email.as_deref().and_then(normalize_email))
        .or_else(|| v.preferred_username.as_deref().and_then(normalize_email));
    let Some(email) = email else {
        return Err(Refused::new(
            "no_email",
            "the ID token carries no email, upn or preferred_username that is an email address \
             (add the optional claims email and upn in Entra's Token configuration)",
        ));
    };
    if !in_domains(&email) {
        return Err(Refused {
            expected: Some(domains.join(", ")),
            received: Some(email),
            ..Refused::new(
                "email_outside_domains",
                "the email is not in one of this organization's domains",
            )
        });
    }
    Ok(Identity {
        email,
        object_id: Some(v.oid.clone()),
        role_claim: v.roles.first().cloned(),
        given_name: v.given_name.clone(),
        surname: v.family_name.clone(),
        display_name: v.name.clone(),
        oidc: Some(Claims {
            tenant_id: v.tid.clone(),
            object_id: v.oid.clone(),
            member_upn,
            verified_email,
        }),
    })
}

/// For a Test sign-in: which user the token would reach, and by which rule.
async fn resolution(state: &AppState, org_id: i64, claims: Option<Claims>) -> Value {
    let Some(claims) = claims else {
        return Value::Null;
    };
    let oid = claims.object_id.clone();
    let found = state
        .store
        .read(move |c| store::find_user(c, org_id, &claims))
        .await;
    use crate::store::oidc::Match;
    match found {
        Ok(Match::Found(u, rule)) => json!({
            "user": u.user_name, "user_id": u.id, "rule": rule,
            "external_id": u.external_id,
            "external_id_matches": u.external_id.as_deref() == Some(oid.as_str()),
            "fix": (u.external_id.as_deref() != Some(oid.as_str())).then_some(
                "In Entra's provisioning Attribute Mapping, map objectId to externalId so that \
                 provisioned users and sign-ins meet by the object ID."),
        }),
        Ok(Match::LinkedElsewhere(u, other)) => {
            json!({"user": u.user_name, "rule": "refused: linked to another account", "linked_to": other})
        }
        Ok(Match::Ambiguous(n)) => json!({"rule": format!("refused: {n} users match")}),
        Ok(Match::NotFound) => {
            json!({"rule": "no user matches (just-in-time creation applies when on)"})
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// The Test sign-in report: each check, the decoded claims, the resolution.
fn report(checks: &[Check], token: &str, resolved: Option<Value>) -> Value {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    json!({"checks": checks, "claims": claims, "resolution": resolved})
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

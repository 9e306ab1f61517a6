//! SSO setup for Microsoft Entra over OpenID Connect: the OIDC card of the SSO page, the
//! customer-app form (tenant, client ID, a client secret's Value or a generated
//! certificate), "Connect Microsoft Entra" (the idgate app), the SAML/OIDC switch, the
//! certificate download and the OIDC Test sign-in. The rules are `oidc::setup`'s, as for
//! `idgate org oidc` and `idgate org sso`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::auth::Admin;
use super::sso::{Flash, render_with};
use super::view::{self, Nav, or_page};
use crate::oidc::{self, setup, start};
use crate::state::AppState;
use crate::store::admin::{self as admin_store, AuditEntry};
use crate::store::oidc::{self as store, OidcConnection};
use crate::store::orgs::Org;
use crate::store::saml as idp_store;
use crate::store::signin::{self as signin_store, SigninLog};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orgs/{slug}/sso/protocol", web::post().to(switch))
        .route("/admin/orgs/{slug}/sso/oidc", web::post().to(save))
        .route(
            "/admin/orgs/{slug}/sso/oidc/connect",
            web::post().to(connect),
        )
        .route("/admin/orgs/{slug}/sso/oidc/test", web::post().to(test))
        .route(
            "/admin/orgs/{slug}/sso/oidc/certificate.cer",
            web::get().to(certificate),
        );
}

/// How far back the SSO page looks for the last OIDC Test sign-in.
const LAST_TEST_WINDOW: usize = 200;

/// The OIDC connection as the SSO page shows it (never a secret).
pub struct ConnView {
    pub idgate_app: bool,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// `secret`, `certificate` or `app`.
    pub credential: String,
    pub expires: Option<String>,
    /// The warning from 30 days before the credential expires.
    pub expiry_warning: Option<String>,
    pub updated: String,
    /// Why a sign-in cannot start with it yet.
    pub not_ready: Option<&'static str>,
}

/// What the customer-app form shows (prefilled; never the secret).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct CustomerForm {
    pub tenant: String,
    pub client_id: String,
    /// `secret`, `certificate` (keep the current one, or generate one) or `new_certificate`.
    pub credential: String,
    pub client_secret: String,
    pub secret_expires: String,
}

/// The OIDC part of the SSO page.
pub struct OidcCard {
    /// The org signs in through OIDC (else SAML).
    pub active: bool,
    pub conn: Option<ConnView>,
    pub links: i64,
    pub last_test: Option<SigninLog>,
    /// The operator configured the idgate app (`oidc_app_client_id`).
    pub app_configured: bool,
    pub redirect_uri: String,
    pub form: CustomerForm,
    /// After a save: what the admin should look at (e.g. a Secret ID pasted as the secret).
    pub warnings: Vec<String>,
    /// After generating a certificate: its PEM, to upload in Entra.
    pub new_certificate: Option<String>,
}

/// What the SSO page reads for OIDC.
pub struct Loaded {
    pub conn: Option<OidcConnection>,
    pub links: i64,
    pub last_test: Option<SigninLog>,
}

pub fn load(c: &crate::store::db::Conn, org_id: i64) -> crate::error::Result<Loaded> {
    let last_test = signin_store::recent_signins(c, org_id, LAST_TEST_WINDOW)?
        .into_iter()
        .find(|r| r.method == "oidc" && r.report.is_some());
    Ok(Loaded {
        conn: store::connection(c, org_id)?,
        links: store::link_count(c, org_id)?,
        last_test,
    })
}

fn expiry_warning(c: &OidcConnection, now: time::OffsetDateTime) -> Option<String> {
    let what = if c.credential == "certificate" {
        "certificate"
    } else {
        "client secret"
    };
    match setup::days_left(c, now)? {
        d if d < 0 => Some(format!(
            "The {what} expired {} days ago: sign-in fails until you replace it.",
            -d
        )),
        d if d <= 30 => Some(format!(
            "The {what} expires in {d} days: replace it in Entra and here before then."
        )),
        _ => None,
    }
}

pub fn card(state: &AppState, l: Loaded, flash: Flash) -> OidcCard {
    let now = state.clock.now();
    let form = flash.form.unwrap_or_else(|| CustomerForm {
        tenant: l
            .conn
            .as_ref()
            .and_then(|c| c.tenant_id.clone())
            .unwrap_or_default(),
        client_id: l
            .conn
            .as_ref()
            .and_then(|c| c.client_id.clone())
            .unwrap_or_default(),
        credential: l
            .conn
            .as_ref()
            .filter(|c| c.mode == "customer")
            .map_or("secret".into(), |c| c.credential.clone()),
        client_secret: String::new(),
        secret_expires: l
            .conn
            .as_ref()
            .filter(|c| c.credential == "secret")
            .and_then(|c| c.secret_expires.clone())
            .unwrap_or_default(),
    });
    OidcCard {
        active: l.conn.as_ref().is_some_and(|c| c.active),
        conn: l.conn.as_ref().map(|c| ConnView {
            idgate_app: c.mode == "idgate_app",
            tenant: c.tenant_id.clone(),
            client_id: start::client_id(state, c),
            credential: c.credential.clone(),
            expires: c.secret_expires.clone(),
            expiry_warning: expiry_warning(c, now),
            updated: c.updated.clone(),
            not_ready: start::not_ready(state, c, "test"),
        }),
        links: l.links,
        last_test: l.last_test,
        app_configured: state.config.oidc_app.is_some(),
        redirect_uri: oidc::redirect_uri(&state.config.public_url),
        form,
        warnings: flash.warnings,
        new_certificate: flash.certificate,
    }
}

/// The org's connection, and whether it has a SAML IdP that signs people in today.
async fn current(
    state: &AppState,
    org_id: i64,
) -> crate::error::Result<(Option<OidcConnection>, bool)> {
    state
        .store
        .read(move |c| {
            let saml = idp_store::idp(c, org_id)?.is_some_and(|i| !i.certificates.is_empty());
            Ok((store::connection(c, org_id)?, saml))
        })
        .await
}

/// Whether a new or changed connection is the one the org signs in with: as it was, and
/// for a first connection only when SAML is not set up (saving never switches an org away
/// from a working SAML sign-in; Test first, then switch).
fn keeps_active(existing: Option<&OidcConnection>, saml: bool) -> bool {
    existing.map_or(!saml, |e| e.active)
}

/// The connection to save from the form, with warnings and a new certificate.
async fn prepare(
    state: &AppState,
    org: &Org,
    f: &CustomerForm,
    existing: Option<&OidcConnection>,
) -> Result<setup::Prepared, String> {
    let tenant_id = setup::resolve_tenant(&state.oidc.fetcher, &f.tenant).await?;
    let customer = existing.filter(|e| e.mode == "customer");
    let current = customer.map(|e| e.credential.as_str());
    let secret = match f.credential.as_str() {
        "new_certificate" => setup::Secret::NewCertificate,
        "certificate" if current == Some("certificate") => setup::Secret::Keep,
        "certificate" => setup::Secret::NewCertificate,
        _ if !f.client_secret.trim().is_empty() => {
            setup::Secret::Value(f.client_secret.trim().to_string())
        }
        _ if current == Some("secret") => setup::Secret::Keep,
        _ => {
            return Err(
                "paste the client secret's Value (Entra: Certificates & secrets), \
                        or choose the certificate credential"
                    .into(),
            );
        }
    };
    let input = setup::Customer {
        tenant_id,
        client_id: f.client_id.clone(),
        secret,
        secret_expires: setup::parse_expiry(&f.secret_expires)?,
    };
    setup::customer(
        org.id,
        &org.slug,
        input,
        existing,
        &state.sealer,
        state.clock.now(),
    )
}

/// Saves a connection with its audit row. `Ok(false)`: the tenant belongs to another org.
async fn write(
    state: &AppState,
    conn: OidcConnection,
    entry: AuditEntry,
) -> crate::error::Result<bool> {
    state
        .store
        .write(move |c| {
            if !store::save(c, &conn)? {
                return Ok(false);
            }
            admin_store::audit(c, &entry)?;
            Ok(true)
        })
        .await
}

fn sso_nav(admin: &Admin, org: &Org) -> Nav {
    Nav::new(admin, Some(org), "sso")
}

async fn refuse(
    state: &AppState,
    admin: &Admin,
    org: Org,
    e: String,
    f: CustomerForm,
) -> HttpResponse {
    let nav = sso_nav(admin, &org).error(format!("Not saved, nothing was changed: {e}."));
    let flash = Flash {
        form: Some(CustomerForm {
            client_secret: String::new(),
            ..f
        }),
        ..Flash::default()
    };
    render_with(state, org, nav, StatusCode::UNPROCESSABLE_ENTITY, flash).await
}

/// `POST …/sso/oidc`: the customer-app form.
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, CustomerForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let (existing, saml) = match current(&state, org.id).await {
        Ok(v) => v,
        Err(e) => return view::store_failed(&e),
    };
    let mut p = match prepare(&state, &org, &form, existing.as_ref()).await {
        Ok(p) => p,
        Err(e) => return refuse(&state, &admin, org, e, form).await,
    };
    p.connection.active = keeps_active(existing.as_ref(), saml);
    let c = &p.connection;
    let detail = format!(
        "tenant {}; client {}; credential {}",
        c.tenant_id.as_deref().unwrap_or("-"),
        c.client_id.as_deref().unwrap_or("-"),
        c.credential
    );
    let entry = admin.audit(
        &state,
        Some(org.id),
        "oidc.configure",
        Some(&c.mode),
        Some(detail),
    );
    match write(&state, p.connection, entry).await {
        Ok(true) if p.warnings.is_empty() && p.certificate_pem.is_none() => {
            view::see_other(&format!("/admin/orgs/{}/sso", org.slug), Some("oidc-saved"))
        }
        Ok(true) => {
            let mut nav = sso_nav(&admin, &org);
            nav.notice = Some("Microsoft Entra connection saved.".into());
            let flash = Flash {
                form: None,
                warnings: p.warnings,
                certificate: p.certificate_pem,
            };
            render_with(&state, org, nav, StatusCode::OK, flash).await
        }
        Ok(false) => {
            let e = "that tenant is already connected to another organization".to_string();
            refuse(&state, &admin, org, e, form).await
        }
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct Empty {}

/// `POST …/sso/oidc/connect`: the idgate app; Entra's admin consent, then one sign-in that
/// binds the tenant of the verified ID token (the callback brings the admin back).
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, _): (Org, Empty) = or_page!(admin.org_form(&state, &slug, &body).await);
    if state.config.oidc_app.is_none() {
        let nav = sso_nav(&admin, &org).error(
            "Connect Microsoft Entra is not available: this server has no idgate Microsoft app \
             (the operator sets oidc_app_client_id and a secret or certificate in gateway.toml). \
             Use your own Entra app below instead.",
        );
        return render_with(
            &state,
            org,
            nav,
            StatusCode::UNPROCESSABLE_ENTITY,
            Flash::default(),
        )
        .await;
    }
    let (existing, saml) = match current(&state, org.id).await {
        Ok(v) => v,
        Err(e) => return view::store_failed(&e),
    };
    let conn = match existing {
        Some(e) if e.mode == "idgate_app" => e,
        other => {
            let mut c = setup::idgate_app(org.id, other.as_ref(), state.clock.now());
            c.active = keeps_active(other.as_ref(), saml);
            let entry = admin.audit(
                &state,
                Some(org.id),
                "oidc.configure",
                Some("idgate_app"),
                None,
            );
            match write(&state, c.clone(), entry).await {
                Ok(_) => c,
                Err(e) => return view::store_failed(&e),
            }
        }
    };
    let back = format!("/admin/orgs/{}/sso", org.slug);
    start::begin(&state, &req, &org, &conn, back, start::CONNECT, true).await
}

/// Starts an OIDC Test sign-in: the real flow, no session, no link; the outcome (checks,
/// claims, resolution) is shown on its sign-in log entry.
pub async fn start_test(
    state: &AppState,
    req: &HttpRequest,
    admin: &Admin,
    org: Org,
) -> HttpResponse {
    let id = org.id;
    let conn = match state.store.read(move |c| store::connection(c, id)).await {
        Ok(c) => c,
        Err(e) => return view::store_failed(&e),
    };
    let why = match &conn {
        None => Some("Set up the Microsoft Entra connection first: there is nothing to test."),
        Some(c) => start::not_ready(state, c, "test"),
    };
    match (conn, why) {
        (Some(c), None) => {
            let back = format!("/admin/orgs/{}/sso", org.slug);
            start::begin(state, req, &org, &c, back, "test", false).await
        }
        (_, why) => {
            let nav = sso_nav(admin, &org).error(why.unwrap_or_default());
            render_with(
                state,
                org,
                nav,
                StatusCode::UNPROCESSABLE_ENTITY,
                Flash::default(),
            )
            .await
        }
    }
}

/// `POST …/sso/oidc/test`.
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, _): (Org, Empty) = or_page!(admin.org_form(&state, &slug, &body).await);
    start_test(&state, &req, &admin, org).await
}

#[derive(Deserialize)]
struct SwitchForm {
    #[serde(default)]
    protocol: String,
}

/// `POST …/sso/protocol`: SAML or OIDC (the users are kept: Entra's SAML objectidentifier
/// and the OIDC oid are the same object ID).
pub async fn switch(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, f): (Org, SwitchForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let oidc = match f.protocol.as_str() {
        "oidc" => true,
        "saml" => false,
        _ => return view::not_found(),
    };
    let refusal = match current(&state, org.id).await {
        Ok((None, _)) if oidc => Some("set up the Microsoft Entra connection first"),
        Ok((Some(c), _)) if oidc => start::not_ready(&state, &c, "session"),
        Ok(_) => None,
        Err(e) => return view::store_failed(&e),
    };
    if let Some(why) = refusal {
        let nav = sso_nav(&admin, &org).error(format!("Still signing in with SAML: {why}"));
        return render_with(
            &state,
            org,
            nav,
            StatusCode::UNPROCESSABLE_ENTITY,
            Flash::default(),
        )
        .await;
    }
    let name = if oidc { "oidc" } else { "saml" };
    let entry = admin.audit(&state, Some(org.id), "sso.protocol", Some(name), None);
    let (id, stamp) = (org.id, entry.at.clone());
    let done = state
        .store
        .write(move |c| {
            store::set_active(c, id, oidc, &stamp)?;
            admin_store::audit(c, &entry)
        })
        .await;
    match done {
        Ok(()) => view::see_other(
            &format!("/admin/orgs/{}/sso", org.slug),
            Some(if oidc {
                "protocol-oidc"
            } else {
                "protocol-saml"
            }),
        ),
        Err(e) => view::store_failed(&e),
    }
}

/// `GET …/sso/oidc/certificate.cer`: the certificate idgate generated (PEM), to upload in
/// Entra's Certificates & secrets. Public material; the private key never leaves.
pub async fn certificate(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let id = org.id;
    let pem = match state.store.read(move |c| store::connection(c, id)).await {
        Ok(c) => c
            .filter(|c| c.mode == "customer" && c.credential == "certificate")
            .and_then(|c| c.certificate),
        Err(e) => return view::store_failed(&e),
    };
    let Some(pem) = pem else {
        return view::not_found();
    };
    HttpResponse::Ok()
        .content_type("application/x-x509-ca-cert")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"idgate-{}.cer\"", org.slug),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(pem)
}

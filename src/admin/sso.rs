//! SSO setup, in Entra's order: the values to paste into Entra, the Federation Metadata XML
//! upload (file or paste) with its summary, domains with SSO-only, the sign-in switches,
//! and "Test sign-in"; next to it Microsoft Entra over OIDC (`super::oidc`) and the switch
//! between the two.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt as _;
use serde::Deserialize;

use super::auth::Admin;
use super::oidc::{self, CustomerForm, OidcCard};
use super::orgs::{OrgRow, row};
use super::view::or_page;
use super::view::{self, DoneQuery, Nav};
use crate::clock::timestamp;
use crate::events::{OrgWrite, Source};
use crate::saml::metadata::{self, MAX_METADATA_BYTES};
use crate::signin::Purpose;
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::orgs::{Org, SettingsChange};
use crate::store::saml::{self as idp_store, IdpRecord};

/// A certificate as the page shows it.
pub struct CertView {
    pub fingerprint: String,
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
    /// `valid`, `expires soon`, `expired`, `not yet valid`.
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "admin/sso.html")]
struct SsoPage {
    nav: Nav,
    row: OrgRow,
    entity_id: String,
    acs_url: String,
    sign_on_url: String,
    attributes: super::sso_attributes::AttributesCard,
    idp: Option<IdpRecord>,
    certs: Vec<CertView>,
    none_valid: bool,
    oidc: OidcCard,
    metadata_url: Option<super::sso_metadata_url::UrlView>,
    sp_keys: super::sso_sp_keys::SpKeysCard,
}

/// What a POST shows on the page it answers with: the form as typed (after an error), the
/// warnings of a save, a certificate just generated.
#[derive(Default)]
pub struct Flash {
    pub form: Option<CustomerForm>,
    pub warnings: Vec<String>,
    pub certificate: Option<String>,
}

fn status(c: &idp_store::CertRecord, now: &str, soon: &str) -> &'static str {
    if c.not_after.as_str() < now {
        "expired"
    } else if c.not_before.as_str() > now {
        "not yet valid"
    } else if c.not_after.as_str() < soon {
        "expires soon"
    } else {
        "valid"
    }
}

async fn render(
    state: &AppState,
    admin: &Admin,
    org: Org,
    nav: Nav,
    code: StatusCode,
) -> HttpResponse {
    let _ = admin;
    render_with(state, org, nav, code, Flash::default()).await
}

pub async fn render_with(
    state: &AppState,
    org: Org,
    nav: Nav,
    code: StatusCode,
    flash: Flash,
) -> HttpResponse {
    let id = org.id;
    let found = state
        .store
        .read(move |c| {
            Ok((
                row(c, org)?,
                idp_store::idp(c, id)?,
                oidc::load(c, id)?,
                super::sso_metadata_url::load(c, id)?,
            ))
        })
        .await;
    let (row, idp, loaded, metadata_url) = match found {
        Ok(v) => v,
        Err(e) => return view::store_failed(&e),
    };
    let now = state.clock.now();
    let (stamp, soon) = (timestamp(now), timestamp(now + time::Duration::days(30)));
    let certs: Vec<CertView> = idp
        .iter()
        .flat_map(|i| i.certificates.iter())
        .map(|c| CertView {
            fingerprint: c.fingerprint.clone(),
            subject: c.subject.clone(),
            not_before: c.not_before.get(..10).unwrap_or_default().to_string(),
            not_after: c.not_after.get(..10).unwrap_or_default().to_string(),
            status: status(c, &stamp, &soon),
        })
        .collect();
    let sp = crate::saml::sp_settings(&state.config.public_url, &row.org);
    let attributes = match state
        .store
        .read(move |c| crate::store::saml_attributes::get(c, id))
        .await
    {
        Ok(map) => super::sso_attributes::card(&map),
        Err(e) => return view::store_failed(&e),
    };
    let sp_keys = match state
        .store
        .read(move |c| super::sso_sp_keys::load(c, id, now))
        .await
    {
        Ok(card) => card,
        Err(e) => return view::store_failed(&e),
    };
    view::page(
        code,
        &SsoPage {
            nav,
            sp_keys,
            attributes,
            none_valid: !certs.is_empty()
                && certs
                    .iter()
                    .all(|c| c.status == "expired" || c.status == "not yet valid"),
            sign_on_url: format!("{}/saml/{}/login", state.config.public_url, row.org.slug),
            entity_id: sp.entity_id,
            acs_url: sp.acs_url,
            row,
            idp,
            certs,
            oidc: oidc::card(state, loaded, flash),
            metadata_url,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    q: DoneQuery,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let nav = Nav::new(&admin, Some(&org), "sso").done(q.done.as_deref());
    render(&state, &admin, org, nav, StatusCode::OK).await
}

/// The upload: `metadata_file` (a file) or `metadata_text` (pasted XML), and `csrf`.
async fn read_upload(mut form: Multipart) -> Result<(String, Vec<u8>), String> {
    let (mut csrf, mut file, mut text) = (String::new(), Vec::new(), Vec::new());
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| format!("the upload could not be read: {e}"))?;
        let name = field.name().unwrap_or_default().to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| format!("the upload could not be read: {e}"))?;
            if data.len() + chunk.len() > MAX_METADATA_BYTES + 1024 {
                return Err(format!(
                    "the file is larger than {} KiB",
                    MAX_METADATA_BYTES / 1024
                ));
            }
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&data).into_owned(),
            "metadata_file" => file = data,
            "metadata_text" => text = data,
            _ => {}
        }
    }
    let xml = if file.iter().any(|b| !b.is_ascii_whitespace()) {
        file
    } else {
        text
    };
    Ok((csrf, xml))
}

pub async fn upload(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    form: Multipart,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let nav = Nav::new(&admin, Some(&org), "sso");
    let (csrf, xml) = match read_upload(form).await {
        Ok(v) => v,
        Err(e) => return render(&state, &admin, org, nav.error(e), StatusCode::BAD_REQUEST).await,
    };
    if !admin.csrf_ok(&csrf) {
        return super::auth::csrf_refused();
    }
    if xml.iter().all(u8::is_ascii_whitespace) {
        let e = "Choose the Federation Metadata XML file you downloaded from Entra, or paste its contents.";
        return render(
            &state,
            &admin,
            org,
            nav.error(e),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let now = state.clock.now();
    let idp = match metadata::parse_metadata(&xml, now) {
        Ok((idp, _warnings)) => idp,
        Err(e) => {
            let msg = format!(
                "This file was not loaded, and the current configuration is unchanged: {e}."
            );
            return render(
                &state,
                &admin,
                org,
                nav.error(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let record = crate::saml::idp_record(&idp, "metadata", &timestamp(now));
    let detail = format!(
        "IdP {}; certificates {}",
        record.entity_id,
        record
            .certificates
            .iter()
            .map(|c| c.fingerprint.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml.metadata",
        Some(&org.slug),
        Some(detail),
    );
    let id = org.id;
    match state
        .store
        .write(move |c| {
            let write = OrgWrite::begin(c, id, Source::admin(&entry.actor), &entry.at)?;
            idp_store::set_idp(c, id, &record)?;
            admin_store::audit(c, &entry)?;
            write.finish()
        })
        .await
    {
        Ok(()) => view::see_other(&format!("/admin/orgs/{}/sso", org.slug), Some("metadata")),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct SettingsForm {
    idp_initiated: Option<String>,
    jit: Option<String>,
    clock_skew: Option<String>,
}

pub async fn settings(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, SettingsForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let skew = match form
        .clock_skew
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(v) if (0..=900).contains(&v) => Some(v),
            _ => {
                let nav = Nav::new(&admin, Some(&org), "sso")
                    .error("The clock skew must be 0 to 900 seconds.");
                return render(&state, &admin, org, nav, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
    };
    let change = SettingsChange {
        idp_initiated: Some(form.idp_initiated.is_some()),
        jit: Some(form.jit.is_some()),
        clock_skew_secs: skew,
        ..Default::default()
    };
    let detail = format!(
        "idp_initiated={} jit={} clock_skew={}",
        form.idp_initiated.is_some(),
        form.jit.is_some(),
        skew.unwrap_or(org.clock_skew_secs)
    );
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml.settings",
        Some(&org.slug),
        Some(detail),
    );
    super::write_settings(
        &state,
        &org,
        change,
        entry,
        &format!("/admin/orgs/{}/sso", org.slug),
    )
    .await
}

/// "Test sign-in": an SP-initiated sign-in whose outcome comes back to this admin (the
/// sign-in log entry, with the exact reason on failure); no session is issued. Over OIDC
/// when that is the org's active connection.
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    #[derive(Deserialize)]
    struct F {}
    if let Err(page) = admin.form::<F>(&body) {
        return page;
    }
    let id = org.id;
    let found = state
        .store
        .read(move |c| {
            Ok((
                crate::store::oidc::is_active(c, id)?,
                idp_store::idp(c, id)?,
            ))
        })
        .await;
    let idp = match found {
        Ok((true, _)) => return oidc::start_test(&state, &req, &admin, org).await,
        Ok((false, Some(i))) if !i.certificates.is_empty() => i,
        Ok(_) => {
            let nav = Nav::new(&admin, Some(&org), "sso")
                .error("Upload the Federation Metadata XML first: there is no IdP to test.");
            return render(&state, &admin, org, nav, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(e) => return view::store_failed(&e),
    };
    let back = format!("/admin/orgs/{}/sso", org.slug);
    crate::saml::start_signin(&state, &org, &idp, back, Purpose::Test).await
}

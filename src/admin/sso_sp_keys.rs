//! The SSO page's "SP certificates" card: the switches for signed AuthnRequests and
//! encrypted assertions, the org's SP
//! key pairs with their expiry, the certificate download for Entra's upload, and rotation
//! (the replaced key stays live for the grace period). Same rules as `idgate org set
//! --sign-requests` and `idgate org saml-keys`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::auth::Admin;
use super::view::{self, or_page};
use crate::clock::timestamp;
use crate::saml::sp_keys as keys;
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::sp_keys::{self as store, KeyUse, SpKey};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orgs/{slug}/sso/sp-keys", web::post().to(switches))
        .route(
            "/admin/orgs/{slug}/sso/sp-keys/rotate",
            web::post().to(rotate),
        )
        .route(
            "/admin/orgs/{slug}/sso/sp-keys/{id}/certificate.cer",
            web::get().to(certificate),
        );
}

/// One live key as the page shows it.
pub struct KeyView {
    pub id: i64,
    pub key_use: &'static str,
    pub fingerprint: String,
    pub not_after: String,
    /// `valid`, `expires soon`, `expired`, `not yet valid`.
    pub status: &'static str,
    /// `None` for the current key; else the day its grace period ends.
    pub retire_after: Option<String>,
    /// The signing key that signs requests now (the oldest live one).
    pub signs: bool,
}

/// What the SSO page shows of the org's SP keys.
pub struct SpKeysCard {
    pub sign_requests: bool,
    pub encrypt_assertions: bool,
    pub keys: Vec<KeyView>,
    pub grace_days: i64,
}

/// The card, read at `now`.
pub fn load(
    conn: &crate::store::db::Conn,
    org_id: i64,
    now: time::OffsetDateTime,
) -> crate::error::Result<SpKeysCard> {
    let stamp = timestamp(now);
    let mut live: Vec<SpKey> = Vec::new();
    for u in KeyUse::ALL {
        live.extend(store::live_keys(conn, org_id, u, &stamp)?);
    }
    let options = store::options(conn, org_id)?;
    let signer = keys::signing_key(
        live.iter()
            .filter(|k| k.key_use == KeyUse::Signing)
            .cloned()
            .collect(),
    )
    .map(|k| k.id);
    let day = |s: &str| s.get(..10).unwrap_or_default().to_string();
    Ok(SpKeysCard {
        sign_requests: options.sign_requests,
        encrypt_assertions: options.encrypt_assertions,
        keys: live
            .iter()
            .map(|k| KeyView {
                id: k.id,
                key_use: k.key_use.as_str(),
                fingerprint: k.fingerprint.clone(),
                not_after: day(&k.not_after),
                status: keys::status(k, now),
                retire_after: k.retire_after.as_deref().map(day),
                signs: Some(k.id) == signer,
            })
            .collect(),
        grace_days: keys::DEFAULT_GRACE_DAYS,
    })
}

#[derive(Deserialize)]
struct SwitchForm {
    sign_requests: Option<String>,
    encrypt_assertions: Option<String>,
}

async fn switches(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (_, SwitchForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let sign = form.sign_requests.is_some();
    let encrypt = form.encrypt_assertions.is_some();
    let now = state.clock.now();
    let mut fresh = Vec::new();
    for (on, u) in [(sign, KeyUse::Signing), (encrypt, KeyUse::Encryption)] {
        if on {
            match keys::generate(&state.sealer, &org.slug, u, now) {
                Ok(k) => fresh.push(k),
                Err(e) => return view::store_failed(&e),
            }
        }
    }
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml-keys.options",
        Some(&org.slug),
        Some(format!("sign_requests={sign} encrypt_assertions={encrypt}")),
    );
    let id = org.id;
    match state
        .store
        .write(move |c| {
            for k in &fresh {
                keys::ensure(c, id, k, now)?;
            }
            store::set_options(c, id, Some(sign), Some(encrypt))?;
            admin_store::audit(c, &entry)
        })
        .await
    {
        Ok(()) => view::see_other(&format!("/admin/orgs/{}/sso", org.slug), Some("saved")),
        Err(e) => view::store_failed(&e),
    }
}

#[derive(Deserialize)]
struct RotateForm {
    key_use: String,
}

async fn rotate(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (_, RotateForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let Some(key_use) = KeyUse::parse(&form.key_use) else {
        let nav = view::Nav::new(&admin, Some(&org), "sso")
            .error("Choose the signing or the encryption key to rotate.");
        let code = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
        return super::sso::render_with(&state, org, nav, code, Default::default()).await;
    };
    let now = state.clock.now();
    let fresh = match keys::generate(&state.sealer, &org.slug, key_use, now) {
        Ok(k) => k,
        Err(e) => return view::store_failed(&e),
    };
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml-keys.rotate",
        Some(key_use.as_str()),
        Some(format!(
            "{} (grace {} days)",
            fresh.fingerprint,
            keys::DEFAULT_GRACE_DAYS
        )),
    );
    let id = org.id;
    match state
        .store
        .write(move |c| {
            keys::rotate(c, id, &fresh, now, keys::DEFAULT_GRACE_DAYS)?;
            admin_store::audit(c, &entry)
        })
        .await
    {
        Ok(()) => view::see_other(&format!("/admin/orgs/{}/sso", org.slug), Some("saved")),
        Err(e) => view::store_failed(&e),
    }
}

/// The certificate of one of the org's live keys, as Entra's ".cer (Base64)".
async fn certificate(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let org = or_page!(admin.org(&state, &slug).await);
    let Ok(id) = id.parse::<i64>() else {
        return view::not_found();
    };
    let org_id = org.id;
    let key = match state
        .store
        .read(move |c| store::key_by_id(c, org_id, id))
        .await
    {
        Ok(k) => k,
        Err(e) => return view::store_failed(&e),
    };
    let Some(key) = key else {
        return view::not_found();
    };
    HttpResponse::Ok()
        .content_type("application/x-x509-ca-cert")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"idgate-{}-saml-{}.cer\"",
                org.slug,
                key.key_use.as_str()
            ),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(keys::certificate_pem(&key))
}

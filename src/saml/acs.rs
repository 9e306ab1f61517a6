//! `GET /saml/{org}/login` (SP-initiated: remember the request, redirect to the IdP) and
//! `POST /saml/{org}/acs` (validate the response, then sign the user in).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use rand::RngExt as _;
use serde::Deserialize;

use super::authn;
use super::sp::{self, Expectation, Failure, IdpSettings, SpSettings};
use crate::clock::timestamp;
use crate::signin::{self, Refused, SamlUse};
use crate::state::AppState;
use crate::store::orgs::{self, Org};
use crate::store::saml::IdpRecord;
use crate::store::saml_attributes::AttributeMap;
use crate::store::signin::{self as signin_store, PendingRequest, SigninLog};
use crate::web::pages;

/// Largest form post the ACS reads (a base64 response of `sp::MAX_RESPONSE_BYTES`, encoded).
const MAX_ACS_FORM: usize = sp::MAX_RESPONSE_BYTES * 4 / 3 * 3 / 2 + 4096;

/// How long an AuthnRequest may wait for its answer.
const PENDING_FOR: time::Duration = time::Duration::minutes(10);

/// The SP side of an org: entity ID and ACS URL under `public_url`.
pub fn sp_settings(public_url: &str, org: &Org) -> SpSettings {
    SpSettings {
        entity_id: format!("{public_url}/saml/{}", org.slug),
        acs_url: format!("{public_url}/saml/{}/acs", org.slug),
        clock_skew: Duration::from_secs(org.clock_skew_secs.max(0) as u64),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: String,
}

/// The org and its IdP, or the page that says why sign-in cannot start.
async fn org_and_idp(
    state: &AppState,
    slug: String,
) -> Result<(Org, Option<IdpRecord>, (Vec<String>, AttributeMap)), HttpResponse> {
    let found = state
        .store
        .read(move |c| {
            let Some(org) = orgs::org_by_slug(c, &slug)? else {
                return Ok(None);
            };
            let idp = crate::store::saml::idp(c, org.id)?;
            let domains = orgs::domains(c, org.id)?
                .into_iter()
                .map(|d| d.domain)
                .collect();
            let attributes = crate::store::saml_attributes::get(c, org.id)?;
            Ok(Some((org, idp, (domains, attributes))))
        })
        .await;
    match found {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(pages::message(
            StatusCode::NOT_FOUND,
            "Unknown organization",
            "No organization is set up at this address.",
            None,
            Some(("Sign in", "/login")),
        )),
        Err(e) => {
            tracing::error!(error = %e, "SAML: store read failed");
            Err(pages::internal_error())
        }
    }
}

fn not_configured() -> HttpResponse {
    pages::message(
        StatusCode::NOT_FOUND,
        "Single sign-on is not set up",
        "Single sign-on is not set up for this organization yet. Ask your administrator.",
        None,
        None,
    )
}

pub async fn login(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let (org, idp, _) = match org_and_idp(&state, slug.into_inner()).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(idp) = idp else {
        return not_configured();
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
    start_signin(&state, &org, &idp, return_to, signin::Purpose::Session).await
}

/// SP-initiated sign-in: remembers the request (single use, ten minutes) with where to go
/// back and what it is for, and sends the browser to the IdP.
pub async fn start_signin(
    state: &AppState,
    org: &Org,
    idp: &IdpRecord,
    return_to: String,
    purpose: signin::Purpose,
) -> HttpResponse {
    let now = state.clock.now();
    let sp = sp_settings(&state.config.public_url, org);
    let mut relay = [0u8; 24];
    rand::rng().fill(&mut relay);
    let pending = PendingRequest {
        id: authn::new_request_id(),
        org_id: org.id,
        relay_state: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(relay),
        return_to,
        purpose: purpose.as_str().into(),
        created: timestamp(now),
        expires: timestamp(now + PENDING_FOR),
    };
    let signer = match super::sp_keys::request_signer(state, org.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "SAML: no key to sign the AuthnRequest");
            return pages::internal_error();
        }
    };
    let url = match authn::redirect_url(
        &idp.sso_url,
        &sp.entity_id,
        &sp.acs_url,
        &pending.id,
        &pending.relay_state,
        now,
        signer.as_ref(),
    ) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "SAML: cannot build the AuthnRequest");
            return pages::internal_error();
        }
    };
    if let Err(e) = state
        .store
        .write(move |c| signin_store::insert_request(c, &pending))
        .await
    {
        tracing::error!(error = %e, "SAML: cannot store the pending request");
        return pages::internal_error();
    }
    pages::redirect(StatusCode::FOUND, &url)
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

pub async fn acs(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (org, idp, (domains, attributes)) = match org_and_idp(&state, slug.into_inner()).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let now = state.clock.now();
    let client = pages::client(&req, &state.config);
    let row = signin::log_row(Some(org.id), now, &signin::new_reference(), "saml", &client);
    let body = match payload.to_bytes_limited(MAX_ACS_FORM).await {
        Ok(Ok(b)) => b,
        Err(_) => {
            let r = Refused::new(
                "too_large",
                format!("the form post is larger than {MAX_ACS_FORM} bytes"),
            );
            return refuse(&state, row, r, None).await;
        }
        Ok(Err(e)) => {
            let r = Refused::new("malformed", format!("the form post could not be read: {e}"));
            return refuse(&state, row, r, None).await;
        }
    };
    let form: AcsForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            let r = Refused::new("malformed", format!("not a form post: {e}"));
            return refuse(&state, row, r, None).await;
        }
    };
    let Some(response) = form.saml_response.filter(|r| !r.trim().is_empty()) else {
        let r = Refused::new("malformed", "no SAMLResponse in the form post");
        return refuse(&state, row, r, None).await;
    };
    let Some(idp) = idp.filter(|i| !i.certificates.is_empty()) else {
        let r = Refused::new(
            "not_configured",
            "this organization has no IdP signing certificate: upload the Federation Metadata XML",
        );
        return refuse(&state, row, r, None).await;
    };
    // The request this answers, named by the RelayState we sent.
    let relay = form.relay_state.unwrap_or_default();
    let (org_id, stamp, rs) = (org.id, timestamp(now), relay.clone());
    let pending = match state
        .store
        .read(move |c| signin_store::request_by_relay_state(c, org_id, &rs, &stamp))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "ACS: store read failed");
            return pages::internal_error();
        }
    };
    let purpose = pending
        .as_ref()
        .map_or(signin::Purpose::Session, |p| signin::Purpose::parse(&p.2));
    // A refused "Test sign-in" goes back to the admin who started it.
    let test = (purpose == signin::Purpose::Test).then_some(org.slug.clone());
    let sp = sp_settings(&state.config.public_url, &org);
    let idp_settings = IdpSettings {
        entity_id: idp.entity_id.clone(),
        certificates_der: idp.certificates.iter().map(|c| c.der.clone()).collect(),
    };
    let (allow_unsolicited, expected_id) =
        (org.idp_initiated, pending.as_ref().map(|p| p.0.clone()));
    let decryption = match super::sp_keys::decryption(&state, org.id).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "ACS: the decryption keys do not load");
            return pages::internal_error();
        }
    };
    let verified = web::block(move || {
        let expect = Expectation {
            in_response_to: expected_id.as_deref(),
            allow_unsolicited,
        };
        sp::validate_response_decrypting(&response, &sp, &idp_settings, &expect, now, &decryption)
    })
    .await;
    let verified = match verified {
        Ok(Ok(v)) => v,
        Ok(Err(failure)) => return refuse(&state, row, from_failure(failure), test).await,
        Err(e) => {
            tracing::error!(error = %e, "ACS: validation task failed");
            return pages::internal_error();
        }
    };
    let identity = match super::attributes::identity_of(&verified, &attributes, &domains) {
        Ok(i) => i,
        Err(refused) => return refuse(&state, row, refused, test).await,
    };
    let return_to = match pending {
        Some((_, r, _)) => r,
        // IdP-initiated: Entra's configured RelayState may name where to go.
        None => pages::safe_return_to(&state.config, &relay).unwrap_or_else(|| "/".into()),
    };
    let mut row = row;
    row.detail = Some(format!(
        "signed ({:?}) by the certificate with SHA-256 {}",
        verified.signed_parts, verified.certificate_fingerprint
    ));
    let saml = SamlUse {
        in_response_to: verified.in_response_to.clone(),
        assertion_id: verified.assertion_id.clone(),
        assertion_expires: timestamp(verified.not_on_or_after),
        name_id: Some(verified.name_id.clone()),
        name_id_format: verified.name_id_format.clone(),
        session_index: verified.session_index.clone(),
    };
    match purpose {
        signin::Purpose::Session => {
            crate::web::finish(&state, org, identity, Some(saml), row, &return_to).await
        }
        other => crate::admin::finish_signin(&state, org, identity, Some(saml), row, other).await,
    }
}

/// Logs the refusal, then shows "Sign-in failed (reference R)" — or, for the admin UI's
/// "Test sign-in" of org `test`, sends the admin to that sign-in log entry.
async fn refuse(
    state: &AppState,
    row: SigninLog,
    refused: Refused,
    test: Option<String>,
) -> HttpResponse {
    let reference = row.reference.clone();
    signin::log_refusal(state, row, &refused).await;
    if let Some(slug) = test {
        return crate::admin::test_result_redirect(&slug, &reference);
    }
    let status = if refused.reason == "too_large" {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::FORBIDDEN
    };
    pages::signin_failed(status, &reference)
}

fn from_failure(f: Failure) -> Refused {
    Refused {
        reason: f.code.as_str(),
        detail: f.detail,
        expected: f.expected,
        received: f.received,
    }
}

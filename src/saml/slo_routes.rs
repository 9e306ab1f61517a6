//! Single logout at `/saml/{org}/slo` (the "Logout URL" pasted into Entra), both ways:
//! `POST /logout` of a SAML session sends the browser to the IdP with a LogoutRequest
//! (`logout_redirect`), whose LogoutResponse comes back here; and the IdP's own
//! LogoutRequest ends every session of that user's IdP session and is answered with a
//! LogoutResponse.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::slo::{self, Message, Redirect, Subject};
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::orgs::{self, Org};
use crate::store::saml::IdpRecord;
use crate::store::saml_slo;
use crate::web::pages;

/// How long a LogoutRequest we sent may wait for its answer.
const PENDING_FOR: time::Duration = time::Duration::minutes(10);

/// The org's SLO endpoint (SP side).
pub fn slo_url(public_url: &str, slug: &str) -> String {
    format!("{public_url}/saml/{slug}/slo")
}

/// The IdP's logout endpoint: its SingleLogoutService, else (Entra's own layout) its SSO URL.
fn idp_slo(idp: &IdpRecord) -> &str {
    idp.slo_url.as_deref().unwrap_or(&idp.sso_url)
}

/// For `POST /logout`: when session `sid` came from a SAML sign-in, the URL that takes the
/// browser to the IdP's logout endpoint with a LogoutRequest (its ID remembered). `None`
/// for other sessions, or when that cannot be built (logged; the local logout stands).
pub async fn logout_redirect(state: &AppState, sid: &str) -> Option<String> {
    let id = sid.to_string();
    let found = state
        .store
        .read(move |c| {
            let Some(s) = saml_slo::saml_session(c, &id)? else {
                return Ok(None);
            };
            let Some(org) = orgs::org_by_id(c, s.org_id)? else {
                return Ok(None);
            };
            Ok(crate::store::saml::idp(c, org.id)?.map(|idp| (s, org, idp)))
        })
        .await;
    let (session, org, idp) = match found {
        Ok(Some(v)) => v,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "SAML logout: store read failed");
            return None;
        }
    };
    let signer = match super::sp_keys::request_signer(state, org.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "SAML logout: no key to sign the LogoutRequest");
            return None;
        }
    };
    let now = state.clock.now();
    let request_id = super::authn::new_request_id();
    let sp = super::sp_settings(&state.config.public_url, &org);
    let subject = Subject {
        name_id: session.name_id,
        name_id_format: session.name_id_format,
        session_index: session.session_index,
    };
    let xml = slo::logout_request(&request_id, &sp.entity_id, idp_slo(&idp), &subject, now);
    let url = match slo::redirect_url(idp_slo(&idp), "SAMLRequest", &xml, None, signer.as_ref()) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "SAML logout: cannot build the LogoutRequest");
            return None;
        }
    };
    let (created, expires, org_id) = (timestamp(now), timestamp(now + PENDING_FOR), org.id);
    if let Err(e) = state
        .store
        .write(move |c| saml_slo::insert_request(c, &request_id, org_id, &created, &expires))
        .await
    {
        tracing::error!(error = %e, "SAML logout: cannot store the LogoutRequest");
        return None;
    }
    Some(url)
}

/// A refused SLO message: a readable page and a log line; nothing else happens.
fn refuse(org: &str, why: &str) -> HttpResponse {
    tracing::info!(org, reason = why, "SAML single logout refused");
    pages::message(
        StatusCode::BAD_REQUEST,
        "Sign-out message not accepted",
        "The sign-out message from your identity provider could not be accepted. \
         If you meant to sign out, close your browser.",
        None,
        Some(("Sign in", "/login")),
    )
}

/// `GET /saml/{org}/slo`: a LogoutResponse (to our LogoutRequest) or the IdP's LogoutRequest.
pub async fn slo(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let slug = slug.into_inner();
    let lookup = slug.clone();
    let found = state
        .store
        .read(move |c| {
            let Some(org) = orgs::org_by_slug(c, &lookup)? else {
                return Ok(None);
            };
            Ok(Some((crate::store::saml::idp(c, org.id)?, org)))
        })
        .await;
    let (idp, org) = match found {
        Ok(Some((Some(idp), org))) => (idp, org),
        Ok(_) => return refuse(&slug, "no such organization, or it has no IdP"),
        Err(e) => {
            tracing::error!(error = %e, "SAML SLO: store read failed");
            return pages::internal_error();
        }
    };
    let redirect = match slo::read_query(req.query_string()) {
        Ok(r) => r,
        Err(e) => return refuse(&org.slug, &e),
    };
    let message = match slo::parse(&redirect.xml) {
        Ok(m) => m,
        Err(e) => return refuse(&org.slug, &e),
    };
    let certs: Vec<Vec<u8>> = idp.certificates.iter().map(|c| c.der.clone()).collect();
    let signed = match redirect.check_signature(&certs) {
        Ok(s) => s.is_some(),
        Err(e) => return refuse(&org.slug, &e),
    };
    if message.issuer.as_deref() != Some(idp.entity_id.as_str()) {
        let why = format!(
            "the Issuer {:?} is not the IdP {}",
            message.issuer, idp.entity_id
        );
        return refuse(&org.slug, &why);
    }
    let ours = slo_url(&state.config.public_url, &org.slug);
    if let Some(d) = &message.destination
        && *d != ours
    {
        return refuse(&org.slug, &format!("the Destination {d} is not {ours}"));
    }
    match (redirect.param, message.kind.as_str()) {
        ("SAMLResponse", "LogoutResponse") => logout_response(&state, &org, &message).await,
        ("SAMLRequest", "LogoutRequest") if signed => {
            logout_request(&state, &org, &idp, &redirect, &message).await
        }
        ("SAMLRequest", "LogoutRequest") => {
            refuse(&org.slug, "the IdP's LogoutRequest is not signed")
        }
        _ => refuse(&org.slug, "the message does not match its parameter"),
    }
}

/// The IdP's answer to our LogoutRequest: the browser goes to the sign-in page.
async fn logout_response(state: &AppState, org: &Org, m: &Message) -> HttpResponse {
    let Some(irt) = m.in_response_to.clone() else {
        return refuse(&org.slug, "the LogoutResponse has no InResponseTo");
    };
    let (org_id, now) = (org.id, timestamp(state.clock.now()));
    let ours = state
        .store
        .write(move |c| saml_slo::consume_request(c, org_id, &irt, &now))
        .await;
    match ours {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                &org.slug,
                "the LogoutResponse answers no pending LogoutRequest of ours",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "SAML SLO: store write failed");
            return pages::internal_error();
        }
    }
    if m.status.as_deref() != Some(slo::STATUS_SUCCESS) {
        tracing::info!(org = %org.slug, status = ?m.status, "SAML single logout: the IdP did not sign the user out");
        return pages::message(
            StatusCode::OK,
            "Signed out here",
            "You are signed out of this application, but your identity provider did not \
             confirm that you are signed out there. Close your browser to be sure.",
            None,
            Some(("Sign in", "/login")),
        );
    }
    pages::redirect(StatusCode::SEE_OTHER, "/login")
}

/// The IdP's LogoutRequest (signature already checked): every session of that user from
/// that IdP session ends at once, then the LogoutResponse goes back to the IdP.
async fn logout_request(
    state: &AppState,
    org: &Org,
    idp: &IdpRecord,
    redirect: &Redirect,
    m: &Message,
) -> HttpResponse {
    let now = state.clock.now();
    if let Some(limit) = &m.not_on_or_after {
        let skew = time::Duration::seconds(org.clock_skew_secs.max(0));
        match time::OffsetDateTime::parse(limit, &time::format_description::well_known::Rfc3339) {
            Ok(t) if now < t + skew => {}
            Ok(_) => return refuse(&org.slug, "the LogoutRequest has expired (NotOnOrAfter)"),
            Err(_) => return refuse(&org.slug, "the LogoutRequest's NotOnOrAfter is not a time"),
        }
    }
    let Some(name_id) = m.name_id.clone().filter(|n| !n.is_empty()) else {
        return refuse(&org.slug, "the LogoutRequest has no NameID");
    };
    let indexes = m.session_indexes.clone();
    let (org_id, stamp) = (org.id, timestamp(now));
    let ended = state
        .store
        .write(move |c| {
            if indexes.is_empty() {
                return saml_slo::revoke_by_name_id(c, org_id, &name_id, None, &stamp);
            }
            let mut all = Vec::new();
            for i in &indexes {
                all.extend(saml_slo::revoke_by_name_id(
                    c,
                    org_id,
                    &name_id,
                    Some(i),
                    &stamp,
                )?);
            }
            Ok(all)
        })
        .await;
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "SAML SLO: store write failed");
            return pages::internal_error();
        }
    };
    for sid in &ended {
        state.sessions.forget_session(sid);
    }
    tracing::info!(org = %org.slug, sessions = ended.len(), "SAML single logout: the IdP ended the user's sessions");
    let signer = match super::sp_keys::request_signer(state, org.id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, org = %org.slug, "SAML SLO: no key to sign the LogoutResponse");
            return pages::internal_error();
        }
    };
    let sp = super::sp_settings(&state.config.public_url, org);
    let xml = slo::logout_response(
        &super::authn::new_request_id(),
        &sp.entity_id,
        idp_slo(idp),
        &m.id,
        slo::STATUS_SUCCESS,
        now,
    );
    match slo::redirect_url(
        idp_slo(idp),
        "SAMLResponse",
        &xml,
        redirect.relay_state.as_deref(),
        signer.as_ref(),
    ) {
        Ok(url) => pages::redirect(StatusCode::FOUND, &url),
        Err(e) => {
            tracing::error!(error = %e, "SAML SLO: cannot build the LogoutResponse");
            pages::internal_error()
        }
    }
}

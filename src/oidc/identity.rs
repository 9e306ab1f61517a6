//! Who a verified ID token names: the session's email and the claims that may link a user
//! (never an unverified email); and, for a Test sign-in, the report of what happened.

use serde_json::{Value, json};

use super::idtoken::{Check, Verified};
use crate::identity::normalize_email;
use crate::signin::{Identity, Refused};
use crate::state::AppState;
use crate::store::oidc::{self as store, Claims};

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
pub async fn resolution(state: &AppState, org_id: i64, claims: Option<Claims>) -> Value {
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
pub fn report(checks: &[Check], token: &str, resolved: Option<Value>) -> Value {
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

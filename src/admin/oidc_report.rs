//! An OIDC Test sign-in's report (the sign-in log's `report` column, written by the OIDC
//! callback) as the sign-in log entry page shows it: each check with expected/received,
//! the decoded ID-token claims, and which user the token resolves to, by which rule.

use serde_json::Value;

use super::directory::pretty;

pub struct CheckView {
    pub name: String,
    pub ok: bool,
    pub expected: String,
    pub received: String,
}

pub struct Resolution {
    /// The user's userName, when the rules found one.
    pub user: Option<String>,
    pub user_id: Option<String>,
    /// `link`, `external_id`, `upn`, `verified_email`, or why none.
    pub rule: Option<String>,
    pub external_id: Option<String>,
    /// Whether the user's externalId is the token's oid (`None`: no user to compare).
    pub external_id_matches: Option<bool>,
    pub fix: Option<String>,
    /// The Entra object a refused user is linked to already.
    pub linked_to: Option<String>,
    pub error: Option<String>,
}

pub struct Report {
    pub checks: Vec<CheckView>,
    /// The decoded claims, indented JSON (escaped by the template).
    pub claims: Option<String>,
    pub resolution: Option<Resolution>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Reads a stored report; `None` when there is none or it is not a JSON object.
pub fn parse(raw: Option<&str>) -> Option<Report> {
    let v: Value = serde_json::from_str(raw?).ok()?;
    if !v.is_object() {
        return None;
    }
    let checks = v["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| CheckView {
                    name: text(&c["name"]).unwrap_or_default(),
                    ok: c["ok"].as_bool().unwrap_or(false),
                    expected: text(&c["expected"]).unwrap_or_default(),
                    received: text(&c["received"]).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let claims = (!v["claims"].is_null()).then(|| pretty(&v["claims"]));
    let r = &v["resolution"];
    let resolution = r.is_object().then(|| Resolution {
        user: text(&r["user"]),
        user_id: text(&r["user_id"]),
        rule: text(&r["rule"]),
        external_id: text(&r["external_id"]),
        external_id_matches: r["external_id_matches"].as_bool(),
        fix: text(&r["fix"]),
        linked_to: text(&r["linked_to"]),
        error: text(&r["error"]),
    });
    Some(Report {
        checks,
        claims,
        resolution,
    })
}

/// The fix for an OIDC sign-in's refusal reason (the detail has the specifics, such as
/// Entra's AADSTS code and its hint). `None`: a reason sign-in shares with SAML.
pub fn hint(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "wrong_audience" => {
            "The ID token was issued to another app: the client ID in SSO setup must be the \
             Application (client) ID of the Entra app the people sign in with."
        }
        "wrong_issuer" | "wrong_tenant" => {
            "The ID token comes from another tenant than the one in SSO setup: check the \
             Directory (tenant) ID, and that the person used an account of that tenant."
        }
        "bad_signature" | "unknown_kid" | "no_kid" | "alg_not_allowed" => {
            "The ID token is not signed (RS256) by a key of the tenant: a forged token, or a \
             token of another tenant or provider. Check the Directory (tenant) ID."
        }
        "keys_unavailable" => {
            "The tenant's signing keys could not be fetched from Microsoft: check this server's \
             outbound HTTPS access to login.microsoftonline.com, then try again."
        }
        "token_endpoint_failed" | "token_error" | "idp_error" => {
            "Entra refused: the detail has its AADSTS code and the fix (most often the client \
             secret's Value was not pasted — the Secret ID was — or the secret expired, or the \
             certificate was not uploaded, or the redirect URI is not under platform Web)."
        }
        "expired_state" | "unknown_state" | "reused_state" | "browser_mismatch" | "wrong_nonce"
        | "malformed" | "malformed_id_token" => {
            "Start the sign-in again, in the same browser, and finish it within ten minutes."
        }
        "expired" | "not_yet_valid" | "issued_in_future" => {
            "The token's times do not fit this server's clock: check the server's time (NTP), \
             or raise the allowed clock difference in SSO setup."
        }
        "personal_account" => {
            "A personal Microsoft account (outlook.com, live.com) signed in: use a work account \
             of the organization's tenant."
        }
        "no_oid" | "no_email" => {
            "Add the optional claims email, xms_edov and upn to the ID token in Entra (App \
             registrations → the app → Token configuration)."
        }
        "email_outside_domains" => {
            "The person's email or UPN is not in one of the organization's domains: add the \
             domain to the organization, or fix the user's UPN in Entra."
        }
        "consent_missing" => {
            "An Entra administrator must accept the permissions on Microsoft's consent page."
        }
        "tenant_taken" => {
            "This Microsoft Entra tenant is connected to another organization already."
        }
        "test_would_create_user" => {
            "No user matches this account yet. A real sign-in would create it just in time \
             (JIT is on); provision it over SCIM with externalId = the oid to match instead."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reports_and_ignores_anything_else() {
        let raw = r#"{"checks":[{"name":"aud","ok":false,"expected":"a","received":"b"}],
            "claims":{"oid":"x"},"resolution":{"user":"ann@acme.com","rule":"upn",
            "external_id":null,"external_id_matches":false,"fix":"map objectId"}}"#;
        let r = parse(Some(raw)).unwrap();
        assert_eq!(r.checks.len(), 1);
        assert!(!r.checks[0].ok);
        assert!(r.claims.unwrap().contains("\"oid\": \"x\""));
        let res = r.resolution.unwrap();
        assert_eq!(res.external_id_matches, Some(false));
        assert_eq!(res.external_id, None);
        assert!(parse(Some("[1]")).is_none());
        assert!(parse(Some("not json")).is_none());
        assert!(parse(None).is_none());
        let bare = parse(Some(r#"{"checks":[],"claims":null,"resolution":null}"#)).unwrap();
        assert!(bare.claims.is_none() && bare.resolution.is_none());
    }
}

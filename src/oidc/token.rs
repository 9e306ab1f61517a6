//! The code exchange at the tenant's token endpoint (the client secret or a
//! `private_key_jwt` assertion) and the ID token's every check, with the tenant's keys.

use serde_json::Value;

use super::idtoken::{self, Check, Expect, Verified};
use super::jwks::KeyError;
use super::start::{self, CONNECT};
use super::{aadsts_code, aadsts_hint, credential, tenant};
use crate::signin::Refused;
use crate::state::AppState;
use crate::store::oidc::{OidcConnection, Pending};
use crate::store::orgs::Org;

/// The code exchange: once, never retried; only the ID token is kept.
pub async fn exchange(
    state: &AppState,
    conn: &OidcConnection,
    pending: &Pending,
    code: &str,
) -> Result<String, Refused> {
    let failed = |detail: String| Refused::new("token_endpoint_failed", detail);
    let client_id = start::client_id(state, conn).ok_or_else(|| failed("no client id".into()))?;
    let t = pending.tenant_id.as_deref().unwrap_or("organizations");
    let endpoint = tenant::endpoints(&state.config.oidc_authority, t).token;
    let redirect = super::redirect_uri(&state.config.public_url);
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.to_string()),
        ("redirect_uri", redirect),
        ("client_id", client_id.clone()),
        ("code_verifier", pending.verifier.clone()),
    ];
    let cred = client_credential(state, conn).map_err(|e| {
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
pub async fn validate(
    state: &AppState,
    org: &Org,
    conn: &OidcConnection,
    pending: &Pending,
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
    let connecting = pending.purpose == CONNECT;
    let bound = conn.tenant_id.clone().filter(|_| !connecting);
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
    let client_id = start::client_id(state, conn).unwrap_or_default();
    let expect = Expect {
        authority: &state.config.oidc_authority,
        tenant: bound.as_deref(),
        client_id: &client_id,
        nonce: &pending.nonce,
        skew_secs: org.clock_skew_secs.max(0),
        now,
    };
    let (mut checks, verified) = idtoken::check_claims(&t.claims, &expect);
    checks.insert(0, sig);
    (checks, verified.map_err(refused))
}

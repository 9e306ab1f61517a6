//! ID-token validation, each check with its reason code and expected / received values
//! (the sign-in log shows them, the admin's Test sign-in lists every one). jsonwebtoken
//! verifies the RS256 signature; the claim checks are here, so each failure has its own
//! reason instead of one library error.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::tenant::{self, CONSUMERS_TENANT};

/// One check: what was compared, and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub expected: String,
    pub received: String,
}

/// A refusal: the reason code and the check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: &'static str,
    pub detail: String,
    pub expected: Option<String>,
    pub received: Option<String>,
}

impl Failure {
    fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            expected: None,
            received: None,
        }
    }
}

/// A token split and decoded, its signature not checked yet.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub kid: String,
    pub claims: Map<String, Value>,
    raw: String,
}

impl Unverified {
    /// The `tid` claim, when it is a GUID (the only thing read before the signature is
    /// checked: it picks the tenant's key set).
    pub fn tid(&self) -> Option<String> {
        let t = self.claims.get("tid")?.as_str()?.to_ascii_lowercase();
        tenant::is_guid(&t).then_some(t)
    }
}

/// Splits the token and checks the header: RS256 only (`none` and HS* refused), a `kid`.
pub fn inspect(token: &str) -> Result<Unverified, Failure> {
    crate::session::install_jwt_provider();
    let header = jsonwebtoken::decode_header(token).map_err(|e| {
        let alg = raw_alg(token);
        match alg.as_deref() {
            Some(a) if a != "RS256" => alg_refused(a),
            _ => Failure::new(
                "malformed_id_token",
                format!("the ID token cannot be read: {e}"),
            ),
        }
    })?;
    if header.alg != Algorithm::RS256 {
        return Err(alg_refused(&format!("{:?}", header.alg)));
    }
    let Some(kid) = header.kid.filter(|k| !k.is_empty()) else {
        return Err(Failure::new(
            "no_kid",
            "the ID token's header names no key (kid)",
        ));
    };
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims = decode_part(payload)
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .ok_or_else(|| {
            Failure::new(
                "malformed_id_token",
                "the ID token's claims are not a JSON object",
            )
        })?;
    Ok(Unverified {
        kid,
        claims,
        raw: token.to_string(),
    })
}

fn alg_refused(alg: &str) -> Failure {
    Failure {
        expected: Some("RS256".into()),
        received: Some(alg.to_string()),
        ..Failure::new("alg_not_allowed", "the ID token is not signed with RS256")
    }
}

fn decode_part(part: &str) -> Option<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The header's `alg` as written (jsonwebtoken refuses to parse `none`).
fn raw_alg(token: &str) -> Option<String> {
    let h = decode_part(token.split('.').next()?)?;
    h.get("alg")?.as_str().map(str::to_string)
}

/// Checks the RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) over the token's first two
/// parts with the key the header names.
pub fn verify_signature(t: &Unverified, key: &super::jwks::Key) -> Result<(), Failure> {
    use base64::Engine as _;
    let bad = |why: String| Failure {
        received: Some(t.kid.clone()),
        ..Failure::new(
            "bad_signature",
            format!(
                "the ID token's signature does not verify with key {}: {why}",
                t.kid
            ),
        )
    };
    let (input, sig) = t
        .raw
        .rsplit_once('.')
        .ok_or_else(|| bad("no signature".into()))?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|e| bad(format!("the signature is not base64url: {e}")))?;
    let ok = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), key)
        .and_then(|mut v| {
            v.update(input.as_bytes())?;
            v.verify(&sig)
        })
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(bad("RS256 verification failed".into()))
    }
}

/// What the claims must say.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub authority: &'a str,
    /// The org's tenant; `None` while an idgate-app connection is being joined (then the
    /// token's own `tid` is what gets bound).
    pub tenant: Option<&'a str>,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub skew_secs: i64,
    pub now: OffsetDateTime,
}

/// The claims of a verified token that sign-in uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub tid: String,
    pub oid: String,
    pub upn: Option<String>,
    pub email: Option<String>,
    /// `xms_edov`: Entra says the email's domain is verified in the tenant.
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub roles: Vec<String>,
    /// A guest (B2B) account: `acct` = 1, an `idp` other than the tenant, or `#EXT#` in
    /// the upn.
    pub guest: bool,
}

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Runs every claim check in order; all are listed (for Test sign-in), the first failure
/// is the refusal.
pub fn check_claims(
    claims: &Map<String, Value>,
    x: &Expect<'_>,
) -> (Vec<Check>, Result<Verified, Failure>) {
    let mut checks = Vec::new();
    let mut first: Option<Failure> = None;
    let mut check =
        |name: &str, ok: bool, expected: String, received: String, reason, detail: &str| {
            if !ok && first.is_none() {
                first = Some(Failure {
                    expected: Some(expected.clone()),
                    received: Some(received.clone()),
                    ..Failure::new(reason, detail)
                });
            }
            checks.push(Check {
                name: name.to_string(),
                ok,
                expected,
                received,
            });
        };
    let tid = text(claims, "tid").map(|t| t.to_ascii_lowercase());
    let tid_s = tid.clone().unwrap_or_else(|| "(absent)".into());
    check(
        "personal account",
        tid.as_deref() != Some(CONSUMERS_TENANT),
        "a work or school account".into(),
        tid_s.clone(),
        "personal_account",
        "personal Microsoft accounts cannot sign in to an organization",
    );
    let iss = show(claims.get("iss"));
    let want_iss = tenant::issuer(x.authority, tid.as_deref().unwrap_or("{tid}"));
    check(
        "iss",
        tid.as_deref().is_some_and(tenant::is_guid) && iss == want_iss,
        want_iss,
        iss,
        "wrong_issuer",
        "the ID token's issuer is not Entra's v2.0 issuer of its tenant",
    );
    if let Some(bound) = x.tenant {
        check(
            "tid",
            tid.as_deref() == Some(bound),
            bound.to_string(),
            tid_s.clone(),
            "wrong_tenant",
            "the ID token comes from another tenant than this organization's",
        );
    }
    let aud = claims.get("aud");
    let aud_ok = match aud {
        Some(Value::String(a)) => a == x.client_id,
        Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some(x.client_id),
        _ => false,
    };
    check(
        "aud",
        aud_ok,
        x.client_id.to_string(),
        show(aud),
        "wrong_audience",
        "the ID token is for another application (aud)",
    );
    let now = x.now.unix_timestamp();
    let secs = |n: &str| claims.get(n).and_then(Value::as_i64);
    let at = |t: Option<i64>| {
        t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .map_or_else(|| "(absent)".to_string(), crate::clock::timestamp)
    };
    let exp = secs("exp");
    check(
        "exp",
        exp.is_some_and(|e| now < e + x.skew_secs),
        format!(
            "after {} (skew {} s)",
            crate::clock::timestamp(x.now),
            x.skew_secs
        ),
        at(exp),
        "expired",
        "the ID token has expired",
    );
    let by = format!(
        "at or before {} (skew {} s)",
        crate::clock::timestamp(x.now),
        x.skew_secs
    );
    let nbf = secs("nbf");
    check(
        "nbf",
        nbf.is_none_or(|n| n <= now + x.skew_secs),
        by.clone(),
        at(nbf),
        "not_yet_valid",
        "the ID token is not valid yet (nbf): check the clocks",
    );
    let iat = secs("iat");
    check(
        "iat",
        iat.is_some_and(|i| i <= now + x.skew_secs),
        by,
        at(iat),
        "issued_in_future",
        "the ID token is issued in the future or has no iat: check the clocks",
    );
    let nonce = show(claims.get("nonce"));
    check(
        "nonce",
        subtle_eq(&nonce, x.nonce),
        x.nonce.to_string(),
        nonce,
        "wrong_nonce",
        "the ID token's nonce is not the one this sign-in sent",
    );
    let oid = text(claims, "oid").map(|o| o.to_ascii_lowercase());
    check(
        "oid",
        oid.is_some(),
        "the user's object ID".into(),
        show(claims.get("oid")),
        "no_oid",
        "the ID token has no oid claim",
    );
    if let Some(f) = first {
        return (checks, Err(f));
    }
    let upn = text(claims, "upn");
    let idp = text(claims, "idp");
    let guest = claims.get("acct").and_then(Value::as_i64) == Some(1)
        || idp.is_some_and(|i| i != show(claims.get("iss")) && !i.ends_with(&format!("/{tid_s}/")))
        || upn.as_deref().is_some_and(|u| u.contains("#EXT#"));
    let verified = Verified {
        tid: tid.unwrap_or_default(),
        oid: oid.unwrap_or_default(),
        upn,
        email: text(claims, "email"),
        email_verified: matches!(claims.get("xms_edov"), Some(Value::Bool(true)))
            || matches!(claims.get("xms_edov"), Some(Value::String(s)) if s == "true" || s == "1")
            || claims.get("xms_edov").and_then(Value::as_i64) == Some(1),
        preferred_username: text(claims, "preferred_username"),
        name: text(claims, "name"),
        given_name: text(claims, "given_name"),
        family_name: text(claims, "family_name"),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        guest,
    };
    (checks, Ok(verified))
}

fn subtle_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

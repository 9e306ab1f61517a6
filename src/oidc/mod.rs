//! Sign-in with Microsoft Entra over OpenID Connect (DESIGN "OpenID Connect sign-in"):
//! `GET /oidc/{org}/login` starts, `GET /oidc/callback` is the one redirect URI. The
//! authorization code flow with PKCE (S256), state and nonce; only the ID token is used.
//! Every URL fetched is the configured authority + a tenant GUID + Entra's fixed paths.

pub mod callback;
pub mod credential;
pub mod http;
pub mod identity;
pub mod idtoken;
pub mod jwks;
pub mod setup;
pub mod start;
pub mod tenant;
pub mod token;

use actix_web::web;

/// What OIDC keeps between requests: the key cache and the authority's client.
#[derive(Clone)]
pub struct Runtime {
    pub jwks: jwks::Jwks,
    pub fetcher: http::Fetcher,
}

impl Runtime {
    pub fn new(config: &crate::config::Config) -> Self {
        if config.oidc_allow_insecure_authority {
            tracing::warn!(
                authority = %config.oidc_authority,
                "OIDC: oidc_allow_insecure_authority is on: ID tokens and keys may come over \
                 plain http from this authority. This is for a local test provider only."
            );
        }
        Self {
            jwks: jwks::Jwks::default(),
            fetcher: http::Fetcher::new(&config.oidc_authority),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oidc/{org}/login", web::get().to(start::login))
        .route("/oidc/callback", web::get().to(callback::callback));
}

/// Days before a client secret or certificate expires from which it is warned about.
pub const WARN_DAYS: i64 = 30;

/// Refreshes the credential expiry gauge of `/metrics`; with `log`, warns in the server log
/// about every credential within `WARN_DAYS` of expiring (housekeeping does it daily).
pub async fn watch_expiry(state: &crate::state::AppState, log: bool) {
    let list = match state.store.read(crate::store::oidc::expiries).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "OIDC: cannot read the credential expiry dates");
            return;
        }
    };
    let today = state.clock.now().date();
    let mut days = std::collections::BTreeMap::new();
    for (slug, date) in list {
        let Some(left) = crate::clock::days_until(&date, today) else {
            continue;
        };
        if log && left <= WARN_DAYS {
            tracing::warn!(org = %slug, expires = %date, days_left = left,
                "OIDC: the org's Entra client secret or certificate expires soon: renew it in Entra and in idgate");
        }
        days.insert(slug, left);
    }
    state.metrics.set_oidc_credential_days(days);
}

/// The one redirect URI, as registered in Entra (platform "Web").
pub fn redirect_uri(public_url: &str) -> String {
    format!("{public_url}/oidc/callback")
}

/// The cookie that binds a pending sign-in to the browser that started it.
pub const BROWSER_COOKIE: &str = "idgate_oidc";

/// What an `AADSTS` error code usually means, and the fix.
pub fn aadsts_hint(code: &str) -> &'static str {
    match code {
        "AADSTS7000215" => {
            "Invalid client secret: paste the secret's Value (not its Secret ID) from Entra's \
             Certificates & secrets."
        }
        "AADSTS7000222" => {
            "The client secret has expired: create a new one in Entra and paste its Value."
        }
        "AADSTS50011" => {
            "The redirect URI is not registered: add {public_url}/oidc/callback under platform Web \
             in the app's Authentication page."
        }
        "AADSTS9002327" | "AADSTS700025" | "AADSTS700054" => {
            "The redirect URI is registered under Single-page application or Mobile and desktop: \
             move it to platform Web, or the code cannot be exchanged."
        }
        "AADSTS65001" | "AADSTS65004" | "AADSTS90094" => {
            "Consent is missing or was declined: an Entra administrator must grant consent to the app."
        }
        "AADSTS50105" => {
            "The user is not assigned to the application: assign them (or a group) in Entra's \
             Enterprise application, Users and groups."
        }
        "AADSTS700016" => {
            "The application (client) ID is not found in the tenant: check the client ID and the tenant."
        }
        "AADSTS90002" | "AADSTS900023" => {
            "The tenant is not found: check the Directory (tenant) ID."
        }
        "AADSTS54005" | "AADSTS70008" => {
            "The authorization code was already used or has expired: sign in again."
        }
        "AADSTS700027" | "AADSTS700023" => {
            "The client assertion was refused: upload idgate's certificate (.cer) in Entra's \
             Certificates & secrets."
        }
        "AADSTS501481" | "AADSTS50148" => "The PKCE code verifier did not match: sign in again.",
        "AADSTS50020" => "The account is from another tenant and is not a guest of this one.",
        _ => "See Microsoft's AADSTS error code reference for this code.",
    }
}

/// The `AADSTS…` code at the start of an Entra error description.
pub fn aadsts_code(description: &str) -> Option<String> {
    let d = description.trim_start();
    let digits: String = d
        .strip_prefix("AADSTS")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn aadsts_codes() {
        assert_eq!(
            super::aadsts_code("AADSTS7000215: Invalid client secret provided.").as_deref(),
            Some("AADSTS7000215")
        );
        assert_eq!(super::aadsts_code("something else"), None);
        assert!(super::aadsts_hint("AADSTS7000215").contains("Value"));
    }
}

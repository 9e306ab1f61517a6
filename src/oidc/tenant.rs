//! What an admin pastes as "the tenant", and the only URLs idgate ever fetches for OIDC:
//! the configured authority (Microsoft's host) + a tenant GUID (or a domain, only to learn
//! its GUID) + Entra's fixed paths.

/// The tenant of personal Microsoft accounts (outlook.com, live.com): never an org.
pub const CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A tenant as the admin gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    /// A tenant GUID, lowercased.
    Id(String),
    /// A domain of the tenant (`contoso.onmicrosoft.com`), to resolve to its GUID.
    Domain(String),
}

/// Whether `s` is a GUID (`8-4-4-4-12` hex digits).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Reads the Directory (tenant) ID, a tenant domain, or any authority URL form
/// (`https://login.microsoftonline.com/{x}`, with or without `/v2.0`, a path after it or
/// the discovery document's name; `https://sts.windows.net/{x}/`; the configured authority).
pub fn parse(input: &str, authority: &str) -> Result<Tenant, String> {
    let s = input.trim().trim_matches(|c| c == '"' || c == '\'');
    if s.is_empty() {
        return Err(
            "the tenant is empty: paste the Directory (tenant) ID from Entra's \
                    app Overview page"
                .into(),
        );
    }
    let segment = if s.contains("://") {
        let (scheme, rest) = s.split_once("://").unwrap_or_default();
        if !["https", "http"].contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(format!("{s:?} is not an https URL"));
        }
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.to_ascii_lowercase();
        let configured = authority
            .split_once("://")
            .map_or("", |(_, h)| h)
            .to_ascii_lowercase();
        let known = [
            "login.microsoftonline.com",
            "login.microsoft.com",
            "sts.windows.net",
        ];
        if !known.contains(&host.as_str()) && host != configured {
            return Err(format!(
                "{host} is not a Microsoft Entra sign-in host (login.microsoftonline.com)"
            ));
        }
        path.split(['/', '?', '#']).next().unwrap_or("").to_string()
    } else {
        s.to_string()
    };
    let segment = segment.to_ascii_lowercase();
    if ["common", "organizations", "consumers"].contains(&segment.as_str()) {
        return Err(format!(
            "{segment:?} is a multi-tenant endpoint, not a tenant: paste the Directory (tenant) ID"
        ));
    }
    if is_guid(&segment) {
        if segment == CONSUMERS_TENANT {
            return Err(
                "that is the tenant of personal Microsoft accounts, not an organization's".into(),
            );
        }
        return Ok(Tenant::Id(segment));
    }
    match crate::identity::normalize_domain(&segment) {
        Some(d) => Ok(Tenant::Domain(d)),
        None => Err(format!(
            "{input:?} is neither a tenant ID (a GUID), a tenant domain nor a \
             login.microsoftonline.com URL"
        )),
    }
}

/// Entra's URLs for one tenant (a GUID, or `organizations` for the idgate app's first
/// sign-in) under the configured authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub jwks: String,
}

pub fn endpoints(authority: &str, tenant: &str) -> Endpoints {
    Endpoints {
        authorize: format!("{authority}/{tenant}/oauth2/v2.0/authorize"),
        token: format!("{authority}/{tenant}/oauth2/v2.0/token"),
        jwks: format!("{authority}/{tenant}/discovery/v2.0/keys"),
    }
}

/// The exact `iss` of a v2.0 ID token of tenant `tid`.
pub fn issuer(authority: &str, tid: &str) -> String {
    format!("{authority}/{tid}/v2.0")
}

/// The discovery document of a domain's tenant; only its `issuer` is read (for the GUID).
pub fn discovery(authority: &str, domain: &str) -> String {
    format!("{authority}/{domain}/v2.0/.well-known/openid-configuration")
}

/// The admin-consent page of the idgate app (Microsoft identity platform v2.0).
pub fn admin_consent(authority: &str, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let q = serde_urlencoded::to_string([
        ("client_id", client_id),
        ("scope", "openid profile email"),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ])
    .unwrap_or_default();
    format!("{authority}/organizations/v2.0/adminconsent?{q}")
}

/// The GUID in a discovery document's issuer `{authority}/{GUID}/v2.0`.
pub fn guid_from_issuer(issuer: &str, authority: &str) -> Option<String> {
    let rest = issuer.strip_prefix(authority)?.strip_prefix('/')?;
    let guid = rest.strip_suffix("/v2.0")?.to_ascii_lowercase();
    is_guid(&guid).then_some(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "https://login.microsoftonline.com";
    const G: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn tenant_forms() {
        let id = || Ok(Tenant::Id(G.into()));
        for (input, want) in [
            (G, id()),
            ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", id()),
            (" 72f988bf-86f1-41af-91ab-2d7cd011db47\n", id()),
            (&format!("{A}/{G}") as &str, id()),
            (&format!("{A}/{G}/"), id()),
            (&format!("{A}/{G}/v2.0"), id()),
            (&format!("{A}/{G}/v2.0/"), id()),
            (&format!("{A}/{G}/oauth2/v2.0/authorize"), id()),
            (
                &format!("{A}/{G}/v2.0/.well-known/openid-configuration"),
                id(),
            ),
            (&format!("https://sts.windows.net/{G}/"), id()),
            (&format!("HTTPS://Login.MicrosoftOnline.com/{G}"), id()),
            (
                "contoso.onmicrosoft.com",
                Ok(Tenant::Domain("contoso.onmicrosoft.com".into())),
            ),
            (
                &format!("{A}/Contoso.onmicrosoft.com/v2.0"),
                Ok(Tenant::Domain("contoso.onmicrosoft.com".into())),
            ),
        ] {
            assert_eq!(parse(input, A), want, "{input}");
        }
        for bad in [
            "",
            "common",
            &format!("{A}/organizations/v2.0"),
            "https://evil.example/72f988bf-86f1-41af-91ab-2d7cd011db47",
            "not a tenant",
            "ftp://login.microsoftonline.com/x",
            CONSUMERS_TENANT,
            "72f988bf-86f1-41af-91ab",
        ] {
            assert!(parse(bad, A).is_err(), "{bad}");
        }
        // A test provider configured as the authority is accepted as a host.
        assert_eq!(
            parse(
                &format!("http://127.0.0.1:9/{G}/v2.0"),
                "http://127.0.0.1:9"
            ),
            id()
        );
    }

    #[test]
    fn urls() {
        let e = endpoints(A, G);
        assert_eq!(e.token, format!("{A}/{G}/oauth2/v2.0/token"));
        assert_eq!(e.jwks, format!("{A}/{G}/discovery/v2.0/keys"));
        assert_eq!(guid_from_issuer(&issuer(A, G), A).as_deref(), Some(G));
        assert_eq!(guid_from_issuer("https://evil.example/x/v2.0", A), None);
        assert_eq!(guid_from_issuer(&format!("{A}/common/v2.0"), A), None);
        assert!(admin_consent(A, "cid", "https://i/oidc/callback", "s").contains(
            "/organizations/v2.0/adminconsent?client_id=cid&scope=openid+profile+email&redirect_uri=https%3A%2F%2Fi%2Foidc%2Fcallback&state=s"
        ));
    }
}

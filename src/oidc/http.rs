//! The only outgoing requests of OIDC: to the configured authority (Microsoft's host), on
//! Entra's fixed paths. https only (plain http only with `oidc_allow_insecure_authority`,
//! for a local test provider), no redirects followed, timeouts, a size cap.

use std::time::Duration;

/// Largest answer read (a JWKS is a few KiB; a token response under 16 KiB).
pub const MAX_BODY: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Fetcher {
    authority: String,
}

impl Fetcher {
    pub fn new(authority: &str) -> Self {
        Self {
            authority: authority.trim_end_matches('/').to_string(),
        }
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// This thread's client (its connection pool is reused across sign-ins), for a URL
    /// under the authority only.
    fn client(&self, url: &str) -> Result<awc::Client, String> {
        if !url.starts_with(&format!("{}/", self.authority)) {
            return Err(format!("refused: {url} is not under the OIDC authority"));
        }
        thread_local! {
            static CLIENT: awc::Client = awc::Client::builder()
                .disable_redirects()
                .timeout(TIMEOUT)
                .add_default_header((
                    "User-Agent",
                    concat!("idgate-oidc/", env!("CARGO_PKG_VERSION")),
                ))
                .finish();
        }
        Ok(CLIENT.with(Clone::clone))
    }

    /// GETs a JSON document; any status but 200 is an error.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut res = self
            .client(url)?
            .get(url)
            .insert_header(("Accept", "application/json"))
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = res.status().as_u16();
        let body = res
            .body()
            .limit(MAX_BODY)
            .await
            .map_err(|e| format!("GET {url}: reading the answer: {e}"))?;
        if status != 200 {
            return Err(format!(
                "GET {url}: HTTP {status}{}",
                if (300..400).contains(&status) {
                    " (redirects are not followed)"
                } else {
                    ""
                }
            ));
        }
        Ok(body.to_vec())
    }

    /// POSTs a form; returns the status and the body (a token endpoint answers errors as
    /// JSON with 400).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), String> {
        let mut res = self
            .client(url)?
            .post(url)
            .insert_header(("Accept", "application/json"))
            .send_form(&form)
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = res.status().as_u16();
        let body = res
            .body()
            .limit(MAX_BODY)
            .await
            .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
        Ok((status, body.to_vec()))
    }
}

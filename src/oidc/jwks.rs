//! Entra's signing keys per tenant, fetched from `{authority}/{tid}/discovery/v2.0/keys`
//! only, cached by tenant and key id. An unknown `kid` forces one refresh, at most once per
//! `FORCED_EVERY` per tenant (a flood of made-up key ids cannot make idgate hammer
//! Microsoft); on a failed fetch the last good keys stay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm, PublicKeyUse};
use openssl::bn::BigNum;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use time::{Duration, OffsetDateTime};

use super::http::Fetcher;
use super::tenant;

/// Keys are refetched in the background of a sign-in after this.
pub const MAX_AGE: Duration = Duration::hours(24);
/// At most one forced refresh (unknown kid) per tenant this often.
pub const FORCED_EVERY: Duration = Duration::minutes(5);

/// A tenant's RSA public key, parsed once (OpenSSL verifies RS256 in ~40 µs, jsonwebtoken's
/// pure-Rust backend in ~450 µs: measured by the sign-in bench).
pub type Key = PKey<Public>;

#[derive(Default)]
struct Entry {
    keys: HashMap<String, Arc<Key>>,
    fetched: Option<OffsetDateTime>,
    forced: Option<OffsetDateTime>,
}

/// The cache: one entry per tenant GUID.
#[derive(Default, Clone)]
pub struct Jwks {
    tenants: Arc<Mutex<HashMap<String, Entry>>>,
    /// One fetch at a time: the sign-ins that find the cache cold wait for it.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The key id is not in the tenant's key set (after a refresh, or a refresh was not
    /// allowed yet).
    Unknown { refreshed: bool },
    /// The key set could not be fetched and none is cached.
    Fetch(String),
}

impl Jwks {
    fn cached(
        &self,
        tid: &str,
        kid: &str,
    ) -> (
        Option<Arc<Key>>,
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
    ) {
        let map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(tid) {
            Some(e) => (e.keys.get(kid).cloned(), e.fetched, e.forced),
            None => (None, None, None),
        }
    }

    /// The key `kid` of tenant `tid`: cached, else after a (rate-limited) refresh.
    pub async fn key(
        &self,
        fetcher: &Fetcher,
        tid: &str,
        kid: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<Key>, KeyError> {
        let fresh = |(key, fetched, _): (Option<Arc<Key>>, Option<OffsetDateTime>, _)| {
            key.filter(|_| fetched.is_some_and(|f| now - f <= MAX_AGE))
        };
        if let Some(k) = fresh(self.cached(tid, kid)) {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        // Another sign-in may have fetched while this one waited.
        let (key, fetched, forced) = self.cached(tid, kid);
        let stale = fetched.is_none_or(|f| now - f > MAX_AGE);
        if let Some(k) = key
            && !stale
        {
            return Ok(k);
        }
        // Never fetched or stale: fetch. A known set without the kid: forced refresh, if
        // the last forced one is long enough ago.
        let may_force = forced.is_none_or(|f| now - f >= FORCED_EVERY);
        if fetched.is_some() && !stale && !may_force {
            return Err(KeyError::Unknown { refreshed: false });
        }
        match self
            .refresh(fetcher, tid, now, fetched.is_some() && !stale)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                // The last good keys stay in use.
                if let (Some(k), _, _) = self.cached(tid, kid) {
                    tracing::warn!(tenant = tid, error = %e, "OIDC: key refresh failed; the cached keys stay");
                    return Ok(k);
                }
                if fetched.is_some() {
                    tracing::warn!(tenant = tid, error = %e, "OIDC: key refresh failed");
                    return Err(KeyError::Unknown { refreshed: false });
                }
                return Err(KeyError::Fetch(e));
            }
        }
        self.cached(tid, kid)
            .0
            .ok_or(KeyError::Unknown { refreshed: true })
    }

    async fn refresh(
        &self,
        fetcher: &Fetcher,
        tid: &str,
        now: OffsetDateTime,
        forced: bool,
    ) -> Result<(), String> {
        if forced {
            // Counted before the fetch, so that failures are rate-limited too.
            let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(tid.to_string()).or_default().forced = Some(now);
        }
        let url = tenant::endpoints(fetcher.authority(), tid).jwks;
        let body = fetcher.get(&url).await?;
        let keys = parse(&body)?;
        tracing::info!(
            tenant = tid,
            keys = keys.len(),
            forced,
            "OIDC: signing keys fetched"
        );
        let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.entry(tid.to_string()).or_default();
        e.keys = keys;
        e.fetched = Some(now);
        Ok(())
    }
}

/// The RSA signing keys of a JWKS document, by key id (others ignored).
pub fn parse(body: &[u8]) -> Result<HashMap<String, Arc<Key>>, String> {
    let set: JwkSet =
        serde_json::from_slice(body).map_err(|e| format!("the key set is not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let signing = jwk
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == PublicKeyUse::Signature);
        let rsa = jwk
            .common
            .key_algorithm
            .is_none_or(|a| a == KeyAlgorithm::RS256);
        if !signing || !rsa {
            continue;
        }
        if let jsonwebtoken::jwk::AlgorithmParameters::RSA(p) = &jwk.algorithm
            && let Some(k) = rsa_key(&p.n, &p.e)
        {
            keys.insert(kid, Arc::new(k));
        }
    }
    if keys.is_empty() {
        return Err("the key set has no RSA signing key".into());
    }
    Ok(keys)
}

/// An RSA public key from a JWK's base64url modulus and exponent.
fn rsa_key(n: &str, e: &str) -> Option<Key> {
    let b = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()
            .and_then(|v| BigNum::from_slice(&v).ok())
    };
    let rsa = Rsa::from_public_components(b(n)?, b(e)?).ok()?;
    (rsa.size() >= 256).then_some(())?;
    PKey::from_rsa(rsa).ok()
}

//! A loopback stand-in for Microsoft Entra's token and key endpoints, for signin-bench's OIDC
//! phases (examples/bench_support/oidc.rs): an actix-web server in the bench process on
//! 127.0.0.1:0 with its own worker threads, Entra's paths under `{base}/{tenant}/`:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: checks the tenant, `grant_type`, `client_id`, the
//!   client secret, `redirect_uri`, the code (single use) and PKCE S256, then answers the ID
//!   token registered with the code: pre-signed, or signed now (RS256, OpenSSL) from claims;
//! - `GET /{tenant}/discovery/v2.0/keys`: the JWKS (one RSA-2048 key).
//!
//! The bench plays the user at the authorization step: it reads state, nonce and the PKCE
//! challenge from idgate's redirect and registers a code (`Provider::grant`). The provider
//! counts its requests, its handlers' time, the TCP connections opened to it and the CPU of
//! its threads, so that the report can say which part of a sign-in is the provider's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The bench org's Entra tenant, app and secret (made up; Entra-shaped).
pub const TENANT: &str = "5c0ffee0-8a1b-4c2d-9e3f-0123456789ab";
pub const CLIENT_ID: &str = "b3a7c1d2-0e4f-4a5b-9c6d-7e8f9a0b1c2d";
pub const SECRET: &str = "Bq8Q~bench.client-secret-value_0123456789";
pub const KID: &str = "bench-key-1";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier.
pub fn challenge(verifier: &str) -> String {
    b64(&Sha256::digest(verifier.as_bytes()))
}

/// The signing key and its published JWKS.
pub struct Key {
    pkey: PKey<Private>,
    pub jwks: String,
}

impl Key {
    pub fn new() -> Result<Self, String> {
        let rsa = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
        }]})
        .to_string();
        let pkey = PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
        Ok(Self { pkey, jwks })
    }

    /// An RS256 JWT of `claims`, the header naming `KID`.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signer =
            Signer::new(MessageDigest::sha256(), &self.pkey).map_err(|e| e.to_string())?;
        let sig = signer
            .sign_oneshot_to_vec(input.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!("{input}.{}", b64(&sig)))
    }

    /// Verifies an RS256 JWT with OpenSSL (the floor's comparison with idgate's verifier).
    pub fn verify(&self, token: &str) -> bool {
        let Some((input, sig)) = token.rsplit_once('.') else {
            return false;
        };
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        openssl::sign::Verifier::new(MessageDigest::sha256(), &self.pkey)
            .and_then(|mut v| v.verify_oneshot(&sig, input.as_bytes()))
            .unwrap_or(false)
    }
}

/// What the token endpoint answers for a code.
pub enum Token {
    /// Signed beforehand (signing is the IdP's work, outside the timed part).
    Signed(String),
    /// Signed by the token endpoint when the code is redeemed (as Entra does).
    Claims(Value),
}

/// Counters, read before and after a timed part.
#[derive(Default)]
pub struct Stats {
    pub tokens: AtomicU64,
    pub refused: AtomicU64,
    pub handler_nanos: AtomicU64,
    pub connections: AtomicU64,
    pub jwks: AtomicU64,
    pub first_refusal: Mutex<Option<String>>,
}

struct Shared {
    key: Arc<Key>,
    redirect_uri: String,
    grants: Mutex<HashMap<String, (String, Token)>>,
    stats: Arc<Stats>,
}

pub struct Provider {
    /// `http://127.0.0.1:PORT`: idgate's `oidc_authority`.
    pub base: String,
    pub key: Arc<Key>,
    pub stats: Arc<Stats>,
    shared: web::Data<Shared>,
    /// The ids (in /proc/self/task) of the server's threads.
    threads: Vec<String>,
    handle: ServerHandle,
}

/// This process's thread ids.
fn threads() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    (dir.filter_map(|e| e.ok()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

impl Provider {
    /// Starts the provider with `workers` worker threads; idgate's callback must be
    /// `redirect_uri`.
    pub async fn start(workers: usize, redirect_uri: &str) -> Result<Self, String> {
        let key = Arc::new(Key::new()?);
        let stats = Arc::new(Stats::default());
        let shared = web::Data::new(Shared {
            key: key.clone(),
            redirect_uri: redirect_uri.to_string(),
            grants: Mutex::new(HashMap::new()),
            stats: stats.clone(),
        });
        let before = threads();
        let (data, counted) = (shared.clone(), stats.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
                .route("/{tenant}/discovery/v2.0/keys", web::get().to(jwks))
        })
        .workers(workers)
        .on_connect(move |_, _| {
            counted.connections.fetch_add(1, Relaxed);
        })
        .bind(("127.0.0.1", 0))
        .map_err(|e| format!("the OIDC provider cannot bind: {e}"))?;
        let port = server.addrs().first().map(|a| a.port()).ok_or("no port")?;
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        // Its threads: those that appeared with it, its workers (arbiters of this actix
        // System) and its acceptor.
        let mut mine = Vec::new();
        for _ in 0..50 {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            mine = (threads().into_iter())
                .filter(|t| !before.contains(t))
                .collect();
            if mine.len() > workers {
                break;
            }
        }
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            key,
            stats,
            shared,
            threads: mine,
            handle,
        })
    }

    /// The token endpoint of the bench tenant.
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.base)
    }

    /// What `/{tenant}/oauth2/v2.0/authorize?…` idgate's login redirects to.
    pub fn authorize_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/authorize?", self.base)
    }

    /// Registers a code, redeemable once with the verifier of `challenge`.
    pub fn grant(&self, code: String, challenge: String, token: Token) {
        let mut g = self.shared.grants.lock().unwrap_or_else(|e| e.into_inner());
        g.insert(code, (challenge, token));
    }

    /// User + system CPU seconds of the provider's threads.
    pub fn cpu_secs(&self) -> f64 {
        (self.threads.iter())
            .map(|t| super::cpu_secs(&format!("self/task/{t}")))
            .sum()
    }

    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// What the provider did between two snapshots.
pub struct Snapshot {
    tokens: u64,
    refused: u64,
    nanos: u64,
    connections: u64,
    jwks: u64,
    cpu: f64,
}

impl Snapshot {
    pub fn take(p: &Provider) -> Self {
        let s = &p.stats;
        Self {
            tokens: s.tokens.load(Relaxed),
            refused: s.refused.load(Relaxed),
            nanos: s.handler_nanos.load(Relaxed),
            connections: s.connections.load(Relaxed),
            jwks: s.jwks.load(Relaxed),
            cpu: p.cpu_secs(),
        }
    }

    /// One line: the provider's share since `self`.
    pub fn report(&self, p: &Provider) -> String {
        let now = Self::take(p);
        let n = (now.tokens - self.tokens).max(1) as f64;
        let mut line = format!(
            "provider: {} token requests ({} refused), handler {:.0} µs/request, CPU {:.0} \
             µs/request on its {} threads, {} TCP connections opened ({:.2} per token request), \
             {} JWKS fetches",
            now.tokens - self.tokens,
            now.refused - self.refused,
            (now.nanos - self.nanos) as f64 / n / 1000.0,
            (now.cpu - self.cpu) * 1e6 / n,
            p.thread_count(),
            now.connections - self.connections,
            (now.connections - self.connections) as f64 / n,
            now.jwks - self.jwks,
        );
        let first = p.stats.first_refusal.lock().map(|mut f| f.take());
        if let Ok(Some(why)) = first {
            line.push_str(&format!("; first refusal: {why}"));
        }
        line
    }
}

fn refuse(s: &Shared, status: u16, error: &str, description: &str) -> HttpResponse {
    s.stats.refused.fetch_add(1, Relaxed);
    if let Ok(mut first) = s.stats.first_refusal.lock() {
        first.get_or_insert_with(|| format!("{error}: {description}"));
    }
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or_default();
    HttpResponse::build(status).json(json!({"error": error, "error_description": description}))
}

async fn token(
    s: web::Data<Shared>,
    tenant: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let started = Instant::now();
    let res = redeem(&s, &tenant, &form);
    s.stats.tokens.fetch_add(1, Relaxed);
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    s.stats.handler_nanos.fetch_add(nanos, Relaxed);
    res
}

fn redeem(s: &Shared, tenant: &str, f: &HashMap<String, String>) -> HttpResponse {
    let get = |k: &str| f.get(k).map_or("", String::as_str);
    if tenant != TENANT {
        return refuse(s, 400, "invalid_tenant", "AADSTS90002: Tenant not found.");
    }
    if get("grant_type") != "authorization_code" {
        return refuse(s, 400, "unsupported_grant_type", "AADSTS70003");
    }
    if get("client_id") != CLIENT_ID {
        return refuse(s, 400, "unauthorized_client", "AADSTS700016");
    }
    if get("client_secret") != SECRET {
        return refuse(
            s,
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret.",
        );
    }
    if get("redirect_uri") != s.redirect_uri {
        return refuse(
            s,
            400,
            "invalid_grant",
            "AADSTS50011: redirect_uri mismatch.",
        );
    }
    let grant = {
        let mut g = s.grants.lock().unwrap_or_else(|e| e.into_inner());
        g.remove(get("code"))
    };
    let Some((want, token)) = grant else {
        return refuse(
            s,
            400,
            "invalid_grant",
            "AADSTS54005: code already redeemed.",
        );
    };
    if challenge(get("code_verifier")) != want {
        return refuse(
            s,
            400,
            "invalid_grant",
            "AADSTS501481: code_verifier mismatch.",
        );
    }
    let id_token = match token {
        Token::Signed(t) => t,
        Token::Claims(c) => match s.key.sign(&c) {
            Ok(t) => t,
            Err(e) => return refuse(s, 500, "server_error", &e),
        },
    };
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer", "scope": "openid profile email", "expires_in": 3599,
        "access_token": "not-used-by-idgate", "id_token": id_token,
    }))
}

async fn jwks(s: web::Data<Shared>) -> HttpResponse {
    s.stats.jwks.fetch_add(1, Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(s.key.jwks.clone())
}

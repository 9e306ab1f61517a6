//! An in-process stand-in for Entra's OIDC endpoints, on 127.0.0.1:0, with Entra's paths:
//! `/{tenant}/discovery/v2.0/keys`, `/{tenant}/oauth2/v2.0/token`,
//! `/{domain}/v2.0/.well-known/openid-configuration`. The test plays the user at the
//! authorization step: it reads state, nonce and the PKCE challenge from idgate's redirect,
//! then registers the code the callback will carry. Real RS256 keys (OpenSSL), real JWTs.
//! The independent end-to-end provider is `oidc-provider` (scripts/oidc-e2e.sh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const TENANT: &str = "3f1c6a2e-8d4b-4c1a-9e2f-5b7d8c9a0e11";
pub const OTHER_TENANT: &str = "0a9b8c7d-6e5f-4a3b-8c1d-2e3f4a5b6c7d";
pub const CLIENT_ID: &str = "6b2f1a3c-4d5e-4f60-8a9b-0c1d2e3f4a5b";
pub const SECRET: &str = "Qx8Q~correct-horse-battery-staple.value";

pub struct Key {
    pub kid: String,
    pub private_pem: Vec<u8>,
    n: String,
    e: String,
}

impl Key {
    pub fn new(kid: &str) -> Self {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        Self {
            kid: kid.to_string(),
            n: b64(rsa.n().to_vec()),
            e: b64(rsa.e().to_vec()),
            private_pem: rsa.private_key_to_pem().unwrap(),
        }
    }

    /// An RS256 JWT of `claims` with this key, the header naming `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(kid.to_string());
        let k = jsonwebtoken::EncodingKey::from_rsa_pem(&self.private_pem).unwrap();
        jsonwebtoken::encode(&h, claims, &k).unwrap()
    }
}

#[derive(Default)]
pub struct Inner {
    /// Published keys; the first signs.
    pub keys: Vec<Arc<Key>>,
    codes: HashMap<String, (String, String)>,
    /// The next token request's answer, instead of a token.
    pub token_error: Option<(u16, Value)>,
    pub token_requests: Vec<HashMap<String, String>>,
    pub jwks_fetches: usize,
    /// The certificate a `private_key_jwt` client's assertion must verify with.
    pub client_certificate: Option<String>,
}

#[derive(Clone)]
pub struct FakeEntra {
    pub base: String,
    pub inner: Arc<Mutex<Inner>>,
}

impl FakeEntra {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            keys: vec![Arc::new(Key::new("key-1"))],
            ..Default::default()
        }));
        let data = web::Data::new(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/{tenant}/discovery/v2.0/keys", web::get().to(jwks))
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
                .route(
                    "/{domain}/v2.0/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            base: format!("http://127.0.0.1:{port}"),
            inner,
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Entra-shaped claims of a member of `TENANT` for this sign-in's nonce.
    pub fn claims(&self, nonce: &str) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "aud": CLIENT_ID,
            "iss": format!("{}/{TENANT}/v2.0", self.base),
            "iat": now, "nbf": now, "exp": now + 3600,
            "nonce": nonce,
            "tid": TENANT,
            "oid": "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a",
            "sub": "pairwise-subject-not-the-oid",
            "upn": "Alice@Acme.com",
            "preferred_username": "Alice@Acme.com",
            "email": "Alice@Acme.com",
            "xms_edov": true,
            "name": "Alice Example",
            "given_name": "Alice",
            "family_name": "Example",
            "roles": ["Admin"],
            "ver": "2.0",
        })
    }

    /// Signs with the current key.
    pub fn id_token(&self, claims: &Value) -> String {
        let key = self.lock().keys[0].clone();
        key.sign(&key.kid, claims)
    }

    /// A code the token endpoint will redeem once for `id_token`, if the verifier matches.
    pub fn code_for(&self, id_token: String, challenge: &str) -> String {
        let code = format!("code-{}", uuid::Uuid::new_v4());
        self.lock()
            .codes
            .insert(code.clone(), (id_token, challenge.to_string()));
        code
    }

    /// Publishes a new signing key (the old one stays published when `keep_old`).
    pub fn rotate(&self, kid: &str, keep_old: bool) {
        let mut g = self.lock();
        if !keep_old {
            g.keys.clear();
        }
        g.keys.insert(0, Arc::new(Key::new(kid)));
    }
}

async fn jwks(inner: web::Data<Arc<Mutex<Inner>>>) -> HttpResponse {
    let mut g = inner.lock().unwrap();
    g.jwks_fetches += 1;
    let keys: Vec<Value> = g
        .keys
        .iter()
        .map(|k| json!({"kty": "RSA", "use": "sig", "kid": k.kid, "n": k.n, "e": k.e}))
        .collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

async fn discovery(path: web::Path<String>, req: actix_web::HttpRequest) -> HttpResponse {
    let host = req.connection_info().host().to_string();
    match path.as_str() {
        "contoso.onmicrosoft.com" | "acme.com" => HttpResponse::Ok().json(json!({
            "issuer": format!("http://{host}/{TENANT}/v2.0"),
        })),
        _ => HttpResponse::BadRequest().json(json!({
            "error": "invalid_tenant",
            "error_description": "AADSTS90002: Tenant not found.",
        })),
    }
}

fn token_error(status: u16, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": code, "error_description": description,
    }))
}

async fn token(
    inner: web::Data<Arc<Mutex<Inner>>>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let form = form.into_inner();
    let mut g = inner.lock().unwrap();
    g.token_requests.push(form.clone());
    if let Some((status, body)) = g.token_error.take() {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(body);
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return token_error(
            400,
            "unauthorized_client",
            "AADSTS700016: Application not found.",
        );
    }
    let url = format!(
        "http://{}/{}/oauth2/v2.0/token",
        req.connection_info().host(),
        path.as_str()
    );
    let authenticated = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(s), None) => s == SECRET,
        (None, Some(a)) => g.client_certificate.as_deref().is_some_and(|pem| {
            let cert = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap();
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(
                &cert.public_key().unwrap().public_key_to_pem().unwrap(),
            )
            .unwrap();
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.set_audience(&[url.as_str()]);
            form.get("client_assertion_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && jsonwebtoken::decode::<Value>(a, &key, &v)
                    .is_ok_and(|d| d.claims["sub"] == CLIENT_ID && d.header.x5t.is_some())
        }),
        _ => false,
    };
    if !authenticated {
        return token_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let Some((id_token, challenge)) = form.get("code").and_then(|c| g.codes.remove(c)) else {
        return token_error(
            400,
            "invalid_grant",
            "AADSTS54005: OAuth2 Authorization code was already redeemed.",
        );
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if computed != challenge {
        return token_error(
            400,
            "invalid_grant",
            "AADSTS501481: The Code_Verifier does not match the code_challenge.",
        );
    }
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer", "scope": "openid profile email",
        "expires_in": 3600, "access_token": "not-used", "id_token": id_token,
    }))
}

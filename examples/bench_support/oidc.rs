//! signin-bench's OIDC phases (issue 10): sign-ins through `GET /oidc/{org}/login` and
//! `GET /oidc/callback` with the code exchanged at a loopback provider
//! (examples/bench_support/oidc_provider.rs), next to what the provider alone takes and the
//! in-process cost of idgate's ID-token checks. Org `globex` (domain globex.com) signs in with
//! OIDC; its users are provisioned over SCIM with `externalId` = their Entra object id.
//!
//! - `oidc`: N logins (timed), N ID tokens signed (untimed: the IdP's work), N callbacks
//!   (timed: code exchange + ID-token validation + session); a sign-in is login + callback.
//! - `oidc-full`: N sign-ins in one loop (login → the bench registers the code → callback),
//!   the ID token signed by the provider's token endpoint when idgate redeems the code.
//! - `oidc-ceiling`: N token POSTs straight to the provider (the form idgate sends), over
//!   pooled connections and over a new client and connection each (as idgate's fetcher did
//!   before 71d48b0).
//! - `oidc-floor`: idgate's `inspect` + `verify_signature` + `check_claims` in this process,
//!   and the signature alone with idgate's verify_signature and with OpenSSL directly.

use std::cell::RefCell;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use actix_web::web::Bytes;
use idgate::oidc::idtoken::{self, Expect};
use serde_json::{Value, json};

use super::oidc_provider::{
    self as provider, CLIENT_ID, Provider, SECRET, Snapshot, TENANT, Token,
};
use super::{Bench, FORM, PUBLIC_URL, Rec, Row, cpu_secs, machine_busy_secs, session_of};

/// The org that signs in with OIDC, and its domain.
pub const ORG: &str = "globex";
pub const DOMAIN: &str = "globex.com";

/// User i's Entra object id (their SCIM externalId).
pub fn oid(i: usize) -> String {
    format!("0b1d0000-0000-4000-8000-{i:012x}")
}

pub fn email(i: usize) -> String {
    format!("user{i}@{DOMAIN}")
}

/// The environment idgate (server and CLI) needs to use the provider as its authority.
pub fn env(p: &Provider) -> Vec<(String, String)> {
    vec![
        ("IDGATE_OIDC_AUTHORITY".into(), p.base.clone()),
        ("IDGATE_OIDC_ALLOW_INSECURE_AUTHORITY".into(), "true".into()),
    ]
}

/// Org globex with an OIDC connection (customer app, client secret) to the provider;
/// returns a SCIM token of the org.
pub fn configure(binary: &Path, dir: &Path, p: &Provider) -> Result<String, String> {
    let cli = |args: &[&str], stdin: Option<&str>| -> Result<String, String> {
        let mut child = Command::new(binary)
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .current_dir(dir)
            .env("IDGATE_LOG_LEVEL", "warn")
            .envs(super::support::store_env())
            .envs(env(p))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        if let (Some(mut input), Some(text)) = (child.stdin.take(), stdin) {
            use std::io::Write as _;
            writeln!(input, "{text}").map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("idgate {} failed: {err}", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    cli(
        &["org", "create", ORG, "--name", "Globex", "--domain", DOMAIN],
        None,
    )?;
    let oidc = [
        "org",
        "oidc",
        ORG,
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT_ID,
        "--client-secret-stdin",
    ];
    cli(&oidc, Some(SECRET))?;
    cli(
        &["scim-token", "create", "--org", ORG, "--name", "bench"],
        None,
    )
}

/// Entra-shaped claims of user `i` for a sign-in with `nonce`.
pub fn claims(authority: &str, i: usize, nonce: &str) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let upn = email(i);
    json!({
        "aud": CLIENT_ID,
        "iss": format!("{authority}/{TENANT}/v2.0"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "nonce": nonce,
        "tid": TENANT,
        "oid": oid(i),
        "sub": format!("pairwise-{i}"),
        "upn": upn, "preferred_username": upn, "email": upn,
        "xms_edov": true,
        "name": format!("User {i}"),
        "ver": "2.0",
    })
}

/// What idgate's login redirect carries, and the browser cookie it set.
#[derive(Clone, Debug)]
struct Login {
    state: String,
    nonce: String,
    challenge: String,
    cookie: String,
}

fn login_of(status: u16, headers: &HeaderMap, authorize: &str) -> Result<Login, String> {
    let location = headers.get(LOCATION).and_then(|l| l.to_str().ok());
    let Some(query) = location.and_then(|l| l.strip_prefix(authorize)) else {
        return Err(format!("login: {status}, Location {location:?}"));
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone());
    let cookie = (headers.get_all(SET_COOKIE).filter_map(|v| v.to_str().ok()))
        .find_map(|v| v.strip_prefix("idgate_oidc="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match (get("state"), get("nonce"), get("code_challenge"), cookie) {
        (Some(state), Some(nonce), Some(challenge), Some(cookie))
            if get("code_challenge_method").as_deref() == Some("S256") =>
        {
            Ok(Login {
                state,
                nonce,
                challenge,
                cookie,
            })
        }
        _ => Err(format!("login: incomplete redirect {location:?}")),
    }
}

/// The `awc::Client` builds timed by `oidc-floor` (each loads the system's CA bundle: ~45 ms
/// here; idgate's fetcher built one per request before 71d48b0, one per worker thread since).
const CLIENT_BUILDS: usize = 50;
/// The token POSTs with a new client each of `oidc-ceiling`, at most (~15/s here).
const FRESH_POSTS: usize = 100;

impl Bench {
    pub fn oidc_n(&self) -> usize {
        self.args.oidc_signins.unwrap_or(self.args.signins)
    }

    fn provider(&self) -> &Provider {
        self.oidc
            .as_ref()
            .expect("the provider starts with the bench")
    }

    /// Sends `req`, reads the body; the status and headers.
    async fn send(
        &self,
        req: awc::ClientRequest,
        body: Option<Bytes>,
    ) -> Result<(u16, HeaderMap), String> {
        let sent = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| format!("request failed: {e}"))?;
        let body = res.body().limit(1 << 20).await.unwrap_or_default();
        let status = res.status().as_u16();
        if status >= 400 {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("{status} {}", text.trim()));
        }
        Ok((status, res.headers().clone()))
    }

    async fn login(&self) -> Result<Login, String> {
        let url = format!("{}/oidc/{ORG}/login?return_to=%2F", self.base());
        let (status, headers) = self.send(self.client.get(url), None).await?;
        login_of(status, &headers, &self.provider().authorize_url())
    }

    /// The callback Entra's redirect would make, with the code; a 303 with a session.
    async fn callback(&self, l: &Login, code: &str) -> Result<(), String> {
        let url = format!(
            "{}/oidc/callback?code={code}&state={}",
            self.base(),
            l.state
        );
        let req =
            (self.client.get(url)).insert_header((COOKIE, format!("idgate_oidc={}", l.cookie)));
        match self.send(req, None).await? {
            (303, h) if session_of(&h).is_some() => Ok(()),
            (status, h) => Err(format!(
                "callback: {status}, Location {:?}",
                h.get(LOCATION)
            )),
        }
    }

    /// Timed `job(k)` for k in 0..n: `Ok` is one success (its latency kept per k).
    async fn steps<F, Fut>(&self, phase: &'static str, series: &str, n: usize, job: F) -> Vec<u32>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let (rec, lat) = (&Rec::default(), &RefCell::new(vec![0u32; n]));
        let snap = Snapshot::take(self.provider());
        self.timed(phase, series, n, rec, |k| {
            let started = Instant::now();
            let fut = job(k);
            async move {
                match fut.await {
                    Ok(()) => {
                        rec.ok(started);
                        lat.borrow_mut()[k] = rec.micros.borrow().last().copied().unwrap_or(0);
                    }
                    Err(e) => rec.err(|| e),
                }
            }
        })
        .await;
        println!("    {}", snap.report(self.provider()));
        lat.take()
    }

    /// Timed logins, untimed signing, timed callbacks; then the sum as the sign-in row.
    pub async fn oidc(&self) {
        let n = self.oidc_n();
        let logins = RefCell::new(vec![None; n]);
        let series = format!("GET /oidc/{ORG}/login");
        let login_lat = self
            .steps("oidc", &series, n, |k| {
                let logins = &logins;
                async move {
                    logins.borrow_mut()[k] = Some(self.login().await?);
                    Ok(())
                }
            })
            .await;
        let logins: Vec<Option<Login>> = logins.take();
        let (started, p) = (Instant::now(), self.provider());
        let mut codes = vec![None; n];
        for (k, l) in logins.iter().enumerate() {
            let Some(l) = l else { continue };
            let signed = p.key.sign(&claims(&p.base, k % self.args.users, &l.nonce));
            let Ok(token) = signed else { continue };
            let code = format!("bench-code-{k}-{}", uuid::Uuid::new_v4());
            p.grant(
                code.clone(),
                l.challenge.clone(),
                Token::Signed(token.clone()),
            );
            self.oidc_tokens.borrow_mut().push((token, l.nonce.clone()));
            codes[k] = Some(code);
        }
        println!(
            "  signed {} ID tokens (RS256, OpenSSL) in {:.1} s (untimed: the IdP's work)",
            codes.iter().flatten().count(),
            started.elapsed().as_secs_f64()
        );
        let cb_lat = self
            .steps(
                "oidc",
                "GET /oidc/callback (code exchange + ID token + session)",
                n,
                |k| {
                    let (l, code) = (logins[k].clone(), codes[k].clone());
                    async move {
                        match (l, code) {
                            (Some(l), Some(code)) => self.callback(&l, &code).await,
                            _ => Err("no login".into()),
                        }
                    }
                },
            )
            .await;
        // The sign-in: login + callback, per k when both succeeded.
        let mut micros: Vec<u32> = (login_lat.iter().zip(&cb_lat))
            .filter(|(a, b)| **a > 0 && **b > 0)
            .map(|(a, b)| a.saturating_add(*b))
            .collect();
        micros.sort_unstable();
        let row = {
            let rows = self.rows.borrow();
            let [.., a, b] = rows.as_slice() else { return };
            Row {
                phase: "oidc",
                series: "sign-in = login + callback".into(),
                micros,
                secs: a.secs + b.secs,
                errors: a.errors + b.errors,
                server_cpu: a.server_cpu.zip(b.server_cpu).map(|(x, y)| x + y),
                bench_cpu: a.bench_cpu + b.bench_cpu,
                pg_cpu: a.pg_cpu.zip(b.pg_cpu).map(|(x, y)| x + y),
                other_cpu: a.other_cpu + b.other_cpu,
                rss: b.rss,
            }
        };
        self.push(row);
    }

    /// Full sign-ins in one loop; the provider signs each ID token when it is redeemed.
    pub async fn oidc_full(&self) {
        let series = "login → Entra → callback (provider signs at the token endpoint)";
        self.steps("oidc-full", series, self.oidc_n(), |k| async move {
            let l = self.login().await?;
            let p = self.provider();
            let code = format!("bench-full-{k}-{}", uuid::Uuid::new_v4());
            let c = claims(&p.base, k % self.args.users, &l.nonce);
            p.grant(code.clone(), l.challenge.clone(), Token::Claims(c));
            self.callback(&l, &code).await
        })
        .await;
    }

    /// Token POSTs straight to the provider: what the code exchange costs without idgate.
    pub async fn oidc_ceiling(&self) {
        let (n, p) = (self.oidc_n(), self.provider());
        let tokens = self.tokens(n.min(64));
        let url = &p.token_url();
        let redirect = format!("{PUBLIC_URL}/oidc/callback");
        for fresh in [false, true] {
            let n = if fresh { n.min(FRESH_POSTS) } else { n };
            let forms: Vec<Bytes> = (0..n)
                .map(|k| {
                    let verifier = format!("bench-verifier-{k}-{}", uuid::Uuid::new_v4());
                    let code = format!("bench-ceiling-{k}-{}", uuid::Uuid::new_v4());
                    let token = tokens[k % tokens.len()].0.clone();
                    p.grant(
                        code.clone(),
                        provider::challenge(&verifier),
                        Token::Signed(token),
                    );
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", &redirect),
                        ("client_id", CLIENT_ID),
                        ("code_verifier", &verifier),
                        ("client_secret", SECRET),
                    ];
                    Bytes::from(serde_urlencoded::to_string(form).unwrap_or_default())
                })
                .collect();
            let series = if fresh {
                "token POST straight to the provider, a new client + connection each (idgate before 71d48b0)"
            } else {
                "token POST straight to the provider, pooled connections"
            };
            let forms = &forms;
            self.steps("oidc-ceiling", series, n, |k| async move {
                let client = if fresh {
                    // What idgate's oidc::http::Fetcher built for every request before 71d48b0.
                    awc::Client::builder()
                        .disable_redirects()
                        .timeout(Duration::from_secs(10))
                        .finish()
                } else {
                    self.client.clone()
                };
                let req = client.post(url).insert_header((CONTENT_TYPE, FORM));
                match self.send(req, Some(forms[k].clone())).await? {
                    (200, _) => Ok(()),
                    (s, _) => Err(format!("token endpoint answered {s}")),
                }
            })
            .await;
        }
    }

    /// (ID token, nonce) pairs: those of `oidc`, else `n` signed now.
    fn tokens(&self, n: usize) -> Vec<(String, String)> {
        if self.oidc_tokens.borrow().is_empty() {
            let p = self.provider();
            let made: Vec<(String, String)> = (0..n.max(1))
                .filter_map(|k| {
                    let nonce = format!("bench-nonce-{k}-{}", uuid::Uuid::new_v4());
                    let t = p.key.sign(&claims(&p.base, k % self.args.users, &nonce));
                    Some((t.ok()?, nonce))
                })
                .collect();
            *self.oidc_tokens.borrow_mut() = made;
        }
        self.oidc_tokens.borrow().clone()
    }

    /// Runs `f` over `items` on `threads` threads in this process; one row.
    fn in_process<T: Sync>(
        &self,
        series: String,
        items: &[T],
        threads: usize,
        f: impl Fn(&T) -> bool + Sync,
    ) {
        let run = |chunk: &[T]| {
            let (mut micros, mut errors) = (Vec::with_capacity(chunk.len()), 0);
            for item in chunk {
                let started = Instant::now();
                if std::hint::black_box(f(item)) {
                    micros.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (micros, errors)
        };
        let (bench0, busy0, started) = (cpu_secs("self"), machine_busy_secs(), Instant::now());
        let parts: Vec<(Vec<u32>, u64)> = std::thread::scope(|s| {
            let chunks = items.chunks(items.len().div_ceil(threads).max(1));
            let handles: Vec<_> = chunks.map(|c| s.spawn(|| run(c))).collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let secs = started.elapsed().as_secs_f64();
        let (bench_cpu, busy) = (cpu_secs("self") - bench0, machine_busy_secs() - busy0);
        let mut micros: Vec<u32> = parts.iter().flat_map(|p| p.0.iter().copied()).collect();
        micros.sort_unstable();
        self.push(Row {
            phase: "oidc-floor",
            series,
            micros,
            secs,
            errors: parts.iter().map(|p| p.1).sum(),
            server_cpu: None,
            bench_cpu,
            pg_cpu: None,
            other_cpu: busy - bench_cpu,
            rss: self.rss(),
        });
    }

    /// idgate's ID-token checks in this process (the floor under the callback).
    pub fn oidc_floor(&self) {
        let n = self.oidc_n();
        let pool = self.tokens(n);
        let tokens: Vec<&(String, String)> = (0..n).map(|k| &pool[k % pool.len()]).collect();
        let p = self.provider();
        let keys = match idgate::oidc::jwks::parse(p.key.jwks.as_bytes()) {
            Ok(k) => k,
            Err(e) => return println!("  oidc-floor: the JWKS does not parse: {e}"),
        };
        let Some(key) = keys.get(provider::KID).cloned() else {
            return println!("  oidc-floor: no key {}", provider::KID);
        };
        let authority = p.base.clone();
        let check = |(token, nonce): &&(String, String)| {
            let Ok(t) = idtoken::inspect(token) else {
                return false;
            };
            if idtoken::verify_signature(&t, &key).is_err() {
                return false;
            }
            let expect = Expect {
                authority: &authority,
                tenant: Some(TENANT),
                client_id: CLIENT_ID,
                nonce,
                skew_secs: 300,
                now: time::OffsetDateTime::now_utc(),
            };
            idtoken::check_claims(&t.claims, &expect).1.is_ok()
        };
        for threads in [1, 2] {
            let series = format!("inspect + verify_signature + check_claims, {threads} thread(s)");
            self.in_process(series, &tokens, threads, check);
        }
        let inspected: Vec<idtoken::Unverified> = (tokens.iter())
            .filter_map(|(t, _)| idtoken::inspect(t).ok())
            .collect();
        let series =
            "RS256 signature only: idgate's verify_signature (OpenSSL since 0a6ac6b), 1 thread"
                .to_string();
        self.in_process(series, &inspected, 1, |t| {
            idtoken::verify_signature(t, &key).is_ok()
        });
        let (series, key) = ("RS256 signature only: OpenSSL, 1 thread", &p.key);
        self.in_process(series.into(), &tokens, 1, |(t, _)| key.verify(t));
        let series = "awc::Client build (idgate's fetcher: per request before 71d48b0), 1 thread"
            .to_string();
        let builds = &tokens[..tokens.len().min(CLIENT_BUILDS)];
        self.in_process(series, builds, 1, |_| {
            let c = awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(10))
                .finish();
            drop(std::hint::black_box(c));
            true
        });
    }
}

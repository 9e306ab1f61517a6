//! `signin-bench`: verified SAML sign-ins per second through `POST /saml/{org}/acs` and
//! forward-auth checks per second through `GET /auth/verify`, against a real idgate server (a
//! subprocess on 127.0.0.1 with a temporary store), next to the in-process cost of
//! `validate_response` (the floor under the ACS); and OIDC sign-ins per second through
//! `GET /oidc/{org}/login` + `GET /oidc/callback`, the code exchanged at a loopback provider in
//! this process (bench_support/oidc.rs, bench_support/oidc_provider.rs). See
//! docs/PERFORMANCE.md.
//!
//! ```text
//! cargo build --release --locked && cargo build --release --locked --example signin-bench
//! target/release/examples/signin-bench                      # 5,000 sign-ins, 200,000 verifies
//! target/release/examples/signin-bench --phases acs-idp --signins 20000
//! target/release/examples/signin-bench --phases oidc,oidc-ceiling,oidc-floor
//! # PostgreSQL (a fresh database on that server), two instances behind a round-robin client:
//! target/release/examples/signin-bench --store-url postgres://postgres@127.0.0.1:5432/postgres \
//!     --instances 2 --phases acs-idp,verify
//! ```
//!
//! Responses are signed with the committed test key (tests/fixtures/saml-test-key/) through
//! `idgate::saml::test_idp` before each timed part: signing is the IdP's cost, not ours.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use actix_web::http::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use actix_web::web::Bytes;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use idgate::saml::sp::{Expectation, IdpSettings, SpSettings, validate_response};
use idgate::saml::test_idp::{self, Entra};
use serde_json::json;
use time::OffsetDateTime;

#[path = "bench_support/oidc.rs"]
mod oidc;
#[path = "bench_support/oidc_provider.rs"]
mod oidc_provider;
#[path = "bench_support/mod.rs"]
mod support;
use support::{Cluster, cpu_of, cpu_secs, drive, idgate_cli, machine_busy_secs, memory};

const PUBLIC_URL: &str = "https://login.example.com";
const DOMAIN: &str = "acme.com";
const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Parser, Debug)]
#[command(about = "Load generator for idgate's SAML ACS, OIDC callback and /auth/verify")]
struct Args {
    /// Sign-ins posted by each of `acs-idp` and `acs-sp` (and validated by `floor`).
    #[arg(long, default_value_t = 5_000)]
    signins: usize,
    /// Sign-ins of each of `oidc` and `oidc-full` (and token POSTs of `oidc-ceiling`, ID
    /// tokens of `oidc-floor`); default: --signins.
    #[arg(long)]
    oidc_signins: Option<usize>,
    /// Requests of `verify` (and of `ceiling`; a tenth of it for `verify-bad`).
    #[arg(long, default_value_t = 200_000)]
    verifies: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Users provisioned over SCIM (user0..@acme.com); sign-in k is user k % users.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Distinct session cookies `verify` sends (taken from the first sign-ins).
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// Phases to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "acs-idp,acs-sp,verify,verify-bad,ceiling,floor,oidc,oidc-full,oidc-ceiling,oidc-floor"
    )]
    phases: Vec<Phase>,
    /// The idgate binary.
    #[arg(long, default_value = "target/release/idgate")]
    binary: PathBuf,
    /// Upper bound on each timed part, in seconds (responses expire 10 minutes after signing).
    #[arg(long, default_value_t = 500)]
    phase_timeout: u64,
    /// The store and the idgate instances on it.
    #[command(flatten)]
    cluster: support::ClusterArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    AcsIdp,
    AcsSp,
    Verify,
    VerifyBad,
    Ceiling,
    Floor,
    Oidc,
    OidcFull,
    OidcCeiling,
    OidcFloor,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // xmlsec must start on the main thread before anything signs or verifies.
    if let Err(e) = idgate::saml::sp::init() {
        eprintln!("signin-bench: {e}");
        return ExitCode::FAILURE;
    }
    match actix_web::rt::System::new().block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signin-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CPU time from /proc: bench_support.

// ---------------------------------------------------------------------------------------------
// Recording and the concurrent driver.

#[derive(Default)]
struct Rec {
    micros: RefCell<Vec<u32>>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Rec {
    fn ok(&self, started: Instant) {
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.micros.borrow_mut().push(us);
    }

    fn err(&self, what: impl FnOnce() -> String) {
        self.errors.set(self.errors.get() + 1);
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(what().chars().take(600).collect());
        }
    }

    /// Sends `req` (with `body`); a success when `accept(status, headers)`, timed.
    async fn exchange(
        &self,
        req: awc::ClientRequest,
        body: Option<Bytes>,
        accept: impl FnOnce(u16, &HeaderMap) -> bool,
    ) {
        let started = Instant::now();
        let sent = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        };
        let mut res = match sent {
            Ok(r) => r,
            Err(e) => return self.err(|| format!("request failed: {e}")),
        };
        let body = res.body().limit(1 << 20).await.unwrap_or_default();
        if accept(res.status().as_u16(), res.headers()) {
            self.ok(started);
        } else {
            let status = res.status();
            self.err(|| format!("{status} {}", String::from_utf8_lossy(&body).trim()));
        }
    }
}

/// One line of the report.
struct Row {
    phase: &'static str,
    series: String,
    micros: Vec<u32>,
    secs: f64,
    errors: u64,
    /// CPU seconds the server used during the timed part (None: not a server row).
    server_cpu: Option<f64>,
    /// CPU seconds this process used (the client, or validate_response for `floor`).
    bench_cpu: f64,
    /// CPU seconds this run's PostgreSQL processes used (None: SQLite).
    pg_cpu: Option<f64>,
    /// CPU seconds everything else on the machine used meanwhile (other users' builds).
    other_cpu: f64,
    rss: f64,
}

impl Row {
    fn markdown(&self) -> String {
        let n = self.micros.len();
        let pct = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil() as usize;
            self.micros
                .get(rank.clamp(1, n.max(1)) - 1)
                .map_or(0.0, |&us| f64::from(us) / 1000.0)
        };
        let cpu = self.server_cpu.map_or("—".into(), |s| {
            format!("{:.0}", s * 1e6 / n.max(1) as f64)
        });
        let pg = self.pg_cpu.map_or("—".into(), |s| format!("{s:.2}"));
        format!(
            "| {} | {} | {n} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {cpu} | {:.2} | {pg} | {:.2} | {:.1} |",
            self.phase,
            self.series,
            self.secs,
            n as f64 / self.secs.max(1e-9),
            pct(50.0),
            pct(99.0),
            self.errors,
            self.bench_cpu,
            self.other_cpu.max(0.0),
            self.rss,
        )
    }

    fn rate(&self) -> f64 {
        self.micros.len() as f64 / self.secs.max(1e-9)
    }
}

const TABLE_HEAD: &str = "| phase | series | requests | seconds | req/s | p50 ms | p99 ms | errors | server CPU µs/req | bench CPU s | postgres CPU s | others' CPU s | server RSS MiB |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

// ---------------------------------------------------------------------------------------------
// SAML: responses, the SP-initiated redirect, cookies.

fn email(k: usize, users: usize) -> String {
    format!("user{}@{DOMAIN}", k % users.max(1))
}

/// A genuine response for user k % users, issued now, with a fresh assertion ID.
fn signed(k: usize, users: usize, in_response_to: Option<String>) -> String {
    let mut e = Entra::new(OffsetDateTime::now_utc());
    e.assertion_id = format!("_{}", uuid::Uuid::new_v4());
    e.email = email(k, users);
    e.name_id = e.email.clone();
    e.in_response_to = in_response_to;
    test_idp::b64(&e.xml())
}

fn form(response: &str, relay_state: Option<&str>) -> Bytes {
    let mut pairs = vec![("SAMLResponse", response)];
    pairs.extend(relay_state.map(|r| ("RelayState", r)));
    Bytes::from(serde_urlencoded::to_string(pairs).unwrap_or_default())
}

/// (AuthnRequest ID, RelayState) from the IdP redirect `/saml/{org}/login` answered.
fn pending_of(location: &str) -> Option<(String, String)> {
    let q = location.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
    let get = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone());
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(get("SAMLRequest")?)
        .ok()?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .ok()?;
    let id = xml.split(" ID=\"").nth(1)?.split('"').next()?;
    Some((id.to_string(), get("RelayState")?))
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(SET_COOKIE).filter_map(|v| v.to_str().ok());
    let value = cookies
        .filter_map(|v| v.strip_prefix("idgate_session="))
        .next()?;
    Some(value.split(';').next()?.to_string()).filter(|v| !v.is_empty())
}

/// The same token with its signature's first character changed: a forged cookie.
fn forged(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap_or((token, ""));
    let flip = if sig.starts_with('A') { "B" } else { "A" };
    format!("{head}.{flip}{}", sig.get(1..).unwrap_or(""))
}

// ---------------------------------------------------------------------------------------------
// The phases.

struct Bench {
    args: Args,
    client: awc::Client,
    /// http://127.0.0.1:port of each instance, taken in turn (a round-robin load balancer).
    bases: Vec<String>,
    next: Cell<usize>,
    /// The instances' processes.
    pids: Vec<u32>,
    limit: Duration,
    /// Session tokens from the first successful sign-ins.
    sessions: RefCell<Vec<String>>,
    /// The IdP-initiated responses of `acs-idp` (signed anew for `floor` if it did not run).
    idp_responses: RefCell<Vec<String>>,
    rows: RefCell<Vec<Row>>,
    /// The loopback OpenID provider (oidc_provider.rs).
    oidc: Option<oidc_provider::Provider>,
    /// (ID token, nonce) pairs signed for `oidc`, reused by `oidc-ceiling` and `oidc-floor`.
    oidc_tokens: RefCell<Vec<(String, String)>>,
}

impl Bench {
    /// The next instance's base URL, round-robin.
    fn base(&self) -> &str {
        let k = self.next.get();
        self.next.set(k.wrapping_add(1));
        &self.bases[k % self.bases.len()]
    }

    /// VmRSS of the instances, summed, in MiB.
    fn rss(&self) -> f64 {
        self.pids.iter().map(|&p| memory(p).0).sum()
    }

    fn provider_base(&self) -> &str {
        self.oidc.as_ref().map_or("", |p| p.base.as_str())
    }

    fn push(&self, row: Row) {
        println!("  {}", row.markdown());
        self.rows.borrow_mut().push(row);
    }

    /// Times `job` over 0..n at the configured concurrency; one row from what `rec` saw.
    async fn timed<F, Fut>(&self, phase: &'static str, series: &str, n: usize, rec: &Rec, job: F)
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (pids, postgres) = (&self.pids, support::postgres_pids());
        let (server0, bench0, busy0) = (cpu_of(pids), cpu_secs("self"), machine_busy_secs());
        let pg0 = cpu_of(&postgres);
        let elapsed = drive(n, self.args.concurrency, self.limit, None, job).await;
        let (server1, bench1, busy1) = (cpu_of(pids), cpu_secs("self"), machine_busy_secs());
        let pg = cpu_of(&postgres) - pg0;
        let mut micros = rec.micros.take();
        micros.sort_unstable();
        self.push(Row {
            phase,
            series: series.to_string(),
            micros,
            secs: elapsed.as_secs_f64(),
            errors: rec.errors.get(),
            // Ceilings run in this process: the server's CPU is not their cost.
            server_cpu: (!phase.ends_with("ceiling")).then_some(server1 - server0),
            bench_cpu: bench1 - bench0,
            pg_cpu: support::store_url().map(|_| pg),
            other_cpu: (busy1 - busy0) - (server1 - server0) - (bench1 - bench0) - pg,
            rss: self.rss(),
        });
        if let Some(e) = rec.first_error.take() {
            println!("    first error: {e}");
        }
    }

    /// Signs `n` responses, untimed: signing is the IdP's work.
    fn sign_all(&self, n: usize, irt: impl Fn(usize) -> Option<String>) -> Vec<String> {
        let started = Instant::now();
        let out: Vec<String> = (0..n).map(|k| signed(k, self.args.users, irt(k))).collect();
        let avg = out.iter().map(String::len).sum::<usize>() / n.max(1);
        println!(
            "  signed {n} responses ({avg} base64 characters each) in {:.1} s (untimed)",
            started.elapsed().as_secs_f64()
        );
        out
    }

    /// POSTs each form to the ACS; a 303 with a session cookie is a sign-in.
    async fn post_acs(&self, phase: &'static str, series: &str, forms: &[Bytes]) {
        let rec = &Rec::default();
        self.timed(phase, series, forms.len(), rec, |k| {
            let url = format!("{}/saml/acme/acs", self.base());
            let req = self.client.post(url).insert_header((CONTENT_TYPE, FORM));
            rec.exchange(req, Some(forms[k].clone()), |status, headers| {
                let Some(token) = session_of(headers).filter(|_| status == 303) else {
                    return false;
                };
                let mut sessions = self.sessions.borrow_mut();
                if sessions.len() < self.args.sessions {
                    sessions.push(token);
                }
                true
            })
        })
        .await;
    }

    async fn acs_idp(&self) {
        let responses = self.sign_all(self.args.signins, |_| None);
        let forms: Vec<Bytes> = responses.iter().map(|r| form(r, None)).collect();
        self.post_acs("acs-idp", "POST acs (IdP-initiated)", &forms)
            .await;
        *self.idp_responses.borrow_mut() = responses;
    }

    /// Untimed preparation: N GET /saml/acme/login (their rate is reported as well) and N
    /// responses answering them; timed: the N posts with their RelayState.
    async fn acs_sp(&self) {
        let n = self.args.signins;
        let (slots, rec) = (&RefCell::new(vec![None; n]), &Rec::default());
        self.timed("acs-sp", "GET login (prep)", n, rec, |k| {
            let url = format!("{}/saml/acme/login?return_to=%2F", self.base());
            rec.exchange(self.client.get(url), None, move |status, headers| {
                let location = headers.get(LOCATION).and_then(|l| l.to_str().ok());
                slots.borrow_mut()[k] = location.and_then(pending_of).filter(|_| status == 302);
                slots.borrow()[k].is_some()
            })
        })
        .await;
        let pending: Vec<(String, String)> = slots.take().into_iter().flatten().collect();
        let responses = self.sign_all(pending.len(), |k| Some(pending[k].0.clone()));
        let forms: Vec<Bytes> = (responses.iter().zip(&pending))
            .map(|(r, (_, relay))| form(r, Some(relay)))
            .collect();
        self.post_acs("acs-sp", "POST acs (SP-initiated)", &forms)
            .await;
    }

    /// The session tokens `verify` sends, signing in first if no acs phase ran.
    async fn cookies(&self) -> Vec<String> {
        let missing = self
            .args
            .sessions
            .saturating_sub(self.sessions.borrow().len());
        if missing > 0 {
            let forms: Vec<Bytes> = (self.sign_all(missing, |_| None).iter())
                .map(|r| form(r, None))
                .collect();
            self.post_acs("verify", "POST acs (sessions for verify)", &forms)
                .await;
        }
        self.sessions.borrow().clone()
    }

    /// GET {base}/auth/verify with `tokens[k % len]` as the cookie, expecting `want`; the
    /// requests go to `bases` in turn.
    async fn verify(
        &self,
        phase: &'static str,
        series: &str,
        bases: &[String],
        n: usize,
        tokens: &[String],
        want: u16,
    ) {
        if tokens.is_empty() || bases.is_empty() {
            return println!("  {series}: no session cookies, skipped");
        }
        let urls: Vec<String> = bases.iter().map(|b| format!("{b}/auth/verify")).collect();
        let rec = &Rec::default();
        let (urls, next) = (&urls, &Cell::new(0usize));
        let cookies: Vec<String> = tokens
            .iter()
            .map(|t| format!("idgate_session={t}"))
            .collect();
        self.timed(phase, series, n, rec, |k| {
            let i = next.get();
            next.set(i.wrapping_add(1));
            let req = self
                .client
                .get(&urls[i % urls.len()])
                .insert_header((COOKIE, cookies[k % cookies.len()].as_str()));
            rec.exchange(req, None, move |status, headers| {
                status == want && (want != 200 || headers.contains_key("x-idgate-email"))
            })
        })
        .await;
    }

    /// validate_response in this process over the IdP-initiated responses, on 1 and 2 threads.
    fn floor(&self) {
        if self.idp_responses.borrow().is_empty() {
            *self.idp_responses.borrow_mut() = self.sign_all(self.args.signins, |_| None);
        }
        let responses = self.idp_responses.borrow();
        let sp = SpSettings {
            entity_id: test_idp::SP.into(),
            acs_url: test_idp::ACS.into(),
            clock_skew: Duration::from_secs(180),
        };
        let idp = IdpSettings {
            entity_id: test_idp::IDP.into(),
            certificates_der: vec![test_idp::cert_der("idp-cert")],
        };
        let expect = Expectation {
            in_response_to: None,
            allow_unsolicited: true,
        };
        let now = OffsetDateTime::now_utc();
        let run = |chunk: &[String]| {
            let (mut micros, mut errors) = (Vec::with_capacity(chunk.len()), 0);
            for r in chunk {
                let started = Instant::now();
                match validate_response(r, &sp, &idp, &expect, now) {
                    Ok(v) => {
                        std::hint::black_box(v);
                        micros.push(started.elapsed().as_micros() as u32);
                    }
                    Err(_) => errors += 1,
                }
            }
            (micros, errors)
        };
        for threads in [1, 2] {
            let (bench0, busy0, started) = (cpu_secs("self"), machine_busy_secs(), Instant::now());
            let parts: Vec<(Vec<u32>, u64)> = std::thread::scope(|s| {
                let chunks = responses.chunks(responses.len().div_ceil(threads).max(1));
                let handles: Vec<_> = chunks.map(|c| s.spawn(move || run(c))).collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            let secs = started.elapsed().as_secs_f64();
            let (bench_cpu, busy) = (cpu_secs("self") - bench0, machine_busy_secs() - busy0);
            let mut micros: Vec<u32> = parts.iter().flat_map(|p| p.0.iter().copied()).collect();
            micros.sort_unstable();
            self.push(Row {
                phase: "floor",
                series: format!("validate_response, {threads} thread(s)"),
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
    }

    /// /auth/verify against an endpoint in this process that only looks the cookie up.
    async fn ceiling(&self, tokens: Vec<String>) -> Result<(), String> {
        let known = web::Data::new(tokens.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(known.clone())
                .route("/auth/verify", web::get().to(mem_verify))
        })
        .bind(("127.0.0.1", 0))
        .map_err(|e| e.to_string())?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or("ceiling did not bind")?;
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let (base, n) = (format!("http://127.0.0.1:{port}"), self.args.verifies);
        let series = "in-memory /auth/verify (ceiling)";
        self.verify("ceiling", series, &[base], n, &tokens, 200)
            .await;
        handle.stop(true).await;
        Ok(())
    }
}

/// The ceiling's handler: 200 with idgate's headers for a known cookie, else 401.
async fn mem_verify(known: web::Data<Vec<String>>, req: HttpRequest) -> HttpResponse {
    let Some(_) = req
        .cookie("idgate_session")
        .filter(|c| known.iter().any(|k| k == c.value()))
    else {
        return HttpResponse::Unauthorized().finish();
    };
    let mut res = HttpResponse::Ok();
    res.insert_header(("Cache-Control", "no-store"));
    for (name, value) in [
        ("X-Idgate-User-Id", "00000000-0000-0000-0000-000000000000"),
        ("X-Idgate-Email", "user0@acme.com"),
        ("X-Idgate-Name", "User 0"),
        ("X-Idgate-Org", "acme"),
        ("X-Idgate-Role", ""),
        ("X-Idgate-Groups", ""),
    ] {
        res.insert_header((name, value));
    }
    res.finish()
}

// ---------------------------------------------------------------------------------------------

/// The store: org acme with the test IdP, IdP-initiated on; returns a SCIM token.
fn configure(binary: &Path, dir: &Path) -> Result<String, String> {
    // The CLI runs in `dir`, so the certificate is named relative to it.
    std::fs::write(dir.join("idp.pem"), test_idp::key_file("idp-cert"))
        .map_err(|e| e.to_string())?;
    let sso = "https://login.microsoftonline.com/x/saml2";
    let saml = format!(
        "org saml acme --cert idp.pem --idp-entity-id {} --sso-url {sso}",
        test_idp::IDP
    );
    for command in [
        "org create acme --name Acme --domain acme.com",
        &saml,
        "org set acme --idp-initiated on",
    ] {
        idgate_cli(binary, dir, &command.split(' ').collect::<Vec<_>>())?;
    }
    idgate_cli(
        binary,
        dir,
        &["scim-token", "create", "--org", "acme", "--name", "bench"],
    )
}

/// Provisions user0..user{users-1}@acme.com over SCIM (no externalId: found by email), or
/// (`oidc`) user0..@globex.com with externalId = their Entra object id.
async fn provision(bench: &Bench, token: &str, oidc: bool) -> Result<(), String> {
    let auth = &format!("Bearer {token}");
    let rec = &Rec::default();
    drive(
        bench.args.users,
        bench.args.concurrency,
        bench.limit,
        None,
        |i| {
            let address = if oidc {
                oidc::email(i)
            } else {
                email(i, usize::MAX)
            };
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": address,
                "displayName": format!("User {i}"),
                "active": true,
                "emails": [{"value": address, "type": "work", "primary": true}],
            });
            if oidc {
                body["externalId"] = json!(oidc::oid(i));
            }
            let url = format!("{}/scim/v2/Users", bench.base());
            let req = (bench
                .client
                .post(url)
                .insert_header(("Authorization", auth.as_str())))
            .insert_header((CONTENT_TYPE, "application/scim+json"));
            rec.exchange(req, Some(Bytes::from(body.to_string())), |s, _| s == 201)
        },
    )
    .await;
    match rec.first_error.take() {
        Some(e) => Err(format!("provisioning users: {e}")),
        None => Ok(()),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let binary = std::fs::canonicalize(&args.binary).map_err(|e| {
        format!(
            "{}: {e} (build it with cargo build --release)",
            args.binary.display()
        )
    })?;
    let temp = tempfile::Builder::new()
        .prefix("signin-bench")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let (dir, setup) = (temp.path(), Instant::now());
    let store = match &args.cluster.store_url {
        Some(url) => format!(
            "PostgreSQL {}",
            support::fresh_database(url, "signin_bench")?
        ),
        None => format!("SQLite {}", dir.display()),
    };
    let token = configure(&binary, dir)?;
    // The OpenID provider first: idgate's authority names its port.
    let redirect_uri = format!("{PUBLIC_URL}/oidc/callback");
    let provider = oidc_provider::Provider::start(2, &redirect_uri).await?;
    let oidc_token = oidc::configure(&binary, dir, &provider)?;
    let env = oidc::env(&provider);
    let server = Cluster::start(
        &binary,
        dir,
        args.cluster.instances,
        Some(PUBLIC_URL),
        &env,
        args.cluster.cpu_per_instance,
    )?;
    let client = awc::Client::builder()
        // Idle connections are dropped before the server's 5 s keep-alive closes them: the
        // untimed signing between phases takes longer, and a stale one fails its next request.
        .connector(
            (awc::Connector::new().limit(args.concurrency + 8))
                .conn_keep_alive(Duration::from_secs(3)),
        )
        .timeout(Duration::from_secs(60))
        .disable_redirects()
        .finish();
    let bench = Bench {
        client,
        bases: server.bases.clone(),
        next: Cell::new(0),
        pids: server.pids(),
        limit: Duration::from_secs(args.phase_timeout),
        sessions: RefCell::new(Vec::new()),
        idp_responses: RefCell::new(Vec::new()),
        rows: RefCell::new(Vec::new()),
        oidc: Some(provider),
        oidc_tokens: RefCell::new(Vec::new()),
        args,
    };
    let a = &bench.args;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let workers = std::env::var("IDGATE_WORKERS").unwrap_or_else(|_| "default".into());
    println!(
        "signin-bench: {} sign-ins per acs phase, {} per oidc phase, {} verifies, concurrency \
         {}, phases {:?}, server pid(s) {:?}, store {store}, instances {}, workers per instance \
         {workers}, CPUs per instance {}, load average at start {}",
        a.signins,
        bench.oidc_n(),
        a.verifies,
        a.concurrency,
        a.phases,
        bench.pids,
        a.cluster.instances,
        a.cluster
            .cpu_per_instance
            .map_or("uncapped".into(), |c| c.to_string()),
        load.trim()
    );
    for base in &bench.bases {
        let healthz = format!("{base}/healthz");
        for attempt in 0.. {
            let r = bench.client.get(&healthz).send().await;
            if r.is_ok_and(|r| r.status().as_u16() == 200) {
                break;
            } else if attempt == 300 {
                return Err(format!(
                    "{base} did not become healthy within 30 s (see server.log in its data \
                     directory)"
                ));
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    provision(&bench, &token, false).await?;
    provision(&bench, &oidc_token, true).await?;
    println!(
        "users: {} provisioned over SCIM in each of acme (user0..user{}@{DOMAIN}, SAML, found by \
         email at sign-in) and {} (@{}, OIDC, externalId = oid); sign-in k is user k % {0}; \
         OpenID provider {} ({} threads); server VmRSS {:.1} MiB",
        a.users,
        a.users.saturating_sub(1),
        oidc::ORG,
        oidc::DOMAIN,
        bench.provider_base(),
        bench.oidc.as_ref().map_or(0, |p| p.thread_count()),
        bench.rss()
    );
    for phase in a.phases.clone() {
        println!("\n== {phase:?}");
        let (n, bases) = (a.verifies, &bench.bases);
        match phase {
            Phase::AcsIdp => bench.acs_idp().await,
            Phase::AcsSp => bench.acs_sp().await,
            Phase::Verify => {
                let tokens = bench.cookies().await;
                let series = format!("GET /auth/verify ({} sessions)", tokens.len());
                bench
                    .verify("verify", &series, bases, n, &tokens, 200)
                    .await;
            }
            Phase::VerifyBad => {
                let tokens: Vec<String> = bench.cookies().await.iter().map(|t| forged(t)).collect();
                let series = "GET /auth/verify (forged → 401)";
                bench
                    .verify("verify-bad", series, bases, n / 10, &tokens, 401)
                    .await;
            }
            Phase::Ceiling => bench.ceiling(bench.cookies().await).await?,
            Phase::Floor => bench.floor(),
            Phase::Oidc => bench.oidc().await,
            Phase::OidcFull => bench.oidc_full().await,
            Phase::OidcCeiling => bench.oidc_ceiling().await,
            Phase::OidcFloor => bench.oidc_floor(),
        }
    }
    drop(server);
    if let Some(p) = &bench.oidc {
        p.stop().await;
    }
    println!("\n{TABLE_HEAD}");
    let rows = bench.rows.borrow();
    rows.iter().for_each(|r| println!("{}", r.markdown()));
    let rate = |phase: &str, series: &str| {
        let row = rows
            .iter()
            .find(|r| r.phase == phase && r.series.starts_with(series));
        row.map_or(0.0, Row::rate)
    };
    println!(
        "\nacs-idp {:.0} sign-ins/s (target >= 2000; floor on 2 threads {:.0}/s), verify {:.0}/s (target >= 20000; in-memory ceiling {:.0}/s) at C={}",
        rate("acs-idp", "POST"),
        rate("floor", "validate_response, 2"),
        rate("verify", "GET"),
        rate("ceiling", "in-memory"),
        a.concurrency
    );
    println!(
        "oidc {:.0} sign-ins/s (login + callback; callback alone {:.0}/s; full loop with the \
         provider signing {:.0}/s; provider alone {:.0} token POSTs/s pooled, {:.0}/s with a new \
         client each; floor on 2 threads {:.0}/s) at C={}",
        rate("oidc", "sign-in"),
        rate("oidc", "GET /oidc/callback"),
        rate("oidc-full", "login"),
        rate(
            "oidc-ceiling",
            "token POST straight to the provider, pooled"
        ),
        rate("oidc-ceiling", "token POST straight to the provider, a new"),
        rate("oidc-floor", "inspect + verify_signature + check_claims, 2"),
        a.concurrency
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let total = setup.elapsed().as_secs_f64();
    println!(
        "\ntotal wall time {total:.1} s; load average at the end {}",
        load.trim()
    );
    Ok(())
}

//! `idgate-bench`: replays what Microsoft Entra's provisioning service sends against a real
//! idgate server (a subprocess on 127.0.0.1 with a temporary store) and against a trivial
//! in-memory endpoint (the ceiling), and prints throughput, latency, errors and the server's
//! memory per phase. See docs/PERFORMANCE.md.
//!
//! ```text
//! cargo build --release --locked && cargo build --release --locked --example idgate-bench
//! target/release/examples/idgate-bench --users 20000 --concurrency 32
//! target/release/examples/idgate-bench --seed 1000000 --users 0 --phases lookup,paging
//! # PostgreSQL (a fresh database on that server), two instances behind a round-robin client:
//! target/release/examples/idgate-bench --store-url postgres://postgres@127.0.0.1:5432/postgres \
//!     --instances 2 --users 5000 --phases create,steady
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

#[path = "bench_support/mod.rs"]
mod support;
#[path = "bench_support/webhooks.rs"]
mod webhooks;
use support::{Cluster, cpu_of, cpu_secs, drive, idgate_cli, machine_busy_secs};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const DOMAIN: &str = "bench.example";
const PAGE: usize = 100;
/// Seeded users are inserted this many per transaction.
const SEED_BATCH: usize = 25_000;

#[derive(Parser, Debug)]
#[command(about = "Load generator for idgate's SCIM surface (Entra-shaped traffic)")]
struct Args {
    /// Users created over HTTP by the `create` phase.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Phases to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "create,steady,groups,paging,lookup,webhooks,ceiling"
    )]
    phases: Vec<Phase>,
    /// The idgate binary.
    #[arg(long, default_value = "target/release/idgate")]
    binary: PathBuf,
    /// Users inserted straight into the store before the server starts.
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// PATCH requests of `steady` and member adds of `groups` (default: --users, at least 1000).
    #[arg(long)]
    requests: Option<usize>,
    /// Groups created by the `groups` phase.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Requests per lookup kind (userName, externalId, emails, id).
    #[arg(long, default_value_t = 5_000)]
    lookups: usize,
    /// Pages read by `paging`: spread evenly over the collection when fewer than it has,
    /// walking it again when more; default: each page once.
    #[arg(long)]
    pages: Option<usize>,
    /// Also run `steady` paced at this many requests per second (latency below saturation).
    #[arg(long)]
    steady_rate: Option<f64>,
    /// Length of the paced `steady` run, in seconds.
    #[arg(long, default_value_t = 30.0)]
    steady_rate_seconds: f64,
    /// Upper bound on each phase's duration, in seconds.
    #[arg(long, default_value_t = 900)]
    phase_timeout: u64,
    /// Users created by the `webhooks` phase at full speed (delivery throughput); it then
    /// creates users at --webhook-rate for --steady-rate-seconds (latency).
    #[arg(long, default_value_t = 5_000)]
    webhook_users: usize,
    /// Creates per second of the `webhooks` phase's latency run (Entra's pace).
    #[arg(long, default_value_t = 50.0)]
    webhook_rate: f64,
    /// Register a webhook endpoint for every event (a receiver in this process) before the
    /// phases: SCIM's numbers with delivery live.
    #[arg(long)]
    live_webhook: bool,
    /// Keep the store here instead of in a temporary directory (must not exist yet).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The store and the idgate instances on it.
    #[command(flatten)]
    cluster: support::ClusterArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    Create,
    Steady,
    Groups,
    Paging,
    Lookup,
    Ceiling,
    Webhooks,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match actix_web::rt::System::new().block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idgate-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic test data: user i's names, GUIDs and (for seeded users) id.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4-shaped GUID derived from (salt, i).
fn guid(salt: u64, i: usize) -> String {
    let a = mix(i as u64 ^ salt.rotate_left(29));
    let b = mix(a ^ salt);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

const EXTERNAL_ID: u64 = 1;
const SEEDED_ID: u64 = 2;
const GROUP_EXTERNAL_ID: u64 = 3;

fn user_name(i: usize) -> String {
    format!("user{i}@{DOMAIN}")
}

/// What Entra POSTs for a new user.
fn user_body(i: usize) -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": guid(EXTERNAL_ID, i),
        "userName": user_name(i),
        "active": true,
        "displayName": format!("Given{i} Family{i}"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "emails": [{"primary": true, "type": "work", "value": user_name(i)}],
        ENTERPRISE_URN: {"department": format!("Department {}", i % 40)},
    })
}

/// A query-string value as Entra encodes it (`+` for spaces).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Seeding straight into the store.

fn seed_store(db: &Path, n: usize) -> idgate::error::Result<()> {
    use idgate::clock::{Clock, timestamp};
    use idgate::directory::resource::{Mode, canonicalize};
    use idgate::directory::schema::ResourceKind;
    use idgate::store::resources::{Roles, insert_user};
    use idgate::store::{Store, orgs};

    let started = Instant::now();
    let store = Store::open(db, 1, 1)?;
    let now = timestamp(Clock::System.now());
    let org = store.write_now(|c| {
        c.execute_batch("PRAGMA cache_size = -262144")?;
        orgs::create_org(c, "bench", "Bench", &[DOMAIN.to_string()], &now)
    })?;
    let mode = Mode::default();
    for start in (0..n).step_by(SEED_BATCH) {
        let end = (start + SEED_BATCH).min(n);
        store.write_now(|c| {
            for i in start..end {
                let doc = canonicalize(ResourceKind::User, &user_body(i), &mode)?.doc;
                insert_user(
                    c,
                    org.id,
                    &guid(SEEDED_ID, i),
                    &doc,
                    &Roles::default(),
                    &now,
                )?;
            }
            Ok(())
        })?;
        if end.is_multiple_of(100_000) || end == n {
            eprintln!(
                "  seeded {end} users ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.read_now(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The idgate subprocess.

fn store_mib(dir: &Path) -> f64 {
    if let Some(mib) = support::database_mib() {
        return mib;
    }
    ["idgate.db", "idgate.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len() as f64 / 1048576.0)
        .sum()
}

// ---------------------------------------------------------------------------------------------
// HTTP, recording, and the concurrent driver.

/// The server(s): one base URL per instance, taken in turn by each request (a round-robin
/// load balancer); the client keeps connections to every instance alive.
struct Target {
    client: awc::Client,
    bases: Vec<String>,
    next: Cell<usize>,
    auth: String,
}

impl Target {
    fn new(bases: Vec<String>, token: &str, concurrency: usize) -> Self {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(concurrency + 8 * bases.len()))
            .timeout(Duration::from_secs(60))
            .finish();
        Self {
            client,
            bases,
            next: Cell::new(0),
            auth: format!("Bearer {token}"),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Bytes), String> {
        let k = self.next.get();
        self.next.set(k.wrapping_add(1));
        self.call_at(k % self.bases.len().max(1), method, path, body)
            .await
    }

    /// A request to instance `i`.
    async fn call_at(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Bytes), String> {
        let base = self.bases.get(i).ok_or("no such instance")?;
        let req = self
            .client
            .request(method, format!("{base}{path}"))
            .insert_header((AUTHORIZATION, self.auth.as_str()));
        let res = match body {
            Some(b) => {
                req.insert_header((CONTENT_TYPE, "application/scim+json"))
                    .send_body(b)
                    .await
            }
            None => req.send().await,
        };
        let mut res = res.map_err(|e| format!("request failed: {e}"))?;
        let body = res
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| format!("reading body: {e}"))?;
        Ok((res.status().as_u16(), body))
    }
}

#[derive(Default)]
struct Series {
    name: String,
    micros: Vec<u32>,
    errors: u64,
}

/// Latencies and errors of one phase, by series name (in order of first use).
#[derive(Default)]
struct Recorder {
    series: RefCell<Vec<Series>>,
    samples: RefCell<Vec<String>>,
}

impl Recorder {
    fn with<R>(&self, name: &str, f: impl FnOnce(&mut Series) -> R) -> R {
        let mut all = self.series.borrow_mut();
        let pos = match all.iter().position(|s| s.name == name) {
            Some(p) => p,
            None => {
                all.push(Series {
                    name: name.to_string(),
                    ..Series::default()
                });
                all.len() - 1
            }
        };
        f(&mut all[pos])
    }

    fn ok(&self, name: &str, d: Duration) {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.with(name, |s| s.micros.push(us));
    }

    fn err(&self, name: &str, what: String) {
        self.with(name, |s| s.errors += 1);
        let mut samples = self.samples.borrow_mut();
        if samples.len() < 5 {
            let cut: String = what.chars().take(400).collect();
            samples.push(format!("{name}: {cut}"));
        }
    }

    /// One request: timed, recorded, and its body returned when the status is expected.
    async fn expect(
        &self,
        name: &str,
        t: &Target,
        method: Method,
        path: &str,
        body: Option<String>,
        ok: &[u16],
    ) -> Option<Bytes> {
        let started = Instant::now();
        match t.call(method, path, body).await {
            Ok((status, body)) if ok.contains(&status) => {
                self.ok(name, started.elapsed());
                Some(body)
            }
            Ok((status, body)) => {
                self.err(name, format!("{status} {}", String::from_utf8_lossy(&body)));
                None
            }
            Err(e) => {
                self.err(name, e);
                None
            }
        }
    }
}

/// One line of the report.
struct Row {
    phase: String,
    series: String,
    count: usize,
    secs: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

struct Report {
    rows: Vec<Row>,
    memory: Vec<(String, f64, f64, f64)>,
}

impl Report {
    fn add(&mut self, phase: &str, elapsed: Duration, rec: Recorder) {
        for mut s in rec.series.into_inner() {
            s.micros.sort_unstable();
            let row = Row {
                phase: phase.to_string(),
                series: s.name,
                count: s.micros.len(),
                secs: elapsed.as_secs_f64(),
                p50: percentile(&s.micros, 50.0),
                p99: percentile(&s.micros, 99.0),
                errors: s.errors,
            };
            println!(
                "  {:<28} {:>8} ok in {:>7.1} s = {:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
                row.series,
                row.count,
                row.secs,
                row.rate(),
                row.p50,
                row.p99,
                row.errors
            );
            self.rows.push(row);
        }
        for sample in rec.samples.into_inner() {
            println!("    error: {sample}");
        }
    }

    fn find(&self, phase: &str, series: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.phase == phase && r.series == series)
    }

    fn print_markdown(&self, concurrency: usize) {
        println!("\n| phase | series | requests | seconds | req/s | p50 ms | p99 ms | errors |");
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {} |",
                r.phase,
                r.series,
                r.count,
                r.secs,
                r.rate(),
                r.p50,
                r.p99,
                r.errors
            );
        }
        println!("\n| after phase | VmRSS MiB | VmHWM MiB | store MiB |");
        println!("| --- | ---: | ---: | ---: |");
        for (phase, rss, hwm, db) in &self.memory {
            println!("| {phase} | {rss:.1} | {hwm:.1} | {db:.1} |");
        }
        let pairs = [
            (
                "create",
                "create pair (GET+POST)",
                "ceiling",
                "ceiling create pair (GET+POST)",
            ),
            ("steady", "PATCH user", "ceiling", "ceiling PATCH user"),
        ];
        for (p, s, cp, cs) in pairs {
            if let (Some(a), Some(b)) = (self.find(p, s), self.find(cp, cs)) {
                println!(
                    "\n{s}: {:.0}/s vs ceiling {:.0}/s at C={concurrency} = {:.1} % of the ceiling (target >= 30 %)",
                    a.rate(),
                    b.rate(),
                    100.0 * a.rate() / b.rate().max(1e-9)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The phases.

struct Bench {
    args: Args,
    limit: Duration,
    /// SCIM ids of users 0.. (seeded first, then created); "" where a create failed.
    ids: RefCell<Vec<String>>,
    group_ids: RefCell<Vec<String>>,
}

impl Bench {
    fn requests(&self) -> usize {
        self.args.requests.unwrap_or(self.args.users.max(1000))
    }

    fn pick(&self, k: usize, salt: u64) -> Option<(usize, String)> {
        let ids = self.ids.borrow();
        if ids.is_empty() {
            return None;
        }
        let i = (mix(k as u64 ^ salt) % ids.len() as u64) as usize;
        Some((i, ids[i].clone())).filter(|(_, id)| !id.is_empty())
    }

    /// Entra's first cycle: look the user up by userName (none), then create it.
    async fn create(
        &self,
        t: &Target,
        rec: &Recorder,
        prefix: &str,
        ids: &RefCell<Vec<String>>,
    ) -> Duration {
        let base = ids.borrow().len();
        ids.borrow_mut()
            .resize(base + self.args.users, String::new());
        let (get, post, pair) = (
            format!("{prefix}GET filter userName"),
            format!("{prefix}POST user"),
            format!("{prefix}create pair (GET+POST)"),
        );
        drive(
            self.args.users,
            self.args.concurrency,
            self.limit,
            None,
            |k| {
                let (get, post, pair) = (&get, &post, &pair);
                async move {
                    let i = base + k;
                    let started = Instant::now();
                    let path =
                        format!("/scim/v2/Users?filter=userName+eq+%22user{i}%40{DOMAIN}%22");
                    let Some(found) = rec.expect(get, t, Method::GET, &path, None, &[200]).await
                    else {
                        return;
                    };
                    let total = serde_json::from_slice::<Value>(&found)
                        .ok()
                        .map(|v| v["totalResults"].clone());
                    if total != Some(json!(0)) {
                        rec.err(
                            get,
                            format!(
                                "expected totalResults 0 for {}, got {total:?}",
                                user_name(i)
                            ),
                        );
                        return;
                    }
                    let body = user_body(i).to_string();
                    let Some(created) = rec
                        .expect(post, t, Method::POST, "/scim/v2/Users", Some(body), &[201])
                        .await
                    else {
                        return;
                    };
                    match serde_json::from_slice::<Value>(&created)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_string))
                    {
                        Some(id) => {
                            ids.borrow_mut()[i] = id;
                            rec.ok(pair, started.elapsed());
                        }
                        None => rec.err(post, "201 without an id".into()),
                    }
                }
            },
        )
        .await
    }

    /// Entra's incremental cycle: Replace displayName and title of random users.
    async fn steady(
        &self,
        t: &Target,
        rec: &Recorder,
        name: &str,
        ids: &RefCell<Vec<String>>,
        rate: Option<f64>,
    ) -> Duration {
        let n = match rate {
            // A paced run lasts at most --steady-rate-seconds.
            Some(r) => self
                .requests()
                .min((r * self.args.steady_rate_seconds) as usize),
            None => self.requests(),
        };
        drive(n, self.args.concurrency, self.limit, rate, |k| async move {
            let picked = {
                let ids = ids.borrow();
                let i = (mix(k as u64 ^ 0x5EAD) % ids.len().max(1) as u64) as usize;
                ids.get(i).cloned().filter(|id| !id.is_empty())
            };
            let Some(id) = picked else {
                rec.err(name, "no user to patch (did create fail?)".into());
                return;
            };
            let body = json!({
                "schemas": [PATCH_URN],
                "Operations": [
                    {"op": "Replace", "path": "displayName", "value": format!("Renamed {k}")},
                    {"op": "Replace", "path": "title", "value": format!("Title {}", k % 97)},
                ],
            });
            rec.expect(
                name,
                t,
                Method::PATCH,
                &format!("/scim/v2/Users/{id}"),
                Some(body.to_string()),
                &[200],
            )
            .await;
        })
        .await
    }

    async fn create_groups(&self, t: &Target, rec: &Recorder) -> Duration {
        let gids = &self.group_ids;
        drive(
            self.args.groups,
            self.args.concurrency,
            self.limit,
            None,
            |k| async move {
                let body = json!({
                    "schemas": [GROUP_URN],
                    "displayName": format!("Bench group {k}"),
                    "externalId": guid(GROUP_EXTERNAL_ID, k),
                });
                let path = "/scim/v2/Groups";
                let Some(b) = rec
                    .expect(
                        "POST group",
                        t,
                        Method::POST,
                        path,
                        Some(body.to_string()),
                        &[201],
                    )
                    .await
                else {
                    return;
                };
                match serde_json::from_slice::<Value>(&b)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                {
                    Some(id) => gids.borrow_mut().push(id),
                    None => rec.err("POST group", "201 without an id".into()),
                }
            },
        )
        .await
    }

    /// Entra's group sync: one PATCH per member added, to random groups.
    async fn add_members(&self, t: &Target, rec: &Recorder) -> Duration {
        let groups = self.group_ids.borrow().clone();
        let name = "PATCH group add member";
        drive(self.requests(), self.args.concurrency, self.limit, None, |k| {
            let groups = &groups;
            async move {
                let (Some((_, user)), false) = (self.pick(k, 0x6A0B), groups.is_empty()) else {
                    rec.err(name, "no user or no group".into());
                    return;
                };
                let group = &groups[(mix(k as u64) % groups.len() as u64) as usize];
                let body = json!({
                    "schemas": [PATCH_URN],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": user}]}],
                });
                let path = format!("/scim/v2/Groups/{group}");
                rec.expect(name, t, Method::PATCH, &path, Some(body.to_string()), &[200, 204]).await;
            }
        })
        .await
    }

    async fn paging(&self, t: &Target, rec: &Recorder) -> Duration {
        let total = self.ids.borrow().len();
        let all_pages = total.div_ceil(PAGE);
        // C clients, each walking its own stretch of the collection in order, one page after
        // the other, as a paging client does. Fewer pages than the collection has: the
        // stretches are spread evenly over it; more: the walk starts over.
        let pages = self.args.pages.unwrap_or(all_pages);
        let walkers = self.args.concurrency.max(1);
        let stretch = all_pages.div_ceil(walkers).max(1);
        let spread = pages <= all_pages;
        let per_walker = pages.div_ceil(walkers).max(1);
        drive(
            pages,
            self.args.concurrency,
            self.limit,
            None,
            |k| async move {
                let (walker, step) = (k % walkers, k / walkers);
                // Spread: each walker reads `per_walker` (≤ `stretch`) pages from the start of
                // its stretch.
                let page = if spread {
                    (walker * stretch + step.min(per_walker)).min(all_pages.saturating_sub(1))
                } else {
                    (walker * stretch + step) % all_pages.max(1)
                };
                let start = page * PAGE + 1;
                let path = format!("/scim/v2/Users?startIndex={start}&count={PAGE}");
                let Some(b) = rec
                    .expect("GET page of 100", t, Method::GET, &path, None, &[200])
                    .await
                else {
                    return;
                };
                let got = serde_json::from_slice::<Value>(&b)
                    .ok()
                    .and_then(|v| v["itemsPerPage"].as_u64());
                let want = PAGE.min(total - page * PAGE) as u64;
                if got != Some(want) {
                    rec.err(
                        "GET page of 100",
                        format!("startIndex {start}: itemsPerPage {got:?}, expected {want}"),
                    );
                }
            },
        )
        .await
    }

    /// One lookup kind: `filter(i)` or, for `None`, GET /Users/{id}.
    async fn lookup(&self, t: &Target, rec: &Recorder, name: &str, filter: FilterFn) -> Duration {
        drive(
            self.args.lookups,
            self.args.concurrency,
            self.limit,
            None,
            |k| async move {
                let Some((i, id)) = self.pick(k, 0x100C) else {
                    rec.err(name, "no user to look up".into());
                    return;
                };
                let path = match filter {
                    Some(f) => format!("/scim/v2/Users?filter={}", enc(&f(i))),
                    None => format!("/scim/v2/Users/{id}"),
                };
                let Some(b) = rec.expect(name, t, Method::GET, &path, None, &[200]).await else {
                    return;
                };
                if filter.is_some() {
                    let v = serde_json::from_slice::<Value>(&b).unwrap_or_default();
                    if v["totalResults"] != json!(1) || v["Resources"][0]["id"] != json!(id) {
                        rec.err(
                            name,
                            format!(
                                "{path}: expected exactly user {id}, got totalResults {}",
                                v["totalResults"]
                            ),
                        );
                    }
                }
            },
        )
        .await
    }
}

/// A lookup's filter for user i; `None` is GET /Users/{id}.
type FilterFn = Option<fn(usize) -> String>;

const LOOKUPS: [(&str, FilterFn); 5] = [
    (
        "filter userName eq",
        Some(|i| format!("userName eq \"{}\"", user_name(i))),
    ),
    (
        "filter externalId eq",
        Some(|i| format!("externalId eq \"{}\"", guid(EXTERNAL_ID, i))),
    ),
    (
        "filter emails[type eq work].value",
        Some(|i| format!("emails[type eq \"work\"].value eq \"{}\"", user_name(i))),
    ),
    (
        "filter emails.value eq",
        Some(|i| format!("emails.value eq \"{}\"", user_name(i))),
    ),
    ("GET /Users/{id}", None),
];

// ---------------------------------------------------------------------------------------------
// The ceiling: an in-memory endpoint with no validation, no storage, no log.

#[derive(Default)]
struct Memory {
    users: Mutex<HashMap<String, Value>>,
    by_name: Mutex<HashMap<String, String>>,
}

fn scim_json(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("application/scim+json")
        .body(body.to_string())
}

async fn mem_list(state: web::Data<Memory>, req: HttpRequest) -> HttpResponse {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let wanted = q
        .iter()
        .find(|(k, _)| k == "filter")
        .and_then(|(_, f)| f.split('"').nth(1).map(str::to_string));
    let found = wanted.and_then(|name| {
        let id = state.by_name.lock().ok()?.get(&name).cloned()?;
        state.users.lock().ok()?.get(&id).cloned()
    });
    let resources: Vec<Value> = found.into_iter().collect();
    scim_json(
        200,
        &json!({"schemas": [LIST_URN], "totalResults": resources.len(), "startIndex": 1,
                "itemsPerPage": resources.len(), "Resources": resources}),
    )
}

async fn mem_create(state: web::Data<Memory>, body: Bytes) -> HttpResponse {
    let mut doc: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    let id = uuid::Uuid::new_v4().to_string();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), json!(id));
    }
    if let (Some(name), Ok(mut by_name)) = (doc["userName"].as_str(), state.by_name.lock()) {
        by_name.insert(name.to_string(), id.clone());
    }
    if let Ok(mut users) = state.users.lock() {
        users.insert(id, doc.clone());
    }
    scim_json(201, &doc)
}

async fn mem_patch(state: web::Data<Memory>, id: web::Path<String>, body: Bytes) -> HttpResponse {
    let patch: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Ok(mut users) = state.users.lock() else {
        return HttpResponse::InternalServerError().finish();
    };
    let Some(doc) = users.get_mut(id.as_str()).and_then(Value::as_object_mut) else {
        return scim_json(404, &json!({"detail": "not found"}));
    };
    for op in patch["Operations"].as_array().into_iter().flatten() {
        if let Some(path) = op["path"].as_str() {
            doc.insert(path.to_string(), op["value"].clone());
        }
    }
    scim_json(200, &Value::Object(doc.clone()))
}

fn start_ceiling() -> Result<(u16, actix_web::dev::ServerHandle), String> {
    let data = web::Data::new(Memory::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/scim/v2/Users", web::get().to(mem_list))
            .route("/scim/v2/Users", web::post().to(mem_create))
            .route("/scim/v2/Users/{id}", web::patch().to(mem_patch))
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
    Ok((port, handle))
}

// ---------------------------------------------------------------------------------------------

async fn wait_ready(t: &Target) -> Result<(), String> {
    for i in 0..t.bases.len() {
        let mut healthy = false;
        for _ in 0..300 {
            if let Ok((200, _)) = t.call_at(i, Method::GET, "/healthz", None).await {
                healthy = true;
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        if !healthy {
            return Err(format!(
                "instance {i} did not become healthy within 30 s (see server.log in its data \
                 directory)"
            ));
        }
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    let binary = std::fs::canonicalize(&args.binary).map_err(|e| {
        format!(
            "{}: {e} (build it with cargo build --release)",
            args.binary.display()
        )
    })?;
    let temp;
    let dir = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir(d).map_err(|e| format!("--data-dir {}: {e}", d.display()))?;
            std::fs::canonicalize(d).map_err(|e| e.to_string())?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("idgate-bench")
                .tempdir()
                .map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    let (c, n) = (args.concurrency, args.users);
    let store = match &args.cluster.store_url {
        Some(url) => {
            if args.seed > 0 {
                return Err("--seed writes SQLite directly: not with --store-url".into());
            }
            format!(
                "PostgreSQL {}",
                support::fresh_database(url, "idgate_bench")?
            )
        }
        None => format!("SQLite {}", dir.display()),
    };
    let workers = std::env::var("IDGATE_WORKERS").unwrap_or_else(|_| "default".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "idgate-bench: users {n}, seed {}, concurrency {c}, phases {:?}, store {store}, \
         instances {}, workers per instance {workers}, load average at start {}",
        args.seed,
        args.phases,
        args.cluster.instances,
        load.trim()
    );
    let setup = Instant::now();
    if args.seed > 0 {
        eprintln!("seeding {} users into the store …", args.seed);
        seed_store(&dir.join("idgate.db"), args.seed).map_err(|e| format!("seeding: {e}"))?;
        println!(
            "seeded {} users in {:.1} s",
            args.seed,
            setup.elapsed().as_secs_f64()
        );
    } else {
        idgate_cli(
            &binary,
            &dir,
            &[
                "org", "create", "bench", "--name", "Bench", "--domain", DOMAIN,
            ],
        )?;
    }
    let token = idgate_cli(
        &binary,
        &dir,
        &["scim-token", "create", "--org", "bench", "--name", "bench"],
    )?;
    let mut server = Cluster::start(
        &binary,
        &dir,
        args.cluster.instances,
        None,
        &[],
        args.cluster.cpu_per_instance,
    )?;
    let target = Target::new(server.bases.clone(), &token, c);
    wait_ready(&target).await?;
    let bench = Bench {
        limit: Duration::from_secs(args.phase_timeout),
        ids: RefCell::new((0..args.seed).map(|i| guid(SEEDED_ID, i)).collect()),
        group_ids: RefCell::new(Vec::new()),
        args,
    };
    let live = if bench.args.live_webhook {
        Some(webhooks::live_endpoint(&binary, &dir)?)
    } else {
        None
    };
    let pids = server.pids();
    let phases = run_phases(&bench, &target, &pids, &binary, &dir);
    let mut terminate =
        actix_web::rt::signal::unix::signal(actix_web::rt::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
    let stop = async {
        tokio::select! {
            _ = actix_web::rt::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    futures_util::pin_mut!(phases, stop);
    let report = match futures_util::future::select(phases, stop).await {
        futures_util::future::Either::Left((report, _)) => report?,
        // Dropping `server` on the way out stops the idgate subprocess.
        futures_util::future::Either::Right(_) => return Err("interrupted".into()),
    };
    server.stop();
    if let Some((handle, deliveries)) = live {
        println!(
            "\nlive webhook endpoint: {} deliveries received",
            deliveries()
        );
        handle.stop(true).await;
    }
    report.print_markdown(c);
    println!("\ntotal wall time {:.1} s", setup.elapsed().as_secs_f64());
    Ok(())
}

/// VmRSS and VmHWM of the server processes, summed, in MiB.
fn memory_of(pids: &[u32]) -> (f64, f64) {
    let all: Vec<(f64, f64)> = pids.iter().map(|&p| support::memory(p)).collect();
    (all.iter().map(|m| m.0).sum(), all.iter().map(|m| m.1).sum())
}

/// Runs the selected phases in order against `target` (the idgate server processes `servers`).
async fn run_phases(
    bench: &Bench,
    target: &Target,
    servers: &[u32],
    binary: &Path,
    dir: &Path,
) -> Result<Report, String> {
    let c = bench.args.concurrency;
    let mut report = Report {
        rows: Vec::new(),
        memory: Vec::new(),
    };
    let (rss, hwm) = memory_of(servers);
    report
        .memory
        .push(("start".into(), rss, hwm, store_mib(dir)));
    for phase in bench.args.phases.clone() {
        let name = format!("{phase:?}").to_lowercase();
        println!("\n== {name}");
        // CPU use during the phase: the server(s), PostgreSQL's processes, this process, and
        // whatever else ran on the machine meanwhile.
        let postgres = support::postgres_pids();
        let xacts0 = support::database_xacts();
        let cpu0 = (
            cpu_of(servers),
            cpu_of(&postgres),
            cpu_secs("self"),
            machine_busy_secs(),
            Instant::now(),
        );
        let rec = Recorder::default();
        match phase {
            Phase::Create => {
                let elapsed = bench.create(target, &rec, "", &bench.ids).await;
                report.add(&name, elapsed, rec);
            }
            Phase::Steady => {
                let elapsed = bench
                    .steady(target, &rec, "PATCH user", &bench.ids, None)
                    .await;
                report.add(&name, elapsed, rec);
                if let Some(rate) = bench.args.steady_rate {
                    let rec = Recorder::default();
                    let label = format!("PATCH user at {rate:.0}/s");
                    let elapsed = bench
                        .steady(target, &rec, &label, &bench.ids, Some(rate))
                        .await;
                    report.add(&name, elapsed, rec);
                }
            }
            Phase::Groups => {
                let elapsed = bench.create_groups(target, &rec).await;
                report.add(&name, elapsed, rec);
                let rec = Recorder::default();
                let elapsed = bench.add_members(target, &rec).await;
                report.add(&name, elapsed, rec);
            }
            Phase::Paging => {
                let elapsed = bench.paging(target, &rec).await;
                report.add(&name, elapsed, rec);
            }
            Phase::Lookup => {
                for (label, filter) in LOOKUPS {
                    let rec = Recorder::default();
                    let elapsed = bench.lookup(target, &rec, label, filter).await;
                    report.add(&name, elapsed, rec);
                }
            }
            Phase::Ceiling => {
                let (cport, handle) = start_ceiling()?;
                let ceiling = Target::new(vec![format!("http://127.0.0.1:{cport}")], "ceiling", c);
                let ids = RefCell::new(Vec::new());
                let elapsed = bench.create(&ceiling, &rec, "ceiling ", &ids).await;
                report.add(&name, elapsed, rec);
                let rec = Recorder::default();
                let elapsed = bench
                    .steady(&ceiling, &rec, "ceiling PATCH user", &ids, None)
                    .await;
                report.add(&name, elapsed, rec);
                handle.stop(true).await;
            }
            Phase::Webhooks => bench.webhooks(target, binary, dir, &mut report).await?,
        }
        let (server_cpu, pg_cpu, bench_cpu, busy) = (
            cpu_of(servers) - cpu0.0,
            cpu_of(&postgres) - cpu0.1,
            cpu_secs("self") - cpu0.2,
            machine_busy_secs() - cpu0.3,
        );
        println!(
            "  CPU s during the phase ({:.1} s wall, {} cores): server {server_cpu:.1}, postgres \
             {pg_cpu:.1}, load generator {bench_cpu:.1}, others {:.1}, idle {:.1}",
            cpu0.4.elapsed().as_secs_f64(),
            std::thread::available_parallelism().map_or(1, usize::from),
            (busy - server_cpu - pg_cpu - bench_cpu).max(0.0),
            (cpu0.4.elapsed().as_secs_f64()
                * std::thread::available_parallelism().map_or(1, usize::from) as f64
                - busy)
                .max(0.0)
        );
        if let Some((commits0, rollbacks0)) = xacts0 {
            // PostgreSQL's statistics reach pg_stat_database within a second.
            actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
            if let Some((commits, rollbacks)) = support::database_xacts() {
                println!(
                    "  PostgreSQL transactions during the phase: {} committed, {} rolled back",
                    commits - commits0,
                    rollbacks - rollbacks0
                );
            }
        }
        let (rss, hwm) = memory_of(servers);
        let db = store_mib(dir);
        println!("  server memory: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB; store {db:.1} MiB");
        report.memory.push((name, rss, hwm, db));
    }
    Ok(report)
}
